/**
 * Where Consul and Switchboard differ, defined once (issue #17): a Consul service registration as a Switchboard
 * registration, a Switchboard instance as Consul's service, node and checks, and Consul's check updates as the
 * registry's commands. Everything is derived from wire/ (the registration schema, the instance answer, the status
 * and health sets); the core validates what comes out, so a refusal is the one the REST API would give.
 *
 * - A Consul "node" is an instance's host: `Node` and `Address` are the host, `Datacenter` the configured one.
 * - Health: one `service:<ID>` check per instance stands for its lease and its self-reported status, one check per
 *   active check, and `_service_maintenance:<ID>` while in maintenance. Aggregated as Consul does: maintenance >
 *   critical > warning > passing (`api/health.go` AggregatedStatus).
 */
import { RegistryError } from '../errors/index.js';
import type { CheckDefinition, Health, Instance, InstanceRegistration, InstanceStatus } from '../wire/index.js';

/** Consul's check statuses: Switchboard's health states, and maintenance (which Consul reports as critical checks). */
export type ConsulStatus = Health;
export type AggregatedStatus = ConsulStatus | 'maintenance';

/** The check id prefix Consul gives a service's own checks, and the one of its maintenance check. */
export const SERVICE_CHECK_PREFIX = 'service:';
export const MAINTENANCE_CHECK_PREFIX = '_service_maintenance:';
const MAINTENANCE_CHECK_NAME = 'Service Maintenance Mode';

/**
 * Consul keeps a service whose TTL check is critical until it is deregistered, unless it names
 * DeregisterCriticalServiceAfter; a Switchboard lease removes its instance after 3 TTLs by default. A Consul
 * registration without it gets the longest `deregisterAfter` the registry allows.
 */
const KEEP_LAPSED = '720h';

/** The registration (what the core validates), and what the Consul body said that the registration carries. */
export interface ConsulRegistration {
  service: string;
  id: string;
  body: InstanceRegistration;
}

/**
 * Self-reported status → the `service:<ID>` check's status, and a TTL check update → the status it sets
 * (`pass` UP, `warn` UNKNOWN, `fail` DOWN). Typed by INSTANCE_STATUSES, so a new status fails to compile here.
 */
const STATUS_CHECK: Readonly<Record<InstanceStatus, ConsulStatus>> = {
  UP: 'passing',
  STARTING: 'warning',
  UNKNOWN: 'warning',
  DOWN: 'critical',
  OUT_OF_SERVICE: 'critical',
};
export const CHECK_UPDATE_STATUS = { pass: 'UP', warn: 'UNKNOWN', fail: 'DOWN' } as const satisfies Record<
  string,
  InstanceStatus
>;
export type CheckUpdate = keyof typeof CHECK_UPDATE_STATUS;
/** A registration's `Check.Status` (Consul's initial state of a TTL check) → the status the instance starts in. */
const INITIAL_STATUS: Readonly<Record<ConsulStatus, InstanceStatus>> = {
  passing: CHECK_UPDATE_STATUS.pass,
  warning: CHECK_UPDATE_STATUS.warn,
  critical: CHECK_UPDATE_STATUS.fail,
};

// ---- Consul → Switchboard -----------------------------------------------------------------------------------------

/** A TTL check's Consul status (`passing`, `warning`, `critical`) as the instance's status; `what` names the field. */
function statusOfCheck(status: string, what: string): InstanceStatus {
  if (!Object.hasOwn(INITIAL_STATUS, status)) throw invalid(`${what}: must be passing, warning or critical`);
  return INITIAL_STATUS[status as ConsulStatus];
}

type Fields = Record<string, unknown>;

/**
 * A struct's keys as Consul reads them: Go's JSON decoding matches field names case-insensitively, and Consul also
 * translates snake_case (`deregister_critical_service_after`), so keys are compared lower-cased without `_`. User
 * data (Meta) is never passed through this.
 */
function fieldsOf(value: unknown, what: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid(`${what} must be a JSON object`);
  const out: Fields = {};
  for (const [key, field] of Object.entries(value as Fields)) out[key.toLowerCase().replaceAll('_', '')] = field;
  return out;
}

function invalid(message: string): RegistryError {
  return new RegistryError('INVALID_ARGUMENT', message);
}

function optionalString(fields: Fields, key: string, name: string): string | undefined {
  const value = fields[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(`${name} must be a string`);
  return value;
}

/** Go's time.Duration text (`10s`, `1m30s`, `500ms`, `1.5h`) in milliseconds. */
const GO_DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
const GO_UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

export function parseGoDuration(text: string, name: string): number {
  const refusal = invalid(`${name}: "${text}" is not a duration (e.g. "10s", "1m30s", "500ms")`);
  if (text === '0') return 0;
  GO_DURATION_PART.lastIndex = 0;
  let ms = 0;
  let end = 0;
  for (let match = GO_DURATION_PART.exec(text); match; match = GO_DURATION_PART.exec(text)) {
    ms += Number(match[1]) * (GO_UNIT_MS[match[2] as string] as number);
    end = GO_DURATION_PART.lastIndex;
  }
  if (end === 0 || end !== text.length || !Number.isFinite(ms)) throw refusal;
  return Math.round(ms);
}

/** A duration field of a check, as the registration's duration string (Consul sends Go durations). */
function durationField(fields: Fields, key: string, name: string): string | undefined {
  const text = optionalString(fields, key, name);
  return text === undefined || text === '' ? undefined : `${parseGoDuration(text, name)}ms`;
}

/**
 * `PUT /v1/agent/service/register`'s body as a registration. `remoteAddress` is the host of a service that names no
 * Address: a Consul agent registers its services at its own node's address, and here the caller is the node.
 */
export function registrationOf(raw: unknown, remoteAddress: string): ConsulRegistration {
  const fields = fieldsOf(raw, 'the service definition');
  const service = optionalString(fields, 'name', 'Name');
  if (service === undefined || service === '') throw invalid('Name: missing service name');
  const givenId = optionalString(fields, 'id', 'ID');
  const id = givenId === undefined || givenId === '' ? service : givenId;
  const port = fields['port'];
  if (port === undefined || port === null || port === 0) {
    throw invalid('Port: missing: a Switchboard instance is reached at a port (1–65535)');
  }
  for (const unsupported of ['connect', 'proxy'] as const) {
    if (fields[unsupported] !== undefined && fields[unsupported] !== null)
      throw invalid(`${unsupported === 'connect' ? 'Connect' : 'Proxy'}: Consul Connect is not supported`);
  }
  const kind = optionalString(fields, 'kind', 'Kind');
  if (kind !== undefined && kind !== '') throw invalid(`Kind: only plain services are supported, not "${kind}"`);
  const address = optionalString(fields, 'address', 'Address');
  const body: InstanceRegistration = {
    host: address === undefined || address === '' ? remoteAddress : address,
    port: port as number,
  };
  if (fields['tags'] !== undefined && fields['tags'] !== null) body.tags = fields['tags'] as string[];
  if (fields['meta'] !== undefined && fields['meta'] !== null) body.metadata = fields['meta'] as Record<string, string>;
  if (fields['weights'] !== undefined && fields['weights'] !== null) {
    const passing = fieldsOf(fields['weights'], 'Weights')['passing'];
    if (passing !== undefined) body.weight = passing as number;
  }
  addChecks(body, { id, fields });
  return { service, id, body };
}

/** `Check` or `Checks`: one TTL check at most (the lease), and HTTP or TCP checks the registry runs. */
function addChecks(body: InstanceRegistration, given: { id: string; fields: Fields }): void {
  const { id, fields } = given;
  const list: unknown[] = [];
  if (fields['check'] !== undefined && fields['check'] !== null) list.push(fields['check']);
  if (fields['checks'] !== undefined && fields['checks'] !== null) {
    if (!Array.isArray(fields['checks'])) throw invalid('Checks must be an array of checks');
    list.push(...(fields['checks'] as unknown[]));
  }
  const active: CheckDefinition[] = [];
  list.forEach((raw, at) => {
    const name = list.length === 1 ? 'Check' : `Checks[${at}]`;
    const check = fieldsOf(raw, name);
    const ttl = durationField(check, 'ttl', `${name}.TTL`);
    const http = optionalString(check, 'http', `${name}.HTTP`);
    const tcp = optionalString(check, 'tcp', `${name}.TCP`);
    const after = durationField(check, 'deregistercriticalserviceafter', `${name}.DeregisterCriticalServiceAfter`);
    const kinds = [ttl, http, tcp].filter((kind) => kind !== undefined && kind !== '').length;
    if (kinds !== 1) {
      throw invalid(
        `${name}: give exactly one of TTL, HTTP or TCP (script, gRPC, Docker and alias checks are not supported)`,
      );
    }
    if (ttl !== undefined) {
      if (body.ttl !== undefined) throw invalid(`${name}: one TTL check per service (it is the instance's lease)`);
      body.ttl = ttl;
      body.deregisterAfter = after ?? KEEP_LAPSED;
      const status = optionalString(check, 'status', `${name}.Status`);
      if (status !== undefined && status !== '') body.status = statusOfCheck(status, `${name}.Status`);
      return;
    }
    const method = optionalString(check, 'method', `${name}.Method`);
    if (method !== undefined && method !== '' && method.toUpperCase() !== 'GET')
      throw invalid(`${name}.Method: HTTP checks are sent as GET`);
    const header = check['header'];
    if (typeof header === 'object' && header !== null && Object.keys(header).length > 0)
      throw invalid(`${name}.Header: HTTP checks send no custom headers`);
    if (check['tlsskipverify'] === true) throw invalid(`${name}.TLSSkipVerify: HTTP checks always verify TLS`);
    const interval = durationField(check, 'interval', `${name}.Interval`);
    if (interval === undefined) throw invalid(`${name}.Interval: an HTTP or TCP check needs an interval`);
    const checkId = optionalString(check, 'checkid', `${name}.CheckID`);
    const definition: CheckDefinition = {
      id: checkId === undefined || checkId === '' ? `${SERVICE_CHECK_PREFIX}${id}:${at + 1}` : checkId,
      interval,
    };
    if (http !== undefined) definition.http = http;
    if (tcp !== undefined) definition.tcp = tcp;
    const timeout = durationField(check, 'timeout', `${name}.Timeout`);
    if (timeout !== undefined) definition.timeout = timeout;
    active.push(definition);
    if (after !== undefined) body.deregisterCriticalAfter = after;
  });
  if (active.length > 0) body.checks = active;
}

/** The instance id a check id names: `service:<ID>` (the lease and status), or undefined for any other. */
export function instanceIdOfCheck(checkId: string): string | undefined {
  return checkId.startsWith(SERVICE_CHECK_PREFIX) ? checkId.slice(SERVICE_CHECK_PREFIX.length) : undefined;
}

/** A boolean as Go's strconv.ParseBool reads it (Consul's query parameters and filter values); undefined if none. */
export function parseGoBool(raw: string | undefined): boolean | undefined {
  if (raw === undefined) return undefined;
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(raw)) return false;
  return undefined;
}

/** `?enable=` of the maintenance call. */
export function parseEnable(value: string | undefined): boolean {
  const enable = parseGoBool(value);
  if (enable === undefined) throw invalid('enable: missing or not a boolean (use ?enable=true or ?enable=false)');
  return enable;
}

// ---- Switchboard → Consul -----------------------------------------------------------------------------------------

/** One check as Consul's health endpoints answer it (`api.HealthCheck`). */
export interface ConsulCheck {
  Node: string;
  CheckID: string;
  Name: string;
  Status: ConsulStatus;
  Notes: string;
  Output: string;
  ServiceID: string;
  ServiceName: string;
  ServiceTags: string[];
  Type: string;
  CreateIndex: number;
  ModifyIndex: number;
}

/**
 * Whether the instance's lease has lapsed. The answer carries the health the lease and checks combine into (the
 * core counts a lapsed lease as critical alone, as warning beside checks): where that is ambiguous (maintenance
 * hides it, or a check is as bad), the heartbeat time against the TTL decides.
 */
function leaseLapsed(instance: Instance, now: number): boolean {
  if (instance.ttl === undefined) return false;
  if (instance.maintenance === undefined) {
    const worstCheck = worstOf((instance.checks ?? []).map((check) => check.status));
    const leaseAlone: Health = instance.checks ? 'warning' : 'critical';
    if (rank(instance.health) > rank(worstCheck)) return true;
    if (rank(worstCheck) < rank(leaseAlone)) return false;
  }
  return Date.parse(instance.lastHeartbeat) + ttlMs(instance.ttl) < now;
}

function ttlMs(ttl: string): number {
  return parseGoDuration(ttl, 'ttl');
}

const RANKS: Readonly<Record<Health, number>> = { passing: 0, warning: 1, critical: 2 };
function rank(health: Health): number {
  return RANKS[health];
}
function worstOf(states: readonly Health[]): Health {
  return states.reduce<Health>((worst, state) => (rank(state) > rank(worst) ? state : worst), 'passing');
}

/** The checks Consul would report for the instance, its own first. */
export function checksOf(instance: Instance, now: number): ConsulCheck[] {
  const base = {
    Node: instance.host,
    ServiceID: instance.id,
    ServiceName: instance.service,
    ServiceTags: instance.tags,
    Notes: '',
    CreateIndex: instance.createIndex,
    ModifyIndex: instance.modifyIndex,
  };
  const lapsed = leaseLapsed(instance, now);
  const own: ConsulCheck = {
    ...base,
    CheckID: `${SERVICE_CHECK_PREFIX}${instance.id}`,
    Name: `Service '${instance.service}' check`,
    Status: lapsed ? 'critical' : STATUS_CHECK[instance.status],
    Output: lapsed
      ? `TTL expired: no heartbeat within ${instance.ttl ?? ''} (last ${instance.lastHeartbeat})`
      : `status ${instance.status}`,
    Type: instance.ttl === undefined ? '' : 'ttl',
  };
  const checks = [own];
  for (const check of instance.checks ?? []) {
    checks.push({
      ...base,
      CheckID: check.id,
      Name: `${check.kind.toUpperCase()} ${check.target}`,
      Status: check.status,
      Output: check.output,
      Type: check.kind,
    });
  }
  if (instance.maintenance) {
    checks.push({
      ...base,
      CheckID: `${MAINTENANCE_CHECK_PREFIX}${instance.id}`,
      Name: MAINTENANCE_CHECK_NAME,
      Status: 'critical',
      Notes: instance.maintenance.reason,
      Output: '',
      Type: 'maintenance',
    });
  }
  return checks;
}

/** Consul's aggregation: maintenance > critical > warning > passing; no checks is passing. */
export function aggregatedStatus(checks: readonly ConsulCheck[]): AggregatedStatus {
  if (checks.some((check) => check.CheckID.startsWith(MAINTENANCE_CHECK_PREFIX))) return 'maintenance';
  return worstOf(checks.map((check) => check.Status));
}

/**
 * Every node's metadata as the answers show it (`Node.Meta`, `NodeMeta`): a node is an instance's host, which carries
 * none, so `?node-meta=key:value` matches no node.
 */
export const NODE_META: Readonly<Record<string, string>> = Object.freeze({});

/** The node an instance runs on, as Consul's `Node` struct. */
export function nodeOf(host: string, datacenter: string): Record<string, unknown> {
  return {
    ID: '',
    Node: host,
    Address: host,
    Datacenter: datacenter,
    TaggedAddresses: { lan: host, wan: host },
    Meta: { ...NODE_META },
    CreateIndex: 1,
    ModifyIndex: 1,
  };
}

/** The instance as Consul's `AgentService`. */
export function serviceOf(instance: Instance, datacenter: string): Record<string, unknown> {
  return {
    ID: instance.id,
    Service: instance.service,
    Tags: instance.tags,
    Meta: instance.metadata,
    Port: instance.port,
    Address: instance.host,
    Weights: { Passing: instance.weight, Warning: 1 },
    EnableTagOverride: false,
    Datacenter: datacenter,
    CreateIndex: instance.createIndex,
    ModifyIndex: instance.modifyIndex,
  };
}

/** The instance as one entry of `/v1/health/service/:name` (`api.ServiceEntry`). */
export function healthEntryOf(
  instance: Instance,
  context: { datacenter: string; now: number },
): { entry: Record<string, unknown>; status: AggregatedStatus } {
  const checks = checksOf(instance, context.now);
  const { Datacenter: _, ...service } = serviceOf(instance, context.datacenter);
  return {
    entry: { Node: nodeOf(instance.host, context.datacenter), Service: service, Checks: checks },
    status: aggregatedStatus(checks),
  };
}

/** The instance as one entry of `/v1/catalog/service/:name` (`api.CatalogService`). */
export function catalogEntryOf(instance: Instance, datacenter: string): Record<string, unknown> {
  return {
    ID: '',
    Node: instance.host,
    Address: instance.host,
    Datacenter: datacenter,
    TaggedAddresses: { lan: instance.host, wan: instance.host },
    NodeMeta: { ...NODE_META },
    ServiceKind: '',
    ServiceID: instance.id,
    ServiceName: instance.service,
    ServiceTags: instance.tags,
    ServiceAddress: instance.host,
    ServiceWeights: { Passing: instance.weight, Warning: 1 },
    ServiceMeta: instance.metadata,
    ServicePort: instance.port,
    ServiceEnableTagOverride: false,
    CreateIndex: instance.createIndex,
    ModifyIndex: instance.modifyIndex,
  };
}

/** A registry node's URL as Consul's `"host:port"` (`/v1/status/leader`, `/v1/status/peers`). */
export function peerAddressOf(url: string): string {
  try {
    const parsed = new URL(url);
    const port = parsed.port === '' ? (parsed.protocol === 'https:' ? '443' : '80') : parsed.port;
    return `${parsed.hostname}:${port}`;
  } catch {
    return url;
  }
}

/**
 * The body of `PUT /v1/agent/check/update/:id` (`{"Status": "passing", "Output": "…"}`) as the status it sets. Output
 * is accepted and not kept: Switchboard stores no output for the lease.
 */
export function checkUpdateOf(value: unknown): InstanceStatus {
  const fields = fieldsOf(value, 'body');
  const status = optionalString(fields, 'status', 'Status');
  optionalString(fields, 'output', 'Output');
  return statusOfCheck(status ?? '', 'Status');
}
