import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/sdk/index.js';
import type { ServiceAnswer } from '../../src/sdk/index.js';
import { startTestServer, tempDir } from '../fixtures/server.js';

/** PUTs `body` to a registration URL; `?exclusive=false` (same meaning) sends it through Fastify's route instead. */
async function put(
  url: string,
  body: string | Uint8Array,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<{ status: number; type: string | null; body: string }> {
  const response = await fetch(url, { method: 'PUT', headers, body });
  return { status: response.status, type: response.headers.get('content-type'), body: await response.text() };
}

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

  it('refuses a bad registration body word for word as the routed registration does', async () => {
    await using server = await startTestServer({ http: { bodyLimitBytes: 2048 } });
    const bodies: [string, string | Uint8Array, Record<string, string>?][] = [
      ['not JSON', '{"host": "h", "port": '],
      ['only spaces', '   '],
      ['a prototype key', '{"host":"h","port":80,"__proto__":{"admin":true}}'],
      ['a constructor.prototype key', '{"host":"h","port":80,"constructor":{"prototype":{"admin":true}}}'],
      ['an array', '[1,2]'],
      ['a string', '"host"'],
      ['no host', '{"port":80}'],
      ['a port as text', '{"host":"h","port":"80"}'],
      ['an unknown field', '{"host":"h","port":80,"colour":"red"}'],
      ['a bad duration', '{"host":"h","port":80,"ttl":"soon"}'],
      ['bytes that are not UTF-8', new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
      ['a body over the limit', JSON.stringify({ host: 'h', port: 80, meta: { pad: 'x'.repeat(3000) } })],
      ['another content type', '{"host":"h","port":80}', { 'content-type': 'text/plain' }],
      ['a charset', '{"host":"h","port":"80"}', { 'content-type': 'application/json; charset=utf-8' }],
      ['a core rule beyond the schema', '{"host":"h","port":80,"ttl":"1ms"}'],
    ];
    let n = 0;
    for (const [what, body, headers] of bodies) {
      n += 1;
      const instance = `${server.url}/v1/services/web/instances/i${n}`;
      const fast = await put(instance, body, headers);
      const routed = await put(`${instance}?exclusive=false`, body, headers);
      expect(fast, what).toEqual(routed);
      expect(fast.status, what).toBeGreaterThanOrEqual(400);
      expect(fast.status, what).toBeLessThan(500);
    }
    // Nothing refused was stored.
    const list = (await (await fetch(`${server.url}/v1/services/web?status=any&health=any`)).json()) as ServiceAnswer;
    expect(list.instances).toEqual([]);
  });

  it('registers (201, then 200) and refuses a caller without write before reading its body', async () => {
    using dir = tempDir();
    await using server = await startTestServer({ auth: { mode: 'on' }, store: { kind: 'memory', dataDir: dir.path } });
    const instance = `${server.url}/v1/services/web/instances/w1`;
    const body = JSON.stringify({ host: '10.0.0.1', port: 80, ttl: '30s' });
    const anonymous = await put(instance, body);
    expect(anonymous).toEqual(await put(`${instance}?exclusive=false`, body));
    expect(anonymous.status).toBe(401);

    const token = readFileSync(join(dir.path, 'bootstrap-token'), 'utf8').trim();
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
    const created = await fetch(instance, { method: 'PUT', headers, body });
    expect(created.status).toBe(201);
    expect(Number(created.headers.get('x-switchboard-index'))).toBeGreaterThan(0);
    expect(await created.json()).toMatchObject({ service: 'web', id: 'w1', host: '10.0.0.1', port: 80, ttl: '30s' });
    const updated = await fetch(instance, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ host: '10.0.0.2', port: 81 }),
    });
    expect(updated.status).toBe(200);
    expect(await updated.json()).toMatchObject({ id: 'w1', host: '10.0.0.2', port: 81 });
  });
});
