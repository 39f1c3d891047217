import { STATUS_CODES } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  ERROR_CODES,
  NotFoundError,
  RegistryError,
  UnavailableError,
  codeOfStatus,
  errorBody,
  errorFromBody,
  isRetryable,
  reasonOf,
} from './index.js';
import type { ErrorCode } from './index.js';

const CODES = Object.keys(ERROR_CODES) as ErrorCode[];

describe('the error body', () => {
  it("names each code's status with node:http's reason phrase", () => {
    for (const code of CODES) {
      const status = ERROR_CODES[code].http;
      expect(reasonOf(status), code).toBe(STATUS_CODES[status]);
    }
  });

  it('is built from a code and parsed back into the same typed error', () => {
    for (const code of CODES) {
      const body = errorBody(new RegistryError(code, `a ${code}`));
      expect(body).toEqual({
        statusCode: ERROR_CODES[code].http,
        code,
        error: STATUS_CODES[ERROR_CODES[code].http],
        message: `a ${code}`,
      });
      const parsed = errorFromBody(body.statusCode, JSON.stringify(body));
      expect(parsed).toBeInstanceOf(RegistryError);
      expect(parsed).toMatchObject({ code, message: `a ${code}` });
    }
    expect(errorFromBody(404, JSON.stringify(errorBody({ code: 'NOT_FOUND', message: 'gone' })))).toBeInstanceOf(
      NotFoundError,
    );
  });

  it('falls back to the status when the answer is not the error body (a proxy in between)', () => {
    expect(errorFromBody(503, '<html>busy</html>')).toBeInstanceOf(UnavailableError);
    expect(errorFromBody(404, 'no such page')).toBeInstanceOf(NotFoundError);
    expect(errorFromBody(401, '')).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(errorFromBody(502, 'bad gateway')).toMatchObject({ code: 'UPSTREAM_ERROR' });
    expect(errorFromBody(418, '{"no":"code"}')).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(errorFromBody(599, 'null')).toMatchObject({ code: 'INTERNAL' });
    // A code this client does not know yet is an INTERNAL error, with the server's message.
    expect(errorFromBody(500, '{"code":"SOMETHING_NEW","message":"m"}')).toMatchObject({
      code: 'INTERNAL',
      message: 'm',
    });
  });

  it('maps a status to the first code of the table that answers it', () => {
    expect(codeOfStatus(404)).toBe('NOT_FOUND');
    expect(codeOfStatus(503)).toBe('UNAVAILABLE');
    expect(codeOfStatus(405)).toBe('INVALID_ARGUMENT');
    for (const code of CODES)
      expect(ERROR_CODES[codeOfStatus(ERROR_CODES[code].http)].http).toBe(ERROR_CODES[code].http);
  });
});

describe('retryability', () => {
  it('follows the retryable column for a registry error', () => {
    expect(isRetryable(new RegistryError('UNAVAILABLE', 'down'))).toBe(true);
    for (const code of ['INVALID_ARGUMENT', 'NOT_FOUND', 'PERMISSION_DENIED', 'UNAUTHENTICATED'] as const)
      expect(isRetryable(new RegistryError(code, 'refused')), code).toBe(false);
    for (const code of CODES) expect(isRetryable(new RegistryError(code, 'x'))).toBe(ERROR_CODES[code].retryable);
  });

  it('counts a failure without an answer (a transport error) as retryable', () => {
    expect(isRetryable(new TypeError('fetch failed'))).toBe(true);
    expect(isRetryable(undefined)).toBe(true);
  });
});
