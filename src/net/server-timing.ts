/**
 * How long a client may take to send a request, for the registry's server and the gateway's alike (issue #14), and
 * how what node:http reports before a request reaches a handler (too slow, unparsable) is answered.
 */
import type { ServerOptions } from 'node:http';
import { RegistryError } from '../errors/index.js';

export interface RequestDeadlines {
  /** Time to receive a request's headers. */
  headersTimeoutMs: number;
  /** Time to receive a whole request, headers and body. */
  requestTimeoutMs: number;
}

/** node:http's options for the deadlines; it checks them every `connectionsCheckingInterval` (30 s by default). */
export function serverTiming(deadlines: RequestDeadlines): ServerOptions {
  const headersTimeout = Math.min(deadlines.headersTimeoutMs, deadlines.requestTimeoutMs);
  return {
    headersTimeout,
    requestTimeout: deadlines.requestTimeoutMs,
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(headersTimeout / 2))),
  };
}

/**
 * The answer to a node:http `clientError`, or undefined when there is nobody to answer (the client reset the
 * connection). `timeoutFlag` names the flag that sets the deadline, for the message.
 */
export function clientErrorAnswer(err: Error & { code?: string }, timeoutFlag: string): RegistryError | undefined {
  if (err.code === 'ECONNRESET') return undefined;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return new RegistryError('REQUEST_TIMEOUT', `the request did not arrive in time (see ${timeoutFlag})`);
  }
  return new RegistryError(
    'INVALID_ARGUMENT',
    err.code === 'HPE_HEADER_OVERFLOW' ? 'the request headers are too large' : 'the request is not valid HTTP',
  );
}
