/**
 * Issue #14, reproduction 3 (the gateway's half): the gateway's server had `requestTimeout = 0`, so four slow
 * uploads through a pool of 4 made a GET hang for more than 8 s, and with the defaults 256 slow uploads took an
 * instance offline. The gateway now cuts a request that does not arrive in time with 408 (which hands its upstream
 * connection back), and a request that waits longer than the acquire timeout for a connection gets 503 UNAVAILABLE.
 */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/index.js';
import type { ErrorBody } from '../../src/errors/index.js';
import { RegistryClient } from '../../src/sdk/index.js';
import { eventually, getJson, startTestGateway, startUpstream } from '../fixtures/gateway.js';
import { startTestServer } from '../fixtures/server.js';

/** Sends `head` on a raw socket and resolves with everything received once the gateway closes it. */
function sendAndWait(url: string, head: string, limitMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the gateway kept the connection open for ${limitMs} ms: ${text}`));
    }, limitMs);
    socket.on('connect', () => socket.write(head));
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

const SLOW_UPLOAD = 'PUT /up/upload HTTP/1.1\r\nhost: gw\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\n{';

describe('slow requests through the gateway are bounded (issue #14)', () => {
  it('cuts slow uploads with 408, freeing the instance’s connections, so a GET gets through', async () => {
    await using server = await startTestServer();
    await using upstream = await startUpstream('up');
    await new RegistryClient({ url: server.url }).register({
      service: 'up',
      id: 'u1',
      host: '127.0.0.1',
      port: upstream.port,
      url: '/up',
    });
    await using gateway = await startTestGateway(server.url, {
      maxConnectionsPerInstance: 4,
      headersTimeoutMs: 1_000,
      requestTimeoutMs: 1_000,
      // Long: the GET is to get through because the uploads are cut, not because it gave up waiting.
      acquireTimeoutMs: 30_000,
    });
    await eventually(() => gateway.routes().routes.some((r) => r.instances.length > 0));

    const uploads = Array.from({ length: 4 }, () => sendAndWait(gateway.url, SLOW_UPLOAD));
    // Every connection of the pool is now held by an upload that will never finish.
    await eventually(() => upstream.hits === 4, 10_000);
    const started = Date.now();
    const get = await getJson(`${gateway.url}/up/ok`);
    expect(get.status).toBe(200);
    expect(get.body.url).toBe('/up/ok');
    // Bounded by the request timeout (1 s, checked every half second), not by the uploads: generous deadline.
    expect(Date.now() - started).toBeLessThan(8_000);
    for (const answer of await Promise.all(uploads)) {
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(answer).toContain('"code":"REQUEST_TIMEOUT"');
    }
    expect(gateway.metrics().errors.REQUEST_TIMEOUT).toBe(4);
    await eventually(() => gateway.metrics().upstreams.every((u) => u.outstanding === 0));
  });

  it('answers 503 UNAVAILABLE to a request that waits for a connection longer than the acquire timeout', async () => {
    await using server = await startTestServer();
    const held: (() => void)[] = [];
    await using upstream = await startUpstream('busy', (req, res) => {
      req.resume();
      const answer = (): void => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ url: req.url }));
      };
      // `/busy/hold` answers only when the test says so.
      if (req.url === '/busy/hold') held.push(answer);
      else answer();
    });
    await new RegistryClient({ url: server.url }).register({
      service: 'busy',
      id: 'b1',
      host: '127.0.0.1',
      port: upstream.port,
      url: '/busy',
    });
    await using gateway = await startTestGateway(server.url, { maxConnectionsPerInstance: 2, acquireTimeoutMs: 300 });
    await eventually(() => gateway.routes().routes.some((r) => r.instances.length > 0));

    const holds = [getJson(`${gateway.url}/busy/hold`), getJson(`${gateway.url}/busy/hold`)];
    await eventually(() => held.length === 2, 10_000);
    const started = Date.now();
    const waited = await getJson<ErrorBody>(`${gateway.url}/busy/now`);
    expect(waited.status).toBe(503);
    expect(waited.body.code).toBe('UNAVAILABLE');
    expect(waited.body.message).toMatch(/busy instance b1 stayed busy for 300 ms/);
    expect(Date.now() - started).toBeLessThan(8_000);
    // A busy instance is not a failing one: it is not ejected.
    expect(gateway.metrics().upstreams[0]?.ejected).toBe(false);
    expect(gateway.metrics().errors.UNAVAILABLE).toBe(1);

    for (const answer of held) answer();
    for (const hold of await Promise.all(holds)) expect(hold.status).toBe(200);
    expect((await getJson(`${gateway.url}/busy/now`)).status).toBe(200);
  });

  it('hands a freed connection to the request waiting longest, and forgets one whose client left', async () => {
    await using server = await startTestServer();
    const held: (() => void)[] = [];
    const seen: string[] = [];
    await using upstream = await startUpstream('queue', (req, res) => {
      req.resume();
      seen.push(req.url ?? '');
      const answer = (): void => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ url: req.url }));
      };
      if (req.url === '/queue/hold') held.push(answer);
      else answer();
    });
    await new RegistryClient({ url: server.url }).register({
      service: 'queue',
      id: 'q1',
      host: '127.0.0.1',
      port: upstream.port,
      url: '/queue',
    });
    await using gateway = await startTestGateway(server.url, {
      maxConnectionsPerInstance: 1,
      acquireTimeoutMs: 20_000,
    });
    await eventually(() => gateway.routes().routes.some((r) => r.instances.length > 0));

    const hold = getJson(`${gateway.url}/queue/hold`);
    await eventually(() => held.length === 1, 10_000);
    const leaving = new AbortController();
    const gone = fetch(`${gateway.url}/queue/gone`, { signal: leaving.signal }).catch(() => undefined);
    const first = getJson(`${gateway.url}/queue/first`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    leaving.abort();
    await gone;
    const second = getJson(`${gateway.url}/queue/second`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    (held[0] as () => void)();
    expect((await hold).status).toBe(200);
    expect((await first).body.url).toBe('/queue/first');
    expect((await second).body.url).toBe('/queue/second');
    expect(seen).toEqual(['/queue/hold', '/queue/first', '/queue/second']);
    await eventually(() => gateway.metrics().upstreams.every((u) => u.outstanding === 0));
  });

  it('bounds requests and the wait for a connection by default', () => {
    expect(DEFAULTS.gateway.requestTimeoutMs).toBeGreaterThan(0);
    expect(DEFAULTS.gateway.headersTimeoutMs).toBeGreaterThan(0);
    expect(DEFAULTS.gateway.acquireTimeoutMs).toBeGreaterThan(0);
    expect(DEFAULTS.gateway.maxConnections).toBeGreaterThan(0);
  });
});
