/**
 * The REST API v1 of issue #2 over real HTTP: a real server on port 0, driven with fetch, every route with its
 * success and error answers.
 */
import { STATUS_CODES } from 'node:http';
import { describe, expect, it } from 'vitest';
import { isErrorCode } from '../../src/errors/index.js';
import type { ErrorBody } from '../../src/errors/index.js';
import type { Instance, InstancePage, ServiceAnswer, ServiceList } from '../../src/wire/index.js';
import { startTestServer } from '../fixtures/server.js';

interface Reply<T> {
  status: number;
  /** X-Switchboard-Index, when the answer has one. */
  index: number | undefined;
  headers: Headers;
  body: T;
}

interface SendOptions {
  /** A value sent as JSON. */
  json?: unknown;
  /** A raw body, sent as it is with `type`. */
  raw?: string;
  type?: string;
}

/** A minimal client: the test must see exactly what the server answers, so no SDK in between. */
function api(base: string) {
  async function send<T>(method: string, path: string, options: SendOptions = {}): Promise<Reply<T>> {
    const headers: Record<string, string> = {};
    let body: string | undefined;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
    } else if (options.raw !== undefined) {
      body = options.raw;
      headers['content-type'] = options.type ?? 'application/json';
    }
    const response = await fetch(base + path, {
      method,
      headers,
      body: body ?? null,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    const index = response.headers.get('x-switchboard-index');
    return {
      status: response.status,
      index: index === null ? undefined : Number(index),
      headers: response.headers,
      body: (text === '' ? undefined : JSON.parse(text)) as T,
    };
  }
  return {
    send,
    get: <T>(path: string) => send<T>('GET', path),
    put: <T = Instance>(path: string, json?: unknown) => send<T>('PUT', path, { json }),
    post: <T = Instance>(path: string, json: unknown) => send<T>('POST', path, { json }),
    del: <T = Instance>(path: string) => send<T>('DELETE', path),
  };
}

/** Asserts the one error shape of every REST error, with its stable code. */
function expectError(reply: Reply<unknown>, expected: { status: number; code: string; message?: RegExp }): void {
  const { status, code, message } = expected;
  expect(reply.status).toBe(status);
  expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
  expect(reply.body).toEqual({
    statusCode: status,
    code,
    error: STATUS_CODES[status],
    message: (message ? expect.stringMatching(message) : expect.any(String)) as unknown,
  });
}

const body = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  host: '10.0.0.1',
  port: 8080,
  ...extra,
});

/** Polls `check` until it holds (the server's sweep runs on its own timer); fails after a few seconds. */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 8_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within 8s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('REST API v1: registration', () => {
  it('answers 201 when a PUT creates an instance and 200 when it updates one', async () => {
    await using server = await startTestServer();
    const http = api(server.url);
    const created = await http.put(
      '/v1/services/web/instances/w1',
      body({ tags: ['a'], metadata: { v: '1' }, zone: 'eu-1' }),
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: 'w1',
      service: 'web',
      host: '10.0.0.1',
      port: 8080,
      status: 'UP',
      health: 'passing',
      tags: ['a'],
      metadata: { v: '1' },
      zone: 'eu-1',
      weight: 100,
      endpoints: [],
      authorizedRoles: [],
      createIndex: 1,
      modifyIndex: 1,
    });
    for (const field of ['registeredAt', 'updatedAt', 'lastHeartbeat'] as const) {
      expect(new Date(created.body[field]).toISOString()).toBe(created.body[field]);
    }
    expect(created.index).toBe(1);

    const updated = await http.put('/v1/services/web/instances/w1', body({ port: 9090 }));
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ port: 9090, tags: [], createIndex: 1, modifyIndex: 2 });
    expect(updated.body.registeredAt).toBe(created.body.registeredAt);

    // Idempotent: the same registration again changes nothing.
    const again = await http.put('/v1/services/web/instances/w1', body({ port: 9090 }));
    expect(again.status).toBe(200);
    expect(again.body.modifyIndex).toBe(2);
    expect(again.index).toBe(2);
  });

  it('keeps every field of a full registration', async () => {
    await using server = await startTestServer();
    const http = api(server.url);
    const full = body({
      url: '/tickets',
      endpoints: [{ type: 'http', url: 'http://10.0.0.1:8080' }],
      status: 'STARTING',
      tags: ['blue', 'v2'],
      metadata: { version: '2.1.0', team: 'core' },
      weight: 250,
      zone: 'eu-west-1a',
      authorizedRoles: ['admin', 'support'],
      ttl: '30s',
      deregisterAfter: '2m',
    });
    const { body: instance } = await http.put('/v1/services/tickets/instances/t-1', full);
    const { body: fetched } = await http.get<Instance>('/v1/services/tickets/instances/t-1');
    for (const answer of [instance, fetched]) {
      expect(answer).toMatchObject({ ...full, ttl: '30s', deregisterAfter: '2m', id: 't-1', service: 'tickets' });
    }
  });

  it('registers with a generated id on POST and answers 201', async () => {
    await using server = await startTestServer();
    const http = api(server.url);
    const first = await http.post('/v1/services/web/instances', body());
    const second = await http.post('/v1/services/web/instances', body());
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(first.body.id).toMatch(/^[A-Za-z0-9][A-Za-z0-9._:@-]*$/);
    expect(second.body.id).not.toBe(first.body.id);
    const fetched = await http.get<Instance>(`/v1/services/web/instances/${first.body.id}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body.id).toBe(first.body.id);
    expectError(await http.post('/v1/services/web/instances', { host: 'h' }), {
      status: 400,
      code: 'INVALID_ARGUMENT',
      message: /port/,
    });
  });

  it('deregisters with DELETE and answers 404 NOT_FOUND for an instance it does not know', async () => {
    await using server = await startTestServer();
    const http = api(server.url);
    await http.put('/v1/services/web/instances/w1', body());
    const removed = await http.del('/v1/services/web/instances/w1');
    expect(removed.status).toBe(200);
    expect(removed.body.id).toBe('w1');
    expect(removed.index).toBe(2);
    expectError(await http.del('/v1/services/web/instances/w1'), { status: 404, code: 'NOT_FOUND', message: /w1/ });
    expectError(await http.del('/v1/services/nothing/instances/w1'), { status: 404, code: 'NOT_FOUND' });
    expectError(await http.get('/v1/services/web/instances/w1'), { status: 404, code: 'NOT_FOUND' });
  });

  it('renews a lease on heartbeat and answers 404 for an unknown instance, so the client registers again', async () => {
    await using server = await startTestServer();
    const http = api(server.url);
    const { body: registered } = await http.put('/v1/services/web/instances/w1', body({ ttl: 10 }));
    await new Promise((resolve) => setTimeout(resolve, 5));
    const beat = await http.put('/v1/services/web/instances/w1/heartbeat');
    expect(beat.status).toBe(200);
    expect(Date.parse(beat.body.lastHeartbeat)).toBeGreaterThan(Date.parse(registered.lastHeartbeat));
    // A heartbeat is not a change.
    expect(beat.body.modifyIndex).toBe(registered.modifyIndex);
    expect(beat.index).toBe(1);
    expectError(await http.put('/v1/services/web/instances/w2/heartbeat'), { status: 404, code: 'NOT_FOUND' });
  });

  it('sets a status from the set and refuses any other with 400 INVALID_ARGUMENT', async () => {
    await using server = await startTestServer();
    const http = api(server.url);
    await http.put('/v1/services/web/instances/w1', body());
    const down = await http.put('/v1/services/web/instances/w1/status', { status: 'DOWN' });
    expect(down.status).toBe(200);
    expect(down.body).toMatchObject({ status: 'DOWN', modifyIndex: 2 });
    for (const status of ['OUT_OF_SERVICE', 'STARTING', 'UNKNOWN', 'UP']) {
      expect((await http.put('/v1/services/web/instances/w1/status', { status })).body.status).toBe(status);
    }
    for (const bad of [{ status: 'RUNNING' }, { status: 'up' }, { status: 1 }, {}, { status: 'UP', extra: 1 }]) {
      expectError(await http.put('/v1/services/web/instances/w1/status', bad), {
        status: 400,
        code: 'INVALID_ARGUMENT',
      });
    }
    expectError(await http.put('/v1/services/web/instances/w9/status', { status: 'DOWN' }), {
      status: 404,
      code: 'NOT_FOUND',
    });
    expect((await http.get<Instance>('/v1/services/web/instances/w1')).body.status).toBe('UP');
  });

  it('accepts durations as seconds or strings and answers them as strings', async () => {
    await using server = await startTestServer();
    const http = api(server.url);
    const cases: [unknown, unknown, string, string][] = [
      [30, undefined, '30s', '90s'],
      ['1m', '5m', '1m', '5m'],
      ['1500ms', 2, '1500ms', '2s'],
      [1.5, '1h', '1500ms', '1h'],
    ];
    for (const [i, [ttl, deregisterAfter, wantTtl, wantAfter]] of cases.entries()) {
      const { status, body: instance } = await http.put(
        `/v1/services/web/instances/d${i}`,
        body({ ttl, deregisterAfter }),
      );
      expect(status).toBe(201);
      expect(instance.ttl).toBe(wantTtl);
      if (deregisterAfter !== undefined) expect(instance.deregisterAfter).toBe(wantAfter);
    }
    for (const ttl of ['10 s', '10d', 'soon', -1, '0.5s', '', { s: 10 }]) {
      expectError(await http.put('/v1/services/web/instances/bad', body({ ttl })), {
        status: 400,
        code: 'INVALID_ARGUMENT',
        message: /ttl/,
      });
    }
  });

  it.each([
    ['a service name starting with a dash', '/v1/services/-web/instances/w1'],
    ['a service name of 64 characters', `/v1/services/${'a'.repeat(64)}/instances/w1`],
    ['a service name with a space', '/v1/services/web%20api/instances/w1'],
    ['a service name with a non-ASCII letter', '/v1/services/w%C3%A9b/instances/w1'],
  ])('refuses %s with 400 and a message that says what a name may hold', async (_what, path) => {
    await using server = await startTestServer();
    const http = api(server.url);
    expectError(await http.put(path, body()), {
      status: 400,
      code: 'INVALID_ARGUMENT',
      message: /service name .*1–63 letters, digits/,
    });
  });

  it('takes names and ids as long as their rules allow', async () => {
    await using server = await startTestServer();
    const http = api(server.url);
    const service = `s${'-'.repeat(62)}`;
    const id = `i${'.'.repeat(127)}`;
    const created = await http.put(`/v1/services/${service}/instances/${id}`, body());
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ service, id });
    expect((await http.get<Instance>(`/v1/services/${service}/instances/${id}`)).status).toBe(200);
    expect((await http.put(`/v1/services/${service}/instances/${id}/heartbeat`)).status).toBe(200);
    expect((await http.del(`/v1/services/${service}/instances/${id}`)).status).toBe(200);
  });

  it('refuses a bad instance id with 400 and a message that says what an id may hold', async () => {
    await using server = await startTestServer();
    const http = api(server.url);
    expectError(await http.put('/v1/services/web/instances/-w1', body()), {
      status: 400,
      code: 'INVALID_ARGUMENT',
      message: /instance id/,
    });
    expectError(await http.get(`/v1/services/web/instances/${'x'.repeat(129)}`), {
      status: 400,
      code: 'INVALID_ARGUMENT',
      message: /instance id/,
    });
  });

  it.each([
    ['port 0', { port: 0 }, /port/],
    ['port 65536', { port: 65_536 }, /port/],
    ['a port that is no number', { port: 'eighty' }, /port/],
    ['weight 0', { weight: 0 }, /weight/],
    ['weight 1001', { weight: 1_001 }, /weight/],
    ['a url that is not a path', { url: 'tickets' }, /url/],
    ['a metadata value that is an object', { metadata: { v: { major: 1 } } }, /metadata/],
    ['a status outside the set', { status: 'RUNNING' }, /status/],
    ['an unknown field', { colour: 'blue' }, /additional/],
    ['a ttl under a second', { ttl: '200ms' }, /ttl/],
    ['deregisterAfter without a ttl', { deregisterAfter: '1m' }, /deregisterAfter/],
  ])('refuses a registration with %s with 400 INVALID_ARGUMENT', async (_what, extra, message) => {
    await using server = await startTestServer();
    const http = api(server.url);
    expectError(await http.put('/v1/services/web/instances/w1', body(extra)), {
      status: 400,
      code: 'INVALID_ARGUMENT',
      message,
    });
    expect((await http.get<ServiceList>('/v1/services')).body.services).toEqual([]);
  });
});

describe('REST API v1: discovery', () => {
  it('lists services with their instance counts by status', async () => {
    await using server = await startTestServer();
    const http = api(server.url);
    expect((await http.get<ServiceList>('/v1/services')).body).toEqual({ index: 0, services: [] });
    await http.put('/v1/services/web/instances/w1', body());
    await http.put('/v1/services/web/instances/w2', body());
    await http.put('/v1/services/web/instances/w3', body({ status: 'DOWN' }));
    await http.put('/v1/services/api/instances/a1', body({ status: 'STARTING' }));
    const list = await http.get<ServiceList>('/v1/services');
    expect(list.status).toBe(200);
    expect(list.index).toBe(4);
    expect(list.body).toEqual({
      index: 4,
      services: [
        { name: 'api', instances: 1, byStatus: { STARTING: 1 } },
        { name: 'web', instances: 3, byStatus: { UP: 2, DOWN: 1 } },
      ],
    });
  });

  it('answers the instances to call by default and filters by repeatable status, tag and zone', async () => {
    await using server = await startTestServer();
    const http = api(server.url);
    await http.put('/v1/services/web/instances/up-a', body({ tags: ['blue', 'v2'], zone: 'a' }));
    await http.put('/v1/services/web/instances/up-b', body({ tags: ['blue'], zone: 'b' }));
    await http.put('/v1/services/web/instances/down-a', body({ status: 'DOWN', tags: ['blue', 'v2'], zone: 'a' }));
    await http.put('/v1/services/web/instances/oos-b', body({ status: 'OUT_OF_SERVICE', zone: 'b' }));
    await http.put('/v1/services/api/instances/other', body());
    const ids = async (query: string): Promise<string[]> => {
      const reply = await http.get<ServiceAnswer>(`/v1/services/web${query}`);
      expect(reply.status).toBe(200);
      expect(reply.body.name).toBe('web');
      expect(reply.body.index).toBe(reply.index);
      return reply.body.instances.map((i) => i.id);
    };
    expect(await ids('')).toEqual(['up-a', 'up-b']);
    expect(await ids('?status=DOWN')).toEqual(['down-a']);
    expect(await ids('?status=DOWN&status=OUT_OF_SERVICE')).toEqual(['down-a', 'oos-b']);
    expect(await ids('?status=any')).toEqual(['down-a', 'oos-b', 'up-a', 'up-b']);
    expect(await ids('?status=STARTING')).toEqual([]);
    expect(await ids('?tag=blue')).toEqual(['up-a', 'up-b']);
    expect(await ids('?tag=blue&tag=v2')).toEqual(['up-a']);
    expect(await ids('?tag=blue&tag=v2&status=any')).toEqual(['down-a', 'up-a']);
    expect(await ids('?tag=v3')).toEqual([]);
    expect(await ids('?zone=b')).toEqual(['up-b']);
    expect(await ids('?zone=b&status=any')).toEqual(['oos-b', 'up-b']);
    expect(await ids('?zone=a&tag=v2&status=UP&status=DOWN')).toEqual(['down-a', 'up-a']);
    for (const bad of [
      '?status=RUNNING',
      '?health=sick',
      '?tag=',
      '?zone=',
      '?colour=blue',
      '?status=UP&status=nope',
    ]) {
      expectError(await http.get(`/v1/services/web${bad}`), { status: 400, code: 'INVALID_ARGUMENT' });
    }
  });

  it('leaves critical instances out unless asked for with ?health=any', async () => {
    await using server = await startTestServer({ leases: { sweepIntervalMs: 50 } });
    const http = api(server.url);
    await http.put('/v1/services/web/instances/leased', body({ ttl: 1 }));
    await http.put('/v1/services/web/instances/steady', body());
    const ids = async (query: string): Promise<string[]> =>
      (await http.get<ServiceAnswer>(`/v1/services/web${query}`)).body.instances.map((i) => i.id);
    expect(await ids('')).toEqual(['leased', 'steady']);
    // No heartbeat: the lease lapses after its ttl of one second.
    await eventually(async () => (await ids('')).length === 1, 'the lease lapses');
    expect(await ids('')).toEqual(['steady']);
    expect(await ids('?health=any')).toEqual(['leased', 'steady']);
    expect(await ids('?health=critical')).toEqual(['leased']);
    expect(await ids('?health=passing&health=critical')).toEqual(['leased', 'steady']);
    expect((await http.get<Instance>('/v1/services/web/instances/leased')).body.health).toBe('critical');
    // A heartbeat brings it back.
    await http.put('/v1/services/web/instances/leased/heartbeat');
    expect(await ids('')).toEqual(['leased', 'steady']);
  });

  it('answers 200 with no instances for a service nobody registered', async () => {
    await using server = await startTestServer();
    const http = api(server.url);
    const reply = await http.get<ServiceAnswer>('/v1/services/not-yet');
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ name: 'not-yet', index: 0, instances: [] });
    expect(reply.index).toBe(0);
  });

  it('answers one instance by id, whatever its status', async () => {
    await using server = await startTestServer();
    const http = api(server.url);
    await http.put('/v1/services/web/instances/w1', body({ status: 'DOWN' }));
    const reply = await http.get<Instance>('/v1/services/web/instances/w1');
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ id: 'w1', service: 'web', status: 'DOWN' });
    expect(reply.index).toBe(1);
    expectError(await http.get('/v1/services/web/instances/w2'), { status: 404, code: 'NOT_FOUND' });
  });

  it('pages through every instance with limit and cursor, and refuses a bad cursor or limit', async () => {
    await using server = await startTestServer();
    const http = api(server.url);
    const registered: string[] = [];
    for (const service of ['a', 'b', 'c']) {
      for (let i = 0; i < 5; i++) {
        await http.put(`/v1/services/${service}/instances/i${i}`, body({ status: i === 0 ? 'DOWN' : 'UP' }));
        registered.push(`${service}/i${i}`);
      }
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor === null ? '?limit=4' : `?limit=4&cursor=${encodeURIComponent(cursor)}`;
      const page: Reply<InstancePage> = await http.get<InstancePage>(`/v1/instances${query}`);
      expect(page.status).toBe(200);
      expect(page.index).toBe(15);
      expect(page.body.instances.length).toBeLessThanOrEqual(4);
      seen.push(...page.body.instances.map((i) => `${i.service}/${i.id}`));
      cursor = page.body.nextCursor;
      pages += 1;
    } while (cursor !== null);
    expect(pages).toBe(4);
    expect(seen).toEqual(registered);

    const all = await http.get<InstancePage>('/v1/instances');
    expect(all.body.instances).toHaveLength(15);
    expect(all.body.nextCursor).toBeNull();
    for (const bad of ['?cursor=not-a-cursor', '?limit=0', '?limit=1001', '?limit=ten', '?cursor=', '?page=2']) {
      const reply = await http.get(`/v1/instances${bad}`);
      if (bad === '?cursor=') {
        // An empty cursor is the start, like none.
        expect(reply.status).toBe(200);
        continue;
      }
      expectError(reply, { status: 400, code: 'INVALID_ARGUMENT' });
    }
  });

  it('answers X-Switchboard-Index on every read, rising with every change', async () => {
    await using server = await startTestServer();
    const http = api(server.url);
    const reads = ['/v1/services', '/v1/services/web', '/v1/services/web/instances/w1', '/v1/instances', '/health'];
    let last = 0;
    for (const [step, change] of [
      () => http.put('/v1/services/web/instances/w1', body()),
      () => http.put('/v1/services/web/instances/w1/status', { status: 'DOWN' }),
      () => http.put('/v1/services/web/instances/w1', body({ port: 1 })),
    ].entries()) {
      const write = await change();
      expect(write.index).toBe(step + 1);
      for (const path of reads) {
        const reply = await http.get(path);
        expect(reply.status, path).toBe(200);
        expect(reply.index, path).toBe(step + 1);
      }
      expect(write.index).toBeGreaterThan(last);
      last = write.index ?? 0;
    }
  });
});

describe('REST API v1: system routes and errors', () => {
  it('answers /health with the store state', async () => {
    await using server = await startTestServer();
    const reply = await api(server.url).get<Record<string, unknown>>('/health');
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ status: 'ok', store: { kind: 'memory', ok: true } });
  });

  it('describes every route of the API in /openapi.json', async () => {
    await using server = await startTestServer();
    const reply = await api(server.url).get<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(
      '/openapi.json',
    );
    expect(reply.status).toBe(200);
    expect(reply.body.openapi).toMatch(/^3\./);
    const routes: [string, string][] = [
      ['put', '/v1/services/{service}/instances/{id}'],
      ['delete', '/v1/services/{service}/instances/{id}'],
      ['get', '/v1/services/{service}/instances/{id}'],
      ['post', '/v1/services/{service}/instances'],
      ['put', '/v1/services/{service}/instances/{id}/heartbeat'],
      ['put', '/v1/services/{service}/instances/{id}/status'],
      ['get', '/v1/services'],
      ['get', '/v1/services/{service}'],
      ['get', '/v1/instances'],
      ['get', '/health'],
    ];
    for (const [method, path] of routes) expect(reply.body.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    const put = reply.body.paths['/v1/services/{service}/instances/{id}']?.['put'] as {
      parameters: { name: string; in: string }[];
      requestBody: { content: Record<string, { schema: { required: string[] } }> };
      responses: Record<string, unknown>;
    };
    expect(put.parameters.map((p) => `${p.in}:${p.name}`)).toEqual(expect.arrayContaining(['path:service', 'path:id']));
    expect(put.requestBody.content['application/json']?.schema.required).toEqual(['host', 'port']);
    expect(Object.keys(put.responses)).toEqual(expect.arrayContaining(['200', '201', '400']));
  });

  it('answers unknown routes with 404 NOT_FOUND in the error shape', async () => {
    await using server = await startTestServer();
    const http = api(server.url);
    expectError(await http.get('/v2/services'), {
      status: 404,
      code: 'NOT_FOUND',
      message: /no route GET \/v2\/services/,
    });
    expectError(await http.send('PATCH', '/v1/services/web'), { status: 404, code: 'NOT_FOUND' });
    expectError(await http.get('/v1/services/web/instances/w1/nothing'), { status: 404, code: 'NOT_FOUND' });
  });

  it('refuses a body over 1 MiB with 413 PAYLOAD_TOO_LARGE', async () => {
    await using server = await startTestServer();
    const http = api(server.url);
    const big = body({ metadata: { blob: 'x'.repeat(1024 * 1024) } });
    expectError(await http.put('/v1/services/web/instances/w1', big), { status: 413, code: 'PAYLOAD_TOO_LARGE' });
    expect((await http.get<ServiceList>('/v1/services')).body.services).toEqual([]);
  });

  it('refuses malformed JSON with 400 and a wrong content type with 415', async () => {
    await using server = await startTestServer();
    const http = api(server.url);
    for (const raw of ['{"host": "h", "port": 1', '{host: "h"}', 'null', '', '[]', '"text"']) {
      expectError(await http.send('PUT', '/v1/services/web/instances/w1', { raw }), {
        status: 400,
        code: 'INVALID_ARGUMENT',
      });
    }
    expectError(
      await http.send('PUT', '/v1/services/web/instances/w1', {
        raw: 'host=h&port=1',
        type: 'application/x-www-form-urlencoded',
      }),
      { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    );
    expectError(await http.send('PUT', '/v1/services/web/instances/w1', { raw: '<xml/>', type: 'application/xml' }), {
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    });
  });

  it('answers a malformed URL in the error shape', async () => {
    await using server = await startTestServer();
    expectError(await api(server.url).get('/v1/services/web/instances/%ff'), { status: 400, code: 'INVALID_ARGUMENT' });
  });
});

describe('REST API v1: fuzz', () => {
  /** A deterministic PRNG, so a failing input can be replayed from the seed. */
  function random(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
      state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
      return state / 2 ** 32;
    };
  }

  it('never answers a 5xx, nor an error outside the one shape, to hundreds of malformed requests', async () => {
    await using server = await startTestServer();
    const http = api(server.url);
    await http.put('/v1/services/web/instances/w1', body({ ttl: 30 }));
    const next = random(2);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;

    const segments = [
      'v1',
      'services',
      'instances',
      'web',
      'w1',
      'heartbeat',
      'status',
      'health',
      'openapi.json',
      '',
      '..',
      '.',
      '%2e%2e',
      '%00',
      '%ff',
      '%',
      'a%2Fb',
      '-x',
      'x'.repeat(300),
      'é',
      '%F0%9F%98%80',
      '*',
      '~',
      'null',
      '0',
      '-1',
      '{id}',
      ':id',
    ];
    const queries = [
      '',
      '?status=',
      '?status=any&status=UP',
      '?health=any',
      '?health=x',
      '?tag=a&tag=',
      '?zone=%00',
      '?limit=-1',
      '?limit=1e3',
      '?limit=99999999999999999999',
      '?cursor=%ff',
      '?cursor=e30',
      '?a=b',
      '?status[]=UP',
      '?&&&',
      '?status=UP&status=UP&status=UP',
      '?wait=1s',
      '?wait=-1',
      '?index=abc',
    ];
    const bodies: (string | undefined)[] = [
      undefined,
      '',
      '{',
      '}',
      'null',
      'true',
      '0',
      '-1',
      '1e999',
      '"x"',
      '[]',
      '[{}]',
      '{}',
      '{"host":1,"port":"x"}',
      '{"host":"h","port":1,"ttl":"1e9h"}',
      '{"host":"h","port":1,"ttl":1e308}',
      '{"host":"h","port":1,"weight":-0}',
      '{"host":"h","port":1,"metadata":{"__proto__":{"x":"y"}}}',
      '{"host":"h","port":1,"tags":[null]}',
      '{"host":"h","port":1,"endpoints":[{"type":"t"}]}',
      '{"status":"DOWN"}',
      '{"status":null}',
      `{"host":"${'h'.repeat(300)}","port":1}`,
      '{"host":"h","port":1,"deregisterAfter":"0s","ttl":"1s"}',
      '{"host":"h","port":1,"checks":[{"http":"ftp://x","interval":"1s"}]}',
      `${'['.repeat(5_000)}${']'.repeat(5_000)}`,
      '{"host":"h","port":1,"url":"/\\u0000"}',
      '\u0000\u0001',
      '{"host":"\ud800","port":1}',
    ];
    const types = [
      'application/json',
      'application/json; charset=latin1',
      'text/plain',
      'application/octet-stream',
      'application/xml',
    ];
    const methods = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'];

    const failures: string[] = [];
    const requests = Array.from({ length: 400 }, () => {
      const depth = 1 + Math.floor(next() * 6);
      const path = `/${Array.from({ length: depth }, () => pick(segments)).join('/')}${pick(queries)}`;
      // Mostly real routes with bad input, some random paths.
      const realPath = pick([
        '/v1/services/web/instances/w1',
        '/v1/services/web/instances',
        '/v1/services/web/instances/w1/status',
        '/v1/services/web',
        '/v1/instances',
      ]);
      const method = pick(methods);
      const target = next() < 0.5 ? path : `${realPath}${pick(queries)}`;
      const raw = method === 'GET' || method === 'HEAD' ? undefined : pick(bodies);
      return { method, target, raw, type: pick(types) };
    });
    // A few at a time: the machine is shared.
    for (let i = 0; i < requests.length; i += 8) {
      await Promise.all(
        requests.slice(i, i + 8).map(async ({ method, target, raw, type }) => {
          const what = `${method} ${target} ${raw === undefined ? '' : JSON.stringify(raw.slice(0, 80))} (${type})`;
          const response = await fetch(server.url + target, {
            method,
            headers: raw === undefined ? {} : { 'content-type': type },
            body: raw ?? null,
            signal: AbortSignal.timeout(10_000),
          }).catch((err: unknown) => {
            failures.push(`${what}: ${String(err)}`);
            return undefined;
          });
          if (!response) return;
          const text = await response.text();
          if (response.status >= 500) failures.push(`${what}: ${response.status} ${text.slice(0, 200)}`);
          if (response.status >= 400 && method !== 'HEAD') {
            const error = JSON.parse(text) as ErrorBody;
            if (error.statusCode !== response.status || !isErrorCode(error.code) || typeof error.message !== 'string') {
              failures.push(`${what}: not in the error shape: ${text.slice(0, 200)}`);
            }
          }
        }),
      );
    }
    expect(failures).toEqual([]);
    // The registry still answers.
    expect((await http.get<ServiceAnswer>('/v1/services/web?status=any&health=any')).status).toBe(200);
  });
});
