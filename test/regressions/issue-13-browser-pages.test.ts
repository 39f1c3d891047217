/**
 * Issue #13, point 5: a web page in an operator's browser must not change a registry it can reach, even on loopback.
 * Each attack from the issue, against a real server on 127.0.0.1, now does no harm.
 */
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/sdk/index.js';
import { startTestServer } from '../fixtures/server.js';

/** One raw request, so the test chooses the Host header itself. */
function send(
  url: string,
  options: { method: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(options.path, url), { method: options.method, headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const unregisterBilling =
  '<?xml version="1.0"?><methodCall><methodName>unregister</methodName><params><param><value><string>billing</string></value></param></params></methodCall>';

describe('issue 13: pages in a browser', () => {
  it("refuses a text/plain XML-RPC call (a page's no-preflight POST) without running it", async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'billing', id: 'b1', host: '10.0.0.1', port: 80 });
    const answer = await send(server.url, {
      method: 'POST',
      path: '/RPC2',
      headers: { 'content-type': 'text/plain' },
      body: unregisterBilling,
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('<int>1415</int>');
    expect((await client.getService('billing')).instances).toHaveLength(1);
    // The same call as an XML-RPC client sends it still works.
    const xml = await send(server.url, {
      method: 'POST',
      path: '/RPC2',
      headers: { 'content-type': 'text/xml' },
      body: unregisterBilling,
    });
    expect(xml.body).toContain('<boolean>1</boolean>');
    expect((await client.getService('billing')).instances).toHaveLength(0);
  });

  it('refuses a text/plain POST to the seed routes with 415, registering nothing', async () => {
    await using server = await startTestServer();
    const body = JSON.stringify({ serviceName: 'users', serviceAddress: '10.0.0.2:3000' });
    const plain = await send(server.url, {
      method: 'POST',
      path: '/register',
      headers: { 'content-type': 'text/plain' },
      body,
    });
    expect(plain.status).toBe(415);
    expect(plain.body).toMatch(/application\/json/);
    const services = await send(server.url, { method: 'GET', path: '/services' });
    expect(JSON.parse(services.body)).toEqual({});
  });

  it('refuses a request whose Host is not a loopback name when it listens on loopback (DNS rebinding)', async () => {
    await using server = await startTestServer();
    const rebound = await send(server.url, {
      method: 'GET',
      path: '/v1/services',
      headers: { host: 'attacker.example:8900' },
    });
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body)).toMatchObject({ code: 'PERMISSION_DENIED' });
    for (const host of ['localhost:8900', '127.0.0.1', '[::1]:8900', 'app.localhost']) {
      expect((await send(server.url, { method: 'GET', path: '/v1/services', headers: { host } })).status, host).toBe(
        200,
      );
    }
  });

  it("refuses a write from another origin's page, unless --allowed-origins names it", async () => {
    await using server = await startTestServer({
      http: { host: '127.0.0.1', port: 0, allowedOrigins: ['https://ops.example'] },
    });
    const put = (origin: string) =>
      send(server.url, {
        method: 'PUT',
        path: '/v1/services/web/instances/w1',
        headers: { 'content-type': 'application/json', origin },
        body: JSON.stringify({ host: '10.0.0.3', port: 80 }),
      });
    const evil = await put('https://evil.example');
    expect(evil.status).toBe(403);
    expect(JSON.parse(evil.body)).toMatchObject({ code: 'PERMISSION_DENIED' });
    expect((await put('null')).status).toBe(403);
    expect((await put('https://ops.example')).status).toBe(201);
    // A page served by the registry itself (its own origin) may write; reads are not refused for an Origin.
    expect((await put(server.url)).status).toBe(200);
    const read = await send(server.url, {
      method: 'GET',
      path: '/v1/services/web',
      headers: { origin: 'https://evil.example' },
    });
    expect(read.status).toBe(200);
  });
});
