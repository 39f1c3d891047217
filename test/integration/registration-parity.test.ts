/**
 * One registration schema, every transport (issue #11): inputs generated from the schema, valid ones and ones breaking
 * each constraint, are judged by the OpenAPI document's schema (with Ajv), and the REST API, the XML-RPC endpoint and
 * the core must accept exactly those the document accepts. Over a real socket a registration is answered by the fast
 * path (issue #20), which must answer exactly what the Fastify route answers, refusals word for word.
 */
import { Deserializer, serializeMethodCall } from '@foxglove/xmlrpc';
import type { XmlRpcValue } from '@foxglove/xmlrpc';
import { Ajv } from 'ajv';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/index.js';
import { createRegistry } from '../../src/core/index.js';
import type { Registry } from '../../src/core/index.js';
import { RegistryError } from '../../src/errors/index.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { DURATION_PATTERN, InstanceRegistrationSchema } from '../../src/wire/index.js';
import { addXmlRpcRoutes } from '../../src/xmlrpc/index.js';
import { API_OPTIONS, CORE_OPTIONS, XMLRPC_OPTIONS } from '../fixtures/core-options.js';

interface Schema {
  type?: string;
  anyOf?: Schema[];
  const?: unknown;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  maxItems?: number;
  maxProperties?: number;
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  patternProperties?: Record<string, Schema>;
  oneOf?: { required: string[] }[];
}

interface Variant {
  what: string;
  value: unknown;
}

type Json = Record<string, unknown>;

/** Strings of a given length that also pass the field's own rules (a path prefix, a URL, host:port). */
const SAMPLES: Record<string, (length: number) => string> = {
  // Checks probe their own instance (issue #13): the samples' hosts are the instance's ('h', or as long as a host).
  host: (n) => 'h'.repeat(n),
  url: (n) => '/' + 'u'.repeat(n - 1),
  'checks.http': (n) => 'http://h/' + 'p'.repeat(n - 9),
  'checks.tcp': (n) => (n < 7 ? 'h'.repeat(n - 2) + ':1' : 'h'.repeat(n - 6) + ':00001'),
};
const MIN_SAMPLE: Record<string, number> = { url: 1, 'checks.http': 9, 'checks.tcp': 3 };

const isDuration = (schema: Schema): boolean => schema.anyOf?.some((s) => s.pattern === DURATION_PATTERN) ?? false;

/** Values the schema takes, at its edges (durations within the core's ranges for every duration field). */
function valids(schema: Schema, path: string): Variant[] {
  if (isDuration(schema)) {
    return [
      { what: 'seconds', value: 10 },
      { what: 'a unit', value: '10s' },
    ];
  }
  if (schema.anyOf) return schema.anyOf.map((s) => ({ what: String(s.const), value: s.const }));
  switch (schema.type ?? 'untyped') {
    case 'string': {
      const sample = SAMPLES[path] ?? ((n: number) => 'x'.repeat(n));
      const shortest = Math.max(schema.minLength ?? 1, MIN_SAMPLE[path] ?? 1);
      const out = [{ what: 'the shortest', value: sample(shortest) }];
      if (schema.maxLength !== undefined) out.push({ what: 'the longest', value: sample(schema.maxLength) });
      return out;
    }
    case 'integer':
      return [
        { what: 'the least', value: schema.minimum },
        { what: 'the most', value: schema.maximum },
      ];
    case 'array': {
      const items = schema.items ?? {};
      const out: Variant[] = [{ what: 'empty', value: [] }];
      const item = (i: number): unknown => distinct(first(valids(items, path)), i);
      if (schema.maxItems !== undefined) {
        out.push({ what: 'the most items', value: Array.from({ length: schema.maxItems }, (_, i) => item(i)) });
      }
      for (const v of valids(items, path)) out.push({ what: `an item ${v.what}`, value: [v.value] });
      return out;
    }
    case 'object': {
      if (schema.patternProperties) {
        const [key, value] = Object.entries(schema.patternProperties)[0] ?? ['', {}];
        const longestKey = Number(/,(\d+)\}/.exec(key)?.[1] ?? 16);
        const out: Variant[] = [
          { what: 'empty', value: {} },
          { what: 'the longest key', value: { ['k'.repeat(longestKey)]: 'v' } },
        ];
        if (schema.maxProperties !== undefined) {
          out.push({
            what: 'the most keys',
            value: Object.fromEntries(range(schema.maxProperties).map((i) => [`k${i}`, 'v'])),
          });
        }
        for (const v of valids(value, `${path}.*`)) out.push({ what: `a value ${v.what}`, value: { k: v.value } });
        return out;
      }
      const base = baseOf(schema, path);
      const out: Variant[] = [{ what: 'the least', value: base }];
      for (const [name, property] of Object.entries(schema.properties ?? {})) {
        for (const v of valids(property, join(path, name))) {
          out.push({ what: `${name} ${v.what}`, value: { ...withoutRivals(base, schema, name), [name]: v.value } });
        }
      }
      return out;
    }
    default:
      throw new Error(`no generator for ${JSON.stringify(schema)} at ${path}`);
  }
}

/** Values that break one constraint each. */
function invalids(schema: Schema, path: string): Variant[] {
  if (isDuration(schema)) {
    return [
      { what: 'negative', value: -1 },
      { what: 'no duration', value: 'soon' },
      { what: 'a unit of days', value: '1d' },
      { what: 'a boolean', value: true },
    ];
  }
  if (schema.anyOf) {
    return [
      { what: 'outside the set', value: 'RUNNING' },
      { what: 'a boolean', value: true },
    ];
  }
  switch (schema.type ?? 'untyped') {
    case 'string': {
      const sample = SAMPLES[path] ?? ((n: number) => 'x'.repeat(n));
      const out: Variant[] = [{ what: 'a number', value: 1 }];
      if (schema.minLength !== undefined) out.push({ what: 'too short', value: 'x'.repeat(schema.minLength - 1) });
      if (schema.maxLength !== undefined) out.push({ what: 'too long', value: sample(schema.maxLength + 1) });
      if (schema.pattern !== undefined) out.push({ what: 'not matching', value: '~' });
      return out;
    }
    case 'integer':
      return [
        { what: 'under the least', value: (schema.minimum ?? 0) - 1 },
        { what: 'over the most', value: (schema.maximum ?? 0) + 1 },
        { what: 'fractional', value: (schema.minimum ?? 0) + 0.5 },
        { what: 'a string', value: String(schema.minimum) },
      ];
    case 'array': {
      const items = schema.items ?? {};
      const item = first(valids(items, path));
      const out: Variant[] = [{ what: 'a string', value: 'x' }];
      if (schema.maxItems !== undefined) {
        out.push({ what: 'too many items', value: range(schema.maxItems + 1).map((i) => distinct(item, i)) });
      }
      for (const v of invalids(items, path)) out.push({ what: `an item ${v.what}`, value: [v.value] });
      return out;
    }
    case 'object': {
      const out: Variant[] = [{ what: 'a string', value: 'x' }];
      if (schema.patternProperties) {
        const [key, value] = Object.entries(schema.patternProperties)[0] ?? ['', {}];
        const longestKey = Number(/,(\d+)\}/.exec(key)?.[1] ?? 16);
        out.push({ what: 'a key too long', value: { ['k'.repeat(longestKey + 1)]: 'v' } });
        out.push({ what: 'an empty key', value: { '': 'v' } });
        if (schema.maxProperties !== undefined) {
          const keys = range(schema.maxProperties + 1).map((i) => [`k${i}`, 'v']);
          out.push({ what: 'too many keys', value: Object.fromEntries(keys) });
        }
        for (const v of invalids(value, `${path}.*`)) out.push({ what: `a value ${v.what}`, value: { k: v.value } });
        return out;
      }
      const base = baseOf(schema, path);
      out.push({ what: 'an unknown field', value: { ...base, colour: 'blue' } });
      for (const name of schema.required ?? []) {
        const { [name]: _dropped, ...rest } = base;
        out.push({ what: `no ${name}`, value: rest });
      }
      if (schema.oneOf) {
        const both: Json = {};
        for (const key of schema.oneOf.map((o) => o.required[0] ?? '')) {
          both[key] = first(valids(schema.properties?.[key] ?? {}, join(path, key)));
        }
        out.push({ what: 'every one of its alternatives', value: { ...base, ...both } });
        out.push({ what: 'none of its alternatives', value: withoutRivals(base, schema, '') });
      }
      for (const [name, property] of Object.entries(schema.properties ?? {})) {
        for (const v of invalids(property, join(path, name))) {
          out.push({ what: `${name} ${v.what}`, value: { ...withoutRivals(base, schema, name), [name]: v.value } });
        }
      }
      return out;
    }
    default:
      throw new Error(`no generator for ${JSON.stringify(schema)} at ${path}`);
  }
}

/** The required fields, and the first alternative of a oneOf. */
function baseOf(schema: Schema, path: string): Json {
  const names = [...(schema.required ?? []), ...(schema.oneOf?.[0]?.required ?? [])];
  return Object.fromEntries(
    names.map((name) => [name, first(valids(schema.properties?.[name] ?? {}, join(path, name)))]),
  );
}

/** The base without the other alternatives of a oneOf `name` is one of (or without all of them for ''). */
function withoutRivals(base: Json, schema: Schema, name: string): Json {
  const alternatives = (schema.oneOf ?? []).map((o) => o.required[0] ?? '');
  if (name !== '' && !alternatives.includes(name)) return base;
  return Object.fromEntries(Object.entries(base).filter(([key]) => !alternatives.includes(key) || key === name));
}

function join(path: string, name: string): string {
  return path === '' ? name : `${path}.${name}`;
}

function first(variants: Variant[]): unknown {
  return variants[0]?.value;
}

/** Items that differ from each other where the core wants them to (check ids). */
function distinct(item: unknown, i: number): unknown {
  return typeof item === 'object' && item !== null && !Array.isArray(item) ? { ...item, id: `c${i}` } : item;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** Every variant of one top-level field on a body that is otherwise valid (with a ttl, which some fields need). */
function cases(): { what: string; body: Json }[] {
  const schema = InstanceRegistrationSchema as Schema;
  const base: Json = { host: 'h', port: 80, ttl: '10s' };
  const out = [{ what: 'the least registration', body: base }];
  for (const v of [...valids(schema, ''), ...invalids(schema, '')]) {
    if (typeof v.value === 'object' && v.value !== null && !v.what.startsWith('no ')) {
      out.push({ what: v.what, body: ownHost({ ...base, ...(v.value as Json) }) });
    }
  }
  // Dropping a required field must drop it from the merged body too.
  for (const name of schema.required ?? []) {
    const { [name]: _dropped, ...rest } = base;
    out.push({ what: `no ${name}`, body: rest });
  }
  return out;
}

/** The body with the host its first tcp check targets: a check probes its own instance (issue #13). */
function ownHost(body: Json): Json {
  const tcp = (body['checks'] as { tcp?: unknown }[] | undefined)?.[0]?.tcp;
  if (typeof tcp !== 'string' || !tcp.includes(':')) return body;
  return { ...body, host: tcp.slice(0, tcp.lastIndexOf(':')) };
}

/** Rules of the core that no one field's schema states: the document takes these, every transport refuses them. */
const CORE_RULES: [string, Json][] = [
  ['a ttl under a second', { ttl: '500ms' }],
  ['a ttl of 0', { ttl: 0 }],
  ['deregisterAfter without a ttl', { ttl: undefined, deregisterAfter: '1m' }],
  ['deregisterAfter shorter than the ttl', { deregisterAfter: '5s' }],
  ['deregisterCriticalAfter without a ttl or checks', { ttl: undefined, deregisterCriticalAfter: '1m' }],
  ['a check timeout longer than its interval', { checks: [{ http: 'http://h/', interval: '1s', timeout: '2s' }] }],
  ['a check interval under the minimum (1s)', { checks: [{ http: 'http://h/', interval: '500ms' }] }],
  ['an http check on another host', { checks: [{ http: 'http://10.0.0.9/health', interval: '1s' }] }],
  ['a tcp check on another host', { checks: [{ tcp: 'db.internal:5432', interval: '1s' }] }],
  [
    'two checks with one id',
    {
      checks: [
        { tcp: 'h:1', interval: '1s' },
        { tcp: 'h:1', interval: '2s' },
      ],
    },
  ],
  ['a tcp check without a port', { checks: [{ tcp: 'host', interval: '1s' }] }],
  ['an http check that is no URL', { checks: [{ http: 'http://[x/', interval: '1s' }] }],
];

type Verdict = 'accepted' | 'refused';

/** An answer without what differs between two registrations of one body: its id, indexes and timestamps. */
function withoutMoments(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutMoments);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== 'id' && !/(At|Index|Heartbeat)$/.test(key))
      .map(([key, v]) => [key, withoutMoments(v)]),
  );
}

describe('registration validation', () => {
  let app: FastifyInstance;
  let registry: Registry;
  let documented: (body: unknown) => boolean;
  let n = 0;
  let url: string;
  /** Registrations over the socket that reached Fastify's hooks: none may, the fast path answers them all. */
  const routed: string[] = [];

  beforeAll(async () => {
    registry = await createRegistry({ ...CORE_OPTIONS, store: createMemoryStore(), autoSweep: false });
    app = buildApi({ registry, logger: pino({ level: 'silent' }), ...API_OPTIONS });
    addXmlRpcRoutes(app, registry, XMLRPC_OPTIONS);
    app.addHook('onRequest', (request, _reply, done) => {
      if (request.url.includes('/instances/fast-')) routed.push(request.url);
      done();
    });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<{
      paths: Record<string, { put: { requestBody: { content: { 'application/json': { schema: object } } } } }>;
    }>();
    const body = doc.paths['/v1/services/{service}/instances/{id}']?.put.requestBody.content['application/json'].schema;
    documented = new Ajv({ strict: false }).compile(body ?? false);
  });

  afterAll(async () => {
    await app.close();
    await registry.close();
  });

  const rest = async (body: Json): Promise<Verdict> => {
    const reply = await app.inject({ method: 'PUT', url: `/v1/services/web/instances/rest-${++n}`, payload: body });
    const fast = await fetch(`${url}/v1/services/web/instances/fast-${n}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const fastBody = await fast.text();
    expect(routed).toEqual([]);
    expect(fast.status).toBe(reply.statusCode);
    expect(fast.headers.get('content-type')).toBe(reply.headers['content-type']);
    if (reply.statusCode === 201) {
      expect(withoutMoments(JSON.parse(fastBody))).toEqual(withoutMoments(reply.json()));
      return 'accepted';
    }
    expect(reply.statusCode).toBe(400);
    expect(reply.json()).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(fastBody).toBe(reply.body);
    return 'refused';
  };

  const xmlRpc = async (body: Json): Promise<Verdict> => {
    const struct = { ...body, service: 'web', id: `xmlrpc-${++n}` } as XmlRpcValue;
    const payload = serializeMethodCall('registry.register', [struct]);
    const reply = await app.inject({ method: 'POST', url: '/RPC2', payload, headers: { 'content-type': 'text/xml' } });
    try {
      await new Deserializer().deserializeMethodResponse(reply.body);
      return 'accepted';
    } catch (err) {
      // 1400 is INVALID_ARGUMENT; -32602 a value of the wrong XML-RPC type (a boolean for the status).
      expect([1400, -32602]).toContain((err as { faultCode?: number }).faultCode);
      return 'refused';
    }
  };

  const core = async (body: Json): Promise<Verdict> => {
    try {
      await registry.register({ ...(body as { host: string; port: number }), service: 'web', id: `core-${++n}` });
      return 'accepted';
    } catch (err) {
      expect(err).toBeInstanceOf(RegistryError);
      expect((err as RegistryError).code).toBe('INVALID_ARGUMENT');
      return 'refused';
    }
  };

  const all = cases();

  it('generates valid inputs and inputs breaking every constraint of every field', () => {
    const fields = Object.keys(InstanceRegistrationSchema.properties);
    const refused = all.filter(({ body }) => !documented(body));
    const accepted = all.filter(({ body }) => documented(body));
    for (const field of fields) {
      expect(accepted.some(({ what }) => what.startsWith(field))).toBe(true);
      expect(refused.some(({ what }) => what.startsWith(field))).toBe(true);
    }
    expect(refused.length).toBeGreaterThan(80);
  });

  it.each(all)('judges $what alike in OpenAPI, REST, XML-RPC and the core', async ({ body }) => {
    const expected: Verdict = documented(body) ? 'accepted' : 'refused';
    expect({ rest: await rest(body), xmlRpc: await xmlRpc(body), core: await core(body) }).toEqual({
      rest: expected,
      xmlRpc: expected,
      core: expected,
    });
  });

  it.each(CORE_RULES)('refuses %s on every transport, a rule beyond the schema', async (_what, change) => {
    const body = JSON.parse(JSON.stringify({ host: 'h', port: 80, ttl: '10s', ...change })) as Json;
    expect(documented(body)).toBe(true);
    expect({ rest: await rest(body), xmlRpc: await xmlRpc(body), core: await core(body) }).toEqual({
      rest: 'refused',
      xmlRpc: 'refused',
      core: 'refused',
    });
  });
});
