/**
 * The one table of error codes. Codes are public API: add new ones, never rename or reuse one.
 * `http` is the REST status, `fault` the XML-RPC faultCode (kept outside −32768…−32000, which XML-RPC reserves).
 */
export const ERROR_CODES = {
  INVALID_ARGUMENT: { http: 400, fault: 1400 },
  UNAUTHENTICATED: { http: 401, fault: 1401 },
  PERMISSION_DENIED: { http: 403, fault: 1403 },
  NOT_FOUND: { http: 404, fault: 1404 },
  ALREADY_EXISTS: { http: 409, fault: 1409 },
  PAYLOAD_TOO_LARGE: { http: 413, fault: 1413 },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, fault: 1415 },
  UNAVAILABLE: { http: 503, fault: 1503 },
  INTERNAL: { http: 500, fault: 1500 },
  // The API gateway's answers (issue #7).
  NO_ROUTE: { http: 404, fault: 1410 },
  UPSTREAM_ERROR: { http: 502, fault: 1502 },
  NO_HEALTHY_INSTANCE: { http: 503, fault: 1530 },
  UPSTREAM_TIMEOUT: { http: 504, fault: 1504 },
} as const satisfies Record<string, { http: number; fault: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}
