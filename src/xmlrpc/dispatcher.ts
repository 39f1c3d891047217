/**
 * Calls methods by name and turns every outcome into an answer: a result, or a fault. Nothing a client sends makes
 * `answer` throw; an error that is neither a fault nor a registry error is a bug, logged and answered as INTERNAL.
 */
import { RegistryError, toRegistryError } from '../errors/index.js';
import { decodeCall, encodeFault, encodeResult, isStruct } from './codec.js';
import type { XmlRpcStruct, XmlRpcValue } from './codec.js';
import { XmlRpcFault, invalidParams, isExpected, methodNotFound, registryFault } from './fault.js';
import { arrayParam, stringParam } from './params.js';

export interface XmlRpcMethod {
  /** Each signature is the return type followed by the parameter types, as `system.methodSignature` answers. */
  signatures: readonly (readonly string[])[];
  help: string;
  call(params: XmlRpcValue[]): XmlRpcValue | Promise<XmlRpcValue>;
}

export interface DispatcherLogger {
  error(obj: object, msg: string): void;
}

export interface DispatcherOptions {
  /** Deepest nesting of arrays and structs accepted in a call. */
  maxDepth: number;
  /** Most calls in one system.multicall. */
  maxMulticall: number;
  logger: DispatcherLogger;
}

const MULTICALL = 'system.multicall';

export class Dispatcher {
  readonly #methods = new Map<string, XmlRpcMethod>();
  readonly #options: DispatcherOptions;

  constructor(methods: ReadonlyMap<string, XmlRpcMethod>, options: DispatcherOptions) {
    this.#options = options;
    for (const [name, method] of methods) this.#methods.set(name, method);
    for (const [name, method] of this.#systemMethods()) this.#methods.set(name, method);
  }

  /** The methodResponse for a request body: the method's result, or a fault. */
  async answer(body: string): Promise<string> {
    try {
      const { method, params } = await decodeCall(body, { maxDepth: this.#options.maxDepth });
      return encodeResult(await this.call(method, params));
    } catch (err) {
      return encodeFault(this.#toFault(err));
    }
  }

  /** Calls one method; throws an XmlRpcFault or a RegistryError. */
  async call(name: string, params: XmlRpcValue[]): Promise<XmlRpcValue> {
    const method = this.#methods.get(name);
    if (!method) throw methodNotFound(name);
    const counts = method.signatures.map((s) => s.length - 1);
    if (!counts.includes(params.length)) {
      const expected = [...new Set(counts)].sort((a, b) => a - b).join(' or ');
      throw invalidParams(`${name} takes ${expected} parameters, not ${params.length}`);
    }
    return await method.call(params);
  }

  #toFault(err: unknown): XmlRpcFault {
    if (!isExpected(err)) this.#options.logger.error({ err }, 'XML-RPC call failed');
    if (err instanceof XmlRpcFault) return err;
    return registryFault(err instanceof RegistryError ? err : toRegistryError(err));
  }

  #systemMethods(): Map<string, XmlRpcMethod> {
    const lookup = (params: XmlRpcValue[]): XmlRpcMethod => {
      const name = stringParam(params[0], 'method name');
      const method = this.#methods.get(name);
      if (!method) throw invalidParams(`no method ${JSON.stringify(name)}`);
      return method;
    };
    return new Map<string, XmlRpcMethod>([
      [
        'system.listMethods',
        {
          signatures: [['array']],
          help: 'The names of every method this endpoint serves.',
          call: () => [...this.#methods.keys()].sort(),
        },
      ],
      [
        'system.methodHelp',
        {
          signatures: [['string', 'string']],
          help: 'What a method does, its parameters and its answer.',
          call: (params) => lookup(params).help,
        },
      ],
      [
        'system.methodSignature',
        {
          signatures: [['array', 'string']],
          help: "A method's signatures: each one the return type followed by the parameter types.",
          call: (params) => lookup(params).signatures.map((s) => [...s]),
        },
      ],
      [
        MULTICALL,
        {
          signatures: [['array', 'array']],
          help:
            'Runs several calls in order in one request: system.multicall([{methodName, params}, ...]). ' +
            'Answers one entry per call: [result], or a {faultCode, faultString} struct for a call that failed.',
          call: (params) => this.#multicall(arrayParam(params[0], 'calls')),
        },
      ],
    ]);
  }

  async #multicall(calls: XmlRpcValue[]): Promise<XmlRpcValue[]> {
    if (calls.length > this.#options.maxMulticall) {
      throw invalidParams(`system.multicall takes at most ${this.#options.maxMulticall} calls, not ${calls.length}`);
    }
    const results: XmlRpcValue[] = [];
    for (const [i, entry] of calls.entries()) {
      try {
        const { name, params } = multicallEntry(entry, i);
        results.push([await this.call(name, params)]);
      } catch (err) {
        const fault = this.#toFault(err);
        results.push({ faultCode: fault.faultCode, faultString: fault.faultString } satisfies XmlRpcStruct);
      }
    }
    return results;
  }
}

function multicallEntry(entry: XmlRpcValue, i: number): { name: string; params: XmlRpcValue[] } {
  if (!isStruct(entry)) throw invalidParams(`calls[${i}] must be a struct {methodName, params}`);
  const name = stringParam(entry['methodName'], `calls[${i}].methodName`);
  const params = entry['params'] === undefined ? [] : arrayParam(entry['params'], `calls[${i}].params`);
  // Nested multicalls would let one small request fan out without bound.
  if (name === MULTICALL) throw invalidParams('system.multicall cannot be nested');
  return { name, params };
}
