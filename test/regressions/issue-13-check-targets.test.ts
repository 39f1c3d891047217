/**
 * Issue 13, point 6: health checks were a server-side request forgery. An instance could name any URL as its check,
 * and the first 4 KiB of the answer was readable by everyone in the instance's record and logged at info; TCP checks
 * told open ports from closed ones; intervals went down to 100 ms. Now a check probes its own instance (its
 * registered host, or an address in --checks-allow-hosts), never follows a redirect, runs at most once a second
 * by default, and its output is not logged at info.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { startServer } from '../../src/server.js';
import { RegistryClient } from '../../src/sdk/index.js';
import { eventually, startUpstream } from '../fixtures/gateway.js';
import { startTestServer, testConfig } from '../fixtures/server.js';
import { xmlRpcCall } from '../fixtures/xmlrpc.js';

const SECRET_BODY = 'the secret the registry must not read for strangers';

/** A server on 127.0.0.1 whose answer nobody outside should see, counting the requests it gets. */
const startSecret = () =>
  startUpstream('secret', (req, res) => {
    req.resume();
    res.end(SECRET_BODY);
  });

const put = (base: string, path: string, body: unknown): Promise<Response> =>
  fetch(`${base}${path}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('health checks target their own instance (issue #13)', () => {
  it('refuses an http check on another host over REST and XML-RPC, and never probes it', async () => {
    await using server = await startTestServer();
    await using secret = await startSecret();
    const reply = await put(server.url, '/v1/services/evil/instances/e1', {
      host: '10.0.0.1',
      port: 8080,
      checks: [{ http: `http://127.0.0.1:${secret.port}/`, interval: '1s' }],
    });
    expect(reply.status).toBe(400);
    expect(await reply.json()).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(
        /^checks\[0\]\.http: targets "127\.0\.0\.1", not the instance's host "10\.0\.0\.1"/,
      ) as unknown,
    });
    await expect(
      xmlRpcCall(server.url, 'registry.register', [
        {
          service: 'evil',
          id: 'e2',
          host: '10.0.0.1',
          port: 8080,
          checks: [{ http: `http://0x7f.1:${secret.port}/`, interval: '1s' }],
        },
      ]),
    ).rejects.toMatchObject({ faultCode: 1400, faultString: expect.stringContaining('checks[0].http') as unknown });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(secret.hits).toBe(0);
  });

  it('refuses a tcp check on another host (no port scans) and an interval under a second', async () => {
    await using server = await startTestServer();
    const scan = await put(server.url, '/v1/services/evil/instances/e1', {
      host: '10.0.0.1',
      port: 8080,
      checks: [{ tcp: '127.0.0.1:22', interval: '1s' }],
    });
    expect(scan.status).toBe(400);
    expect(await scan.json()).toMatchObject({
      message: expect.stringMatching(/^checks\[0\]\.tcp: targets/) as unknown,
    });
    const flood = await put(server.url, '/v1/services/web/instances/w1', {
      host: '127.0.0.1',
      port: 8080,
      checks: [{ tcp: '127.0.0.1:8080', interval: '100ms' }],
    });
    expect(flood.status).toBe(400);
    expect(await flood.json()).toMatchObject({ message: 'checks[0].interval: must be between 1s and 24h' });
    const many = await put(server.url, '/v1/services/web/instances/w1', {
      host: '127.0.0.1',
      port: 8080,
      checks: Array.from({ length: 9 }, (_, i) => ({ id: `c${i}`, tcp: '127.0.0.1:8080', interval: '1m' })),
    });
    expect(many.status).toBe(400);
  });

  it('probes an address the operator allows with --checks-allow-hosts', async () => {
    await using server = await startTestServer({ checks: { allowHosts: ['127.0.0.0/8'] } });
    await using target = await startSecret();
    const client = new RegistryClient({ url: server.url });
    await client.register({
      service: 'web',
      id: 'w1',
      host: '10.0.0.1',
      port: 8080,
      checks: [{ http: `http://127.0.0.1:${target.port}/health`, interval: '1s' }],
    });
    await eventually(async () => (await client.getInstance('web', 'w1')).health === 'passing', 10_000);
    expect(target.hits).toBeGreaterThan(0);
  });

  it('does not follow a redirect to another host', async () => {
    await using server = await startTestServer();
    await using secret = await startSecret();
    await using redirector = await startUpstream('redirector', (req, res) => {
      req.resume();
      res.writeHead(302, { location: `http://localhost:${secret.port}/` });
      res.end();
    });
    const client = new RegistryClient({ url: server.url });
    await client.register({
      service: 'web',
      id: 'w1',
      host: '127.0.0.1',
      port: redirector.port,
      checks: [{ http: `http://127.0.0.1:${redirector.port}/health`, interval: '1s', failuresBefore: 1 }],
    });
    await eventually(
      async () =>
        redirector.hits > 0 && (await client.getInstance('web', 'w1')).checks?.[0]?.output !== 'not checked yet',
      10_000,
    );
    const check = (await client.getInstance('web', 'w1')).checks?.[0];
    expect(check).toMatchObject({ status: 'critical', output: 'HTTP 302 Found' });
    expect(secret.hits).toBe(0);
  });

  it('never logs check output at info', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    await using target = await startSecret();
    await using server = await startServer(testConfig({ log: { level: 'info' } }), {
      logger: pino({ level: 'info' }, sink),
    });
    const client = new RegistryClient({ url: server.url });
    await client.register({
      service: 'web',
      id: 'w1',
      host: '127.0.0.1',
      port: target.port,
      checks: [{ http: `http://127.0.0.1:${target.port}/health`, interval: '1s' }],
    });
    await eventually(async () => (await client.getInstance('web', 'w1')).health === 'passing', 10_000);
    await eventually(() => lines.some((line) => line.includes('check changed state')));
    expect(lines.filter((line) => line.includes(SECRET_BODY))).toEqual([]);
  });
});
