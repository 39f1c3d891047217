/**
 * Issue #18's acceptance with the real eureka-js-client 4.5.0: two clients register against a real registry on
 * port 0, heartbeat, fetch the registry (full, and delta), find each other by app and by VIP, and one that stops
 * disappears from the other's cache; on Spring's service path and on the client's own.
 */
import type { Eureka } from 'eureka-js-client';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server.js';
import { eurekaClient, eventually, start, stop } from '../fixtures/eureka/clients.js';
import { startTestServer, tempDir } from '../fixtures/server.js';

let server: RunningServer | undefined;
const running: Eureka[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map(stop));
  await server?.close();
  server = undefined;
});

async function started(client: Eureka): Promise<Eureka> {
  running.push(client);
  await start(client);
  return client;
}

const heartbeat = (client: Eureka): Promise<void> =>
  new Promise((resolve) => {
    client.once('heartbeat', () => {
      resolve();
    });
  });

describe.each([
  { servicePath: '/eureka/apps/', shouldUseDelta: false },
  { servicePath: '/eureka/v2/apps/', shouldUseDelta: true },
])('eureka-js-client on $servicePath (shouldUseDelta: $shouldUseDelta)', ({ servicePath, shouldUseDelta }) => {
  it('registers two clients that find each other by app and VIP, and forgets the one that stops', async () => {
    server = await startTestServer();
    const url = server.url;
    const requests: string[] = [];
    const a = await started(
      eurekaClient({
        url,
        app: 'appA',
        instanceId: 'a-1',
        port: 7001,
        vipAddress: 'a.vip',
        servicePath,
        shouldUseDelta,
        requests,
      }),
    );
    // B has no instanceId: Eureka's id is then its hostName.
    const b = await started(
      eurekaClient({
        url,
        app: 'appB',
        hostName: 'b-host',
        port: 7002,
        vipAddress: 'b.vip',
        servicePath,
        shouldUseDelta,
      }),
    );
    await Promise.all([heartbeat(a), heartbeat(b)]);

    // A had its full registry before B registered: with deltas on, B reaches it through /apps/delta.
    await eventually('A sees B', () => a.getInstancesByAppId('APPB').length === 1);
    await eventually('B sees A', () => b.getInstancesByAppId('appA').length === 1);
    expect(requests.includes('GET delta')).toBe(shouldUseDelta);
    expect(requests).toContain('PUT appA/a-1');
    const [seenB] = a.getInstancesByVipAddress('b.vip');
    expect(seenB).toMatchObject({
      app: 'APPB',
      hostName: 'b-host',
      status: 'UP',
      port: { $: 7002, '@enabled': 'true' },
    });
    expect(b.getInstancesByVipAddress('a.vip')).toMatchObject([{ app: 'APPA', instanceId: 'a-1' }]);

    // Both show up over REST v1 too, under the lower-cased application name.
    const rest = (await (await fetch(`${url}/v1/services/appb`)).json()) as {
      instances: { id: string; port: number }[];
    };
    expect(rest.instances).toMatchObject([{ id: 'b-host', port: 7002 }]);

    running.splice(running.indexOf(b), 1);
    await stop(b);
    await eventually('A forgets B', () => a.getInstancesByAppId('APPB').length === 0);
    expect(a.getInstancesByVipAddress('b.vip')).toHaveLength(0);
    expect(a.getInstancesByAppId('APPA')).toHaveLength(1);
  });
});

describe('eureka-js-client heartbeats', () => {
  it('registers again when its heartbeat is answered 404', async () => {
    server = await startTestServer();
    const url = server.url;
    const client = await started(
      eurekaClient({
        url,
        app: 'billing',
        instanceId: 'bill-1',
        port: 7003,
        vipAddress: 'billing',
        servicePath: '/eureka/v2/apps/',
        shouldUseDelta: false,
      }),
    );
    const removed = await fetch(`${url}/v1/services/billing/instances/bill-1`, { method: 'DELETE' });
    expect(removed.status).toBe(200);
    const registered = new Promise<void>((resolve) => {
      client.once('registered', () => {
        resolve();
      });
    });
    await registered;
    const again = await fetch(`${url}/v1/services/billing/instances/bill-1`);
    expect(again.status).toBe(200);
  });
});

describe('eureka-js-client with auth on', () => {
  it('registers and reads with the token as basic auth in its service URL', async () => {
    using dir = tempDir();
    server = await startTestServer({ auth: { mode: 'on' }, store: { kind: 'memory', dataDir: dir.path } });
    const operator = readFileSync(join(dir.path, 'bootstrap-token'), 'utf8').trim();
    const created = await fetch(`${server.url}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'shop', write: ['shop'] }),
    });
    const { secret } = (await created.json()) as { secret: string };
    const { host } = new URL(server.url);
    const client = await started(
      eurekaClient({
        url: server.url,
        app: 'shop',
        instanceId: 'shop-1',
        port: 7004,
        vipAddress: 'shop',
        servicePath: '/eureka/apps/',
        shouldUseDelta: false,
        serviceUrl: `http://eureka:${secret}@${host}`,
      }),
    );
    await eventually('it sees itself', () => client.getInstancesByAppId('SHOP').length === 1);
    const anonymous = await fetch(`${server.url}/eureka/apps/`, { headers: { accept: 'application/json' } });
    // As REST v1's lists: a caller without a token is answered only what the anonymous policy reads (none here).
    expect(await anonymous.json()).toMatchObject({ applications: { application: [] } });
  });
});
