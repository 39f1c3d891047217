/**
 * Eureka's instance record ↔ Switchboard's registration, in one place (issue #18). Both directions derive from the
 * registration schema of wire/: a Eureka registration becomes a `RegisterRequest` the core checks like any other,
 * and every instance, whoever registered it, is answered in Eureka's shape.
 *
 * Invariant: what Eureka clients are answered is derived from the stored registration only. Eureka's fields that
 * Switchboard has no field for live in the registration itself, under reserved `eureka.*` metadata keys (short
 * values) and `eureka.*` endpoint types (URLs), so they survive a round trip and a restart, and a REST v1 client
 * may set them too. Absent ones get Eureka's defaults when answered.
 */
import { checkInstanceId, checkServiceName } from '../core/index.js';
import type { RegisterRequest } from '../core/index.js';
import { RegistryError } from '../errors/index.js';
import { INSTANCE_STATUSES, checkDefinitionOf, parseDuration } from '../wire/index.js';
import type { Endpoint, Instance, InstanceStatus } from '../wire/index.js';

/** `port` and `securePort` as Eureka's codec writes them: `{"$": 8080, "@enabled": "true"}`. */
export interface EurekaPort {
  $: number;
  '@enabled': 'true' | 'false';
}

export interface EurekaDataCenterInfo {
  '@class': string;
  name: string;
  metadata?: Record<string, string>;
}

export interface EurekaLeaseInfo {
  renewalIntervalInSecs: number;
  durationInSecs: number;
  registrationTimestamp: number;
  lastRenewalTimestamp: number;
  evictionTimestamp: number;
  serviceUpTimestamp: number;
}

export const ACTION_TYPES = ['ADDED', 'MODIFIED', 'DELETED'] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

/** One instance in the field order of Eureka's EurekaJacksonCodec (XML: Converters, same names). */
export interface EurekaInstance {
  instanceId: string;
  hostName: string;
  app: string;
  ipAddr: string;
  status: InstanceStatus;
  overriddenStatus: InstanceStatus;
  port: EurekaPort;
  securePort: EurekaPort;
  countryId: number;
  dataCenterInfo: EurekaDataCenterInfo;
  leaseInfo: EurekaLeaseInfo;
  metadata: Record<string, string>;
  homePageUrl: string;
  statusPageUrl: string;
  healthCheckUrl: string;
  secureHealthCheckUrl?: string;
  vipAddress: string;
  secureVipAddress: string;
  isCoordinatingDiscoveryServer: 'false';
  lastUpdatedTimestamp: string;
  lastDirtyTimestamp: string;
  actionType: ActionType;
}

/** The metadata keys Switchboard keeps Eureka's own fields under; an instance's own metadata may not use the prefix. */
export const RESERVED_PREFIX = 'eureka.';
export const EUREKA_KEYS = {
  ipAddr: 'eureka.ipAddr',
  vipAddress: 'eureka.vipAddress',
  secureVipAddress: 'eureka.secureVipAddress',
  portEnabled: 'eureka.portEnabled',
  securePort: 'eureka.securePort',
  securePortEnabled: 'eureka.securePortEnabled',
  countryId: 'eureka.countryId',
  dataCenterInfo: 'eureka.dataCenterInfo',
  lastDirtyTimestamp: 'eureka.lastDirtyTimestamp',
  /** How often the client says it renews, when not Eureka's default: answered back, never used to expire it. */
  renewalIntervalInSecs: 'eureka.renewalIntervalInSecs',
  /** The status an operator set with `PUT …/status`: it wins over what the instance reports until removed. */
  overriddenStatus: 'eureka.overriddenStatus',
} as const;

/** Endpoint types that hold Eureka's URLs (a metadata value is too short for a URL: 512 against 1024). */
const URL_ENDPOINTS = {
  homePageUrl: 'eureka.homePage',
  statusPageUrl: 'eureka.statusPage',
  healthCheckUrl: 'eureka.healthCheck',
  secureHealthCheckUrl: 'eureka.secureHealthCheck',
} as const;
type UrlField = keyof typeof URL_ENDPOINTS;
const URL_FIELDS = Object.keys(URL_ENDPOINTS) as UrlField[];

/** The id of the active check made of `healthCheckUrl` under `--eureka-health-checks`. */
export const HEALTH_CHECK_ID = 'eureka:healthCheckUrl';

const DEFAULT_DATA_CENTER: EurekaDataCenterInfo = {
  '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo',
  name: 'MyOwn',
};
/** Eureka's own defaults (eureka-client's AbstractInstanceConfig / LeaseInfo). */
const DEFAULTS = {
  renewalIntervalInSecs: 30,
  durationInSecs: 90,
  securePort: 443,
  countryId: 1,
  homePagePath: '/',
  statusPagePath: '/Status',
  healthCheckPath: '/healthcheck',
} as const;

// ---- Eureka → Switchboard ------------------------------------------------------------------------------------------

type Fields = Record<string, unknown>;

const invalid = (message: string): RegistryError => new RegistryError('INVALID_ARGUMENT', message);

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A scalar field as text: XML gives every value as a string, JSON numbers and booleans too. */
function textOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim();
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function required(instance: Fields, field: string): string {
  const value = textOf(instance[field]);
  if (value === undefined) throw invalid(`instance.${field} is missing`);
  return value;
}

function integerOf(value: unknown, field: string, range: { min: number; max: number }): number | undefined {
  const text = textOf(value);
  if (text === undefined) return undefined;
  const n = /^-?\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) {
    throw invalid(`instance.${field} must be a whole number from ${range.min} to ${range.max}, not ${text}`);
  }
  return n;
}

/** `port` as a number, a numeric string, or `{"$": n, "@enabled": true|"true"}` (eureka-js-client sends a boolean). */
function portOf(value: unknown, field: string): { port: number; enabled: boolean } | undefined {
  const fields = isFields(value) ? value : { $: value };
  const port = integerOf(fields['$'], field, { min: 1, max: 65_535 });
  if (port === undefined) return undefined;
  const enabled = textOf(fields['@enabled']);
  if (enabled !== undefined && enabled !== 'true' && enabled !== 'false') {
    throw invalid(`instance.${field}.@enabled must be true or false, not ${enabled}`);
  }
  return { port, enabled: enabled !== 'false' };
}

/** An unknown status is Eureka's UNKNOWN (InstanceStatus.toEnum), as its server reads it. */
export function statusOf(value: unknown): InstanceStatus | undefined {
  const text = textOf(value)?.toUpperCase();
  if (text === undefined) return undefined;
  return (INSTANCE_STATUSES as readonly string[]).includes(text) ? (text as InstanceStatus) : 'UNKNOWN';
}

function dataCenterOf(value: unknown): EurekaDataCenterInfo {
  if (!isFields(value)) throw invalid('instance.dataCenterInfo is missing');
  const name = textOf(value['name']);
  if (name === undefined) throw invalid('instance.dataCenterInfo.name is missing');
  const info: EurekaDataCenterInfo = { '@class': textOf(value['@class']) ?? DEFAULT_DATA_CENTER['@class'], name };
  const metadata = value['metadata'];
  if (isFields(metadata)) info.metadata = stringsOf(metadata, 'dataCenterInfo.metadata');
  return info;
}

/** String values of a metadata object; Jackson's `@class` marker (`java.util.Collections$EmptyMap`) is not data. */
function stringsOf(value: Fields, field: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, raw] of Object.entries(value)) {
    if (key === '@class') continue;
    const text = typeof raw === 'string' ? raw : textOf(raw);
    if (text === undefined) throw invalid(`instance.${field}.${key} must be a string`);
    out[key] = text;
  }
  return out;
}

/** The service an app names: its lower-cased name (Eureka upper-cases app names; Switchboard's are case-sensitive). */
export function serviceOfApp(app: string): string {
  return checkServiceName(app.toLowerCase());
}

/** The app a service is shown as. */
export function appOfService(service: string): string {
  return service.toUpperCase();
}

/** What a Eureka registration keeps of the instance it replaces: the fields Eureka has no word for. */
export type PreviousRegistration = Pick<
  Instance,
  'tags' | 'weight' | 'authorizedRoles' | 'url' | 'deregisterCriticalAfter' | 'checks' | 'metadata'
>;

/**
 * `POST /apps/{APP}` with `{"instance": {…}}`: the registration it makes. Refused (INVALID_ARGUMENT) as Eureka's
 * server refuses it: without an id (`instanceId`, else `hostName`), `hostName`, `ipAddr`, `app`, a `dataCenterInfo`
 * with a name, or with an `app` other than the path's. `previous` finds the instance this one replaces, if any.
 */
export function registrationFromEureka(
  pathApp: string,
  body: unknown,
  options: { healthChecks: boolean; previous?: (service: string, id: string) => PreviousRegistration | undefined },
): RegisterRequest {
  const instance = isFields(body) ? body['instance'] : undefined;
  if (!isFields(instance)) throw invalid('the body must hold an instance: {"instance": {…}} or <instance>…</instance>');
  const hostName = required(instance, 'hostName');
  const id = textOf(instance['instanceId']) ?? hostName;
  const ipAddr = required(instance, 'ipAddr');
  const app = required(instance, 'app');
  if (app.toUpperCase() !== pathApp.toUpperCase()) {
    throw invalid(`instance.app ${app} is not the application of the path, ${pathApp}`);
  }
  const dataCenterInfo = dataCenterOf(instance['dataCenterInfo']);
  const service = serviceOfApp(app);
  checkInstanceId(id);
  const port = portOf(instance['port'], 'port');
  if (port === undefined) throw invalid('instance.port is missing');
  const securePort = portOf(instance['securePort'], 'securePort');
  const lease = isFields(instance['leaseInfo']) ? instance['leaseInfo'] : {};
  const day = { min: 1, max: 86_400 };
  const renewal = integerOf(lease['renewalIntervalInSecs'], 'leaseInfo.renewalIntervalInSecs', day);
  const duration = integerOf(lease['durationInSecs'], 'leaseInfo.durationInSecs', day);
  const own = isFields(instance['metadata']) ? stringsOf(instance['metadata'], 'metadata') : {};
  const reserved = Object.keys(own).filter((key) => key.startsWith(RESERVED_PREFIX));
  if (reserved.length > 0) {
    throw invalid(
      `instance.metadata keys starting with "${RESERVED_PREFIX}" are Switchboard's: ${reserved.join(', ')}`,
    );
  }
  const metadata: Record<string, string> = { ...own, [EUREKA_KEYS.ipAddr]: ipAddr };
  const remember = (key: string, value: string | undefined): void => {
    if (value !== undefined) metadata[key] = value;
  };
  remember(EUREKA_KEYS.vipAddress, textOf(instance['vipAddress']));
  remember(EUREKA_KEYS.secureVipAddress, textOf(instance['secureVipAddress']));
  if (!port.enabled) metadata[EUREKA_KEYS.portEnabled] = 'false';
  if (securePort) {
    metadata[EUREKA_KEYS.securePort] = String(securePort.port);
    metadata[EUREKA_KEYS.securePortEnabled] = String(securePort.enabled);
  }
  const countryId = integerOf(instance['countryId'], 'countryId', { min: 0, max: 1_000_000 });
  if (countryId !== undefined && countryId !== DEFAULTS.countryId) metadata[EUREKA_KEYS.countryId] = String(countryId);
  if (dataCenterInfo.metadata !== undefined || dataCenterInfo.name !== DEFAULT_DATA_CENTER.name) {
    metadata[EUREKA_KEYS.dataCenterInfo] = JSON.stringify(dataCenterInfo);
  }
  const dirty = integerOf(instance['lastDirtyTimestamp'], 'lastDirtyTimestamp', {
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
  });
  if (dirty !== undefined) metadata[EUREKA_KEYS.lastDirtyTimestamp] = String(dirty);
  if (renewal !== undefined && renewal !== DEFAULTS.renewalIntervalInSecs) {
    metadata[EUREKA_KEYS.renewalIntervalInSecs] = String(renewal);
  }
  const endpoints: Endpoint[] = [];
  for (const field of URL_FIELDS) {
    const url = textOf(instance[field]);
    if (url !== undefined) endpoints.push({ type: URL_ENDPOINTS[field], url });
  }
  const previous = options.previous?.(service, id);
  // An operator's override (PUT …/status) outlives the instance registering again, as in Eureka's registry.
  const override = previous?.metadata[EUREKA_KEYS.overriddenStatus];
  if (override !== undefined) metadata[EUREKA_KEYS.overriddenStatus] = override;
  const status = statusOf(override) ?? statusOf(instance['status']) ?? 'UP';
  const checks = (previous?.checks ?? []).filter((check) => check.id !== HEALTH_CHECK_ID).map(checkDefinitionOf);
  const healthCheckUrl = textOf(instance['healthCheckUrl']);
  if (options.healthChecks && healthCheckUrl !== undefined) {
    checks.push({ id: HEALTH_CHECK_ID, http: healthCheckUrl, interval: renewal ?? DEFAULTS.renewalIntervalInSecs });
  }
  const zone = dataCenterInfo.metadata?.['availability-zone'];
  const request: RegisterRequest = {
    service,
    id,
    host: hostName,
    port: port.port,
    status,
    endpoints,
    metadata,
    // Eureka expires a lease `durationInSecs` after the last renewal; the renewal interval is only how often the
    // client means to renew. A ttl of one interval would lapse the lease whenever a heartbeat came a little late.
    // The instance is removed one duration after it lapsed (deregisterAfter counts from the last heartbeat): Eureka
    // in practice evicts at twice the duration.
    ttl: duration ?? DEFAULTS.durationInSecs,
    deregisterAfter: 2 * (duration ?? DEFAULTS.durationInSecs),
    ...(checks.length > 0 ? { checks } : {}),
    ...(zone === undefined ? {} : { zone }),
  };
  // Fields Eureka has no word for are the operator's (set over REST v1): registering again keeps them.
  if (previous) {
    request.tags = previous.tags;
    request.weight = previous.weight;
    request.authorizedRoles = previous.authorizedRoles;
    if (previous.url !== undefined) request.url = previous.url;
    if (previous.deregisterCriticalAfter !== undefined)
      request.deregisterCriticalAfter = previous.deregisterCriticalAfter;
  }
  return request;
}

// ---- Switchboard → Eureka ------------------------------------------------------------------------------------------

/**
 * The status Eureka clients see: the registry's own verdict counts, so an instance whose lease lapsed or whose
 * checks (or maintenance) made it critical shows DOWN, unless an operator already took it OUT_OF_SERVICE.
 */
export function eurekaStatusOf(instance: Pick<Instance, 'status' | 'health'>): InstanceStatus {
  return instance.health === 'critical' && instance.status !== 'OUT_OF_SERVICE' ? 'DOWN' : instance.status;
}

/** The instance's `lastDirtyTimestamp`: the client's own, else when the registry last changed the record. */
export function lastDirtyOf(instance: Pick<Instance, 'metadata' | 'updatedAt'>): number {
  const given = instance.metadata[EUREKA_KEYS.lastDirtyTimestamp];
  return given === undefined ? Date.parse(instance.updatedAt) : Number(given);
}

const seconds = (duration: string | undefined, fallback: number): number =>
  duration === undefined ? fallback : Math.max(1, Math.round(parseDuration(duration, 'duration') / 1_000));

/** What the client said, else a third of the lease (how Switchboard's own SDK renews), else Eureka's default. */
function renewalOf(instance: Pick<Instance, 'metadata' | 'ttl'>): number {
  const given = instance.metadata[EUREKA_KEYS.renewalIntervalInSecs];
  if (given !== undefined) return Number(given);
  if (instance.ttl === undefined) return DEFAULTS.renewalIntervalInSecs;
  return Math.max(1, Math.round(seconds(instance.ttl, DEFAULTS.durationInSecs) / 3));
}

function urlBase(instance: Pick<Instance, 'host' | 'port'>): string {
  const host = instance.host.includes(':') ? `[${instance.host}]` : instance.host;
  return `http://${host}:${instance.port}`;
}

function dataCenterOfRecord(stored: string | undefined): EurekaDataCenterInfo {
  if (stored === undefined) return { ...DEFAULT_DATA_CENTER };
  try {
    const parsed = JSON.parse(stored) as unknown;
    return isFields(parsed) ? dataCenterOf(parsed) : { ...DEFAULT_DATA_CENTER };
  } catch {
    // A REST v1 client may have stored anything under the key: it is answered as the default.
    return { ...DEFAULT_DATA_CENTER };
  }
}

/** An instance as Eureka answers it; `actionType` says what a delta did to it (ADDED in full answers). */
export function eurekaInstanceOf(instance: Instance, actionType: ActionType = 'ADDED'): EurekaInstance {
  const meta = instance.metadata;
  const urls = new Map(instance.endpoints.map((endpoint) => [endpoint.type, endpoint.url]));
  const base = urlBase(instance);
  const registered = Date.parse(instance.registeredAt);
  const updated = Date.parse(instance.updatedAt);
  const own: Record<string, string> = {};
  for (const [key, value] of Object.entries(meta)) if (!key.startsWith(RESERVED_PREFIX)) own[key] = value;
  const secureHealthCheckUrl = urls.get(URL_ENDPOINTS.secureHealthCheckUrl);
  return {
    instanceId: instance.id,
    hostName: instance.host,
    app: appOfService(instance.service),
    ipAddr: meta[EUREKA_KEYS.ipAddr] ?? instance.host,
    status: eurekaStatusOf(instance),
    overriddenStatus: statusOf(meta[EUREKA_KEYS.overriddenStatus]) ?? 'UNKNOWN',
    port: { $: instance.port, '@enabled': meta[EUREKA_KEYS.portEnabled] === 'false' ? 'false' : 'true' },
    securePort: {
      $: Number(meta[EUREKA_KEYS.securePort] ?? DEFAULTS.securePort),
      '@enabled': meta[EUREKA_KEYS.securePortEnabled] === 'true' ? 'true' : 'false',
    },
    countryId: Number(meta[EUREKA_KEYS.countryId] ?? DEFAULTS.countryId),
    dataCenterInfo: dataCenterOfRecord(meta[EUREKA_KEYS.dataCenterInfo]),
    leaseInfo: {
      renewalIntervalInSecs: renewalOf(instance),
      durationInSecs: seconds(instance.ttl, DEFAULTS.durationInSecs),
      registrationTimestamp: registered,
      lastRenewalTimestamp: Date.parse(instance.lastHeartbeat),
      evictionTimestamp: 0,
      serviceUpTimestamp: registered,
    },
    metadata: own,
    homePageUrl: urls.get(URL_ENDPOINTS.homePageUrl) ?? `${base}${DEFAULTS.homePagePath}`,
    statusPageUrl: urls.get(URL_ENDPOINTS.statusPageUrl) ?? `${base}${DEFAULTS.statusPagePath}`,
    healthCheckUrl: urls.get(URL_ENDPOINTS.healthCheckUrl) ?? `${base}${DEFAULTS.healthCheckPath}`,
    ...(secureHealthCheckUrl === undefined ? {} : { secureHealthCheckUrl }),
    vipAddress: meta[EUREKA_KEYS.vipAddress] ?? instance.service,
    secureVipAddress: meta[EUREKA_KEYS.secureVipAddress] ?? instance.service,
    isCoordinatingDiscoveryServer: 'false',
    lastUpdatedTimestamp: String(updated),
    lastDirtyTimestamp: String(lastDirtyOf(instance)),
    actionType,
  };
}

/**
 * `apps__hashcode`: how many instances have each status, by status name (`DOWN_1_UP_3_`), as
 * Applications.getReconcileHashCode makes it; clients compare it with their own after applying a delta.
 */
export function reconcileHashCode(instances: Iterable<Pick<EurekaInstance, 'status'>>): string {
  const counts = new Map<string, number>();
  for (const { status } of instances) counts.set(status, (counts.get(status) ?? 0) + 1);
  return [...counts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([status, count]) => `${status}_${count}_`)
    .join('');
}
