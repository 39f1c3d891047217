/**
 * Consul's HTTP API on the registry's port (issue #17), spoken over raw HTTP: the registration mapping, Consul's error
 * shape, access control with Consul's ways of sending a token, and the node/status reads.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { startServer } from '../../src/server.js';
import { startTestServer, tempDir, testConfig } from '../fixtures/server.js';

interface Answer {
  status: number;
  type: string;
  text: string;
  index: string | null;
}

async function call(url: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    headers: init.headers ?? {},
    ...(init.body === undefined ? {} : { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) }),
  });
  const answer: Answer = {
    status: response.status,
    type: response.headers.get('content-type') ?? '',
    text: await response.text(),
    index: response.headers.get('x-consul-index'),
  };
  return answer;
}

describe('Consul registration mapping', () => {
  it('reads keys in any case style and maps TTL and HTTP checks, weights and meta onto the registration', async () => {
    await using server = await startTestServer();
    const answer = await call(`${server.url}/v1/agent/service/register`, {
      method: 'PUT',
      body: {
        name: 'pay',
        id: 'pay-1',
        address: '127.0.0.1',
        port: server.port,
        tags: ['v2'],
        meta: { Owner_Team: 'billing' },
        weights: { passing: 5, warning: 1 },
        checks: [
          { ttl: '10s', deregister_critical_service_after: '90m' },
          { HTTP: `${server.url}/health`, Interval: '1m30s', Timeout: '2s', DeregisterCriticalServiceAfter: '5m' },
        ],
      },
    });
    expect(answer.status, answer.text).toBe(200);
    const instance = server.registry.get('pay', 'pay-1');
    expect(instance).toMatchObject({
      host: '127.0.0.1',
      port: server.port,
      tags: ['v2'],
      metadata: { Owner_Team: 'billing' },
      weight: 5,
      ttl: '10s',
      deregisterAfter: '90m',
      deregisterCriticalAfter: '5m',
    });
    expect(instance.checks).toEqual([
      expect.objectContaining({ id: 'service:pay-1:2', kind: 'http', interval: '90s', timeout: '2s' }),
    ]);

    const checks = JSON.parse((await call(`${server.url}/v1/health/checks/pay`)).text) as { CheckID: string }[];
    expect(checks.map((c) => c.CheckID)).toEqual(['service:pay-1', 'service:pay-1:2']);
    // The registry runs the HTTP check: it is not Consul's TTL check to update.
    const active = await call(`${server.url}/v1/agent/check/pass/service%3Apay-1%3A2`, { method: 'PUT' });
    expect(active.status).toBe(400);
    expect(active.text).toMatch(/not a TTL check/);
    const unknown = await call(`${server.url}/v1/agent/check/warn/whatever`, { method: 'PUT' });
    expect(unknown).toMatchObject({ status: 404, text: 'Unknown check ID "whatever"' });
    expect(unknown.type).toMatch(/^text\/plain/);

    // `warn` renews and reports UNKNOWN: the service check is a warning.
    expect((await call(`${server.url}/v1/agent/check/warn/service:pay-1`, { method: 'PUT' })).status).toBe(200);
    expect(server.registry.get('pay', 'pay-1').status).toBe('UNKNOWN');
    const after = JSON.parse((await call(`${server.url}/v1/health/checks/pay`)).text) as {
      CheckID: string;
      Status: string;
    }[];
    expect(after.find((c) => c.CheckID === 'service:pay-1')?.Status).toBe('warning');
  });

  it('updates a TTL check from a JSON body (check/update), as pass, warn and fail do, and refuses a bad one', async () => {
    await using server = await startTestServer();
    const registered = await call(`${server.url}/v1/agent/service/register`, {
      method: 'PUT',
      body: { Name: 'queue', ID: 'queue-1', Port: 5672, Check: { TTL: '30s' } },
    });
    expect(registered.status, registered.text).toBe(200);
    const update = (body: unknown, check = 'service:queue-1') =>
      call(`${server.url}/v1/agent/check/update/${check}`, { method: 'PUT', body });
    const checkStatus = async (): Promise<string | undefined> => {
      const checks = JSON.parse((await call(`${server.url}/v1/health/checks/queue`)).text) as {
        CheckID: string;
        Status: string;
      }[];
      return checks.find((c) => c.CheckID === 'service:queue-1')?.Status;
    };

    expect((await update({ Status: 'critical', Output: 'disk full' })).status).toBe(200);
    expect(server.registry.get('queue', 'queue-1').status).toBe('DOWN');
    expect(await checkStatus()).toBe('critical');
    expect((await update({ status: 'warning' })).status).toBe(200);
    expect(await checkStatus()).toBe('warning');
    const before = server.registry.get('queue', 'queue-1').lastHeartbeat;
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect((await update({ Status: 'passing' })).status).toBe(200);
    expect(await checkStatus()).toBe('passing');
    // An update is a heartbeat too.
    expect(server.registry.get('queue', 'queue-1').lastHeartbeat > before).toBe(true);

    for (const bad of [{ Status: 'ok' }, {}, { Status: 3 }, '{"Status":', []]) {
      const refused = await update(bad);
      expect(refused.status, JSON.stringify(bad)).toBe(400);
      expect(refused.type).toMatch(/^text\/plain/);
    }
    expect(await checkStatus()).toBe('passing');
    expect(await update({ Status: 'passing' }, 'nope')).toMatchObject({ status: 404, text: 'Unknown check ID "nope"' });
  });

  it('registers a service without an Address at the address the request came from, with ID defaulting to Name', async () => {
    await using server = await startTestServer();
    const answer = await call(`${server.url}/v1/agent/service/register`, {
      method: 'PUT',
      body: { Name: 'cache', Port: 6379 },
    });
    expect(answer.status, answer.text).toBe(200);
    expect(server.registry.get('cache', 'cache')).toMatchObject({ host: '127.0.0.1', port: 6379 });
    // No TTL check: an instance without a lease, which Consul keeps until it is deregistered.
    expect(server.registry.get('cache', 'cache').ttl).toBeUndefined();
  });

  it.each([
    ['a body that is not JSON', '{"Name":', /Request decode failed/],
    ['no Port', { Name: 'web' }, /Port: missing/],
    ['Port 0', { Name: 'web', Port: 0 }, /Port: missing/],
    ['a Port that is a string', { Name: 'web', Port: '80' }, /^port: /],
    ['no Name', { Port: 80 }, /Name: missing/],
    ['a script check', { Name: 'web', Port: 80, Check: { Args: ['true'], Interval: '10s' } }, /exactly one of TTL/],
    ['two TTL checks', { Name: 'web', Port: 80, Checks: [{ TTL: '5s' }, { TTL: '6s' }] }, /one TTL check/],
    ['a TTL that is not a duration', { Name: 'web', Port: 80, Check: { TTL: 'soon' } }, /Check\.TTL/],
    ['an HTTP check without Interval', { Name: 'web', Port: 80, Check: { HTTP: 'http://127.0.0.1:80/' } }, /Interval/],
    ['Consul Connect', { Name: 'web', Port: 80, Connect: { Native: true } }, /Connect/],
    ['an invalid service name', { Name: 'web server', Port: 80 }, /service name/],
  ])('refuses %s with 400 and a plain-text message', async (_what, body, message) => {
    await using server = await startTestServer();
    const answer = await call(`${server.url}/v1/agent/service/register`, { method: 'PUT', body });
    expect(answer.status, answer.text).toBe(400);
    expect(answer.type).toMatch(/^text\/plain/);
    expect(answer.text).toMatch(message);
    expect(server.registry.listServices().services).toEqual([]);
  });

  it('refuses an ID that another service holds, and answers writes to unknown IDs with 404', async () => {
    await using server = await startTestServer();
    const register = (Name: string) =>
      call(`${server.url}/v1/agent/service/register`, { method: 'PUT', body: { Name, ID: 'one', Port: 80 } });
    expect((await register('a')).status).toBe(200);
    expect(await register('b')).toMatchObject({ status: 409 });
    expect(await call(`${server.url}/v1/agent/service/deregister/nobody`, { method: 'PUT' })).toMatchObject({
      status: 404,
      text: 'Unknown service ID "nobody"',
    });
    const noEnable = await call(`${server.url}/v1/agent/service/maintenance/one`, { method: 'PUT' });
    expect(noEnable.status).toBe(400);
    expect(noEnable.text).toMatch(/enable/);
  });

  it('takes a GET check update from a program but not from a browser', async () => {
    await using server = await startTestServer();
    await call(`${server.url}/v1/agent/service/register`, {
      method: 'PUT',
      body: { Name: 'web', Port: 80, Check: { TTL: '30s' } },
    });
    const fromPage = await call(`${server.url}/v1/agent/check/fail/service:web`, {
      headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' },
    });
    expect(fromPage.status).toBe(403);
    expect(server.registry.get('web', 'web').status).toBe('UP');
    expect((await call(`${server.url}/v1/agent/check/fail/service:web`)).status).toBe(200);
    expect(server.registry.get('web', 'web').status).toBe('DOWN');
  });
});

describe('Consul nodes, datacenter and status', () => {
  it('answers the configured datacenter, the hosts as nodes and the registry node as leader and peer', async () => {
    await using server = await startTestServer({ consul: { datacenter: 'eu-1' } });
    for (const [id, host] of [
      ['a1', '10.0.0.1'],
      ['a2', '10.0.0.1'],
      ['a3', '10.0.0.2'],
    ] as const) {
      await call(`${server.url}/v1/agent/service/register`, {
        method: 'PUT',
        body: { Name: 'app', ID: id, Address: host, Port: 80 },
      });
    }
    const json = async (path: string): Promise<unknown> => JSON.parse((await call(`${server.url}${path}`)).text);
    expect(await json('/v1/catalog/datacenters')).toEqual(['eu-1']);
    const nodes = (await json('/v1/catalog/nodes')) as { Node: string; Datacenter: string }[];
    expect(nodes.map((n) => [n.Node, n.Datacenter])).toEqual([
      ['10.0.0.1', 'eu-1'],
      ['10.0.0.2', 'eu-1'],
    ]);
    expect(Object.keys((await json('/v1/agent/services')) as object)).toEqual(['a1', 'a2', 'a3']);
    const self = (await json('/v1/agent/self')) as { Config: { Datacenter: string; NodeName: string } };
    expect(self.Config.Datacenter).toBe('eu-1');
    expect(await json('/v1/status/leader')).toBe(`127.0.0.1:${server.port}`);
    expect(await json('/v1/status/peers')).toEqual([`127.0.0.1:${server.port}`]);
    const catalog = (await json('/v1/catalog/service/app?tag=')) as { ServiceID: string; Datacenter: string }[];
    expect(catalog.map((c) => c.ServiceID)).toEqual(['a1', 'a2', 'a3']);
  });
});

describe('Consul API access control', () => {
  it('takes X-Consul-Token and ?token= (on Consul paths only), keeps lists to what the caller reads, never logs a token', async () => {
    using dir = tempDir('switchboard-consul-acl-');
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    await using server = await startServer(
      testConfig({ auth: { mode: 'on' }, store: { kind: 'memory', dataDir: dir.path } }),
      { logger: pino({ level: 'debug' }, sink) },
    );
    const operator = readFileSync(join(dir.path, 'bootstrap-token'), 'utf8').trim();
    const issue = async (body: object): Promise<string> => {
      const response = await fetch(`${server.url}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(201);
      return ((await response.json()) as { secret: string }).secret;
    };
    const writer = await issue({ name: 'writer', write: ['pay*'] });
    const reader = await issue({ name: 'reader', read: ['pay*'] });
    const register = (body: object, headers: Record<string, string> = {}) =>
      call(`${server.url}/v1/agent/service/register`, { method: 'PUT', body, headers });

    const anonymous = await register({ Name: 'payments', Port: 80 });
    expect(anonymous.status).toBe(401);
    expect(anonymous.type).toMatch(/^text\/plain/);
    expect((await register({ Name: 'payments', Port: 80 }, { 'x-consul-token': writer })).status).toBe(200);
    expect((await register({ Name: 'shipping', Port: 80 }, { 'x-consul-token': writer })).status).toBe(403);
    expect((await register({ Name: 'shipping', Port: 81 }, { 'x-consul-token': operator })).status).toBe(200);
    expect((await register({ Name: 'payments', Port: 80 }, { 'x-consul-token': reader })).status).toBe(403);

    const read = (path: string, token?: string) =>
      call(`${server.url}${path}${token === undefined ? '' : `${path.includes('?') ? '&' : '?'}token=${token}`}`);
    expect((await read('/v1/health/service/payments', reader)).status).toBe(200);
    expect((await read('/v1/health/service/shipping', reader)).status).toBe(403);
    expect(JSON.parse((await read('/v1/catalog/services', reader)).text)).toEqual({ payments: [] });
    expect(JSON.parse((await read('/v1/catalog/services', operator)).text)).toEqual({ payments: [], shipping: [] });
    expect(Object.keys(JSON.parse((await read('/v1/agent/services', reader)).text) as object)).toEqual(['payments']);
    expect((await read('/v1/agent/self')).status).toBe(401);
    expect((await read('/v1/agent/self', reader)).status).toBe(200);
    expect((await read('/v1/status/leader')).status).toBe(200);
    expect((await read('/v1/catalog/datacenters')).status).toBe(200);
    // A token in the URL is taken on Consul's paths only.
    expect((await read('/v1/services/payments', reader)).status).toBe(401);
    // A write by instance ID needs write on the service the instance is in.
    const maintenance = `/v1/agent/service/maintenance/shipping?enable=true`;
    expect((await call(`${server.url}${maintenance}&token=${writer}`, { method: 'PUT' })).status).toBe(403);
    expect((await call(`${server.url}${maintenance}&token=${operator}`, { method: 'PUT' })).status).toBe(200);
    // A bad token in the URL: refused, and neither it nor the good ones reach the log.
    expect((await read('/v1/catalog/services', 'sbt_bogus-secret-in-a-url')).status).toBe(401);
    const log = lines.join('');
    expect(log).not.toBe('');
    for (const secret of [writer, reader, operator, 'sbt_bogus-secret-in-a-url']) expect(log).not.toContain(secret);
  });
});
