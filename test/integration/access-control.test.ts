/**
 * Issue #13's policy matrix: token kind × operation × protocol → allowed, or refused with the right code. Every
 * protocol reaches the same records, so each refusal is also checked to have changed nothing.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deserializer, serializeMethodCall } from '@foxglove/xmlrpc';
import type { XmlRpcValue } from '@foxglove/xmlrpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/sdk/index.js';
import type { RunningServer } from '../../src/server.js';
import { startTestServer, tempDir } from '../fixtures/server.js';

type Outcome = 'ok' | 401 | 403;
type Kind = 'anonymous' | 'bogus' | 'expired' | 'revoked' | 'reader' | 'writer' | 'other' | 'operator';
type Protocol = 'rest' | 'xmlrpc' | 'seed' | 'events';
type Operation = 'register' | 'heartbeat' | 'lookup' | 'deregister';

const KINDS: readonly Kind[] = ['anonymous', 'bogus', 'expired', 'revoked', 'reader', 'writer', 'other', 'operator'];

/** What each kind of caller may do to the service `payments`. */
function expected(kind: Kind, operation: Operation): Outcome {
  switch (kind) {
    case 'anonymous':
    case 'bogus':
    case 'expired':
    case 'revoked':
      return 401;
    case 'reader':
      return operation === 'lookup' ? 'ok' : 403;
    case 'other':
      return 403;
    case 'writer':
    case 'operator':
      return 'ok';
  }
}

let server: RunningServer;
const dir = tempDir('switchboard-auth-');
const secrets = new Map<Kind, string | undefined>();
let instances = 0;

function headersOf(kind: Kind): Record<string, string> {
  const secret = secrets.get(kind);
  return secret === undefined ? {} : { authorization: `Bearer ${secret}` };
}

/** `route` is the method and path: `PUT /v1/services/web/instances/w1`. */
async function rest(kind: Kind, route: string, body?: unknown): Promise<Response> {
  const [method, path] = route.split(' ') as [string, string];
  return fetch(`${server.url}${path}`, {
    method,
    headers: { ...headersOf(kind), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function outcomeOf(response: Response): Promise<Outcome> {
  const text = await response.text();
  if (response.status === 401 || response.status === 403) {
    // The message names the missing right and never the token.
    for (const secret of secrets.values()) if (secret !== undefined) expect(text).not.toContain(secret);
    return response.status;
  }
  expect(response.status, text).toBeLessThan(300);
  return 'ok';
}

/** An XML-RPC call with the token as basic auth's password, as `ServerProxy("http://:TOKEN@host")` sends it. */
async function xmlrpc(
  kind: Kind,
  method: string,
  params: XmlRpcValue[],
): Promise<{ value?: XmlRpcValue; fault?: number }> {
  const secret = secrets.get(kind);
  const response = await fetch(`${server.url}/RPC2`, {
    method: 'POST',
    headers: {
      'content-type': 'text/xml',
      ...(secret === undefined ? {} : { authorization: `Basic ${Buffer.from(`:${secret}`).toString('base64')}` }),
    },
    body: serializeMethodCall(method, params),
  });
  expect(response.status).toBe(200);
  try {
    return { value: await new Deserializer().deserializeMethodResponse(await response.text()) };
  } catch (err) {
    return { fault: (err as { code: number }).code };
  }
}

function faultOutcome(result: { fault?: number }): Outcome {
  if (result.fault === 1401) return 401;
  if (result.fault === 1403) return 403;
  expect(result.fault).toBeUndefined();
  return 'ok';
}

/** Registers a fresh `payments` instance as the operator: the operations below need one to act on. */
async function seedInstance(): Promise<string> {
  const id = `p${++instances}`;
  const response = await rest('operator', `PUT /v1/services/payments/instances/${id}`, {
    host: '10.0.0.1',
    port: 8000 + instances,
    ttl: '1h',
  });
  expect(response.status).toBe(201);
  return id;
}

const has = (id: string): boolean =>
  server.registry.list('payments', { status: 'any', health: 'any' }).instances.some((i) => i.id === id);

async function perform(protocol: Protocol, kind: Kind, operation: Operation): Promise<Outcome> {
  const id = operation === 'register' ? `new-${++instances}` : await seedInstance();
  let outcome: Outcome;
  switch (protocol) {
    case 'rest': {
      const path = `/v1/services/payments/instances/${id}`;
      const request = {
        register: () => rest(kind, `PUT ${path}`, { host: '10.0.1.1', port: 9000 + instances }),
        // The fast path answers these two.
        heartbeat: () => rest(kind, `PUT ${path}/heartbeat`),
        lookup: () => rest(kind, 'GET /v1/services/payments'),
        deregister: () => rest(kind, `DELETE ${path}`),
      }[operation];
      outcome = await outcomeOf(await request());
      break;
    }
    case 'xmlrpc': {
      const call = {
        register: () =>
          xmlrpc(kind, 'registry.register', [{ service: 'payments', id, host: '10.0.1.1', port: 9000 + instances }]),
        heartbeat: () => xmlrpc(kind, 'registry.heartbeat', ['payments', id]),
        lookup: () => xmlrpc(kind, 'get_service_details', ['payments']),
        deregister: () => xmlrpc(kind, 'unregister', ['payments', id]),
      }[operation];
      outcome = faultOutcome(await call());
      break;
    }
    case 'seed': {
      const address = `http://10.0.2.1:${9000 + instances}`;
      if (operation === 'register') {
        outcome = await outcomeOf(
          await rest(kind, 'POST /register', { serviceName: 'payments', serviceAddress: address }),
        );
        const registered = server.registry
          .list('payments', { status: 'any', health: 'any' })
          .instances.some((i) => i.metadata['seed.address'] === address);
        expect(registered).toBe(outcome === 'ok');
        return outcome;
      }
      if (operation === 'deregister') {
        const instance = server.registry.get('payments', id);
        const seedAddress = `http://${instance.host}:${instance.port}`;
        outcome = await outcomeOf(
          await rest(kind, 'POST /deregister', { serviceName: 'payments', serviceAddress: seedAddress }),
        );
        // The seed route removes what matches the address, and nothing when refused.
        if (outcome !== 'ok') expect(has(id)).toBe(true);
        return outcome;
      }
      return 'ok';
    }
    case 'events': {
      const controller = new AbortController();
      const response = await fetch(`${server.url}/v1/events?service=payments`, {
        headers: headersOf(kind),
        signal: controller.signal,
      });
      outcome = response.status === 200 ? 'ok' : await outcomeOf(response);
      controller.abort();
      return outcome;
    }
  }
  if (operation === 'register') expect(has(id)).toBe(outcome === 'ok');
  if (operation === 'deregister') expect(has(id)).toBe(outcome !== 'ok');
  return outcome;
}

beforeAll(async () => {
  server = await startTestServer({ auth: { mode: 'on' }, store: { kind: 'memory', dataDir: dir.path } });
  const bootstrap = readFileSync(join(dir.path, 'bootstrap-token'), 'utf8').trim();
  secrets.set('operator', bootstrap);
  secrets.set('anonymous', undefined);
  secrets.set('bogus', 'sbt_not-a-token-anyone-issued');
  const create = async (name: string, body: object): Promise<{ id: string; secret: string }> => {
    const response = await rest('operator', 'POST /v1/tokens', { name, ...body });
    expect(response.status).toBe(201);
    return response.json() as Promise<{ id: string; secret: string }>;
  };
  secrets.set('reader', (await create('reader', { read: ['pay*'] })).secret);
  secrets.set('writer', (await create('writer', { write: ['payments'] })).secret);
  secrets.set('other', (await create('other', { write: ['shipping'], read: ['*ing'] })).secret);
  secrets.set('expired', (await create('expired', { operator: true, ttl: '1ms' })).secret);
  const revoked = await create('revoked', { operator: true });
  secrets.set('revoked', revoked.secret);
  expect((await rest('operator', `DELETE /v1/tokens/${revoked.id}`)).status).toBe(200);
});

afterAll(async () => {
  await server.close();
  dir[Symbol.dispose]();
});

describe('access control: token kind × operation × protocol (issue #13)', () => {
  const cases: [Protocol, Operation][] = [
    ['rest', 'register'],
    ['rest', 'heartbeat'],
    ['rest', 'lookup'],
    ['rest', 'deregister'],
    ['xmlrpc', 'register'],
    ['xmlrpc', 'heartbeat'],
    ['xmlrpc', 'lookup'],
    ['xmlrpc', 'deregister'],
    ['seed', 'register'],
    ['seed', 'deregister'],
    ['events', 'lookup'],
  ];
  for (const [protocol, operation] of cases) {
    it(`${protocol} ${operation}`, async () => {
      const got: Record<string, Outcome> = {};
      const want: Record<string, Outcome> = {};
      for (const kind of KINDS) {
        got[kind] = await perform(protocol, kind, operation);
        want[kind] = expected(kind, operation);
      }
      expect(got).toEqual(want);
    });
  }

  it('names the missing right: 401 without a token, 403 with one that lacks it', async () => {
    const anonymous = await rest('anonymous', 'DELETE /v1/services/payments/instances/x');
    expect(anonymous.status).toBe(401);
    const anonymousBody = (await anonymous.json()) as { code: string; message: string };
    expect(anonymousBody.code).toBe('UNAUTHENTICATED');
    expect(anonymousBody.message).toContain('write on service "payments"');
    const reader = await rest('reader', 'DELETE /v1/services/payments/instances/x');
    expect(reader.status).toBe(403);
    expect(await reader.json()).toMatchObject({
      code: 'PERMISSION_DENIED',
      message: 'token "reader" lacks write on service "payments"',
    });
    const expired = await rest('expired', 'GET /v1/services/payments');
    const expiredBody = (await expired.json()) as { code: string; message: string };
    expect(expiredBody.code).toBe('UNAUTHENTICATED');
    expect(expiredBody.message).toContain('expired');
  });

  it('lists only the services a token may read, on every protocol', async () => {
    await rest('operator', 'PUT /v1/services/shipping/instances/s1', { host: '10.0.3.1', port: 80 });
    await seedInstance();
    const names = async (kind: Kind): Promise<string[]> =>
      ((await (await rest(kind, 'GET /v1/services')).json()) as { services: { name: string }[] }).services.map(
        (s) => s.name,
      );
    expect(await names('operator')).toEqual(['payments', 'shipping']);
    expect(await names('reader')).toEqual(['payments']);
    expect(await names('other')).toEqual(['shipping']);
    expect((await rest('anonymous', 'GET /v1/services')).status).toBe(200);
    expect(await names('anonymous')).toEqual([]);
    const seed = async (kind: Kind): Promise<string[]> =>
      Object.keys((await (await rest(kind, 'GET /services')).json()) as object);
    expect(await seed('reader')).toEqual(['payments']);
    const page = (await (await rest('other', 'GET /v1/instances?limit=1000')).json()) as {
      instances: { service: string }[];
    };
    expect(new Set(page.instances.map((i) => i.service))).toEqual(new Set(['shipping']));
    const listed = await xmlrpc('reader', 'registry.listServices', []);
    expect((listed.value as { services: { name: string }[] }).services.map((s) => s.name)).toEqual(['payments']);
    const details = JSON.parse((await xmlrpc('other', 'get_all_service_details', [])).value as string) as Record<
      string,
      { name: string }
    >;
    expect(new Set(Object.values(details).map((d) => d.name))).toEqual(new Set(['shipping']));
  });

  it('carries only readable services on an event stream of every service', async () => {
    const controller = new AbortController();
    const response = await fetch(`${server.url}/v1/events`, {
      headers: headersOf('reader'),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    const readUntil = async (pattern: RegExp): Promise<void> => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended: ${text}`);
        text += Buffer.from(value).toString();
      }
    };
    await readUntil(/event: snapshot/);
    expect(text).not.toContain('"shipping"');
    await rest('operator', 'PUT /v1/services/shipping/instances/s2', { host: '10.0.3.2', port: 80 });
    await rest('operator', 'PUT /v1/services/payments/instances/marker', { host: '10.0.3.3', port: 80 });
    await readUntil(/"id":"marker"/);
    expect(text).not.toContain('"shipping"');
    controller.abort();
  });

  it('checks each call of a multicall on its own', async () => {
    const id = await seedInstance();
    const { value } = await xmlrpc('reader', 'system.multicall', [
      [
        { methodName: 'get_service_details', params: ['payments'] },
        { methodName: 'unregister', params: ['payments', id] },
        { methodName: 'get_service_details', params: ['shipping'] },
      ],
    ]);
    const results = value as unknown[];
    expect(Array.isArray(results[0])).toBe(true);
    expect(results[1]).toMatchObject({ faultCode: 1403 });
    expect(results[2]).toMatchObject({ faultCode: 1403 });
    expect(has(id)).toBe(true);
  });

  it('keeps /health and /openapi.json public, /metrics for read on every service, /v1/tokens for operators', async () => {
    expect((await rest('anonymous', 'GET /health')).status).toBe(200);
    expect((await rest('anonymous', 'GET /openapi.json')).status).toBe(200);
    expect((await rest('anonymous', 'GET /metrics')).status).toBe(401);
    expect((await rest('reader', 'GET /metrics')).status).toBe(403);
    expect((await rest('operator', 'GET /metrics')).status).toBe(200);
    expect((await rest('writer', 'GET /v1/tokens')).status).toBe(403);
    const listed = await rest('operator', 'GET /v1/tokens');
    const body = await listed.text();
    expect(body).toContain('"name":"reader"');
    // Neither the secrets nor their hashes ever leave the registry.
    for (const secret of secrets.values()) if (secret !== undefined) expect(body).not.toContain(secret);
    expect(body).not.toContain('secretHash');
    const self = await rest('reader', 'GET /v1/tokens/self');
    expect(await self.json()).toMatchObject({ name: 'reader', policy: { read: ['pay*'], write: [], operator: false } });
  });

  it('takes a token as read from a file, trailing newline and all, through the SDK', async () => {
    const client = new RegistryClient({ url: server.url, token: `${secrets.get('writer') ?? ''}\n` });
    expect((await client.whoami()).name).toBe('writer');
    await client.register({ service: 'payments', id: 'from-sdk', host: '10.0.4.1', port: 80 });
    await expect(
      client.register({ service: 'shipping', id: 'from-sdk', host: '10.0.4.1', port: 80 }),
    ).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
  });

  it("never answers 304 to one token from another token's view of the service list", async () => {
    const operator = await rest('operator', 'GET /v1/services');
    const etag = operator.headers.get('etag') ?? '';
    await operator.arrayBuffer();
    const reader = await fetch(`${server.url}/v1/services`, {
      headers: { ...headersOf('reader'), 'if-none-match': etag },
    });
    expect(reader.status).toBe(200);
    expect(reader.headers.get('etag')).not.toBe(etag);
    const names = ((await reader.json()) as { services: { name: string }[] }).services.map((s) => s.name);
    expect(names.every((name) => name.startsWith('pay'))).toBe(true);
  });
});
