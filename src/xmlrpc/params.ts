/**
 * Reading XML-RPC parameters. A value of the wrong XML-RPC type is a -32602 fault; a value of the right type that
 * the registry refuses (a bad status name, a port out of range) is the registry's INVALID_ARGUMENT.
 */
import { RegistryError } from '../errors/index.js';
import { INSTANCE_STATUSES } from '../wire/index.js';
import type { InstanceStatus } from '../wire/index.js';
import { isStruct } from './codec.js';
import type { XmlRpcStruct, XmlRpcValue } from './codec.js';
import { invalidParams } from './fault.js';

/** MicroReg's status constants (ServiceDB.SERVICE_RUNNING, SERVICE_STOPPED, SERVICE_ERROR) and what they mean here. */
const MICROREG_STATUSES: ReadonlyMap<number, InstanceStatus> = new Map([
  [1, 'UP'],
  [0, 'DOWN'],
  [-1, 'OUT_OF_SERVICE'],
]);

export function typeName(value: XmlRpcValue): string {
  if (value === undefined) return 'nil';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'double';
  if (typeof value === 'string' || typeof value === 'boolean') return value === '' ? 'empty string' : typeof value;
  if (Array.isArray(value)) return 'array';
  if (value instanceof Date) return 'dateTime';
  if (value instanceof Uint8Array) return 'base64';
  return 'struct';
}

function wrongType(name: string, expected: string, value: XmlRpcValue): never {
  throw invalidParams(`${name} must be ${expected}, not ${typeName(value)}`);
}

export function stringParam(value: XmlRpcValue, name: string): string {
  if (typeof value !== 'string') wrongType(name, 'a string', value);
  return value;
}

export function intParam(value: XmlRpcValue, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) wrongType(name, 'an int', value);
  return value;
}

export function structParam(value: XmlRpcValue, name: string): XmlRpcStruct {
  if (!isStruct(value)) wrongType(name, 'a struct', value);
  return value;
}

export function arrayParam(value: XmlRpcValue, name: string): XmlRpcValue[] {
  if (!Array.isArray(value)) wrongType(name, 'an array', value);
  return value;
}

/** A status as MicroReg's integer (1, 0, -1) or as one of Switchboard's names. */
export function statusParam(value: XmlRpcValue, name = 'status'): InstanceStatus {
  if (typeof value === 'number' && Number.isInteger(value)) {
    const status = MICROREG_STATUSES.get(value);
    if (status) return status;
  } else if (typeof value === 'string') {
    if ((INSTANCE_STATUSES as readonly string[]).includes(value)) return value as InstanceStatus;
  } else {
    wrongType(name, 'an int (1, 0, -1) or a string', value);
  }
  throw new RegistryError(
    'INVALID_ARGUMENT',
    `${name} ${JSON.stringify(value)} is neither 1 (UP), 0 (DOWN), -1 (OUT_OF_SERVICE) nor one of ${INSTANCE_STATUSES.join(', ')}`,
  );
}

/** The status as MicroReg reports it: its integer where one maps, else the name. */
export function microRegStatus(status: InstanceStatus): number | string {
  switch (status) {
    case 'UP':
      return 1;
    case 'DOWN':
      return 0;
    case 'OUT_OF_SERVICE':
      return -1;
    case 'STARTING':
    case 'UNKNOWN':
      return status;
  }
}

/** The service a `(service, …)` call names, for its access check: undefined when the first parameter is no string. */
export function serviceOfCall(params: XmlRpcValue[]): string | undefined {
  return typeof params[0] === 'string' ? params[0] : undefined;
}
