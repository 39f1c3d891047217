import type { ValueError } from '@sinclair/typebox/errors';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { RegistryError } from '../errors/index.js';
import type { CheckSpec, InstanceRecord } from '../store/index.js';
import {
  INSTANCE_ID_PATTERN,
  INSTANCE_STATUSES,
  DURATION_DESCRIPTION,
  InstanceRegistrationSchema,
  LIMITS,
  SERVICE_NAME_PATTERN,
  formatDuration,
  parseDuration,
} from '../wire/index.js';
import type { CheckDefinition, InstanceRegistration, InstanceStatus } from '../wire/index.js';
import type { CheckTargets } from './check-targets.js';

/**
 * The registry's own checks on what it is given, for every transport. Field by field, a registration is checked
 * against the one schema in wire/ (the REST API's Fastify validation uses the same schema first); here are only the
 * rules one field's schema cannot state: those spanning several fields (a check targets its own instance's host),
 * durations' ranges, parsable URLs and addresses, distinct check ids. Then the registration is normalized into
 * record fields.
 */

const SERVICE_NAME = new RegExp(SERVICE_NAME_PATTERN);
const INSTANCE_ID = new RegExp(INSTANCE_ID_PATTERN);
const MIN_TTL_MS = 1_000;
const MAX_TTL_MS = 24 * 3_600_000;
const REGISTRATION = TypeCompiler.Compile(InstanceRegistrationSchema);

/**
 * Check timing bounds. The shortest interval is the configuration's (`checks.minIntervalMs`, 1 s by default, issue
 * #13): the registry probes on its instances' behalf, and a flood of probes is its own traffic.
 */
const CHECK_LIMITS = {
  maxIntervalMs: 24 * 3_600_000,
  minTimeoutMs: 10,
  defaultTimeoutMs: 5_000,
  defaultSuccessBefore: 1,
  defaultFailuresBefore: 3,
  minDeregisterCriticalAfterMs: 1_000,
} as const;

/**
 * Shared, frozen empties for absent lists and metadata: records are never mutated in place, and at 100,000
 * instances one empty array each would cost megabytes.
 */
const NONE = Object.freeze([]) as unknown as never[];
const NO_METADATA: Record<string, string> = Object.freeze({});

/** The rules a registration's checks follow that the configuration sets (issue #13). */
export interface CheckRules {
  minIntervalMs: number;
  /** Where a check may point besides its instance's own host. */
  targets: CheckTargets;
}

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

/** `/checks/0/http` as `checks[0].http`, the way the other messages name fields. */
function fieldName(path: string): string {
  return path
    .split('/')
    .slice(1)
    .map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : i === 0 ? part : `.${part}`))
    .join('');
}

/** A schema refusal in words: "Expected union value" says less than what the union takes. */
function describe(error: ValueError): string {
  let what = error.message;
  if ('anyOf' in error.schema) {
    const options = error.schema['anyOf'] as { const?: unknown }[];
    what = options.every((option) => 'const' in option)
      ? `must be one of ${options.map((option) => String(option.const)).join(', ')}`
      : `must be a duration: ${DURATION_DESCRIPTION}`;
  }
  return error.path === '' ? `registration: ${what}` : `${fieldName(error.path)}: ${what}`;
}

/** Refuses what the registration schema refuses, naming the first field at fault. */
function checkShape(body: unknown): asserts body is InstanceRegistration {
  if (REGISTRATION.Check(body)) return;
  const error = REGISTRATION.Errors(body).First();
  throw new RegistryError('INVALID_ARGUMENT', error ? describe(error) : 'registration: is invalid');
}

/**
 * Validates a registration (any value: transports other than REST reach here without a schema) and returns the
 * record fields in a fixed key order, with defaults filled in (so equal inputs compare equal).
 */
export function normalizeRegistration(
  key: { service: string; id: string },
  body: unknown,
  rules: CheckRules,
): RecordFields {
  // Names first, then the body: a refusal names the first field at fault in this order.
  const names = [checkServiceName(key.service), checkInstanceId(key.id)] as const;
  checkShape(body);
  const record: RecordFields = {
    service: names[0],
    id: names[1],
    host: body.host,
    port: body.port,
    endpoints: body.endpoints?.map(({ type, url }) => ({ type, url })) ?? NONE,
    status: body.status ?? 'UP',
    tags: body.tags ? [...body.tags] : NONE,
    metadata: body.metadata === undefined ? NO_METADATA : sortedMetadata(body.metadata),
    weight: body.weight ?? 100,
    authorizedRoles: body.authorizedRoles ? [...body.authorizedRoles] : NONE,
  };
  if (body.url !== undefined) record.url = body.url;
  if (body.zone !== undefined) record.zone = body.zone;
  if (body.ttl !== undefined) {
    const ttlMs = parseDuration(body.ttl, 'ttl');
    if (ttlMs < MIN_TTL_MS || ttlMs > MAX_TTL_MS) fail('ttl', 'must be between 1s and 24h');
    record.ttlMs = ttlMs;
  }
  if (body.deregisterAfter !== undefined) {
    if (record.ttlMs === undefined) fail('deregisterAfter', 'needs a ttl');
    const ms = parseDuration(body.deregisterAfter, 'deregisterAfter');
    if (ms < record.ttlMs || ms > 30 * MAX_TTL_MS)
      fail('deregisterAfter', 'must be at least the ttl and at most 30 days');
    record.deregisterAfterMs = ms;
  }
  if (body.checks !== undefined) {
    const checks = checkChecks(body.checks, body.host, rules);
    if (checks.length > 0) record.checks = checks;
  }
  if (body.deregisterCriticalAfter !== undefined) {
    if (record.ttlMs === undefined && record.checks === undefined) {
      fail('deregisterCriticalAfter', 'needs a ttl or checks (nothing else can make the instance critical)');
    }
    const ms = parseDuration(body.deregisterCriticalAfter, 'deregisterCriticalAfter');
    if (ms < CHECK_LIMITS.minDeregisterCriticalAfterMs || ms > 30 * MAX_TTL_MS) {
      fail('deregisterCriticalAfter', 'must be between 1s and 30 days');
    }
    record.deregisterCriticalAfterMs = ms;
  }
  return record;
}

/** A maintenance reason: optional, at most 512 characters. */
export function checkReason(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value !== 'string' || value.length > LIMITS.reason)
    fail('reason', `must be a string of at most ${LIMITS.reason} characters`);
  return value;
}

function checkChecks(definitions: CheckDefinition[], host: string, rules: CheckRules): CheckSpec[] {
  const specs = definitions.map((definition, i) => checkCheck(definition, `checks[${i}]`, { host, rules }));
  const ids = new Set<string>();
  for (const spec of specs) {
    if (ids.has(spec.id)) fail('checks', `two checks are named "${spec.id}": give them distinct ids`);
    ids.add(spec.id);
  }
  return specs;
}

function checkCheck(def: CheckDefinition, field: string, instance: { host: string; rules: CheckRules }): CheckSpec {
  const { host, rules } = instance;
  // The schema's oneOf says this to JSON Schema validators; TypeBox's check does not read oneOf.
  if ((def.http === undefined) === (def.tcp === undefined)) fail(field, 'needs exactly one of "http" or "tcp"');
  const kind = def.http === undefined ? 'tcp' : 'http';
  const [target, targetHost] =
    def.http === undefined ? checkTcpTarget(def.tcp ?? '', `${field}.tcp`) : checkHttpTarget(def.http, `${field}.http`);
  if (!rules.targets.allows(targetHost, host)) {
    fail(
      `${field}.${kind}`,
      `targets ${JSON.stringify(targetHost)}, not the instance's host ${JSON.stringify(host)}: a check probes its own ` +
        "instance (by the host it registered, or an address in the registry's --checks-allow-hosts)",
    );
  }
  const intervalMs = parseDuration(def.interval, `${field}.interval`);
  if (intervalMs < rules.minIntervalMs || intervalMs > CHECK_LIMITS.maxIntervalMs) {
    fail(`${field}.interval`, `must be between ${formatDuration(rules.minIntervalMs)} and 24h`);
  }
  let timeoutMs = Math.min(CHECK_LIMITS.defaultTimeoutMs, intervalMs);
  if (def.timeout !== undefined) {
    timeoutMs = parseDuration(def.timeout, `${field}.timeout`);
    // A probe never outlives its interval, so one check never has two probes in flight.
    if (timeoutMs < CHECK_LIMITS.minTimeoutMs || timeoutMs > intervalMs)
      fail(`${field}.timeout`, 'must be between 10ms and the interval');
  }
  return {
    id: def.id ?? `${kind}:${target}`,
    kind,
    target,
    intervalMs,
    timeoutMs,
    successBefore: def.successBefore ?? CHECK_LIMITS.defaultSuccessBefore,
    failuresBefore: def.failuresBefore ?? CHECK_LIMITS.defaultFailuresBefore,
  };
}

/** The target as given, and the host it names (as the probe's URL reads it). */
function checkHttpTarget(text: string, field: string): [string, string] {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    fail(field, `"${text}" is not a URL (use e.g. "http://10.0.0.5:8080/health")`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(field, 'must be an http:// or https:// URL');
  return [text, url.hostname.replace(/^\[(.*)\]$/, '$1')];
}

/** The target as given, and its host without brackets (as the probe connects to it). */
function checkTcpTarget(text: string, field: string): [string, string] {
  const at = text.lastIndexOf(':');
  const host = text.slice(0, at);
  const port = Number(text.slice(at + 1));
  if (at <= 0 || !/^\d{1,5}$/.test(text.slice(at + 1)) || port < 1 || port > 65_535 || host === '[]') {
    fail(field, `"${text}" is not host:port (use e.g. "10.0.0.5:5432" or "[::1]:5432")`);
  }
  return [text, host.replace(/^\[(.*)\]$/, '$1')];
}

/** Metadata in key order, so two registrations that say the same compare equal. */
function sortedMetadata(metadata: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    out[key] = value;
  }
  return out;
}
