/**
 * Issue #14's fuzz suite: arbitrary REST bodies, paths and queries, XML-RPC documents and seed bodies sent to a
 * real server. Whatever arrives, the answer is a client error or a success, never a 5xx, a crash or a hang, and what
 * was stored before is still there, unchanged, afterwards.
 *
 * CI runs FUZZ_RUNS inputs in all (default 2,000); `npm run fuzz` runs 100,000 and records the figure in
 * bench/RESULTS.md.
 */
import { serializeMethodCall } from '@foxglove/xmlrpc';
import type { XmlRpcValue } from '@foxglove/xmlrpc';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server.js';
import type { Instance } from '../../src/wire/index.js';
import { startTestServer } from '../fixtures/server.js';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 2_000);
const TARGETS = 6;
const PER_TARGET = Math.max(1, Math.floor(RUNS / TARGETS));
/** A request the server has not answered in this long is a hang. */
const ANSWER_WITHIN_MS = 10_000;

/** Stored before the fuzzing, under names no generator below produces: it must come out unchanged. */
const CANARY = { service: 'canary-0d5e8f', id: 'keep-7a41c2' };

let server: RunningServer;
let canary: Instance;
const seen = { requests: 0, statuses: new Map<number, number>() };

interface Sent {
  method: string;
  path: string;
  body?: string;
  type?: string;
}

async function send(request: Sent): Promise<{ status: number; text: string }> {
  const response = await fetch(`${server.url}${request.path}`, {
    method: request.method,
    headers: request.type === undefined ? {} : { 'content-type': request.type },
    ...(request.body === undefined ? {} : { body: request.body }),
    signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
  });
  // An event stream never ends by itself: its status and headers are the answer.
  const text = response.headers.get('content-type')?.startsWith('text/event-stream')
    ? (await response.body?.cancel(), '')
    : await response.text();
  seen.requests += 1;
  seen.statuses.set(response.status, (seen.statuses.get(response.status) ?? 0) + 1);
  return { status: response.status, text };
}

/** The property every input must keep. */
async function answersSanely(request: Sent): Promise<void> {
  const { status, text } = await send(request);
  expect(status, `${request.method} ${request.path} → ${status} ${text.slice(0, 300)}`).toBeLessThan(500);
  // A fault 15xx (INTERNAL, UNAVAILABLE…) is the server failing, not the input being refused.
  if (request.path === '/RPC2') {
    expect(text, text.slice(0, 300)).not.toMatch(/<name>faultCode<\/name>\s*<value>\s*<int>15\d\d<\/int>/);
  }
}

const serviceish = fc.oneof(
  fc.constantFrom('web', 'api', 'fz-a', 'fz.b_c', ''),
  fc.string({ maxLength: 80 }),
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,70}$/),
);
const segment = fc.oneof(
  serviceish,
  fc.constantFrom('..', '.', '%2e%2e', '%2F', '%00', '%ff', '~', '*', ';x=1', 'instances', 'heartbeat', 'status'),
  fc.string({ unit: 'binary', maxLength: 20 }).map(encodeURIComponent),
);
const path = fc
  .tuple(
    fc.constantFrom('/v1/services', '/v1/instances', '/v1/events', '/v1/tokens', '/register', '/services', '', '/v1'),
    fc.array(segment, { maxLength: 5 }),
  )
  .map(([root, parts]) => `${root}/${parts.join('/')}`.replace(/[\s#?]/g, (c) => encodeURIComponent(c)));
const query = fc
  .array(
    fc.tuple(
      fc.constantFrom('index', 'wait', 'status', 'health', 'tag', 'zone', 'limit', 'cursor', 'since', 'service', 'x'),
      fc.oneof(fc.string({ maxLength: 30 }), fc.integer().map(String), fc.constantFrom('-1', '1e999', '10m', 'any')),
    ),
    { maxLength: 6 },
  )
  .map((pairs) => new URLSearchParams(pairs).toString());

/** Registrations near the valid ones, so the fuzz reaches deep into validation, not only the JSON parser. */
const registration = fc.record(
  {
    host: fc.oneof(fc.constantFrom('10.0.0.1', 'localhost', '::1', ''), fc.string({ maxLength: 300 })),
    port: fc.oneof(fc.integer({ min: -10, max: 70_000 }), fc.string({ maxLength: 6 })),
    ttl: fc.oneof(fc.constantFrom('10s', '0s', '1ms', '99999h', 5, -1), fc.string({ maxLength: 8 })),
    tags: fc.array(fc.string({ maxLength: 40 }), { maxLength: 40 }),
    metadata: fc.dictionary(fc.string({ maxLength: 40 }), fc.string({ maxLength: 200 }), { maxKeys: 40 }),
    status: fc.constantFrom('UP', 'DOWN', 'STARTING', 'OUT_OF_SERVICE', 'UNKNOWN', 'up', 1, null),
    url: fc.oneof(fc.constantFrom('/web', '/', '//x', '/a/../b'), fc.string({ maxLength: 100 })),
    weight: fc.oneof(fc.integer({ min: -5, max: 1_000 }), fc.double()),
    checks: fc.array(
      fc.record(
        {
          http: fc.oneof(fc.webUrl(), fc.string({ maxLength: 50 })),
          tcp: fc.string({ maxLength: 30 }),
          interval: fc.oneof(fc.constantFrom('1s', '10ms', '1h'), fc.integer()),
        },
        { requiredKeys: [] },
      ),
      { maxLength: 10 },
    ),
    zone: fc.string({ maxLength: 70 }),
    endpoints: fc.array(fc.record({ type: fc.string({ maxLength: 20 }), url: fc.string({ maxLength: 100 }) }), {
      maxLength: 5,
    }),
  },
  { requiredKeys: [] },
);
/** Registrations the core accepts (or nearly): these reach the store, the feed, the caches and the watchers. */
const nearlyValid = fc.record(
  {
    host: fc.constantFrom('10.0.0.1', '127.0.0.1', 'web.internal', '::1'),
    port: fc.integer({ min: 0, max: 65_536 }),
    ttl: fc.constantFrom('10s', '1m', 30, '0s'),
    tags: fc.array(fc.stringMatching(/^[a-z0-9-]{1,20}$/), { maxLength: 5 }),
    metadata: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9.-]{0,20}$/), fc.string({ maxLength: 50 }), { maxKeys: 5 }),
    status: fc.constantFrom('UP', 'DOWN', 'STARTING', 'OUT_OF_SERVICE', 'UNKNOWN'),
    weight: fc.integer({ min: 0, max: 300 }),
    zone: fc.stringMatching(/^[a-z0-9-]{1,20}$/),
    url: fc.stringMatching(/^\/[a-z0-9/-]{0,20}$/),
  },
  { requiredKeys: ['host', 'port'] },
);
const jsonBody = fc.oneof(
  registration.map((r) => JSON.stringify(r)),
  nearlyValid.map((r) => JSON.stringify(r)),
  fc.json({ maxDepth: 6 }),
  fc.string({ maxLength: 200 }),
  fc.constantFrom('', '{', '[]', 'null', '{"host":"10.0.0.1","port":80}', '{"__proto__":{"x":1}}', '9'.repeat(400)),
);

/** XML-RPC values the codec can carry, nested. */
const xmlValue: fc.Arbitrary<XmlRpcValue> = fc.letrec<{ value: XmlRpcValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ maxLength: 40 }),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 12 }), tie('value'), { maxKeys: 4 }),
  ),
})).value;
const xmlMethod = fc.oneof(
  fc.constantFrom(
    'register',
    'unregister',
    'update_status',
    'get_service_details',
    'get_all_service_details',
    'get_reg_count',
    'registry.register',
    'registry.deregister',
    'registry.heartbeat',
    'registry.setStatus',
    'registry.getService',
    'registry.listServices',
    'registry.instances',
    'system.multicall',
    'system.listMethods',
    'system.methodHelp',
  ),
  fc.string({ maxLength: 30 }),
);
/**
 * The client library refuses to encode what XML cannot hold (a NUL, a lone surrogate); such a call is sent written by
 * hand instead, which is as hostile an input as the server can get.
 */
function methodCall(method: string, params: XmlRpcValue[]): string {
  try {
    return serializeMethodCall(method, params);
  } catch {
    const text = JSON.stringify(params);
    return `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params><param><value><string>${text}</string></value></param></params></methodCall>`;
  }
}

const xmlDocument = fc.oneof(
  fc.tuple(xmlMethod, fc.array(xmlValue, { maxLength: 5 })).map(([method, params]) => methodCall(method, params)),
  // A valid call, then cut or spliced at random: the decoder must refuse what it cannot read, not crash.
  fc
    .tuple(xmlMethod, fc.array(xmlValue, { maxLength: 3 }), fc.nat(), fc.string({ maxLength: 30 }))
    .map(([method, params, at, insert]) => {
      const doc = methodCall(method, params);
      const cut = at % (doc.length + 1);
      return doc.slice(0, cut) + insert + doc.slice(cut + (at % 7));
    }),
  fc.string({ maxLength: 300 }),
  fc.constantFrom(
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><methodCall><methodName>&a;</methodName></methodCall>',
    '<methodCall><methodName>system.multicall</methodName><params><param><value><array><data>' +
      '<value><struct><member><name>methodName</name><value>system.multicall</value></member></struct></value>' +
      '</data></array></value></param></params></methodCall>',
  ),
);

const seedBody = fc.oneof(
  fc
    .record(
      {
        serviceName: fc.oneof(serviceish, fc.integer(), fc.constant(null)),
        serviceAddress: fc.oneof(
          fc.webUrl(),
          fc.constantFrom('http://10.0.0.9:8000', 'localhost:80', ':', 'http://[::1]:0', ''),
          fc.string({ maxLength: 300 }),
        ),
      },
      { requiredKeys: [] },
    )
    .map((body) => JSON.stringify(body)),
  fc.json({ maxDepth: 3 }),
  fc.string({ maxLength: 100 }),
);

beforeAll(async () => {
  server = await startTestServer();
  const response = await fetch(`${server.url}/v1/services/${CANARY.service}/instances/${CANARY.id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ host: '10.9.9.9', port: 9999, tags: ['canary'], metadata: { keep: 'me' } }),
  });
  canary = (await response.json()) as Instance;
});

afterAll(async () => {
  await server.close();
});

describe(`hostile input: ${PER_TARGET * TARGETS} generated requests (issue #14)`, () => {
  const timeout = Math.max(60_000, PER_TARGET * 50);
  it(
    'REST registration bodies',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(serviceish, fc.constantFrom('fz-web', 'fz-api')),
          fc.oneof(fc.string({ maxLength: 40 }), fc.stringMatching(/^[a-z0-9-]{1,12}$/)),
          jsonBody,
          async (service, id, body) => {
            const method = id.length % 3 === 0 ? 'POST' : 'PUT';
            const where =
              method === 'POST'
                ? `/v1/services/${encodeURIComponent(service)}/instances`
                : `/v1/services/${encodeURIComponent(service)}/instances/${encodeURIComponent(id)}`;
            await answersSanely({ method, path: where, body, type: 'application/json' });
          },
        ),
        { numRuns: PER_TARGET },
      );
    },
    timeout,
  );

  it(
    'paths and methods',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('GET', 'PUT', 'DELETE', 'POST', 'HEAD', 'OPTIONS', 'PATCH'),
          path,
          fc.option(jsonBody),
          async (method, where, body) => {
            const sendsBody = body !== null && method !== 'GET' && method !== 'HEAD';
            await answersSanely({
              method,
              path: where,
              ...(sendsBody ? { body, type: 'application/json' } : {}),
            });
          },
        ),
        { numRuns: PER_TARGET },
      );
    },
    timeout,
  );

  it(
    'query strings on the reads',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('/v1/services/web', '/v1/services', '/v1/instances', '/v1/events', '/services', '/metrics'),
          query,
          async (where, q) => {
            // A blocking query that asks to wait would rightly wait: keep the fuzz's waits short.
            const bounded = q.replace(/wait=[^&]*/g, 'wait=10ms');
            await answersSanely({ method: 'GET', path: `${where}?${bounded}` });
          },
        ),
        { numRuns: PER_TARGET },
      );
    },
    timeout,
  );

  it(
    'XML-RPC documents',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          xmlDocument,
          fc.constantFrom('text/xml', 'application/xml', 'text/plain'),
          async (doc, type) => {
            await answersSanely({ method: 'POST', path: '/RPC2', body: doc, type });
          },
        ),
        { numRuns: PER_TARGET },
      );
    },
    timeout,
  );

  it(
    'seed route bodies',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom('/register', '/deregister'), seedBody, async (where, body) => {
          await answersSanely({ method: 'POST', path: where, body, type: 'application/json' });
        }),
        { numRuns: PER_TARGET },
      );
    },
    timeout,
  );

  it(
    'raw bodies under every content type',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(
            '/v1/services/web/instances/w1',
            '/v1/services/web/instances/w1/status',
            '/register',
            '/RPC2',
          ),
          fc.string({ unit: 'binary', maxLength: 500 }),
          fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'text/xml', ''),
          async (where, body, type) => {
            await answersSanely({
              method: where === '/v1/services/web/instances/w1/status' ? 'PUT' : 'POST',
              path: where,
              body,
              type,
            });
          },
        ),
        { numRuns: RUNS - PER_TARGET * (TARGETS - 1) },
      );
    },
    timeout,
  );

  it('leaves the server alive and the data stored before it unchanged', async () => {
    expect(seen.requests).toBeGreaterThanOrEqual(RUNS);
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    const now = (await (
      await fetch(`${server.url}/v1/services/${CANARY.service}/instances/${CANARY.id}`)
    ).json()) as Instance;
    expect(now).toEqual({ ...canary, lastHeartbeat: now.lastHeartbeat });
    process.stdout.write(
      `fuzz: ${seen.requests} requests; statuses ${JSON.stringify(Object.fromEntries([...seen.statuses].sort()))}\n`,
    );
  });
});
