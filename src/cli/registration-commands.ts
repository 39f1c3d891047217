/**
 * Third-party registration from the command line (issue #4): a service manager such as systemd registers a service
 * when it starts and deregisters it when it stops. These commands speak to the registry through the SDK only.
 *
 * Every command prints a readable line or table by default and JSON with `--json`; a failure is one line on
 * stderr and a non-zero exit (main.ts prints it), never a usage dump.
 */
import { InvalidArgumentError, RegistryClient } from '../sdk/index.js';
import type { Endpoint, GetServiceOptions, Health, Instance, InstanceInput, InstanceStatus } from '../sdk/index.js';
import { HEALTH_STATES, INSTANCE_STATUSES } from '../wire/index.js';
import { clientOptions, table, toJson } from './client-output.js';
import type { ParsedFlags } from './flags.js';
import { CLIENT_FLAGS } from '../config/index.js';

export type ClientCommand = 'register' | 'deregister' | 'status' | 'heartbeat' | 'list' | 'get';

const CLIENT_USAGE = `Registration commands (registry from --registry URL[,URL…] or SWITCHBOARD_REGISTRY, default http://127.0.0.1:8900;
token from --token, --token-file FILE, SWITCHBOARD_TOKEN or SWITCHBOARD_TOKEN_FILE; for an https:// registry,
--ca FILE (SWITCHBOARD_CA) trusts its CA and --cert FILE --key FILE (SWITCHBOARD_CERT, SWITCHBOARD_KEY) present a
client certificate; --json prints JSON):
  switchboard register --service NAME --host H --port P [--id ID] [--url /prefix] [--endpoint TYPE=URL]…
                       [--tag T]… [--meta K=V]… [--role R]… [--status S] [--ttl 30s] [--deregister-after 5m]
                       [--weight N] [--zone Z] [--exclusive]       prints the instance id
  switchboard deregister --service NAME --id ID
  switchboard heartbeat --service NAME --id ID                      renews a registration made with --ttl
  switchboard status set --service NAME --id ID STATUS              ${INSTANCE_STATUSES.join(' | ')}
  switchboard list                                                  services, with instance counts by status
  switchboard get NAME [ID] [--status S]… [--health H]… [--tag T]… [--zone Z]
                                                                    a service's instances (all of them by default)`;

/** Flags every client command takes. */
const COMMON = [...CLIENT_FLAGS, 'json', 'help'];

const ALLOWED: Record<ClientCommand, readonly string[]> = {
  register: [
    'service',
    'host',
    'port',
    'id',
    'url',
    'endpoint',
    'tag',
    'meta',
    'role',
    'status',
    'ttl',
    'deregister-after',
    'weight',
    'zone',
    'exclusive',
  ],
  deregister: ['service', 'id'],
  heartbeat: ['service', 'id'],
  status: ['service', 'id', 'status'],
  list: [],
  get: ['status', 'health', 'tag', 'zone'],
};

/** Output goes through this, so tests could capture it; the CLI passes process.stdout. */
export interface Output {
  write(text: string): unknown;
}

/** Runs one registration command against the registry. */
export async function clientCommand(
  command: ClientCommand,
  flags: ParsedFlags,
  out: Output = process.stdout,
): Promise<void> {
  if (flags.values['help']) {
    out.write(`${CLIENT_USAGE}\n`);
    return;
  }
  const allowed = new Set([...COMMON, ...ALLOWED[command]]);
  for (const name of Object.keys(flags.all)) {
    if (!allowed.has(name)) throw new InvalidArgumentError(`${command}: unknown option --${name}`);
  }
  const json = flags.values['json'] === 'true';
  const client = new RegistryClient(clientOptions(flags));
  switch (command) {
    case 'register':
      return register(client, flags, { out, json });
    case 'deregister': {
      noPositionals(command, flags, 0);
      const instance = await client.deregister(required(flags, command, 'service'), required(flags, command, 'id'));
      out.write(json ? toJson(instance) : `deregistered ${instance.service}/${instance.id}\n`);
      return;
    }
    case 'heartbeat': {
      noPositionals(command, flags, 0);
      const instance = await client.heartbeat(required(flags, command, 'service'), required(flags, command, 'id'));
      out.write(json ? toJson(instance) : `renewed ${instance.service}/${instance.id} (health ${instance.health})\n`);
      return;
    }
    case 'status':
      return setStatus(client, flags, { out, json });
    case 'list':
      return list(client, flags, { out, json });
    case 'get':
      return get(client, flags, { out, json });
  }
}

interface Printer {
  out: Output;
  json: boolean;
}

async function register(client: RegistryClient, flags: ParsedFlags, { out, json }: Printer): Promise<void> {
  noPositionals('register', flags, 0);
  const instance: InstanceInput = {
    service: required(flags, 'register', 'service'),
    host: required(flags, 'register', 'host'),
    port: integer(required(flags, 'register', 'port'), '--port'),
  };
  const { values, all } = flags;
  if (values['id'] !== undefined) instance.id = values['id'];
  if (values['url'] !== undefined) instance.url = values['url'];
  if (all['endpoint']) instance.endpoints = all['endpoint'].map(endpoint);
  if (all['tag']) instance.tags = all['tag'];
  if (all['role']) instance.authorizedRoles = all['role'];
  if (all['meta']) instance.metadata = Object.fromEntries(all['meta'].map((m) => pair(m, '--meta', 'KEY=VALUE')));
  if (values['status'] !== undefined) instance.status = status(values['status']);
  if (values['ttl'] !== undefined) instance.ttl = duration(values['ttl']);
  if (values['deregister-after'] !== undefined) instance.deregisterAfter = duration(values['deregister-after']);
  if (values['weight'] !== undefined) instance.weight = integer(values['weight'], '--weight');
  if (values['zone'] !== undefined) instance.zone = values['zone'];
  const stored = await client.register(instance, { exclusive: values['exclusive'] === 'true' });
  out.write(json ? toJson(stored) : `${stored.id}\n`);
}

async function setStatus(client: RegistryClient, flags: ParsedFlags, { out, json }: Printer): Promise<void> {
  const [verb, value, ...extra] = flags.positionals;
  if (verb !== 'set')
    throw new InvalidArgumentError('status: use "switchboard status set --service NAME --id ID STATUS"');
  if (extra.length > 0) throw new InvalidArgumentError(`status set: unexpected argument "${extra.join(' ')}"`);
  const raw = value ?? flags.values['status'];
  if (raw === undefined)
    throw new InvalidArgumentError(`status set: give the status (${INSTANCE_STATUSES.join(', ')})`);
  const instance = await client.setStatus(
    required(flags, 'status set', 'service'),
    required(flags, 'status set', 'id'),
    status(raw),
  );
  out.write(json ? toJson(instance) : `${instance.service}/${instance.id} is ${instance.status}\n`);
}

async function list(client: RegistryClient, flags: ParsedFlags, { out, json }: Printer): Promise<void> {
  noPositionals('list', flags, 0);
  const answer = await client.listServices();
  if (json) {
    out.write(toJson(answer));
    return;
  }
  const rows = answer.services.map((s) => [
    s.name,
    String(s.instances),
    Object.entries(s.byStatus)
      .map(([name, count]) => `${name} ${count}`)
      .join(', '),
  ]);
  out.write(rows.length === 0 ? 'no services registered\n' : table(['SERVICE', 'INSTANCES', 'BY STATUS'], rows));
}

async function get(client: RegistryClient, flags: ParsedFlags, { out, json }: Printer): Promise<void> {
  noPositionals('get', flags, 2);
  const [name, id] = flags.positionals;
  if (name === undefined) throw new InvalidArgumentError('get: give the service name ("switchboard get NAME")');
  if (id !== undefined) {
    const instance = await client.getInstance(name, id);
    out.write(json ? toJson(instance) : details(instance));
    return;
  }
  const { all, values } = flags;
  // An operator wants to see every instance, the stopped and the critical ones too, unless they filter.
  const options: GetServiceOptions = {
    status: !all['status'] || all['status'].includes('any') ? 'any' : all['status'].map(status),
    health: !all['health'] || all['health'].includes('any') ? 'any' : all['health'].map(health),
  };
  if (all['tag']) options.tag = all['tag'];
  if (values['zone'] !== undefined) options.zone = values['zone'];
  const answer = await client.getService(name, options);
  if (json) {
    out.write(toJson(answer));
    return;
  }
  const rows = answer.instances.map((i) => [
    i.id,
    i.host,
    String(i.port),
    i.status,
    i.health,
    i.url ?? '',
    i.tags.join(','),
  ]);
  out.write(
    rows.length === 0
      ? `${name} has no instances\n`
      : table(['ID', 'HOST', 'PORT', 'STATUS', 'HEALTH', 'URL', 'TAGS'], rows),
  );
}

/* ---- parsing ---- */

function required(flags: ParsedFlags, command: string, name: string): string {
  const value = flags.values[name];
  if (value === undefined || value === '') throw new InvalidArgumentError(`${command}: --${name} is required`);
  return value;
}

function noPositionals(command: string, flags: ParsedFlags, max: number): void {
  const extra = flags.positionals.slice(max);
  if (extra.length > 0) throw new InvalidArgumentError(`${command}: unexpected argument "${extra.join(' ')}"`);
}

function integer(raw: string, name: string): number {
  if (!/^\d+$/.test(raw)) throw new InvalidArgumentError(`${name}: "${raw}" is not a whole number`);
  return Number(raw);
}

/** Bare numbers are seconds, as on the wire; anything else goes as written ("30s", "500ms"). */
function duration(raw: string): string | number {
  return /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
}

function pair(raw: string, name: string, shape: string): [string, string] {
  const eq = raw.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`${name}: "${raw}" is not ${shape}`);
  return [raw.slice(0, eq), raw.slice(eq + 1)];
}

function endpoint(raw: string): Endpoint {
  const [type, url] = pair(raw, '--endpoint', 'TYPE=URL (such as http=http://127.0.0.1:3001/tickets)');
  return { type, url };
}

function status(raw: string): InstanceStatus {
  const upper = raw.toUpperCase();
  const found = INSTANCE_STATUSES.find((s) => s === upper);
  if (found === undefined)
    throw new InvalidArgumentError(`status "${raw}" is not one of ${INSTANCE_STATUSES.join(', ')}`);
  return found;
}

function health(raw: string): Health {
  const found = HEALTH_STATES.find((h) => h === raw);
  if (found === undefined)
    throw new InvalidArgumentError(`health "${raw}" is not one of ${HEALTH_STATES.join(', ')}, any`);
  return found;
}

/* ---- printing ---- */

function details(instance: Instance): string {
  const rows: [string, string][] = [
    ['service', instance.service],
    ['id', instance.id],
    ['address', `${instance.host}:${instance.port}`],
    ['status', instance.status],
    ['health', instance.health],
    ['url', instance.url ?? ''],
    ['endpoints', instance.endpoints.map((e) => `${e.type}=${e.url}`).join(' ')],
    ['tags', instance.tags.join(', ')],
    [
      'metadata',
      Object.entries(instance.metadata)
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    ],
    ['roles', instance.authorizedRoles.join(', ')],
    ['ttl', instance.ttl ?? '(none)'],
    ['last heartbeat', instance.lastHeartbeat],
    ['registered at', instance.registeredAt],
  ];
  return rows.map(([key, value]) => `${`${key}:`.padEnd(16)}${value}`).join('\n') + '\n';
}
