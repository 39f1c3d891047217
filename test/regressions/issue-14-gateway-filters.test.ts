/**
 * Issue #14, reproduction 5: an upgrade request was tunneled without checking that the upstream answered 101, so a
 * second request sent down the tunnel reached the instance unrouted (`GET /internal/../secret-admin` arrived);
 * `/pub/..;/admin` and `/pub/..%2Fadmin` passed the dot-segment filter; client-supplied X-Forwarded-Proto,
 * X-Forwarded-Host and Forwarded passed unchanged, and X-Forwarded-For was appended to, whoever sent them.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { ErrorBody } from '../../src/errors/index.js';
import { RegistryClient } from '../../src/sdk/index.js';
import { eventually, getJson, startTestGateway, startUpstream } from '../fixtures/gateway.js';
import type { EchoBody } from '../fixtures/gateway.js';
import { startTestServer } from '../fixtures/server.js';

/** Writes `bytes` on a raw connection to the gateway and resolves with all it answered once it closes. */
function raw(url: string, bytes: string, limitMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the gateway kept the connection open for ${limitMs} ms: ${text}`));
    }, limitMs);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

/** A GET with the path exactly as given (fetch would normalize `%2e%2e`). */
function getRawPath(url: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function withService(name: string, port: number): Promise<AsyncDisposable & { url: string }> {
  const server = await startTestServer();
  await new RegistryClient({ url: server.url }).register({
    service: name,
    id: `${name}-1`,
    host: '127.0.0.1',
    port,
    url: `/${name}`,
  });
  return server;
}

describe('the gateway’s filters hold (issue #14)', () => {
  it('relays a refused upgrade as an answer and closes, so nothing sent after it reaches the instance', async () => {
    const arrived: string[] = [];
    // An instance that does not speak WebSocket: it answers the upgrade request as an ordinary GET, keep-alive.
    await using upstream = await startUpstream('internal', (req, res) => {
      arrived.push(req.url ?? '');
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
      res.end('ok');
    });
    await using server = await withService('internal', upstream.port);
    await using gateway = await startTestGateway(server.url);
    await eventually(() => gateway.routes().routes.some((r) => r.instances.length > 0));

    const answer = await raw(
      gateway.url,
      'GET /internal/chat HTTP/1.1\r\nhost: gw\r\nconnection: Upgrade\r\nupgrade: websocket\r\n' +
        'sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n' +
        // Sent at once behind the upgrade request: with a tunnel it would go to the instance as it is.
        'GET /internal/../secret-admin HTTP/1.1\r\nhost: gw\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    expect(answer.endsWith('\r\n\r\nok')).toBe(true);
    expect(answer.match(/HTTP\/1\.1/g)).toHaveLength(1);
    // Give a stray request time to arrive, were it sent.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(arrived).toEqual(['/internal/chat']);
    expect(gateway.metrics().upgrades).toBe(0);
  });

  it('refuses dot segments hidden by encoding, backslashes or ;parameters with 400, for requests and upgrades', async () => {
    await using upstream = await startUpstream('pub');
    await using server = await withService('pub', upstream.port);
    await using gateway = await startTestGateway(server.url);
    await eventually(() => gateway.routes().routes.some((r) => r.instances.length > 0));

    for (const path of [
      '/pub/..;/admin',
      '/pub/..%2Fadmin',
      '/pub/..%2fadmin',
      '/pub/%2e%2e%2Fadmin',
      '/pub/..%5Cadmin',
      '/pub/.%2e/admin',
      '/pub/%252e%252e/admin',
      '/pub/..;x=1/admin?q=1',
    ]) {
      const answer = await getRawPath(gateway.url, path);
      expect(answer.status, path).toBe(400);
      expect((JSON.parse(answer.body) as ErrorBody).code, path).toBe('INVALID_ARGUMENT');
    }
    const upgrade = await raw(
      gateway.url,
      'GET /pub/..;/admin HTTP/1.1\r\nhost: gw\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n',
    );
    expect(upgrade).toMatch(/^HTTP\/1\.1 400 /);
    expect(upstream.hits).toBe(0);
    // Paths that only look alike still go through, unchanged.
    for (const path of ['/pub/a%2Fb', '/pub/v1.2;x=1/y', '/pub/file..txt']) {
      const answer = await getRawPath(gateway.url, path);
      expect(answer.status, path).toBe(200);
      expect((JSON.parse(answer.body) as EchoBody).url).toBe(path);
    }
  });

  it('replaces forwarding headers from a peer outside --trusted-proxies, and appends to a trusted one’s', async () => {
    await using upstream = await startUpstream('web');
    await using server = await withService('web', upstream.port);
    const spoofed = {
      'x-forwarded-for': '10.0.0.1',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'admin.internal',
      forwarded: 'for=10.0.0.1;proto=https;host=admin.internal',
    };

    await using untrusting = await startTestGateway(server.url);
    await eventually(() => untrusting.routes().routes.some((r) => r.instances.length > 0));
    const host = new URL(untrusting.url).host;
    const replaced = await getJson(`${untrusting.url}/web/x`, { headers: spoofed });
    expect(replaced.body.headers).toMatchObject({
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': host,
      forwarded: `for="127.0.0.1";host="${host}";proto=http`,
    });

    await using trusting = await startTestGateway(server.url, { trustedProxies: ['127.0.0.0/8', '::1'] });
    await eventually(() => trusting.routes().routes.some((r) => r.instances.length > 0));
    const trustedHost = new URL(trusting.url).host;
    const appended = await getJson(`${trusting.url}/web/x`, { headers: spoofed });
    expect(appended.body.headers).toMatchObject({
      'x-forwarded-for': '10.0.0.1, 127.0.0.1',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'admin.internal',
      forwarded: `for=10.0.0.1;proto=https;host=admin.internal, for="127.0.0.1";host="${trustedHost}";proto=http`,
    });
  });
});
