/**
 * Switchboard's own methods for XML-RPC clients: the REST API's operations, answering its shapes as structs and
 * failing with faults (the registry's error codes) instead of `False`. Statuses are always names here.
 */
import { checkServiceName } from '../core/index.js';
import type { RegisterRequest, Registry } from '../core/index.js';
import { RegistryError } from '../errors/index.js';
import { REGISTRATION_FIELD_NAMES } from '../wire/index.js';
import { isStruct } from './codec.js';
import type { XmlRpcStruct, XmlRpcValue } from './codec.js';
import type { XmlRpcMethod } from './dispatcher.js';
import { intParam, serviceOfCall, statusParam, stringParam, structParam } from './params.js';

/** The registration schema's fields, plus the service and the optional id. */
const REGISTRATION_FIELDS: ReadonlySet<string> = new Set(['service', 'id', ...REGISTRATION_FIELD_NAMES]);

/** The registry's answers are JSON shapes, which XML-RPC carries as they are (optional fields are absent, not nil). */
function struct(value: object): XmlRpcStruct {
  return value as XmlRpcStruct;
}

function toRequest(body: XmlRpcStruct): RegisterRequest {
  const unknown = Object.keys(body).filter((key) => !REGISTRATION_FIELDS.has(key));
  if (unknown.length > 0) {
    throw new RegistryError('INVALID_ARGUMENT', `unknown registration field(s): ${unknown.join(', ')}`);
  }
  const request = { ...body } as unknown as RegisterRequest;
  // MicroReg's integer statuses are accepted here too; the core checks every other field.
  if (body['status'] !== undefined) request.status = statusParam(body['status']);
  return request;
}

/** The `service` field of a registration struct. */
const registeredService = (params: XmlRpcValue[]): string | undefined => {
  const body = params[0];
  return isStruct(body) && typeof body['service'] === 'string' ? body['service'] : undefined;
};

/** The `registry.*` methods, keyed by name. */
export function registryMethods(registry: Registry): Map<string, XmlRpcMethod> {
  const instanceOf = (params: XmlRpcValue[]): [string, string] => [
    stringParam(params[0], 'service'),
    stringParam(params[1], 'id'),
  ];
  return new Map<string, XmlRpcMethod>([
    [
      'registry.register',
      {
        signatures: [['struct', 'struct']],
        help:
          'registry.register({service, host, port, ...}) -> the instance. The struct holds the REST instance body ' +
          `(${REGISTRATION_FIELD_NAMES.filter((name) => name !== 'host' && name !== 'port').join(', ')}) ` +
          'plus service and an optional id. Without an id one is made; with the id of an instance that exists, it is ' +
          'updated.',
        access: { right: 'write', service: registeredService },
        call: async (params) => {
          const { instance } = await registry.register(toRequest(structParam(params[0], 'registration')));
          return struct(instance);
        },
      },
    ],
    [
      'registry.deregister',
      {
        signatures: [['struct', 'string', 'string']],
        help: 'registry.deregister(service, id) -> the removed instance; a NOT_FOUND fault when it is not registered.',
        access: { right: 'write', service: serviceOfCall },
        call: async (params) => struct(await registry.deregister(...instanceOf(params))),
      },
    ],
    [
      'registry.heartbeat',
      {
        signatures: [['struct', 'string', 'string']],
        help: 'registry.heartbeat(service, id) -> the instance, its lease renewed; NOT_FOUND means: register again.',
        access: { right: 'write', service: serviceOfCall },
        call: async (params) => struct(await registry.renew(...instanceOf(params))),
      },
    ],
    [
      'registry.setStatus',
      {
        signatures: [
          ['struct', 'string', 'string', 'string'],
          ['struct', 'string', 'string', 'int'],
        ],
        help: `registry.setStatus(service, id, status) -> the instance. status is a name (UP, DOWN, STARTING, OUT_OF_SERVICE, UNKNOWN) or 1, 0, -1.`,
        access: { right: 'write', service: serviceOfCall },
        call: async (params) => {
          const [service, id] = instanceOf(params);
          return struct(await registry.setStatus(service, id, statusParam(params[2])));
        },
      },
    ],
    [
      'registry.getService',
      {
        signatures: [['struct', 'string']],
        help: 'registry.getService(name) -> {name, index, instances}: the instances to call (status UP, health not critical).',
        access: { right: 'read', service: serviceOfCall },
        call: (params) => {
          const name = stringParam(params[0], 'name');
          // The REST route checks the name with its schema; here the core's rule applies.
          return struct({ name: checkServiceName(name), ...registry.list(name) });
        },
      },
    ],
    [
      'registry.listServices',
      {
        signatures: [['struct']],
        help: 'registry.listServices() -> {index, services: [{name, instances, byStatus}]}: the services the caller may read.',
        access: 'per-item',
        call: (_params, caller) => {
          const list = registry.listServices();
          if (caller.holdsEverywhere('read')) return struct(list);
          return struct({ ...list, services: list.services.filter((s) => caller.can('read', s.name)) });
        },
      },
    ],
    [
      'registry.instances',
      {
        signatures: [['struct'], ['struct', 'string'], ['struct', 'string', 'int']],
        help:
          'registry.instances(cursor = "", limit = 100) -> {instances, nextCursor}: one page of every instance, ' +
          'ordered by service and id. Pass "" for the first page and nextCursor for the next; it is "" after the last. A page keeps the instances the caller may read, so it may hold fewer than limit.',
        access: 'per-item',
        call: (params, caller) => {
          const cursor = params[0] === undefined ? '' : stringParam(params[0], 'cursor');
          const limit = params[1] === undefined ? 100 : intParam(params[1], 'limit');
          if (limit < 1 || limit > 1_000) throw new RegistryError('INVALID_ARGUMENT', 'limit must be from 1 to 1000');
          const page = registry.page(cursor === '' ? undefined : cursor, limit);
          const instances = caller.holdsEverywhere('read')
            ? page.instances
            : page.instances.filter((instance) => caller.can('read', instance.service));
          return struct({ instances, nextCursor: page.nextCursor ?? '' });
        },
      },
    ],
  ]);
}
