import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/sdk/index.js';
import type { ServiceAnswer } from '../../src/sdk/index.js';
import { startTestServer } from '../fixtures/server.js';

/** The fast path (src/api/fast-path.ts) must answer exactly what the Fastify routes answer. */
describe('fast path for discovery reads and heartbeats', () => {
  it('answers a plain service read with the same body and headers as the routed read', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    for (const id of ['b', 'a', 'c'])
      await client.register({ service: 'web', id, host: '10.0.0.1', port: 80, ttl: '30s' });
    await client.register({ service: 'web', id: 'down', host: '10.0.0.2', port: 80, status: 'DOWN' });

    const fast = await fetch(`${server.url}/v1/services/web`);
    // A query the fast path leaves to Fastify, selecting the same instances as the default filter.
    const routed = await fetch(`${server.url}/v1/services/web?status=UP&health=passing&health=warning`);
    const fastBody = await fast.text();
    expect(fastBody).toBe(await routed.text());
    const answer = JSON.parse(fastBody) as ServiceAnswer;
    expect(answer.instances.map((i) => i.id)).toEqual(['a', 'b', 'c']);
    for (const header of ['content-type', 'x-switchboard-index']) {
      expect(fast.headers.get(header)).toBe(routed.headers.get(header));
    }
    const etag = fast.headers.get('etag');
    expect(etag).toMatch(/^".+"$/);
    // The ETag it hands out is honoured by the routed (conditional) read.
    const again = await fetch(`${server.url}/v1/services/web`, { headers: { 'if-none-match': etag ?? '' } });
    expect(again.status).toBe(304);
  });

  it('renews a lease and answers the instance, or the one error shape for an unknown instance', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'web', id: 'w1', host: '10.0.0.1', port: 80, ttl: '30s' });

    const renewed = await fetch(`${server.url}/v1/services/web/instances/w1/heartbeat`, { method: 'PUT' });
    expect(renewed.status).toBe(200);
    expect(renewed.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(Number(renewed.headers.get('x-switchboard-index'))).toBeGreaterThan(0);
    expect(await renewed.json()).toMatchObject({ id: 'w1', service: 'web', health: 'passing' });

    const missing = await fetch(`${server.url}/v1/services/web/instances/nope/heartbeat`, { method: 'PUT' });
    expect(missing.status).toBe(404);
    const routedMissing = await fetch(`${server.url}/v1/services/web/instances/nope`, { method: 'DELETE' });
    const body = (await missing.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(Object.keys((await routedMissing.json()) as object).sort());
    expect(body).toMatchObject({ statusCode: 404, code: 'NOT_FOUND', error: 'Not Found' });
  });

  it('leaves names that break the rules to the routed validation', async () => {
    await using server = await startTestServer();
    const bad = await fetch(`${server.url}/v1/services/-bad`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
