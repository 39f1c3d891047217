"""MicroReg clients against Switchboard's XML-RPC endpoint, with Python's standard library only.

Run by test/integration/xmlrpc-python.test.ts against a real server:

    SWITCHBOARD_URL=http://127.0.0.1:8900 python3 test/python/microreg_client_test.py [TestCase ...]

Each test uses its own service names, so the tests share one server in any order.
"""

import http.client
import json
import os
import re
import time
import unittest
import urllib.parse
import urllib.request
import uuid
import xmlrpc.client

URL = os.environ.get("SWITCHBOARD_URL", "http://127.0.0.1:8900")
PARSED = urllib.parse.urlparse(URL)
# Generous: these bound a hang, they do not measure speed.
TIMEOUT_S = 10

PARSE_ERROR = -32700
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INVALID_ARGUMENT = 1400
NOT_FOUND = 1404
UNSUPPORTED_MEDIA_TYPE = 1415
PAYLOAD_TOO_LARGE = 1413

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<methodCall><methodName>register</methodName><params>
<param><value><string>&lol9;</string></value></param>
<param><value><string>&lol9;</string></value></param>
<param><value><int>8000</int></value></param>
</params></methodCall>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE call [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<methodCall><methodName>get_service_details</methodName><params>
<param><value><string>&xxe;</string></value></param>
</params></methodCall>"""


def proxy(path=""):
    """ServerProxy(URL) posts to /RPC2; ServerProxy(URL + "/") posts to /."""
    return xmlrpc.client.ServerProxy(URL + path)


def name(prefix="svc"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def post_raw(body, path="/RPC2", content_type="text/xml"):
    """POSTs a body as it is; answers (HTTP status, seconds taken, decoded result or Fault)."""
    conn = http.client.HTTPConnection(PARSED.hostname, PARSED.port, timeout=TIMEOUT_S)
    headers = {"Content-Type": content_type} if content_type else {}
    start = time.monotonic()
    conn.request("POST", path, body=body.encode("utf-8") if isinstance(body, str) else body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    elapsed = time.monotonic() - start
    conn.close()
    try:
        result = xmlrpc.client.loads(data)[0][0]
    except xmlrpc.client.Fault as fault:
        result = fault
    return response.status, elapsed, result


def rest_get(path):
    with urllib.request.urlopen(URL + path, timeout=TIMEOUT_S) as response:
        return json.loads(response.read())


class FaultAssertions(unittest.TestCase):
    def assertFault(self, code, call, *args):
        with self.assertRaises(xmlrpc.client.Fault) as caught:
            call(*args)
        self.assertEqual(caught.exception.faultCode, code, caught.exception.faultString)
        return caught.exception

    def assertRawFault(self, code, body, **kwargs):
        status, elapsed, result = post_raw(body, **kwargs)
        self.assertEqual(status, 200)
        self.assertIsInstance(result, xmlrpc.client.Fault, result)
        self.assertEqual(result.faultCode, code, result.faultString)
        return elapsed, result


class OriginalMethods(FaultAssertions):
    """MicroReg's six methods with their return conventions."""

    def test_register_answers_an_id_then_false_for_the_same_host_and_port(self):
        s = name()
        first = proxy().register(s, "10.0.0.5", 8000)
        self.assertIsInstance(first, str)
        self.assertTrue(first)
        self.assertIs(proxy("/").register(s, "10.0.0.5", 8000), False)
        self.assertIs(proxy("/RPC2").register(s, "10.0.0.5", "8000"), False)
        second = proxy("/").register(s, "10.0.0.6", 8000)
        self.assertNotEqual(second, first)
        self.assertEqual(sorted(self.details_of(s)), sorted([first, second]))

    def test_register_keeps_the_scheme_of_the_host_as_an_endpoint(self):
        s = name()
        proxy().register(s, "http://10.0.0.5", 8000)
        self.assertEqual(proxy().get_service_details(s), ["http://10.0.0.5", 8000])
        [instance] = rest_get("/v1/services/" + s)["instances"]
        self.assertEqual(instance["host"], "10.0.0.5")
        self.assertEqual(instance["port"], 8000)
        self.assertEqual(instance["endpoints"], [{"type": "http", "url": "http://10.0.0.5:8000"}])

    def test_register_takes_the_port_as_a_numeric_string(self):
        s = name()
        proxy().register(s, "10.0.0.5", "8000")
        self.assertEqual(proxy().get_service_details(s), ["10.0.0.5", "8000"])
        self.assertEqual(rest_get("/v1/services/" + s)["instances"][0]["port"], 8000)
        self.assertFault(INVALID_ARGUMENT, proxy().register, s, "10.0.0.5", "eighty")
        self.assertFault(INVALID_ARGUMENT, proxy().register, s, "10.0.0.5", 70000)
        self.assertFault(INVALID_PARAMS, proxy().register, s, "10.0.0.5", 80.5)
        self.assertFault(INVALID_PARAMS, proxy().register, s, "10.0.0.5", True)

    def test_register_refuses_a_name_that_breaks_the_service_name_rule(self):
        fault = self.assertFault(INVALID_ARGUMENT, proxy().register, "no spaces allowed", "10.0.0.5", 8000)
        self.assertTrue(fault.faultString.startswith("INVALID_ARGUMENT: "), fault.faultString)
        self.assertFault(INVALID_PARAMS, proxy().register, ["a list"], "10.0.0.5", 8000)

    def test_statuses_are_the_original_integers_and_switchboard_names(self):
        s = name()
        down = proxy().register(s, "10.0.0.5", 8000, 0)
        self.assertIs(proxy().get_service_details(s), False)
        self.assertEqual(self.details()[down]["status"], 0)
        self.assertIs(proxy().update_status(s, 1), True)
        self.assertEqual(proxy().get_service_details(s), ["10.0.0.5", 8000])
        self.assertEqual(self.details()[down]["status"], 1)
        self.assertIs(proxy().update_status(s, -1), True)
        self.assertEqual(self.details()[down]["status"], -1)
        self.assertEqual(rest_get("/v1/services/%s?status=any" % s)["instances"][0]["status"], "OUT_OF_SERVICE")
        self.assertIs(proxy().update_status(s, "STARTING"), True)
        self.assertEqual(self.details()[down]["status"], "STARTING")
        self.assertIs(proxy().update_status(s, "UP"), True)
        self.assertEqual(self.details()[down]["status"], 1)
        started = proxy().register(s, "10.0.0.6", 8000, "DOWN")
        self.assertEqual(self.details()[started]["status"], 0)
        self.assertFault(INVALID_ARGUMENT, proxy().update_status, s, 7)
        self.assertFault(INVALID_ARGUMENT, proxy().update_status, s, "weird")
        self.assertFault(INVALID_ARGUMENT, proxy().register, name(), "10.0.0.5", 8000, 2)
        self.assertFault(INVALID_PARAMS, proxy().update_status, s, [1])

    def test_update_status_applies_to_one_id_or_to_every_instance(self):
        s = name()
        a = proxy().register(s, "10.0.0.5", 8000)
        b = proxy().register(s, "10.0.0.6", 8000)
        self.assertIs(proxy().update_status(s, 0, a), True)
        details = self.details()
        self.assertEqual((details[a]["status"], details[b]["status"]), (0, 1))
        self.assertIs(proxy().update_status(s, 0), True)
        self.assertEqual(self.details()[b]["status"], 0)
        self.assertIs(proxy().update_status(s, 1, "no-such-id"), False)
        self.assertIs(proxy().update_status(name("unknown"), 1), False)

    def test_unregister_answers_true_then_false(self):
        s = name()
        a = proxy().register(s, "10.0.0.5", 8000)
        b = proxy().register(s, "10.0.0.6", 8000)
        c = proxy().register(s, "10.0.0.7", 8000)
        self.assertIs(proxy().unregister(s, a), True)
        self.assertIs(proxy().unregister(s, a), False)
        self.assertNotIn(a, self.details())
        self.assertIs(proxy().unregister(s), True)
        details = self.details()
        self.assertNotIn(b, details)
        self.assertNotIn(c, details)
        self.assertIs(proxy().unregister(s), False)
        self.assertEqual(rest_get("/v1/services/" + s)["instances"], [])

    def test_get_service_details_takes_each_healthy_up_instance_in_turn(self):
        s = name()
        proxy().register(s, "10.0.0.5", 8000)
        proxy().register(s, "10.0.0.6", 8001)
        proxy().register(s, "10.0.0.7", 8002, 0)
        seen = [tuple(proxy().get_service_details(s)) for _ in range(4)]
        self.assertEqual(set(seen), {("10.0.0.5", 8000), ("10.0.0.6", 8001)})
        self.assertNotEqual(seen[0], seen[1])
        self.assertEqual(seen[0], seen[2])
        self.assertIs(proxy().get_service_details(name("unknown")), False)

    def test_get_all_service_details_is_the_original_json_string(self):
        s = name()
        ident = proxy().register(s, "http://10.0.0.5", "8000")
        raw = proxy().get_all_service_details()
        self.assertIsInstance(raw, str)
        record = json.loads(raw)[ident]
        self.assertEqual(set(record), {"name", "host", "port", "status", "reg_timestamp", "id"})
        self.assertEqual(record["name"], s)
        self.assertEqual(record["host"], "http://10.0.0.5")
        self.assertEqual(record["port"], "8000")
        self.assertEqual(record["status"], 1)
        self.assertEqual(record["id"], ident)
        self.assertRegex(record["reg_timestamp"], r"^\d{2}-\d{2}-\d{2} \d{2}:\d{2}$")

    def test_get_reg_count_counts_instances(self):
        before = proxy().get_reg_count()
        s = name()
        proxy().register(s, "10.0.0.5", 8000)
        proxy().register(s, "10.0.0.6", 8000)
        self.assertEqual(proxy().get_reg_count(), before + 2)
        proxy().unregister(s)
        self.assertEqual(proxy().get_reg_count(), before)

    def test_wrong_parameter_counts_are_invalid_params(self):
        self.assertFault(INVALID_PARAMS, proxy().register, "only-a-name")
        self.assertFault(INVALID_PARAMS, proxy().get_reg_count, "extra")
        self.assertFault(INVALID_PARAMS, proxy().update_status, name())
        self.assertFault(INVALID_PARAMS, proxy().get_service_details)

    def details(self):
        return json.loads(proxy().get_all_service_details())

    def details_of(self, service):
        return [key for key, record in self.details().items() if record["name"] == service]


class RegistryMethods(FaultAssertions):
    """registry.*: structs and faults."""

    def test_register_heartbeat_set_status_get_and_deregister(self):
        s = name()
        server = proxy()
        instance = server.registry.register(
            {"service": s, "id": "i-1", "host": "10.1.0.1", "port": 9000, "ttl": "30s", "tags": ["blue"],
             "metadata": {"team": "core"}, "endpoints": [{"type": "http", "url": "http://10.1.0.1:9000"}]})
        self.assertEqual((instance["id"], instance["status"], instance["health"]), ("i-1", "UP", "passing"))
        self.assertEqual(instance["ttl"], "30s")
        self.assertEqual(server.registry.heartbeat(s, "i-1")["id"], "i-1")
        self.assertEqual(server.registry.setStatus(s, "i-1", "DOWN")["status"], "DOWN")
        self.assertEqual(server.registry.getService(s)["instances"], [])
        self.assertEqual(server.registry.setStatus(s, "i-1", 1)["status"], "UP")
        answer = server.registry.getService(s)
        self.assertEqual(answer["name"], s)
        self.assertEqual([i["id"] for i in answer["instances"]], ["i-1"])
        self.assertGreater(answer["index"], 0)
        summary = [x for x in server.registry.listServices()["services"] if x["name"] == s]
        self.assertEqual(summary, [{"name": s, "instances": 1, "byStatus": {"UP": 1}}])
        self.assertEqual(server.registry.deregister(s, "i-1")["id"], "i-1")
        fault = self.assertFault(NOT_FOUND, server.registry.deregister, s, "i-1")
        self.assertTrue(fault.faultString.startswith("NOT_FOUND: "), fault.faultString)
        self.assertFault(NOT_FOUND, server.registry.heartbeat, s, "i-1")

    def test_registered_instances_are_seen_by_the_original_methods(self):
        s = name()
        proxy().registry.register({"service": s, "host": "10.1.0.2", "port": 9001})
        self.assertEqual(proxy().get_service_details(s), ["10.1.0.2", 9001])

    def test_instances_traverses_every_instance_in_pages(self):
        s = name("aaa-page")
        for i in range(5):
            proxy().registry.register({"service": s, "id": "i-%d" % i, "host": "10.2.0.%d" % i, "port": 9000})
        seen = []
        cursor = ""
        pages = 0
        while True:
            page = proxy().registry.instances(cursor, 2)
            pages += 1
            seen.extend(i["id"] for i in page["instances"] if i["service"] == s)
            cursor = page["nextCursor"]
            if cursor == "":
                break
        self.assertEqual(seen, ["i-%d" % i for i in range(5)])
        self.assertGreaterEqual(pages, 3)
        self.assertIn("instances", proxy().registry.instances())
        self.assertFault(INVALID_ARGUMENT, proxy().registry.instances, "not-a-cursor", 2)
        self.assertFault(INVALID_ARGUMENT, proxy().registry.instances, "", 0)

    def test_bad_registrations_are_faults(self):
        s = name()
        self.assertFault(INVALID_ARGUMENT, proxy().registry.register, {"service": s, "host": "h"})
        self.assertFault(INVALID_ARGUMENT, proxy().registry.register, {"service": s, "host": "h", "port": 1, "bogus": 1})
        self.assertFault(INVALID_ARGUMENT, proxy().registry.register, {"service": "bad name", "host": "h", "port": 1})
        self.assertFault(INVALID_ARGUMENT, proxy().registry.register, {"service": s, "host": "h", "port": 1, "status": 9})
        self.assertFault(INVALID_PARAMS, proxy().registry.register, "not a struct")
        self.assertFault(INVALID_ARGUMENT, proxy().registry.setStatus, s, "nope", "SIDEWAYS")
        self.assertFault(INVALID_ARGUMENT, proxy().registry.getService, "bad name")


class Introspection(FaultAssertions):
    METHODS = [
        "register", "update_status", "unregister", "get_service_details", "get_all_service_details",
        "get_reg_count", "registry.register", "registry.deregister", "registry.heartbeat", "registry.setStatus",
        "registry.getService", "registry.listServices", "registry.instances", "system.listMethods",
        "system.methodHelp", "system.methodSignature", "system.multicall",
    ]

    def test_list_methods_help_and_signatures(self):
        methods = proxy().system.listMethods()
        self.assertEqual(sorted(methods), sorted(self.METHODS))
        for method in methods:
            self.assertTrue(proxy().system.methodHelp(method), method)
            signatures = proxy().system.methodSignature(method)
            self.assertTrue(signatures, method)
            for signature in signatures:
                self.assertTrue(all(isinstance(t, str) for t in signature), signature)
        self.assertIn(["string", "string", "string", "int"], proxy().system.methodSignature("register"))
        self.assertFault(INVALID_PARAMS, proxy().system.methodHelp, "no.such.method")
        self.assertFault(INVALID_PARAMS, proxy().system.methodSignature, 42)


class Multicall(FaultAssertions):
    def test_multicall_answers_each_call_in_order(self):
        s = name()
        multi = xmlrpc.client.MultiCall(proxy())
        multi.register(s, "10.3.0.1", 8000)
        multi.register(s, "10.3.0.1", 8000)
        multi.get_service_details(s)
        multi.get_reg_count()
        results = list(multi())
        self.assertIsInstance(results[0], str)
        self.assertEqual(results[1:3], [False, ["10.3.0.1", 8000]])
        self.assertIsInstance(results[3], int)

    def test_a_failed_call_is_a_fault_entry_and_the_others_still_run(self):
        s = name()
        answer = proxy().system.multicall([
            {"methodName": "no.such.method", "params": []},
            {"methodName": "register", "params": [s, "10.3.0.2", 8000]},
            {"methodName": "register", "params": ["bad name", "10.3.0.2", 8000]},
            {"methodName": "system.multicall", "params": [[]]},
            {"methodName": "get_reg_count", "params": [1]},
            "not a struct",
        ])
        self.assertEqual(answer[0]["faultCode"], METHOD_NOT_FOUND)
        self.assertIsInstance(answer[1][0], str)
        self.assertEqual(answer[2]["faultCode"], INVALID_ARGUMENT)
        self.assertEqual(answer[3]["faultCode"], INVALID_PARAMS)
        self.assertEqual(answer[4]["faultCode"], INVALID_PARAMS)
        self.assertEqual(answer[5]["faultCode"], INVALID_PARAMS)
        self.assertEqual(proxy().get_service_details(s), ["10.3.0.2", 8000])
        multi = xmlrpc.client.MultiCall(proxy())
        multi.nope()
        with self.assertRaises(xmlrpc.client.Fault):
            list(multi())


class Faults(FaultAssertions):
    """Every fault class, each answered with HTTP 200."""

    def test_unknown_method(self):
        fault = self.assertFault(METHOD_NOT_FOUND, proxy().no_such_method)
        self.assertIn("no_such_method", fault.faultString)
        self.assertFault(METHOD_NOT_FOUND, proxy("/").system.shutdown)

    def test_bodies_that_are_not_a_method_call(self):
        self.assertRawFault(PARSE_ERROR, "this is not xml")
        self.assertRawFault(PARSE_ERROR, "", path="/")
        self.assertRawFault(PARSE_ERROR, "<methodResponse><params/></methodResponse>")
        self.assertRawFault(PARSE_ERROR, "<methodCall><methodName>x</methodName><params><param>")
        self.assertRawFault(PARSE_ERROR, "<methodCall><bogus/></methodCall>", path="/")
        self.assertRawFault(UNSUPPORTED_MEDIA_TYPE, '{"json": true}', content_type="application/json")

    def test_xml_is_served_only_as_xml(self):
        # A web page can POST text/plain (or no type) to any address without a CORS preflight (issue #13).
        body = xmlrpc.client.dumps((), "get_reg_count")
        for content_type in ("text/xml", "application/xml", "text/xml; charset=utf-8"):
            status, _, result = post_raw(body, path="/", content_type=content_type)
            self.assertEqual(status, 200)
            self.assertIsInstance(result, int, content_type)
        for content_type in (None, "application/octet-stream", "text/plain"):
            self.assertRawFault(UNSUPPORTED_MEDIA_TYPE, body, path="/", content_type=content_type)

    def test_billion_laughs_is_refused_fast(self):
        for _ in range(20):
            elapsed, fault = self.assertRawFault(PARSE_ERROR, BILLION_LAUGHS)
            self.assertIn("DOCTYPE", fault.faultString)
            self.assertLess(elapsed, 5)

    def test_external_entities_are_refused(self):
        _, fault = self.assertRawFault(PARSE_ERROR, XXE)
        self.assertNotIn("root:", fault.faultString)
        self.assertRawFault(PARSE_ERROR, '<!doctype methodCall><methodCall><methodName>get_reg_count</methodName></methodCall>')

    def test_deep_nesting_is_refused(self):
        depth = 200
        value = "<value><array><data>" * depth + "</data></array></value>" * depth
        body = "<methodCall><methodName>get_reg_count</methodName><params><param>%s</param></params></methodCall>" % value
        self.assertRawFault(PARSE_ERROR, body)

    def test_a_body_over_one_mebibyte_is_refused(self):
        body = xmlrpc.client.dumps(("x" * (1024 * 1024 + 1),), "get_service_details")
        self.assertRawFault(PAYLOAD_TOO_LARGE, body)
        # The connection is still usable for the next call.
        self.assertIsInstance(proxy().get_reg_count(), int)


class BillionLaughs(FaultAssertions):
    """Run alone by the memory test: many entity-bomb bodies, each one a fast fault."""

    def test_many_entity_bombs(self):
        for _ in range(200):
            self.assertRawFault(PARSE_ERROR, BILLION_LAUGHS)


if __name__ == "__main__":
    unittest.main(verbosity=2)
