import { describe, expect, it } from 'vitest';
import { Discovery, RegistryClient } from '../../src/sdk/index.js';
import { FALLBACK_HEADER, FALLBACK_METADATA_KEY } from '../../src/wire/index.js';
import type { ErrorBody } from '../../src/errors/index.js';
import { eventually, getJson, startTestGateway, startUpstream } from '../fixtures/gateway.js';
import type { EchoBody, TestUpstream } from '../fixtures/gateway.js';
import { startTestServer } from '../fixtures/server.js';

/** A static "try again later" service: the same answer for any path. */
function sorryService(): Promise<TestUpstream> {
  return startUpstream('sorry', (req, res) => {
    req.resume();
    const body = JSON.stringify({ name: 'sorry', url: req.url, message: 'try again later' });
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '30' });
    res.end(body);
  });
}

async function registerTickets(client: RegistryClient, tickets: TestUpstream, id = 't1'): Promise<void> {
  await client.register({
    service: 'tickets',
    id,
    host: '127.0.0.1',
    port: tickets.port,
    url: '/tickets',
    metadata: { [FALLBACK_METADATA_KEY]: 'sorry' },
  });
}

describe('fallbacks (issue #15)', () => {
  it('answers through the fallback while every instance is gone, with the header, and back again', async () => {
    await using server = await startTestServer();
    await using tickets = await startUpstream('tickets');
    await using sorry = await sorryService();
    const client = new RegistryClient({ url: server.url });
    await registerTickets(client, tickets);
    await client.register({ service: 'sorry', id: 's1', host: '127.0.0.1', port: sorry.port, url: '/sorry' });
    await using gateway = await startTestGateway(server.url);

    const direct = await getJson(`${gateway.url}/tickets/7`);
    expect(direct.status).toBe(200);
    expect(direct.body.name).toBe('tickets');
    expect(direct.headers.get(FALLBACK_HEADER)).toBeNull();

    await client.deregister('tickets', 't1');
    await eventually(async () => (await getJson(`${gateway.url}/tickets/7`)).body.name === 'sorry');
    const fallen = await getJson<EchoBody & { message: string }>(`${gateway.url}/tickets/7?x=1`);
    expect(fallen.status).toBe(503);
    expect(fallen.body.message).toBe('try again later');
    // The path goes as it came: sorry does not ask for the prefix to be cut.
    expect(fallen.body.url).toBe('/tickets/7?x=1');
    expect(fallen.headers.get(FALLBACK_HEADER)).toBe('sorry');
    expect(fallen.headers.get('retry-after')).toBe('30');
    expect(gateway.metrics().fallbacks).toBeGreaterThanOrEqual(2);
    const route = gateway.routes().routes.find((r) => r.prefix === '/tickets');
    expect(route).toMatchObject({ service: 'tickets', fallback: 'sorry', retained: true, instances: [] });

    // The fallback's own route is untouched, and answers without the header.
    const own = await getJson(`${gateway.url}/sorry`);
    expect(own.body.name).toBe('sorry');
    expect(own.headers.get(FALLBACK_HEADER)).toBeNull();

    await registerTickets(client, tickets);
    await eventually(async () => (await getJson(`${gateway.url}/tickets/7`)).body.name === 'tickets');
    const back = await getJson(`${gateway.url}/tickets/7`);
    expect(back.status).toBe(200);
    expect(back.headers.get(FALLBACK_HEADER)).toBeNull();
  });

  it('falls back while every instance is DOWN or in maintenance, and answers 503 when the fallback has none', async () => {
    await using server = await startTestServer();
    await using t1 = await startUpstream('tickets');
    await using t2 = await startUpstream('tickets');
    await using sorry = await sorryService();
    const client = new RegistryClient({ url: server.url });
    await registerTickets(client, t1, 't1');
    await registerTickets(client, t2, 't2');
    await client.register({ service: 'sorry', id: 's1', host: '127.0.0.1', port: sorry.port, url: '/sorry' });
    await using gateway = await startTestGateway(server.url);
    expect((await getJson(`${gateway.url}/tickets`)).body.name).toBe('tickets');

    await client.setStatus('tickets', 't1', 'DOWN');
    await client.setMaintenance('tickets', 't2', { enable: true, reason: 'upgrade' });
    await eventually(async () => (await getJson(`${gateway.url}/tickets`)).headers.get(FALLBACK_HEADER) === 'sorry');
    expect(gateway.routes().routes.find((r) => r.prefix === '/tickets')).toMatchObject({
      fallback: 'sorry',
      retained: false,
    });

    // One hop, and no further: without an instance of sorry, the gateway answers itself.
    await client.setStatus('sorry', 's1', 'DOWN');
    await eventually(async () => (await getJson(`${gateway.url}/tickets`)).status === 503);
    const none = await getJson<ErrorBody>(`${gateway.url}/tickets`);
    expect(none.body.code).toBe('NO_HEALTHY_INSTANCE');
    expect(none.body.message).toBe('no healthy instance of tickets nor of its fallback sorry');
    await client.setStatus('sorry', 's1', 'UP');

    await client.setStatus('tickets', 't1', 'UP');
    await eventually(async () => (await getJson(`${gateway.url}/tickets`)).body.name === 'tickets');
    expect((await getJson(`${gateway.url}/tickets`)).headers.get(FALLBACK_HEADER)).toBeNull();
  });

  it('lets the SDK Discovery offer the fallback flagged, and the real instances again afterwards', async () => {
    await using server = await startTestServer();
    await using tickets = await startUpstream('tickets');
    await using sorry = await sorryService();
    const client = new RegistryClient({ url: server.url });
    await registerTickets(client, tickets);
    await client.register({ service: 'sorry', id: 's1', host: '127.0.0.1', port: sorry.port, url: '/sorry' });
    using discovery = new Discovery(client);

    const own = await discovery.pick('tickets');
    expect(own).toMatchObject({ service: 'tickets', id: 't1' });
    expect(own.fallbackFor).toBeUndefined();

    await client.deregister('tickets', 't1');
    await eventually(async () => (await discovery.pick('tickets')).service === 'sorry');
    expect(await discovery.pick('tickets')).toMatchObject({ service: 'sorry', id: 's1', fallbackFor: 'tickets' });
    expect(await discovery.all('tickets')).toMatchObject([{ service: 'sorry', fallbackFor: 'tickets' }]);
    const answer = await discovery.fetch('tickets', '/tickets/7');
    expect(answer.status).toBe(503);
    expect(await answer.json()).toMatchObject({ name: 'sorry', url: '/tickets/7' });
    // Asked for itself, the fallback is not flagged.
    expect((await discovery.pick('sorry')).fallbackFor).toBeUndefined();

    await registerTickets(client, tickets);
    await eventually(async () => (await discovery.pick('tickets')).service === 'tickets');
    expect((await discovery.all('tickets')).map((i) => [i.id, i.fallbackFor])).toEqual([['t1', undefined]]);
  });
});
