/**
 * A service definition of `switchboard agent` (issue #15): one file per service in the agent's config directory,
 * JSON or YAML. The schema below is the one statement of its shape; the instance fields reuse the registration schema
 * of wire/, so a definition takes exactly what a registration takes. `parseDefinition` reports every problem of a
 * file at once, each as `key: reason`, and the registrar prefixes the file name.
 */
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { parse as parseYaml } from 'yaml';
import {
  FALLBACK_METADATA_KEY,
  InstanceRegistrationSchema,
  SERVICE_NAME_PATTERN,
  durationSchema,
  parseDuration,
} from '../wire/index.js';
import type { CheckDefinition, Duration, InstanceRegistration } from '../wire/index.js';
import { SCALE_METRICS } from './scaling.js';
import type { ScaleRule } from './scaling.js';

/** The file names the agent reads; anything else in the directory (editor backups, READMEs) is ignored. */
export const DEFINITION_FILE = /^[^.].*\.(json|ya?ml)$/;

const fields = InstanceRegistrationSchema.properties;
const CheckSchema = fields.checks.items;

/** The fields a definition may set for all its instances. */
const shared = {
  url: fields.url,
  tags: fields.tags,
  metadata: fields.metadata,
  endpoints: fields.endpoints,
  weight: fields.weight,
  zone: fields.zone,
  authorizedRoles: fields.authorizedRoles,
  ttl: fields.ttl,
  deregisterAfter: fields.deregisterAfter,
  deregisterCriticalAfter: fields.deregisterCriticalAfter,
};

const StaticInstanceSchema = Type.Object(
  {
    ...shared,
    host: fields.host,
    port: fields.port,
    id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'default <host>:<port>' })),
    checks: fields.checks,
  },
  { additionalProperties: false },
);

const PortSchema = Type.Union([
  Type.Literal('auto'),
  Type.Tuple([Type.Integer({ minimum: 1, maximum: 65_535 }), Type.Integer({ minimum: 1, maximum: 65_535 })]),
]);

const RunSchema = Type.Object(
  {
    command: Type.String({ minLength: 1 }),
    args: Type.Optional(Type.Array(Type.String())),
    env: Type.Optional(Type.Record(Type.String(), Type.String())),
    cwd: Type.Optional(Type.String({ minLength: 1 })),
    /** `"auto"`: a port the OS picks; `[from, to]`: the first free one in the range. */
    port: Type.Optional(PortSchema),
    /** The address the processes are registered at (default 127.0.0.1). */
    host: Type.Optional(fields.host),
    instances: Type.Object(
      { min: Type.Integer({ minimum: 0, maximum: 100 }), max: Type.Integer({ minimum: 1, maximum: 100 }) },
      { additionalProperties: false },
    ),
    startTimeout: Type.Optional(durationSchema('how long a process may take to pass its check (default 30s)')),
    drain: Type.Optional(durationSchema('wait between deregistering a process and stopping it (default 1s)')),
    grace: Type.Optional(durationSchema('wait between SIGTERM and SIGKILL (default 10s)')),
  },
  { additionalProperties: false },
);

const ScaleSchema = Type.Object(
  {
    metric: Type.Union(SCALE_METRICS.map((metric) => Type.Literal(metric))),
    target: Type.Number({ exclusiveMinimum: 0 }),
    cooldown: durationSchema('time between two scaling steps'),
  },
  { additionalProperties: false },
);

export const DefinitionSchema = Type.Object(
  {
    service: Type.String({ pattern: SERVICE_NAME_PATTERN }),
    ...shared,
    instances: Type.Optional(Type.Array(StaticInstanceSchema, { minItems: 1, maxItems: 100 })),
    run: Type.Optional(RunSchema),
    check: Type.Optional(CheckSchema),
    scale: Type.Optional(ScaleSchema),
    fallback: Type.Optional(Type.String({ pattern: SERVICE_NAME_PATTERN })),
  },
  { additionalProperties: false },
);
export type DefinitionFile = Static<typeof DefinitionSchema>;

/** The registration fields every instance of a definition shares. */
export type SharedFields = Omit<InstanceRegistration, 'host' | 'port' | 'status' | 'checks'>;

export interface StaticInstance extends Omit<InstanceRegistration, 'status'> {
  id: string;
}

export interface RunSpec {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  port: 'auto' | [number, number];
  host: string;
  min: number;
  max: number;
  startTimeoutMs: number;
  drainMs: number;
  graceMs: number;
  /** The definition's check with `${PORT}` and `${HOST}` still in it; undefined: a TCP connect to the port. */
  check?: CheckDefinition;
}

/** A definition once validated and normalized: defaults filled in, fallback folded into the metadata. */
export interface Definition {
  service: string;
  registration: SharedFields;
  /** Exactly one of `instances` and `run`. */
  instances?: StaticInstance[];
  run?: RunSpec;
  scale?: ScaleRule;
  fallback?: string;
}

const COMPILED = TypeCompiler.Compile(DefinitionSchema);
const DEFAULT_TTL: Duration = '10s';

/** A file's problems, each `key: reason`. */
export class DefinitionError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

/** Parses a file's text by its extension. Throws DefinitionError. */
export function parseDefinitionText(text: string, fileName: string): Definition {
  let value: unknown;
  try {
    value = fileName.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new DefinitionError([`(file): not valid ${fileName.endsWith('.json') ? 'JSON' : 'YAML'}: ${message(err)}`]);
  }
  return parseDefinition(value);
}

/** Validates a parsed file and normalizes it. Throws DefinitionError listing every problem. */
export function parseDefinition(value: unknown): Definition {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DefinitionError(['(file): must be an object with at least "service"']);
  }
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const error of COMPILED.Errors(value)) {
    const key = keyOf(error.path);
    // A union reports one error per branch; the first says enough.
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(`${key}: ${error.message.toLowerCase()}`);
  }
  if (problems.length > 0) throw new DefinitionError(problems);
  const file = value as DefinitionFile;
  const hasInstances = file.instances !== undefined;
  const hasRun = file.run !== undefined;
  if (hasInstances === hasRun) problems.push('(definition): needs exactly one of "instances" and "run"');
  if (file.scale && !hasRun) problems.push('scale: only a "run" definition can scale');
  if (file.run) checkRun(file.run, problems);
  if (file.check) checkCheck(file.check, 'check', problems);
  for (const [i, instance] of (file.instances ?? []).entries()) {
    for (const [j, check] of (instance.checks ?? []).entries())
      checkCheck(check, `instances[${i}].checks[${j}]`, problems);
  }
  const durations: [Duration | undefined, string][] = [
    [file.ttl, 'ttl'],
    [file.scale?.cooldown, 'scale.cooldown'],
    [file.run?.startTimeout, 'run.startTimeout'],
    [file.run?.drain, 'run.drain'],
    [file.run?.grace, 'run.grace'],
    ...(file.instances ?? []).map((instance, i): [Duration | undefined, string] => [
      instance.ttl,
      `instances[${i}].ttl`,
    ]),
  ];
  const ms = new Map<string, number>();
  for (const [duration, key] of durations) {
    if (duration === undefined) continue;
    try {
      ms.set(key, parseDuration(duration, key));
    } catch (err) {
      problems.push(`${key}: ${message(err)}`);
    }
  }
  for (const key of ['ttl', ...(file.instances ?? []).map((_, i) => `instances[${i}].ttl`)]) {
    const value = ms.get(key);
    if (value !== undefined && value < 1_000) problems.push(`${key}: must be at least 1s (the agent renews it)`);
  }
  const ids = new Set<string>();
  const instances = (file.instances ?? []).map((instance) => {
    const id = instance.id ?? `${instance.host}:${instance.port}`.replace(/[^A-Za-z0-9._:@-]/g, '-');
    if (ids.has(id)) problems.push(`instances: two instances have the id "${id}"`);
    ids.add(id);
    return { ...instance, id };
  });
  if (problems.length > 0) throw new DefinitionError(problems);

  const { service, instances: _i, run, check, scale, fallback, metadata, ttl, ...rest } = file;
  const registration: SharedFields = { ...rest, ttl: ttl ?? DEFAULT_TTL };
  const allMetadata = { ...metadata, ...(fallback === undefined ? {} : { [FALLBACK_METADATA_KEY]: fallback }) };
  if (Object.keys(allMetadata).length > 0) registration.metadata = allMetadata;
  const definition: Definition = { service, registration };
  if (fallback !== undefined) definition.fallback = fallback;
  if (file.instances) {
    definition.instances = instances.map((instance) => ({
      ...registration,
      ...instance,
      ...(registration.metadata || instance.metadata
        ? { metadata: { ...registration.metadata, ...instance.metadata } }
        : {}),
      ...(check && !instance.checks ? { checks: [check] } : {}),
    }));
  }
  if (run) {
    definition.run = {
      command: run.command,
      args: run.args ?? [],
      env: run.env ?? {},
      ...(run.cwd === undefined ? {} : { cwd: run.cwd }),
      port: run.port ?? 'auto',
      host: run.host ?? '127.0.0.1',
      min: run.instances.min,
      max: run.instances.max,
      startTimeoutMs: ms.get('run.startTimeout') ?? 30_000,
      drainMs: ms.get('run.drain') ?? 1_000,
      graceMs: ms.get('run.grace') ?? 10_000,
      ...(check === undefined ? {} : { check }),
    };
  }
  if (scale)
    definition.scale = { metric: scale.metric, target: scale.target, cooldownMs: ms.get('scale.cooldown') ?? 0 };
  return definition;
}

function checkRun(run: NonNullable<DefinitionFile['run']>, problems: string[]): void {
  if (run.instances.min > run.instances.max) {
    problems.push(`run.instances: min (${run.instances.min}) is more than max (${run.instances.max})`);
  }
  if (Array.isArray(run.port) && run.port[0] > run.port[1]) {
    problems.push(`run.port: the range [${run.port[0]}, ${run.port[1]}] is empty`);
  }
}

function checkCheck(check: CheckDefinition, key: string, problems: string[]): void {
  if ((check.http === undefined) === (check.tcp === undefined)) {
    problems.push(`${key}: needs exactly one of "http" and "tcp"`);
  }
}

/** TypeBox's `/run/instances/0/min` as `run.instances[0].min`. */
function keyOf(path: string): string {
  if (path === '') return '(definition)';
  return path
    .slice(1)
    .split('/')
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce((key, part) => (/^\d+$/.test(part) ? `${key}[${part}]` : key === '' ? part : `${key}.${part}`), '');
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
