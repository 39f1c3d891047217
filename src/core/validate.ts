import { RegistryError } from '../errors/index.js';
import type { InstanceRecord } from '../store/index.js';
import { INSTANCE_ID_PATTERN, INSTANCE_STATUSES, SERVICE_NAME_PATTERN, parseDuration } from '../wire/index.js';
import type { InstanceRegistration, InstanceStatus } from '../wire/index.js';

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
} as const;

export type RecordFields = Omit<InstanceRecord, 'registeredAt' | 'updatedAt' | 'createIndex' | 'modifyIndex'>;

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
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > limits.count) fail(field, `must be a list of at most ${limits.count} strings`);
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
    if (ms < fields.ttlMs || ms > 30 * MAX_TTL_MS) fail('deregisterAfter', 'must be at least the ttl and at most 30 days');
    fields.deregisterAfterMs = ms;
  }
  return fields;
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
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > LIMITS.endpoints) {
    fail('endpoints', `must be a list of at most ${LIMITS.endpoints} {type, url} objects`);
  }
  return value.map((e: unknown, i) => {
    if (typeof e !== 'object' || e === null) fail(`endpoints[${i}]`, 'must be an object {type, url}');
    const { type, url } = e as Record<string, unknown>;
    return { type: checkString(type, `endpoints[${i}].type`, 64), url: checkString(url, `endpoints[${i}].url`, LIMITS.url) };
  });
}

function checkMetadata(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('metadata', 'must be an object of strings');
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
