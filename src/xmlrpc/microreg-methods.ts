/**
 * MicroReg's six XML-RPC methods, with their parameter lists and return conventions, over the registry's records
 * (https://github.com/MicroReg/MicroReg, server/RegistryServer.py; see issue #3).
 *
 * Conventions kept for old clients:
 * - Lookups of an unknown name (or id) answer `False`, not a fault; so does registering a host and port the
 *   service already has. Nothing answers nil: Python's xmlrpc.client is not made with allow_none.
 * - Statuses are reported as MicroReg's integers where one maps (UP 1, DOWN 0, OUT_OF_SERVICE -1).
 * - The host and port come back as they were registered: MicroReg's gateway builds `host + ':' + str(port)` and
 *   needs the scheme its clients put in the host. The record holds the bare host (and the scheme as an endpoint);
 *   the verbatim values are kept in metadata.
 */
import { EVERY_INSTANCE } from '../core/index.js';
import type { Registry } from '../core/index.js';
import { createHash } from 'node:crypto';
import { RegistryError } from '../errors/index.js';
import { URL_SCHEME, parseAddressUrl } from '../wire/index.js';
import type { Endpoint, Instance, InstanceStatus } from '../wire/index.js';
import type { XmlRpcStruct, XmlRpcValue } from './codec.js';
import type { XmlRpcMethod } from './dispatcher.js';
import { invalidParams } from './fault.js';
import { microRegStatus, serviceOfCall, statusParam, stringParam, typeName } from './params.js';

/** Metadata key of the host as a MicroReg client sent it, when it differs from the bare host (a scheme). */
const MICROREG_HOST_KEY = 'microreg.host';
/** Metadata key of the port as a MicroReg client sent it, when it was a numeric string. */
const MICROREG_PORT_KEY = 'microreg.port';

/** The original methods, keyed by name. */
export function microRegMethods(registry: Registry): Map<string, XmlRpcMethod> {
  const rotation = new Map<string, number>();
  const queues = new Map<string, Promise<unknown>>();
  let details: { index: number; json: string } | undefined;

  /** Runs registrations of one service one after another, so two equal ones cannot both pass the check. */
  const serialized = async <T>(service: string, task: () => Promise<T>): Promise<T> => {
    const run = (queues.get(service) ?? Promise.resolve()).then(task, task);
    const tail = run.catch(() => undefined);
    queues.set(service, tail);
    try {
      return await run;
    } finally {
      if (queues.get(service) === tail) queues.delete(service);
    }
  };

  const register = async (params: XmlRpcValue[]): Promise<string | false> => {
    const [nameParam, hostParam, rawPort, statusValue] = params;
    const service = stringParam(nameParam, 'service_name');
    const given = { host: stringParam(hostParam, 'service_host'), port: portParam(rawPort) };
    const status: InstanceStatus = statusValue === undefined ? 'UP' : statusParam(statusValue, 'service_status');
    const { host, endpoint } = splitHost(given.host, given.port);
    const metadata: Record<string, string> = {};
    if (given.host !== host) metadata[MICROREG_HOST_KEY] = given.host;
    if (typeof rawPort === 'string') metadata[MICROREG_PORT_KEY] = rawPort;
    return serialized(service, async () => {
      const taken = registry
        .list(service, EVERY_INSTANCE)
        .instances.some((i) => i.host === host && i.port === given.port);
      if (taken) return false;
      try {
        // The id follows from the address and the write is exclusive, so the store refuses the second of two
        // registrations of one address even when they reach different registry nodes at once (issue #12).
        const { instance } = await registry.register(
          {
            service,
            id: microRegInstanceId(service, host, given.port),
            host,
            port: given.port,
            status,
            endpoints: endpoint ? [endpoint] : [],
            metadata,
          },
          { exclusive: true },
        );
        return instance.id;
      } catch (err) {
        if (err instanceof RegistryError && err.code === 'ALREADY_EXISTS') return false;
        throw err;
      }
    });
  };

  /** The instances a name (and optional id) picks; none for an unknown name or id. */
  const pick = (params: XmlRpcValue[], idAt: number): { service: string; instances: Instance[] } => {
    const service = stringParam(params[0], 'service_name');
    const id = params[idAt] === undefined ? undefined : stringParam(params[idAt], 'instance_id');
    const { instances } = registry.list(service, EVERY_INSTANCE);
    return { service, instances: id === undefined ? instances : instances.filter((i) => i.id === id) };
  };

  /** Applies `change` to each instance; one removed meanwhile is skipped. */
  const each = async (instances: Instance[], change: (instance: Instance) => Promise<unknown>): Promise<void> => {
    for (const instance of instances) {
      try {
        await change(instance);
      } catch (err) {
        if (!(err instanceof RegistryError && err.code === 'NOT_FOUND')) throw err;
      }
    }
  };

  return new Map<string, XmlRpcMethod>([
    [
      'register',
      {
        signatures: [
          ['string', 'string', 'string', 'int'],
          ['string', 'string', 'string', 'int', 'int'],
          ['string', 'string', 'string', 'int', 'string'],
        ],
        help:
          'register(service_name, service_host, service_port[, service_status]) -> the new instance id, or False ' +
          'when the service already has an instance at that host and port. service_host may carry a scheme ' +
          '("http://10.0.0.5"); service_port is an int or a numeric string; service_status is 1 (UP, the default), ' +
          '0 (DOWN), -1 (OUT_OF_SERVICE) or a status name.',
        access: { right: 'write', service: serviceOfCall },
        call: register,
      },
    ],
    [
      'update_status',
      {
        signatures: [
          ['boolean', 'string', 'int'],
          ['boolean', 'string', 'string'],
          ['boolean', 'string', 'int', 'string'],
          ['boolean', 'string', 'string', 'string'],
        ],
        help:
          'update_status(service_name, service_status[, instance_id]) -> True, or False when the name (or id) is ' +
          'unknown. Without an id it sets the status of every instance of the service.',
        access: { right: 'write', service: serviceOfCall },
        call: async (params) => {
          const status = statusParam(params[1], 'service_status');
          const { service, instances } = pick(params, 2);
          if (instances.length === 0) return false;
          await each(instances, (i) => registry.setStatus(service, i.id, status));
          return true;
        },
      },
    ],
    [
      'unregister',
      {
        signatures: [
          ['boolean', 'string'],
          ['boolean', 'string', 'string'],
        ],
        help:
          'unregister(service_name[, instance_id]) -> True, or False when the name (or id) is unknown. Without an ' +
          'id it removes every instance of the service.',
        access: { right: 'write', service: serviceOfCall },
        call: async (params) => {
          const { service, instances } = pick(params, 1);
          if (instances.length === 0) return false;
          await each(instances, (i) => registry.deregister(service, i.id));
          return true;
        },
      },
    ],
    [
      'get_service_details',
      {
        signatures: [['array', 'string']],
        help:
          'get_service_details(service_name) -> [host, port] of a healthy UP instance, taking each in turn, or ' +
          'False when there is none.',
        access: { right: 'read', service: serviceOfCall },
        call: (params) => {
          const service = stringParam(params[0], 'service_name');
          const { instances } = registry.list(service);
          const turn = rotation.get(service) ?? 0;
          const instance = instances[turn % Math.max(1, instances.length)];
          if (!instance) {
            rotation.delete(service);
            return false;
          }
          rotation.set(service, (turn + 1) % instances.length);
          return [hostOf(instance), reportedPort(instance)];
        },
      },
    ],
    [
      'get_all_service_details',
      {
        signatures: [['string']],
        help:
          'get_all_service_details() -> a JSON string: an object keyed by instance id whose values hold name, ' +
          'host, port, status, reg_timestamp ("%d-%m-%y %H:%M", server local time) and id, for every instance ' +
          'the caller may read.',
        access: 'per-item',
        call: (_params, caller) => {
          if (!caller.holdsEverywhere('read')) return allDetails(registry, (service) => caller.can('read', service));
          // Rebuilt only when the registry changed: pollers of the whole list cost one string copy each.
          if (details?.index !== registry.index) {
            details = { index: registry.index, json: allDetails(registry, () => true) };
          }
          return details.json;
        },
      },
    ],
    [
      'get_reg_count',
      {
        signatures: [['int']],
        help: 'get_reg_count() -> the number of registered instances (of the services the caller may read).',
        access: 'per-item',
        call: (_params, caller) => {
          if (caller.holdsEverywhere('read')) return registry.health().instances;
          return registry
            .listServices()
            .services.filter((s) => caller.can('read', s.name))
            .reduce((sum, s) => sum + s.instances, 0);
        },
      },
    ],
  ]);
}

/** service_port: an int, or a numeric string (MicroReg's own tests sent '8000'). */
function portParam(value: XmlRpcValue): number {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value !== 'string') {
    throw invalidParams(`service_port must be an int or a numeric string, not ${typeName(value)}`);
  }
  if (!/^\d{1,5}$/.test(value)) {
    throw new RegistryError('INVALID_ARGUMENT', `service_port ${JSON.stringify(value)} is not a port number`);
  }
  return Number(value);
}

/** The port as registered over MicroReg (a string when it was sent as one), else the record's port. */
function reportedPort(instance: Instance): number | string {
  return instance.metadata[MICROREG_PORT_KEY] ?? instance.port;
}

/** The host as registered over MicroReg (with its scheme), else the record's host. */
function hostOf(instance: Instance): string {
  return instance.metadata[MICROREG_HOST_KEY] ?? instance.host;
}

/**
 * Splits a MicroReg host into the bare host and, when it carries a scheme, an endpoint of that type
 * (`"http://10.0.0.5"` and port 8000 → host `10.0.0.5`, endpoint `{type: "http", url: "http://10.0.0.5:8000"}`).
 */
function splitHost(given: string, port: number): { host: string; endpoint?: Endpoint } {
  if (!URL_SCHEME.test(given)) return { host: given };
  const { url, host } = parseAddressUrl(given, 'service_host');
  const type = url.protocol.slice(0, -1);
  const path = url.pathname === '/' ? '' : url.pathname;
  return { host, endpoint: { type, url: `${url.protocol}//${url.hostname}:${port}${path}` } };
}

/**
 * The id of a MicroReg registration: one address, one instance of a service. The service is part of it because
 * MicroReg's ids are unique across services (`get_services()` keys its answer by id).
 */
function microRegInstanceId(service: string, host: string, port: number): string {
  return `mr-${createHash('sha256').update(`${service}\u0000${host}\u0000${port}`).digest('hex').slice(0, 24)}`;
}

/** MicroReg's `get_services()` answer: JSON of every record of the services `visible` keeps, keyed by id. */
function allDetails(registry: Registry, visible: (service: string) => boolean): string {
  const records: Record<string, XmlRpcStruct> = {};
  let cursor: string | undefined;
  do {
    const page = registry.page(cursor, 1_000);
    for (const instance of page.instances) {
      if (!visible(instance.service)) continue;
      // Ids are unique within a service only: a repeated id is keyed by service/id instead.
      const key = Object.hasOwn(records, instance.id) ? `${instance.service}/${instance.id}` : instance.id;
      records[key] = {
        name: instance.service,
        host: hostOf(instance),
        port: reportedPort(instance),
        status: microRegStatus(instance.status),
        reg_timestamp: microRegTimestamp(new Date(instance.registeredAt)),
        id: instance.id,
      };
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return JSON.stringify(records);
}

/** `datetime.strftime("%d-%m-%y %H:%M")` in the server's local time, as MicroReg wrote reg_timestamp. */
function microRegTimestamp(date: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(date.getDate())}-${two(date.getMonth() + 1)}-${two(date.getFullYear() % 100)} ${two(date.getHours())}:${two(date.getMinutes())}`;
}
