/**
 * Calls methods by name and turns every outcome into an answer: a result, or a fault. Nothing a client sends makes
 * `answer` throw; an error that is neither a fault nor a registry error is a bug, logged and answered as INTERNAL.
 *
 * Every answer fits in `maxAnswerBytes` (issue #14), counted as it is encoded. A system.multicall shares that budget
 * among its calls and encodes each result as soon as it has it; it yields to the event loop between calls, so that
 * heartbeats and sweeps are served while a long one runs.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Principal } from '../auth/index.js';
import { RegistryError, toRegistryError } from '../errors/index.js';
import { ArrayAnswer, decodeCall, encodeFault, encodedBytes, encodeResult, isStruct } from './codec.js';
import type { XmlRpcStruct, XmlRpcValue } from './codec.js';
import { XmlRpcFault, invalidParams, isExpected, methodNotFound, registryFault } from './fault.js';
import { arrayParam, stringParam } from './params.js';

/**
 * What a method needs (issue #13), checked before it runs, call by call inside a multicall:
 * - `public`: anyone (`system.listMethods` and the other introspection methods);
 * - `read` / `write` on the service a parameter names (`service` returns it; undefined when the parameter is
 *   missing or not a string: the caller then needs the right somewhere, and the method's own checks answer the rest);
 * - `per-item`: anyone the registry accepts; the method keeps what `caller` may read.
 */
export type MethodAccess =
  'public' | 'per-item' | { right: 'read' | 'write'; service: (params: XmlRpcValue[]) => string | undefined };

export interface XmlRpcMethod {
  /** Each signature is the return type followed by the parameter types, as `system.methodSignature` answers. */
  signatures: readonly (readonly string[])[];
  help: string;
  access: MethodAccess;
  call(params: XmlRpcValue[], caller: Principal): XmlRpcValue | Promise<XmlRpcValue>;
}

export interface DispatcherLogger {
  error(obj: object, msg: string): void;
}

export interface DispatcherOptions {
  /** Deepest nesting of arrays and structs accepted in a call. */
  maxDepth: number;
  /** Most calls in one system.multicall. */
  maxMulticall: number;
  /** Largest answer in bytes; the calls of a multicall share it. */
  maxAnswerBytes: number;
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

  /** The methodResponse for a request body sent by `caller`: the method's result, or a fault. */
  async answer(body: string, caller: Principal): Promise<string> {
    try {
      const { method, params } = await decodeCall(body, { maxDepth: this.#options.maxDepth });
      if (method === MULTICALL) {
        this.#checkArity(MULTICALL, params);
        return await this.#multicall(arrayParam(params[0], 'calls'), caller);
      }
      const answer = encodeResult(await this.call(method, params, caller), this.#options.maxAnswerBytes);
      if (answer !== undefined) return answer;
      throw this.#overBudget('the answer would pass its budget: ask for less, such as a smaller page');
    } catch (err) {
      return encodeFault(this.#toFault(err));
    }
  }

  /** Calls one method for `caller`; throws an XmlRpcFault or a RegistryError. */
  async call(name: string, params: XmlRpcValue[], caller: Principal): Promise<XmlRpcValue> {
    const method = this.#methods.get(name);
    if (!method) throw methodNotFound(name);
    this.#authorize(method.access, params, caller);
    this.#checkArity(name, params);
    return await method.call(params, caller);
  }

  #checkArity(name: string, params: XmlRpcValue[]): void {
    const counts = this.#methods.get(name)?.signatures.map((s) => s.length - 1) ?? [];
    if (!counts.includes(params.length)) {
      const expected = [...new Set(counts)].sort((a, b) => a - b).join(' or ');
      throw invalidParams(`${name} takes ${expected} parameters, not ${params.length}`);
    }
  }

  /** RESOURCE_EXHAUSTED for an answer past its budget, naming the limit and its flag. */
  #overBudget(what: string): RegistryError {
    const limit = `${this.#options.maxAnswerBytes} bytes: xmlrpc.maxAnswerBytes, --xmlrpc-max-answer-bytes`;
    return new RegistryError('RESOURCE_EXHAUSTED', `${what} (${limit})`);
  }

  #authorize(access: MethodAccess, params: XmlRpcValue[], caller: Principal): void {
    if (access === 'public' || access === 'per-item') return;
    const service = access.service(params);
    if (service === undefined) caller.requireSomewhere(access.right);
    else caller.require(access.right, service);
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
          access: 'public',
          call: () => [...this.#methods.keys()].sort(),
        },
      ],
      [
        'system.methodHelp',
        {
          signatures: [['string', 'string']],
          help: 'What a method does, its parameters and its answer.',
          access: 'public',
          call: (params) => lookup(params).help,
        },
      ],
      [
        'system.methodSignature',
        {
          signatures: [['array', 'string']],
          help: "A method's signatures: each one the return type followed by the parameter types.",
          access: 'public',
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
          // Each call is checked as if it came alone.
          access: 'public',
          // `answer` runs a multicall itself, encoding as it goes; a multicall's entry naming it is refused earlier.
          call: () => {
            throw nestedMulticall();
          },
        },
      ],
    ]);
  }

  /**
   * The answer to a multicall. Calls run in order until one's answer would take the whole past its budget: that
   * call's entry is then a RESOURCE_EXHAUSTED fault saying it was made, and every later call is not made and answers
   * a fault saying so. A client thus learns which calls took effect, which one fault for the whole would hide. Room
   * for a fault entry is kept free for each call still to come, so those entries always fit; when the budget cannot
   * hold even them, the whole multicall is refused before any call is made.
   */
  async #multicall(calls: XmlRpcValue[], caller: Principal): Promise<string> {
    if (calls.length > this.#options.maxMulticall) {
      throw invalidParams(`system.multicall takes at most ${this.#options.maxMulticall} calls, not ${calls.length}`);
    }
    const made = faultEntry(
      this.#overBudget("this call was made, but its answer would take the multicall's answer past its budget"),
    );
    const notMade = faultEntry(
      this.#overBudget("this call was not made: an earlier call's answer took the multicall's answer to its budget"),
    );
    const room = Math.max(encodedBytes(made), encodedBytes(notMade));
    const answer = new ArrayAnswer(this.#options.maxAnswerBytes);
    if (answer.left < calls.length * room) {
      throw this.#overBudget(
        `a multicall of ${calls.length} calls needs a budget of at least ${calls.length * room} bytes: send fewer calls`,
      );
    }
    let spent = false;
    for (const [i, entry] of calls.entries()) {
      // Let heartbeats, sweeps and other requests in between calls: a multicall may hold up to maxMulticall of them.
      if (i > 0) await nextTurn();
      const reserve = (calls.length - i - 1) * room;
      if (spent) {
        answer.push(notMade, reserve);
        continue;
      }
      let result: XmlRpcValue;
      try {
        const { name, params } = multicallEntry(entry, i);
        result = [await this.call(name, params, caller)];
      } catch (err) {
        result = faultEntry(this.#toFault(err));
      }
      if (!answer.push(result, reserve)) {
        spent = true;
        answer.push(made, reserve);
      }
    }
    return answer.finish();
  }
}

/** A multicall entry for a call that failed. */
function faultEntry(fault: XmlRpcFault | RegistryError): XmlRpcStruct {
  const { faultCode, faultString } = fault instanceof XmlRpcFault ? fault : registryFault(fault);
  return { faultCode, faultString } satisfies XmlRpcStruct;
}

function nestedMulticall(): XmlRpcFault {
  // Nested multicalls would let one small request fan out without bound.
  return invalidParams('system.multicall cannot be nested');
}

function multicallEntry(entry: XmlRpcValue, i: number): { name: string; params: XmlRpcValue[] } {
  if (!isStruct(entry)) throw invalidParams(`calls[${i}] must be a struct {methodName, params}`);
  const name = stringParam(entry['methodName'], `calls[${i}].methodName`);
  const params = entry['params'] === undefined ? [] : arrayParam(entry['params'], `calls[${i}].params`);
  if (name === MULTICALL) throw nestedMulticall();
  return { name, params };
}
