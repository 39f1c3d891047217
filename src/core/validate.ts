import { RegistryError } from '../errors/index.js';
import type { CheckSpec, InstanceRecord } from '../store/index.js';
import { INSTANCE_ID_PATTERN, INSTANCE_STATUSES, SERVICE_NAME_PATTERN, parseDuration } from '../wire/index.js';
import type { CheckDefinition, InstanceRegistration, InstanceStatus } from '../wire/index.js';

/**
 * The registry's own checks on what it is given. The REST API validates shapes with JSON schema first; these
 * rules hold for every transport (XML-RPC and the seed routes reach the core without that schema).
 */

const SERVICE_NAME = new RegExp(SERVICE_NAME_PATTERN);
const INSTANCE_ID = new RegExp(INSTANCE_ID_PATTERN);
const MIN_TTL_MS = 1_000;
const MAX_TTL_MS = 24 * 3_600_000;

export const LIMITS = {
  host: 253,
  url: 1_024,
  tags: 64,
  tag: 256,
  metadataKeys: 64,
  metadataKey: 128,
  metadataValue: 512,
  endpoints: 32,
  roles: 64,
  zone: 128,
  checks: 8,
  checkId: 128,
  reason: 512,
} as const;

/** Check timing bounds. Sub-second intervals are allowed for tests and local setups; production uses seconds. */
export const CHECK_LIMITS = {
  minIntervalMs: 100,
  maxIntervalMs: 24 * 3_600_000,
  minTimeoutMs: 10,
  defaultTimeoutMs: 5_000,
  defaultSuccessBefore: 1,
  defaultFailuresBefore: 3,
  maxThreshold: 100,
  minDeregisterCriticalAfterMs: 1_000,
} as const;

/**
 * Shared, frozen empties for absent lists and metadata: records are never mutated in place, and at 100,000
 * instances one empty array each would cost megabytes.
 */
const NONE = Object.freeze([]) as unknown as never[];
const NO_METADATA: Record<string, string> = Object.freeze({});

/** What a registration says of an instance: the record without what the registry and its operators add. */
export type RecordFields = Omit<
  InstanceRecord,
  'registeredAt' | 'updatedAt' | 'createIndex' | 'modifyIndex' | 'health' | 'maintenance'
>;

export function checkServiceName(name: unknown): string {
  if (typeof name !== 'string' || !SERVICE_NAME.test(name)) {
    throw new RegistryError(
      'INVALID_ARGUMENT',
      `service name ${JSON.stringify(name)} is invalid: use 1–63 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return name;
}

export function checkInstanceId(id: unknown): string {
  if (typeof id !== 'string' || !INSTANCE_ID.test(id)) {
    throw new RegistryError(
      'INVALID_ARGUMENT',
      `instance id ${JSON.stringify(id)} is invalid: use 1–128 letters, digits, '.', '_', ':', '@' or '-', starting with a letter or digit`,
    );
  }
  return id;
}

export function isInstanceStatus(value: unknown): value is InstanceStatus {
  return typeof value === 'string' && (INSTANCE_STATUSES as readonly string[]).includes(value);
}

export function checkStatus(value: unknown): InstanceStatus {
  if (!isInstanceStatus(value)) {
    throw new RegistryError(
      'INVALID_ARGUMENT',
      `status ${JSON.stringify(value)} is not one of ${INSTANCE_STATUSES.join(', ')}`,
    );
  }
  return value;
}

function fail(field: string, rule: string): never {
  throw new RegistryError('INVALID_ARGUMENT', `${field}: ${rule}`);
}

function checkString(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    fail(field, `must be a non-empty string of at most ${max} characters`);
  }
  return value;
}

function checkStrings(value: unknown, field: string, limits: { count: number; each: number }): string[] {
  if (value === undefined) return NONE;
  if (!Array.isArray(value) || value.length > limits.count)
    fail(field, `must be a list of at most ${limits.count} strings`);
  return value.map((v, i) => checkString(v, `${field}[${i}]`, limits.each));
}

/** Validates a registration and returns the record fields in a fixed key order (so equal inputs compare equal). */
export function normalizeRegistration(service: string, id: string, body: InstanceRegistration): RecordFields {
  const fields: RecordFields = {
    service: checkServiceName(service),
    id: checkInstanceId(id),
    host: checkString(body.host, 'host', LIMITS.host),
    port: checkPort(body.port),
    endpoints: checkEndpoints(body.endpoints),
    status: body.status === undefined ? 'UP' : checkStatus(body.status),
    tags: checkStrings(body.tags, 'tags', { count: LIMITS.tags, each: LIMITS.tag }),
    metadata: checkMetadata(body.metadata),
    weight: checkWeight(body.weight),
    authorizedRoles: checkStrings(body.authorizedRoles, 'authorizedRoles', { count: LIMITS.roles, each: LIMITS.tag }),
  };
  if (body.url !== undefined) {
    const url = checkString(body.url, 'url', LIMITS.url);
    if (!url.startsWith('/')) fail('url', 'must be a path prefix starting with "/" (such as "/tickets")');
    fields.url = url;
  }
  if (body.zone !== undefined) fields.zone = checkString(body.zone, 'zone', LIMITS.zone);
  if (body.ttl !== undefined) {
    const ttlMs = parseDuration(body.ttl, 'ttl');
    if (ttlMs < MIN_TTL_MS || ttlMs > MAX_TTL_MS) fail('ttl', 'must be between 1s and 24h');
    fields.ttlMs = ttlMs;
  }
  if (body.deregisterAfter !== undefined) {
    if (fields.ttlMs === undefined) fail('deregisterAfter', 'needs a ttl');
    const ms = parseDuration(body.deregisterAfter, 'deregisterAfter');
    if (ms < fields.ttlMs || ms > 30 * MAX_TTL_MS)
      fail('deregisterAfter', 'must be at least the ttl and at most 30 days');
    fields.deregisterAfterMs = ms;
  }
  if (body.checks !== undefined) {
    const checks = checkChecks(body.checks);
    if (checks.length > 0) fields.checks = checks;
  }
  if (body.deregisterCriticalAfter !== undefined) {
    if (fields.ttlMs === undefined && fields.checks === undefined) {
      fail('deregisterCriticalAfter', 'needs a ttl or checks (nothing else can make the instance critical)');
    }
    const ms = parseDuration(body.deregisterCriticalAfter, 'deregisterCriticalAfter');
    if (ms < CHECK_LIMITS.minDeregisterCriticalAfterMs || ms > 30 * MAX_TTL_MS) {
      fail('deregisterCriticalAfter', 'must be between 1s and 30 days');
    }
    fields.deregisterCriticalAfterMs = ms;
  }
  return fields;
}

/** A maintenance reason: optional, at most 512 characters. */
export function checkReason(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value !== 'string' || value.length > LIMITS.reason)
    fail('reason', `must be a string of at most ${LIMITS.reason} characters`);
  return value;
}

function checkChecks(value: unknown): CheckSpec[] {
  if (!Array.isArray(value) || value.length > LIMITS.checks)
    fail('checks', `must be a list of at most ${LIMITS.checks} checks`);
  const specs = value.map((c: unknown, i) => checkCheck(c, `checks[${i}]`));
  const ids = new Set<string>();
  for (const spec of specs) {
    if (ids.has(spec.id)) fail('checks', `two checks are named "${spec.id}": give them distinct ids`);
    ids.add(spec.id);
  }
  return specs;
}

function checkCheck(value: unknown, field: string): CheckSpec {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(field, 'must be an object such as { "http": "http://host:port/health", "interval": "10s" }');
  }
  // The REST schema checks shapes, but other transports reach here without it: trust nothing.
  const def = value as Partial<CheckDefinition>;
  if ((def.http === undefined) === (def.tcp === undefined)) fail(field, 'needs exactly one of "http" or "tcp"');
  const kind = def.http === undefined ? 'tcp' : 'http';
  const target = kind === 'http' ? checkHttpTarget(def.http, `${field}.http`) : checkTcpTarget(def.tcp, `${field}.tcp`);
  if (def.interval === undefined) fail(`${field}.interval`, 'is required (e.g. "10s")');
  const intervalMs = parseDuration(def.interval, `${field}.interval`);
  if (intervalMs < CHECK_LIMITS.minIntervalMs || intervalMs > CHECK_LIMITS.maxIntervalMs) {
    fail(`${field}.interval`, 'must be between 100ms and 24h');
  }
  let timeoutMs = Math.min(CHECK_LIMITS.defaultTimeoutMs, intervalMs);
  if (def.timeout !== undefined) {
    timeoutMs = parseDuration(def.timeout, `${field}.timeout`);
    // A probe never outlives its interval, so one check never has two probes in flight.
    if (timeoutMs < CHECK_LIMITS.minTimeoutMs || timeoutMs > intervalMs)
      fail(`${field}.timeout`, 'must be between 10ms and the interval');
  }
  return {
    id: def.id === undefined ? `${kind}:${target}` : checkString(def.id, `${field}.id`, LIMITS.checkId),
    kind,
    target,
    intervalMs,
    timeoutMs,
    successBefore: checkThreshold(def.successBefore, `${field}.successBefore`, CHECK_LIMITS.defaultSuccessBefore),
    failuresBefore: checkThreshold(def.failuresBefore, `${field}.failuresBefore`, CHECK_LIMITS.defaultFailuresBefore),
  };
}

function checkHttpTarget(value: unknown, field: string): string {
  const text = checkString(value, field, LIMITS.url);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    fail(field, `"${text}" is not a URL (use e.g. "http://10.0.0.5:8080/health")`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(field, 'must be an http:// or https:// URL');
  return text;
}

function checkTcpTarget(value: unknown, field: string): string {
  const text = checkString(value, field, LIMITS.host + 8);
  const at = text.lastIndexOf(':');
  const host = text.slice(0, at);
  const port = Number(text.slice(at + 1));
  if (at <= 0 || !/^\d{1,5}$/.test(text.slice(at + 1)) || port < 1 || port > 65_535 || host === '[]') {
    fail(field, `"${text}" is not host:port (use e.g. "10.0.0.5:5432" or "[::1]:5432")`);
  }
  return text;
}

function checkThreshold(value: unknown, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > CHECK_LIMITS.maxThreshold) {
    fail(field, `must be an integer from 1 to ${CHECK_LIMITS.maxThreshold}`);
  }
  return value;
}

function checkPort(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65_535) {
    fail('port', 'must be an integer from 1 to 65535');
  }
  return value;
}

function checkWeight(value: unknown): number {
  if (value === undefined) return 100;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 1_000) {
    fail('weight', 'must be an integer from 1 to 1000');
  }
  return value;
}

function checkEndpoints(value: unknown): InstanceRecord['endpoints'] {
  if (value === undefined) return NONE;
  if (!Array.isArray(value) || value.length > LIMITS.endpoints) {
    fail('endpoints', `must be a list of at most ${LIMITS.endpoints} {type, url} objects`);
  }
  return value.map((e: unknown, i) => {
    if (typeof e !== 'object' || e === null) fail(`endpoints[${i}]`, 'must be an object {type, url}');
    const { type, url } = e as Record<string, unknown>;
    return {
      type: checkString(type, `endpoints[${i}].type`, 64),
      url: checkString(url, `endpoints[${i}].url`, LIMITS.url),
    };
  });
}

function checkMetadata(value: unknown): Record<string, string> {
  if (value === undefined) return NO_METADATA;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail('metadata', 'must be an object of strings');
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > LIMITS.metadataKeys) fail('metadata', `must have at most ${LIMITS.metadataKeys} keys`);
  const out: Record<string, string> = {};
  for (const [key, v] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    checkString(key, 'metadata key', LIMITS.metadataKey);
    if (typeof v !== 'string' || v.length > LIMITS.metadataValue) {
      fail(`metadata.${key}`, `must be a string of at most ${LIMITS.metadataValue} characters`);
    }
    out[key] = v;
  }
  return out;
}
