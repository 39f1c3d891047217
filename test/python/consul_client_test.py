"""Debian's python3-consul (python-consul 0.7) against Switchboard's Consul API.

Run by test/integration/consul-python.test.ts with /usr/bin/python3 (whose dist-packages hold the module):

    SWITCHBOARD_HOST=127.0.0.1 SWITCHBOARD_PORT=8900 [SWITCHBOARD_TOKEN=...] /usr/bin/python3 consul_client_test.py

With SWITCHBOARD_TOKEN set the client sends it as python-consul does, as `?token=`.
Each test uses its own service names, so the tests share one server in any order.
"""

import os
import unittest
import uuid

import consul

HOST = os.environ["SWITCHBOARD_HOST"]
PORT = int(os.environ["SWITCHBOARD_PORT"])
TOKEN = os.environ.get("SWITCHBOARD_TOKEN")


def client(token=TOKEN):
    return consul.Consul(host=HOST, port=PORT, token=token)


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def register_pair(c, name):
    """Two instances of `name` with TTL checks: one at an address, one at the address the request came from."""
    check = consul.Check.ttl("10s")
    kwargs = dict(port=9001, address="127.0.0.1", tags=["blue"], check=check)
    self_check = c.agent.service.register(name, service_id=name + "-1", **kwargs)
    # No address: the instance is at the address the request came from, as a Consul agent's node.
    return self_check and c.agent.service.register(name, service_id=name + "-2", port=9002, check=check)


class Registration(unittest.TestCase):
    def test_registers_lists_the_catalog_and_reads_passing_health(self):
        c = client()
        name = unique("api")
        self.assertTrue(register_pair(c, name))

        index, services = c.catalog.services()
        self.assertGreater(int(index), 0)
        self.assertEqual(services[name], ["blue"])

        index, nodes = c.health.service(name, passing=True)
        self.assertGreater(int(index), 0)
        self.assertEqual(sorted(n["Service"]["ID"] for n in nodes), [name + "-1", name + "-2"])
        by_id = {n["Service"]["ID"]: n for n in nodes}
        self.assertEqual(by_id[name + "-1"]["Service"]["Port"], 9001)
        self.assertEqual(by_id[name + "-2"]["Service"]["Address"], "127.0.0.1")
        self.assertEqual(by_id[name + "-2"]["Node"]["Node"], "127.0.0.1")
        self.assertEqual([c["Status"] for c in by_id[name + "-1"]["Checks"]], ["passing"])

        _, nodes = c.health.service(name, tag="blue")
        self.assertEqual([n["Service"]["ID"] for n in nodes], [name + "-1"])

        _, catalog = c.catalog.service(name)
        self.assertEqual(sorted(s["ServicePort"] for s in catalog), [9001, 9002])
        self.assertEqual(c.catalog.datacenters(), ["dc1"])
        if not TOKEN:
            # python-consul 0.7 sends its token on no agent call but register, and agent/self needs read.
            self.assertEqual(c.agent.self()["Config"]["Datacenter"], "dc1")

    def test_a_registration_without_a_port_is_refused(self):
        with self.assertRaises(consul.ConsulException) as refused:
            client().agent.service.register(unique("portless"))
        self.assertIn("Port", str(refused.exception))


@unittest.skipIf(TOKEN, "python-consul 0.7 sends no token on its TTL updates and deregistration")
class AgentUpdates(unittest.TestCase):
    def test_a_failed_ttl_check_leaves_the_passing_answer_and_deregistration_the_catalog(self):
        c = client()
        name = unique("api")
        self.assertTrue(register_pair(c, name))
        index, _ = c.health.service(name, passing=True)
        # python-consul 0.7 sends these as GET, as Consul before 1.0 took them.
        self.assertTrue(c.agent.check.ttl_fail("service:%s-2" % name, notes="going down"))
        later, nodes = c.health.service(name, passing=True, index=index, wait="5s")
        self.assertGreater(int(later), int(index))
        self.assertEqual([n["Service"]["ID"] for n in nodes], [name + "-1"])
        self.assertTrue(c.agent.check.ttl_pass("service:%s-2" % name))
        _, nodes = c.health.service(name, passing=True)
        self.assertEqual(len(nodes), 2)

        self.assertTrue(c.agent.service.deregister(name + "-1"))
        self.assertTrue(c.agent.service.deregister(name + "-2"))
        _, services = c.catalog.services()
        self.assertNotIn(name, services)


@unittest.skipUnless(TOKEN, "needs a token (auth on)")
class Auth(unittest.TestCase):
    def test_a_client_without_the_token_is_refused(self):
        name = unique("guarded")
        with self.assertRaises(consul.ConsulException):
            client(token=None).agent.service.register(name, port=1)
        with self.assertRaises(consul.ConsulException):
            client(token="sbt_not-a-token").catalog.services()
        # The token's client may register; its token-less TTL update is refused and changes nothing.
        c = client()
        self.assertTrue(c.agent.service.register(name, port=1, check=consul.Check.ttl("10s")))
        with self.assertRaises(consul.ConsulException):
            c.agent.check.ttl_fail("service:" + name)
        _, nodes = c.health.service(name, passing=True)
        self.assertEqual(len(nodes), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
