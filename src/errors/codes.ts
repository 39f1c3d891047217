/**
 * The one table of error codes. Codes are public API: add new ones, never rename or reuse one.
 * `http` is the REST status, `fault` the XML-RPC faultCode (kept outside −32768…−32000, which XML-RPC reserves).
 * `retryable` says whether the same request may succeed when sent again, later or to another node: the SDK's
 * failover, its watch and the self-registration agent all decide by it (a request the registry refused stays
 * refused; one it could not carry out may go through next time).
 */
export const ERROR_CODES = {
  INVALID_ARGUMENT: { http: 400, fault: 1400, retryable: false },
  UNAUTHENTICATED: { http: 401, fault: 1401, retryable: false },
  PERMISSION_DENIED: { http: 403, fault: 1403, retryable: false },
  NOT_FOUND: { http: 404, fault: 1404, retryable: false },
  ALREADY_EXISTS: { http: 409, fault: 1409, retryable: false },
  PAYLOAD_TOO_LARGE: { http: 413, fault: 1413, retryable: false },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, fault: 1415, retryable: false },
  UNAVAILABLE: { http: 503, fault: 1503, retryable: true },
  // A bug may be transient (a race, a node in a bad state): retrying with backoff costs little and may succeed.
  INTERNAL: { http: 500, fault: 1500, retryable: true },
  // The API gateway's answers (issue #7).
  NO_ROUTE: { http: 404, fault: 1410, retryable: false },
  UPSTREAM_ERROR: { http: 502, fault: 1502, retryable: true },
  NO_HEALTHY_INSTANCE: { http: 503, fault: 1530, retryable: true },
  UPSTREAM_TIMEOUT: { http: 504, fault: 1504, retryable: true },
  // A gateway prefix has one owner (issue #13); 1409 is ALREADY_EXISTS, so the 409 takes 1490 (as 503 took 1530).
  PREFIX_TAKEN: { http: 409, fault: 1490, retryable: false },
  // Limits (issue #14): a quota reached, or an answer over its size budget. Sending the same again changes nothing
  // until something else does (an instance leaves, the operator raises the limit).
  RESOURCE_EXHAUSTED: { http: 429, fault: 1429, retryable: false },
  // The store did not finish a write within its deadline (a stalled disk, etcd too slow): nothing was acknowledged.
  STORE_UNAVAILABLE: { http: 503, fault: 1533, retryable: true },
  // The request did not arrive in time (headers or body too slow).
  REQUEST_TIMEOUT: { http: 408, fault: 1408, retryable: true },
} as const satisfies Record<string, { http: number; fault: number; retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}
