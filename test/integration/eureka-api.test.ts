/**
 * Issue #18: Eureka's REST API over the network, against a real registry on port 0. Answers are compared with
 * fixtures written from Eureka's codecs (test/fixtures/eureka), in JSON and XML; REST v1 and Eureka share records.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server.js';
import { eventually } from '../fixtures/eureka/clients.js';
import { jsonFixture, normalized, parseXml, xmlFixture } from '../fixtures/eureka/shapes.js';
import { startTestServer, tempDir } from '../fixtures/server.js';

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function url(path: string): string {
  if (!server) throw new Error('no server');
  return `${server.url}${path}`;
}

const JSON_HEADERS = { accept: 'application/json', 'content-type': 'application/json' };

/** The registration eureka-js-client and Spring send (JSON codec), for `orders-1`. */
const ORDERS = {
  instance: {
    instanceId: 'orders-1',
    hostName: 'orders-1.local',
    app: 'ORDERS',
    ipAddr: '10.0.0.5',
    status: 'UP',
    overriddenStatus: 'UNKNOWN',
    port: { $: 8080, '@enabled': 'true' },
    securePort: { $: 8443, '@enabled': 'false' },
    countryId: 1,
    dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
    leaseInfo: { renewalIntervalInSecs: 30, durationInSecs: 90 },
    metadata: { 'management.port': '8081' },
    homePageUrl: 'http://orders-1.local:8080/',
    statusPageUrl: 'http://orders-1.local:8080/actuator/info',
    healthCheckUrl: 'http://orders-1.local:8080/actuator/health',
    vipAddress: 'orders',
    secureVipAddress: 'orders-secure',
    isCoordinatingDiscoveryServer: 'false',
    lastUpdatedTimestamp: '1700000000000',
    lastDirtyTimestamp: '1700000000000',
  },
};

/** A minimal registration: what Eureka requires, and a port. */
function minimal(app: string, id: string, extra: Record<string, unknown> = {}): { instance: Record<string, unknown> } {
  return {
    instance: {
      instanceId: id,
      hostName: '127.0.0.1',
      app,
      ipAddr: '127.0.0.1',
      port: 8080,
      dataCenterInfo: { name: 'MyOwn' },
      ...extra,
    },
  };
}

async function register(app: string, body: unknown, base = '/eureka/apps'): Promise<Response> {
  return fetch(url(`${base}/${app}`), { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(body) });
}

async function getJson(path: string): Promise<{ status: number; body: unknown; type: string | null }> {
  const response = await fetch(url(path), { headers: { accept: 'application/json' } });
  const text = await response.text();
  return {
    status: response.status,
    body: text === '' ? undefined : JSON.parse(text),
    type: response.headers.get('content-type'),
  };
}

async function getXml(path: string, accept?: string): Promise<{ body: unknown; type: string | null }> {
  const response = await fetch(url(path), accept === undefined ? {} : { headers: { accept } });
  expect(response.status).toBe(200);
  return { body: parseXml(await response.text()), type: response.headers.get('content-type') };
}

interface EurekaInstanceShape {
  instanceId: string;
  status: string;
  overriddenStatus: string;
  metadata: Record<string, string>;
  actionType: string;
  lastDirtyTimestamp: string;
}

async function instance(app: string, id: string): Promise<EurekaInstanceShape> {
  const { status, body } = await getJson(`/eureka/apps/${app}/${id}`);
  expect(status).toBe(200);
  return (body as { instance: EurekaInstanceShape }).instance;
}

async function put(path: string): Promise<number> {
  return (await fetch(url(path), { method: 'PUT' })).status;
}

describe('Eureka answers', () => {
  it('answers the empty registry with an empty application list, in JSON and XML, on both paths', async () => {
    server = await startTestServer();
    for (const path of ['/eureka/apps/', '/eureka/v2/apps/', '/eureka/apps']) {
      const { status, body, type } = await getJson(path);
      expect(status).toBe(200);
      expect(type).toMatch(/^application\/json/);
      expect(normalized(body)).toEqual(jsonFixture('empty-applications.json'));
      const xml = await getXml(path);
      expect(xml.type).toMatch(/^application\/xml/);
      expect(normalized(xml.body)).toEqual(xmlFixture('empty-applications.xml'));
    }
  });

  it("answers Eureka's and REST v1's registrations in the codec's JSON and XML shapes", async () => {
    server = await startTestServer();
    // eureka-js-client posts the app name as configured: lower case here.
    expect((await register('orders', ORDERS)).status).toBe(204);
    const v1 = await fetch(url('/v1/services/payments/instances/pay-1'), {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ host: '10.0.0.7', port: 9000, metadata: { version: '1.2' } }),
    });
    expect(v1.status).toBe(201);
    const serverDirty = new Set(['pay-1']);

    const full = (await getJson('/eureka/v2/apps/')).body as {
      applications: { application: { instance: object[] }[] };
    };
    const expected = jsonFixture('applications.json') as typeof full;
    expect(normalized(full, serverDirty)).toEqual(expected);
    // JSON keeps the codec's field order.
    expect(Object.keys(full.applications.application[0]?.instance[0] ?? {})).toEqual(
      Object.keys(expected.applications.application[0]?.instance[0] ?? {}),
    );
    expect(normalized((await getXml('/eureka/apps/', 'application/xml')).body, serverDirty)).toEqual(
      xmlFixture('applications.xml'),
    );

    expect(normalized((await getJson('/eureka/apps/ORDERS/orders-1')).body)).toEqual(jsonFixture('instance.json'));
    const xmlApps = xmlFixture('applications.xml') as { applications: { application: { instance: unknown[] }[] } };
    const xmlInstance = (await getXml('/eureka/apps/ORDERS/orders-1', 'application/xml')).body;
    expect(normalized(xmlInstance)).toEqual({ instance: xmlApps.applications.application[0]?.instance });
    expect(normalized((await getJson('/eureka/v2/instances/orders-1')).body)).toEqual(jsonFixture('instance.json'));
    const app = (await getJson('/eureka/apps/Orders')).body as { application: { name: string; instance: unknown[] } };
    expect(app.application.name).toBe('ORDERS');
    expect(app.application.instance).toHaveLength(1);
    const byVip = (await getJson('/eureka/vips/orders')).body as { applications: { application: { name: string }[] } };
    expect(byVip.applications.application.map((a) => a.name)).toEqual(['ORDERS']);
    const bySvip = (await getJson('/eureka/svips/orders-secure')).body as typeof byVip;
    expect(bySvip.applications.application.map((a) => a.name)).toEqual(['ORDERS']);
    const restVip = (await getJson('/eureka/vips/payments')).body as typeof byVip;
    expect(restVip.applications.application.map((a) => a.name)).toEqual(['PAYMENTS']);
    expect((await getJson('/eureka/vips/nothing')).body).toMatchObject({ applications: { application: [] } });
    expect((await getJson('/eureka/apps/NOPE')).status).toBe(404);
    expect((await getJson('/eureka/apps/ORDERS/nope')).status).toBe(404);
    expect((await getJson('/eureka/instances/nope')).status).toBe(404);
  });

  it('answers JSON only when Accept asks for it, XML otherwise, as Eureka does', async () => {
    server = await startTestServer();
    for (const [accept, type] of [
      [undefined, 'application/xml'],
      ['*/*', 'application/xml'],
      ['application/xml', 'application/xml'],
      ['application/json', 'application/json'],
      ['application/json, application/xml', 'application/json'],
    ] as const) {
      const response = await fetch(url('/eureka/apps/'), accept === undefined ? {} : { headers: { accept } });
      expect(response.headers.get('content-type'), String(accept)).toMatch(new RegExp(`^${type}`));
    }
  });
});

describe('Eureka and REST v1 share records', () => {
  it('shows a Eureka registration over REST v1 with its fields kept in the registration', async () => {
    server = await startTestServer();
    expect((await register('orders', ORDERS)).status).toBe(204);
    const rest = (await (await fetch(url('/v1/services/orders/instances/orders-1'))).json()) as Record<string, unknown>;
    expect(rest).toMatchObject({
      service: 'orders',
      id: 'orders-1',
      host: 'orders-1.local',
      port: 8080,
      status: 'UP',
      ttl: '90s',
      deregisterAfter: '3m',
      metadata: { 'management.port': '8081', 'eureka.ipAddr': '10.0.0.5', 'eureka.vipAddress': 'orders' },
    });
    expect(rest['endpoints']).toContainEqual({
      type: 'eureka.healthCheck',
      url: 'http://orders-1.local:8080/actuator/health',
    });
  });

  it('keeps what a Eureka client registered in XML across a restart', async () => {
    using dir = tempDir();
    const config = { store: { kind: 'sqlite' as const, dataDir: dir.path } };
    server = await startTestServer(config);
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<instance>
  <instanceId>inv-1</instanceId><hostName>inv.local</hostName><app>INVENTORY</app><ipAddr>10.0.0.9</ipAddr>
  <status>STARTING</status><port enabled="true">7070</port><securePort enabled="true">7443</securePort>
  <countryId>2</countryId>
  <dataCenterInfo class="com.netflix.appinfo.AmazonInfo"><name>Amazon</name>
    <metadata><availability-zone>eu-west-1a</availability-zone><instance-id>i-123</instance-id></metadata></dataCenterInfo>
  <leaseInfo><renewalIntervalInSecs>10</renewalIntervalInSecs><durationInSecs>40</durationInSecs></leaseInfo>
  <metadata class="java.util.Collections$EmptyMap"/>
  <vipAddress>inventory,stock</vipAddress><secureVipAddress>inventory-s</secureVipAddress>
  <lastDirtyTimestamp>1700000000123</lastDirtyTimestamp>
</instance>`;
    const response = await fetch(url('/eureka/v2/apps/INVENTORY'), {
      method: 'POST',
      headers: { 'content-type': 'application/xml' },
      body: xml,
    });
    expect(response.status, await response.text()).toBe(204);
    const before = await instance('INVENTORY', 'inv-1');
    expect(before).toMatchObject({
      status: 'STARTING',
      port: { $: 7070, '@enabled': 'true' },
      securePort: { $: 7443, '@enabled': 'true' },
      countryId: 2,
      dataCenterInfo: {
        '@class': 'com.netflix.appinfo.AmazonInfo',
        name: 'Amazon',
        metadata: { 'availability-zone': 'eu-west-1a', 'instance-id': 'i-123' },
      },
      leaseInfo: { renewalIntervalInSecs: 10, durationInSecs: 40 },
      metadata: {},
      homePageUrl: 'http://inv.local:7070/',
      vipAddress: 'inventory,stock',
      secureVipAddress: 'inventory-s',
      lastDirtyTimestamp: '1700000000123',
    });
    await server.close();
    server = await startTestServer(config);
    const after = await instance('INVENTORY', 'inv-1');
    expect(normalized(after)).toEqual(normalized(before));
    const { body } = await getJson('/eureka/vips/stock');
    expect(body).toMatchObject({ applications: { application: [{ name: 'INVENTORY' }] } });
  });

  it('shows services as upper-case applications and merges services that differ only by case', async () => {
    server = await startTestServer();
    for (const [service, id] of [
      ['web', 'w1'],
      ['Web', 'W2'],
    ] as const) {
      const response = await fetch(url(`/v1/services/${service}/instances/${id}`), {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ host: '10.0.0.1', port: 80, ttl: '30s' }),
      });
      expect(response.status).toBe(201);
    }
    const { body } = await getJson('/eureka/apps/');
    const apps = (body as { applications: { application: { name: string; instance: { instanceId: string }[] }[] } })
      .applications.application;
    // One application WEB: the services in name order (upper case sorts first).
    expect(apps).toMatchObject([{ name: 'WEB', instance: [{ instanceId: 'W2' }, { instanceId: 'w1' }] }]);
    // A heartbeat finds each, whichever service holds it.
    expect(await put('/eureka/apps/WEB/W2')).toBe(200);
    expect(await put('/eureka/apps/web/w1')).toBe(200);
  });
});

describe('Eureka writes', () => {
  it('renews on heartbeat, 404 when unknown or when the client is newer, and applies a reported status', async () => {
    server = await startTestServer();
    expect(await put('/eureka/apps/ORDERS/orders-1')).toBe(404);
    expect((await register('ORDERS', ORDERS)).status).toBe(204);
    expect(await put('/eureka/apps/ORDERS/orders-1')).toBe(200);
    expect(await put('/eureka/apps/ORDERS/orders-1?status=UP&lastDirtyTimestamp=1700000000000')).toBe(200);
    expect(await put('/eureka/apps/ORDERS/orders-1?lastDirtyTimestamp=1700000000001')).toBe(404);
    expect(await put('/eureka/v2/apps/orders/orders-1?status=DOWN')).toBe(200);
    expect((await instance('ORDERS', 'orders-1')).status).toBe('DOWN');
    const removed = await fetch(url('/eureka/apps/ORDERS/orders-1'), { method: 'DELETE' });
    expect(removed.status).toBe(200);
    expect((await fetch(url('/eureka/apps/ORDERS/orders-1'), { method: 'DELETE' })).status).toBe(404);
  });

  it('keeps a status override over heartbeats and registrations until it is removed', async () => {
    server = await startTestServer();
    expect((await register('ORDERS', ORDERS)).status).toBe(204);
    expect(await put('/eureka/apps/ORDERS/orders-1/status?value=OUT_OF_SERVICE')).toBe(200);
    expect(await instance('ORDERS', 'orders-1')).toMatchObject({
      status: 'OUT_OF_SERVICE',
      overriddenStatus: 'OUT_OF_SERVICE',
    });
    expect(await put('/eureka/apps/ORDERS/orders-1?status=UP')).toBe(200);
    expect((await register('ORDERS', ORDERS)).status).toBe(204);
    expect((await instance('ORDERS', 'orders-1')).status).toBe('OUT_OF_SERVICE');
    // Eureka's own DELETE …/status without a value leaves the instance UNKNOWN.
    expect((await fetch(url('/eureka/apps/ORDERS/orders-1/status'), { method: 'DELETE' })).status).toBe(200);
    expect(await instance('ORDERS', 'orders-1')).toMatchObject({ status: 'UNKNOWN', overriddenStatus: 'UNKNOWN' });
    expect(await put('/eureka/apps/ORDERS/orders-1?status=UP')).toBe(200);
    expect((await instance('ORDERS', 'orders-1')).status).toBe('UP');
    expect(await put('/eureka/apps/ORDERS/orders-1/status?value=DOWN')).toBe(200);
    expect((await fetch(url('/eureka/apps/ORDERS/orders-1/status?value=UP'), { method: 'DELETE' })).status).toBe(200);
    expect((await instance('ORDERS', 'orders-1')).status).toBe('UP');
    expect(await put('/eureka/apps/ORDERS/orders-1/status')).toBe(400);
    expect(await put('/eureka/apps/ORDERS/orders-1/status?value=SLEEPING')).toBe(400);
    expect(await put('/eureka/apps/ORDERS/nope/status?value=DOWN')).toBe(404);
  });

  it('edits metadata with PUT …/metadata and keeps the reserved keys its own', async () => {
    server = await startTestServer();
    expect((await register('ORDERS', ORDERS)).status).toBe(204);
    expect(await put('/eureka/apps/ORDERS/orders-1/metadata?zone=b&version=2')).toBe(200);
    expect((await instance('ORDERS', 'orders-1')).metadata).toEqual({
      'management.port': '8081',
      zone: 'b',
      version: '2',
    });
    expect(await put('/eureka/apps/ORDERS/orders-1/metadata?eureka.vipAddress=x')).toBe(400);
  });

  it('refuses bad registrations with 400 (413 when too large) and a clear message, registering nothing', async () => {
    server = await startTestServer({ http: { host: '127.0.0.1', port: 0, bodyLimitBytes: 8_192 } });
    const without = (field: string): unknown => {
      const instance = Object.fromEntries(Object.entries(ORDERS.instance).filter(([key]) => key !== field));
      return { instance };
    };
    const cases: [string, RequestInit, number, RegExp][] = [
      ['no hostName', { body: JSON.stringify(without('hostName')) }, 400, /hostName is missing/],
      ['no ipAddr', { body: JSON.stringify(without('ipAddr')) }, 400, /ipAddr is missing/],
      ['no app', { body: JSON.stringify(without('app')) }, 400, /app is missing/],
      ['no dataCenterInfo', { body: JSON.stringify(without('dataCenterInfo')) }, 400, /dataCenterInfo is missing/],
      [
        'no dataCenterInfo.name',
        { body: JSON.stringify(minimal('ORDERS', 'o', { dataCenterInfo: {} })) },
        400,
        /dataCenterInfo.name/,
      ],
      ['another app', { body: JSON.stringify(minimal('BILLING', 'o')) }, 400, /not the application of the path/],
      ['no port', { body: JSON.stringify(without('port')) }, 400, /port is missing/],
      ['port 0', { body: JSON.stringify(minimal('ORDERS', 'o', { port: 0 })) }, 400, /port must be/],
      ['port 70000', { body: JSON.stringify(minimal('ORDERS', 'o', { port: { $: 70000 } })) }, 400, /port must be/],
      ['port abc', { body: JSON.stringify(minimal('ORDERS', 'o', { port: { $: 'abc' } })) }, 400, /port must be/],
      ['a bad id', { body: JSON.stringify(minimal('ORDERS', 'a b')) }, 400, /id/],
      [
        'reserved metadata',
        { body: JSON.stringify(minimal('ORDERS', 'o', { metadata: { 'eureka.ipAddr': 'x' } })) },
        400,
        /eureka\./,
      ],
      ['no instance', { body: '{"app":"ORDERS"}' }, 400, /must hold an instance/],
      ['bad JSON', { body: '{"instance":' }, 400, /not valid JSON/],
      [
        'bad XML',
        { body: '<instance><app>ORDERS</instance>', headers: { 'content-type': 'application/xml' } },
        400,
        /not valid XML/,
      ],
      [
        'a DOCTYPE',
        {
          body: '<!DOCTYPE x [<!ENTITY a "aaaa">]><instance><app>&a;</app></instance>',
          headers: { 'content-type': 'text/xml' },
        },
        400,
        /DOCTYPE/,
      ],
      ['a huge body', { body: JSON.stringify(minimal('ORDERS', 'o', { pad: 'x'.repeat(20_000) })) }, 413, /./],
      ['form data', { body: 'a=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, /./],
      // What a web page may send cross-origin without a preflight is not read (issue #13).
      ['text/plain', { body: JSON.stringify(ORDERS), headers: { 'content-type': 'text/plain' } }, 415, /./],
    ];
    for (const [what, init, status, message] of cases) {
      const response = await fetch(url('/eureka/apps/ORDERS'), { method: 'POST', headers: JSON_HEADERS, ...init });
      const body = (await response.json()) as { code: string; message: string };
      expect(response.status, what).toBe(status);
      expect(body.message, what).toMatch(message);
    }
    const { body } = await getJson('/eureka/apps/');
    expect(body).toMatchObject({ applications: { application: [] } });
  });
});

describe('Eureka deltas and health', () => {
  it("answers the delta's changes with the whole registry's hashcode", async () => {
    server = await startTestServer();
    expect((await register('ORDERS', ORDERS)).status).toBe(204);
    expect((await register('PAYMENTS', minimal('PAYMENTS', 'pay-1'))).status).toBe(204);
    expect((await register('PAYMENTS', minimal('PAYMENTS', 'pay-2'))).status).toBe(204);
    expect((await fetch(url('/eureka/apps/ORDERS/orders-1'), { method: 'DELETE' })).status).toBe(200);
    expect(await put('/eureka/apps/PAYMENTS/pay-2/status?value=OUT_OF_SERVICE')).toBe(200);
    for (const path of ['/eureka/apps/delta', '/eureka/v2/apps/delta']) {
      const { body } = await getJson(path);
      const delta = body as {
        applications: { apps__hashcode: string; application: { name: string; instance: EurekaInstanceShape[] }[] };
      };
      expect(delta.applications.apps__hashcode).toBe('OUT_OF_SERVICE_1_UP_1_');
      const actions = delta.applications.application.flatMap((app) =>
        app.instance.map((i) => `${app.name}/${i.instanceId}:${i.actionType}:${i.status}`),
      );
      expect(actions).toEqual([
        'ORDERS/orders-1:DELETED:UP',
        'PAYMENTS/pay-1:ADDED:UP',
        'PAYMENTS/pay-2:MODIFIED:OUT_OF_SERVICE',
      ]);
    }
    const xml = (await getXml('/eureka/apps/delta')).body as { applications: { apps__hashcode: string } };
    expect(xml.applications.apps__hashcode).toBe('OUT_OF_SERVICE_1_UP_1_');
    const full = (await getJson('/eureka/apps/')).body as { applications: { apps__hashcode: string } };
    expect(full.applications.apps__hashcode).toBe('OUT_OF_SERVICE_1_UP_1_');
  });

  it('shows an instance whose lease lapsed as DOWN', async () => {
    server = await startTestServer();
    // Lapsed after 3 s, removed 3 s later: the test looks in between.
    const body = minimal('ORDERS', 'o-1', { leaseInfo: { renewalIntervalInSecs: 1, durationInSecs: 3 } });
    expect((await register('ORDERS', body)).status).toBe(204);
    expect((await instance('ORDERS', 'o-1')).status).toBe('UP');
    await eventually('the lease lapses', async () => (await instance('ORDERS', 'o-1')).status === 'DOWN');
    const { body: full } = await getJson('/eureka/apps/');
    expect(full).toMatchObject({ applications: { apps__hashcode: 'DOWN_1_' } });
    expect(await put('/eureka/apps/ORDERS/o-1')).toBe(200);
    expect((await instance('ORDERS', 'o-1')).status).toBe('UP');
  });

  it('makes healthCheckUrl an active check with --eureka-health-checks', async () => {
    const failing = createServer((_request, response) => {
      response.statusCode = 500;
      response.end('broken');
    });
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
    try {
      const port = (failing.address() as AddressInfo).port;
      const body = minimal('ORDERS', 'o-1', {
        port,
        healthCheckUrl: `http://127.0.0.1:${port}/health`,
        leaseInfo: { renewalIntervalInSecs: 1, durationInSecs: 60 },
      });
      server = await startTestServer({ eureka: { healthChecks: false, deltaWindowMs: 180_000 } });
      expect((await register('ORDERS', body)).status).toBe(204);
      const plain = (await (await fetch(url('/v1/services/orders/instances/o-1'))).json()) as { checks?: unknown };
      expect(plain.checks).toBeUndefined();
      await server.close();

      server = await startTestServer({ eureka: { healthChecks: true, deltaWindowMs: 180_000 } });
      expect((await register('ORDERS', body)).status).toBe(204);
      const checked = (await (await fetch(url('/v1/services/orders/instances/o-1'))).json()) as { checks?: unknown };
      expect(checked.checks).toMatchObject([{ kind: 'http', target: `http://127.0.0.1:${port}/health` }]);
      const keepAlive = setInterval(() => void put('/eureka/apps/ORDERS/o-1'), 200);
      try {
        await eventually('the check fails', async () => (await instance('ORDERS', 'o-1')).status === 'DOWN');
      } finally {
        clearInterval(keepAlive);
      }
    } finally {
      failing.close();
    }
  });
});

describe('Eureka access control', () => {
  it('needs write on the service to change it and keeps only readable services in lists', async () => {
    using dir = tempDir();
    server = await startTestServer({ auth: { mode: 'on' }, store: { kind: 'memory', dataDir: dir.path } });
    const operator = readFileSync(join(dir.path, 'bootstrap-token'), 'utf8').trim();
    const token = async (name: string, policy: object): Promise<string> => {
      const response = await fetch(url('/v1/tokens'), {
        method: 'POST',
        headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name, ...policy }),
      });
      expect(response.status).toBe(201);
      return ((await response.json()) as { secret: string }).secret;
    };
    const writer = await token('orders-writer', { write: ['orders'] });
    const reader = await token('orders-reader', { read: ['orders'] });
    // Eureka clients send the token as basic auth's password (http://user:TOKEN@host/eureka/).
    const basic = (secret: string): Record<string, string> => ({
      authorization: `Basic ${Buffer.from(`eureka:${secret}`).toString('base64')}`,
    });
    const post = (app: string, headers: Record<string, string>): Promise<Response> =>
      fetch(url(`/eureka/apps/${app}`), {
        method: 'POST',
        headers: { ...JSON_HEADERS, ...headers },
        body: JSON.stringify(minimal(app, `${app.toLowerCase()}-1`)),
      });
    expect((await post('ORDERS', {})).status).toBe(401);
    expect((await post('ORDERS', basic(reader))).status).toBe(403);
    expect((await post('PAYMENTS', basic(writer))).status).toBe(403);
    expect((await post('ORDERS', basic(writer))).status).toBe(204);
    expect((await post('PAYMENTS', { authorization: `Bearer ${operator}` })).status).toBe(204);

    const list = async (headers: Record<string, string>): Promise<string[]> => {
      const response = await fetch(url('/eureka/apps/'), { headers: { accept: 'application/json', ...headers } });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { applications: { application: { name: string }[] } };
      return body.applications.application.map((app) => app.name);
    };
    expect(await list(basic(reader))).toEqual(['ORDERS']);
    expect(await list({ authorization: `Bearer ${operator}` })).toEqual(['ORDERS', 'PAYMENTS']);
    const refused = await fetch(url('/eureka/apps/PAYMENTS'), {
      headers: { accept: 'application/json', ...basic(reader) },
    });
    expect(refused.status).toBe(403);
    const heartbeat = await fetch(url('/eureka/apps/PAYMENTS/payments-1'), { method: 'PUT', headers: basic(writer) });
    expect(heartbeat.status).toBe(403);
    const ownHeartbeat = await fetch(url('/eureka/apps/ORDERS/orders-1'), { method: 'PUT', headers: basic(writer) });
    expect(ownHeartbeat.status).toBe(200);
    const hidden = await fetch(url('/eureka/instances/payments-1'), {
      headers: { accept: 'application/json', ...basic(reader) },
    });
    expect(hidden.status).toBe(404);
    const text = await refused.text();
    expect(text).not.toContain(reader);
  });
});
