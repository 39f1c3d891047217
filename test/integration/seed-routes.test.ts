import { describe, expect, it } from 'vitest';
import type { Instance, ServiceAnswer } from '../../src/wire/index.js';
import { startTestServer } from '../fixtures/server.js';
import { xmlRpcCall } from '../fixtures/xmlrpc.js';

interface Answer {
  status: number;
  type: string | null;
  text: string;
}

async function post(url: string, body?: unknown, type = 'application/json'): Promise<Answer> {
  const init: RequestInit = { method: 'POST' };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers = { 'content-type': type };
  }
  const response = await fetch(url, init);
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

async function services(base: string): Promise<Record<string, string[]>> {
  const response = await fetch(`${base}/services`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  return (await response.json()) as Record<string, string[]>;
}

async function v1(base: string, service: string): Promise<Instance[]> {
  const response = await fetch(`${base}/v1/services/${service}?status=any`);
  return ((await response.json()) as ServiceAnswer).instances;
}

describe('seed routes: POST /register, POST /deregister, GET /services', () => {
  it('registers and deregisters addresses with the seed plain-text answers', async () => {
    await using server = await startTestServer();
    const register = await post(`${server.url}/register`, { serviceName: 'users', serviceAddress: '10.0.0.7:3000' });
    expect(register).toEqual({ status: 200, type: 'text/plain; charset=utf-8', text: 'Service users registered.' });
    await post(`${server.url}/register`, { serviceName: 'users', serviceAddress: 'http://users.internal:3001/api' });
    await post(`${server.url}/register`, { serviceName: 'orders', serviceAddress: 'orders-service' });
    expect(await services(server.url)).toEqual({
      users: ['10.0.0.7:3000', 'http://users.internal:3001/api'],
      orders: ['orders-service'],
    });

    const deregister = await post(`${server.url}/deregister`, {
      serviceName: 'users',
      serviceAddress: '10.0.0.7:3000',
    });
    expect(deregister).toEqual({ status: 200, type: 'text/plain; charset=utf-8', text: 'Service users deregistered.' });
    expect((await services(server.url))['users']).toEqual(['http://users.internal:3001/api']);
    await post(`${server.url}/deregister`, { serviceName: 'users', serviceAddress: 'http://users.internal:3001/api' });
    expect(await services(server.url)).toEqual({ orders: ['orders-service'] });
  });

  it('answers 200 for deregistering an unknown name or address', async () => {
    await using server = await startTestServer();
    await post(`${server.url}/register`, { serviceName: 'users', serviceAddress: '10.0.0.7:3000' });
    expect((await post(`${server.url}/deregister`, { serviceName: 'ghost', serviceAddress: 'x:1' })).text).toBe(
      'Service ghost deregistered.',
    );
    expect(
      (await post(`${server.url}/deregister`, { serviceName: 'users', serviceAddress: '10.0.0.8:3000' })).status,
    ).toBe(200);
    expect(await services(server.url)).toEqual({ users: ['10.0.0.7:3000'] });
  });

  it('answers 400 Invalid request data in plain text for a missing field or body', async () => {
    await using server = await startTestServer();
    const bad: (unknown[] | [])[] = [
      [{}],
      [{ serviceName: 'users' }],
      [{ serviceAddress: '10.0.0.7:3000' }],
      [{ serviceName: '', serviceAddress: '10.0.0.7:3000' }],
      [{ serviceName: 'users', serviceAddress: '' }],
      [{ serviceName: 'users', serviceAddress: 42 }],
      [[]],
      ['{"serviceName": "users", '],
      ['null'],
      [],
    ];
    for (const path of ['/register', '/deregister']) {
      for (const [body, type] of bad) {
        const answer = await post(`${server.url}${path}`, body, type as string | undefined);
        expect(answer, `${path} ${JSON.stringify(body)}`).toEqual({
          status: 400,
          type: 'text/plain; charset=utf-8',
          text: 'Invalid request data',
        });
      }
    }
    // A form is what a web page can post without a CORS preflight: not JSON, so 415 (issue #13).
    const form = await post(
      `${server.url}/register`,
      'serviceName=users&serviceAddress=x',
      'application/x-www-form-urlencoded',
    );
    expect(form.status).toBe(415);
    expect(await services(server.url)).toEqual({});
  });

  it('refuses a name that breaks the service-name rule with the reason after the seed text', async () => {
    await using server = await startTestServer();
    const answer = await post(`${server.url}/register`, {
      serviceName: 'Tickets Query Service',
      serviceAddress: 'x:1',
    });
    expect(answer.status).toBe(400);
    expect(answer.type).toBe('text/plain; charset=utf-8');
    expect(answer.text).toMatch(/^Invalid request data: service name "Tickets Query Service" is invalid/);
  });

  it('keeps the address verbatim and reads host, port and URL from it', async () => {
    await using server = await startTestServer();
    await post(`${server.url}/register`, { serviceName: 'api', serviceAddress: 'https://api.example.com/v2' });
    await post(`${server.url}/register`, { serviceName: 'api', serviceAddress: '[::1]:8443' });
    const instances = await v1(server.url, 'api');
    const byAddress = new Map(instances.map((i) => [i.metadata['seed.address'], i]));
    expect(byAddress.get('https://api.example.com/v2')).toMatchObject({
      host: 'api.example.com',
      port: 443,
      status: 'UP',
      endpoints: [{ type: 'https', url: 'https://api.example.com/v2' }],
    });
    expect(byAddress.get('[::1]:8443')).toMatchObject({ host: '::1', port: 8443, endpoints: [] });
  });

  it('keeps one entry for an address registered twice', async () => {
    await using server = await startTestServer();
    for (let i = 0; i < 3; i++) {
      await post(`${server.url}/register`, { serviceName: 'users', serviceAddress: '10.0.0.7:3000' });
    }
    expect(await services(server.url)).toEqual({ users: ['10.0.0.7:3000'] });
  });

  it('does not take over the JSON error shape of REST v1', async () => {
    await using server = await startTestServer();
    const answer = await post(`${server.url}/v1/services/web/instances`, '<x/>', 'text/xml');
    expect(answer.status).toBe(415);
    expect(JSON.parse(answer.text)).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
  });
});

describe('one registry behind every protocol', () => {
  it('lists instances registered over REST v1 in GET /services and get_all_service_details', async () => {
    await using server = await startTestServer();
    const put = await fetch(`${server.url}/v1/services/billing/instances/b-1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ host: '10.9.0.1', port: 7000 }),
    });
    expect(put.status).toBe(201);
    await fetch(`${server.url}/v1/services/billing/instances/b-2`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ host: 'fd00::1', port: 7001 }),
    });
    expect(await services(server.url)).toEqual({ billing: ['10.9.0.1:7000', '[fd00::1]:7001'] });

    const details = JSON.parse((await xmlRpcCall(server.url, 'get_all_service_details')) as string) as Record<
      string,
      Record<string, unknown>
    >;
    expect(details['b-1']).toMatchObject({ name: 'billing', host: '10.9.0.1', port: 7000, status: 1, id: 'b-1' });
    expect(await xmlRpcCall(server.url, 'get_service_details', ['billing'])).toEqual(expect.any(Array));
    expect(await xmlRpcCall(server.url, 'get_reg_count')).toBe(2);

    // The seed route removes an address it lists, whatever registered it.
    await post(`${server.url}/deregister`, { serviceName: 'billing', serviceAddress: '10.9.0.1:7000' });
    expect((await v1(server.url, 'billing')).map((i) => i.id)).toEqual(['b-2']);
  });

  it('serves instances registered over XML-RPC on GET /v1/services/:service and GET /services', async () => {
    await using server = await startTestServer();
    const id = await xmlRpcCall(server.url, 'register', ['legacy', 'http://10.8.0.1', 8000]);
    expect(typeof id).toBe('string');
    const response = await fetch(`${server.url}/v1/services/legacy`);
    const answer = (await response.json()) as ServiceAnswer;
    expect(answer.instances).toEqual([
      expect.objectContaining({
        id,
        host: '10.8.0.1',
        port: 8000,
        status: 'UP',
        endpoints: [{ type: 'http', url: 'http://10.8.0.1:8000' }],
      }),
    ]);
    expect(await services(server.url)).toEqual({ legacy: ['10.8.0.1:8000'] });
  });

  it('serves instances registered over the seed routes to MicroReg clients', async () => {
    await using server = await startTestServer();
    await post(`${server.url}/register`, { serviceName: 'news', serviceAddress: '10.7.0.1:5000' });
    expect(await xmlRpcCall(server.url, 'get_service_details', ['news'])).toEqual(['10.7.0.1', 5000]);
    expect(await xmlRpcCall(server.url, 'unregister', ['news'])).toBe(true);
    expect(await services(server.url)).toEqual({});
  });
});
