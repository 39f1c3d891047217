/**
 * The one error body of the REST API and the gateway, `{ statusCode, code, error, message }`: built here for every
 * answer and parsed back here by the SDK. Browser-safe: no node: imports.
 */
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { ERROR_CODES, isErrorCode } from './codes.js';
import type { ErrorCode } from './codes.js';
import { RegistryError } from './registry-error.js';
import { errorFromCode } from './typed-errors.js';

/** The error body of every REST and gateway error. */
export const ErrorBodySchema = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String({ description: 'stable: callers switch on it (docs/errors.md)' }),
  error: Type.String({ description: "the status's reason phrase" }),
  message: Type.String(),
});
export type ErrorBody = Static<typeof ErrorBodySchema>;

/** The reason phrase of each status in the table, as node:http's STATUS_CODES has it (a test keeps them equal). */
const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The reason phrase of an HTTP status of the table ('Error' for any other). */
export function reasonOf(status: number): string {
  return REASONS[status] ?? 'Error';
}

/** Status → code: the first code of the table with that status (404 is NOT_FOUND, 503 UNAVAILABLE). */
const BY_STATUS = new Map<number, ErrorCode>();
for (const [code, { http }] of Object.entries(ERROR_CODES) as [ErrorCode, { http: number }][]) {
  if (!BY_STATUS.has(http)) BY_STATUS.set(http, code);
}

/** The code an HTTP status stands for when nothing better is known: the table's, else by its class. */
export function codeOfStatus(status: number): ErrorCode {
  return BY_STATUS.get(status) ?? (status >= 400 && status < 500 ? 'INVALID_ARGUMENT' : 'INTERNAL');
}

/** The body answered for `error`, with the status of its code. */
export function errorBody(error: { code: ErrorCode; message: string }): ErrorBody {
  const statusCode = ERROR_CODES[error.code].http;
  return { statusCode, code: error.code, error: reasonOf(statusCode), message: error.message };
}

/**
 * The typed error an answer carries: its body's code when the body is the error body, else the code of its status
 * (an answer from a proxy in between, or from something that is not a registry).
 */
export function errorFromBody(status: number, text: string): RegistryError {
  try {
    const body = JSON.parse(text) as unknown;
    if (typeof body === 'object' && body !== null) {
      const { code, message } = body as Partial<Record<keyof ErrorBody, unknown>>;
      if (typeof code === 'string')
        return errorFromCode(code, typeof message === 'string' ? message : `HTTP ${status}`);
    }
  } catch {
    // Not JSON: fall through to the status.
  }
  return errorFromCode(codeOfStatus(status), `HTTP ${status}: ${text.slice(0, 200)}`);
}

/**
 * Whether the request that failed with `err` may succeed when sent again (later, or to another node): the code's
 * `retryable` column for a registry's answer; anything else is a transport failure (no answer), which may pass.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof RegistryError) return ERROR_CODES[err.code].retryable;
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return isErrorCode(code) ? ERROR_CODES[code].retryable : true;
}
