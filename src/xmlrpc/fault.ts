import { ERROR_CODES, RegistryError } from '../errors/index.js';

/**
 * Protocol fault codes (the range −32768…−32000 is reserved for them by the XML-RPC fault-code convention,
 * http://xmlrpc-epi.sourceforge.net/specs/rfc.fault_codes.php). The registry's own errors use the fault numbers
 * of the error table, which stay outside that range.
 */
export const PROTOCOL_FAULTS = {
  /** The body is not XML, not a methodCall, or is refused (DOCTYPE, entities, too deep). */
  parseError: -32700,
  methodNotFound: -32601,
  /** Wrong parameter count or types. */
  invalidParams: -32602,
} as const;

/** A fault to answer: thrown by the codec and the methods, turned into `<fault>` by the route. */
export class XmlRpcFault extends Error {
  constructor(
    readonly faultCode: number,
    readonly faultString: string,
  ) {
    super(faultString);
    this.name = 'XmlRpcFault';
  }
}

export function parseError(message: string): XmlRpcFault {
  return new XmlRpcFault(PROTOCOL_FAULTS.parseError, `parse error: ${message}`);
}

export function invalidParams(message: string): XmlRpcFault {
  return new XmlRpcFault(PROTOCOL_FAULTS.invalidParams, `invalid params: ${message}`);
}

export function methodNotFound(name: string): XmlRpcFault {
  const shown = name.length > 100 ? `${name.slice(0, 100)}…` : name;
  return new XmlRpcFault(PROTOCOL_FAULTS.methodNotFound, `method ${JSON.stringify(shown)} is not supported`);
}

/** The fault for a registry error: the table's fault number, and the code in front of the message. */
export function registryFault(error: RegistryError): XmlRpcFault {
  return new XmlRpcFault(ERROR_CODES[error.code].fault, `${error.code}: ${error.message}`);
}

/** Whether `err` is a bug (anything but a fault or a registry error): those are logged. */
export function isExpected(err: unknown): boolean {
  return err instanceof XmlRpcFault || (err instanceof RegistryError && err.code !== 'INTERNAL');
}
