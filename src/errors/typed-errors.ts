/** The typed errors a client catches: a RegistryError per code a caller commonly handles, rebuilt from the code. */
import { isErrorCode } from './codes.js';
import type { ErrorCode } from './codes.js';
import { RegistryError } from './registry-error.js';

/** The instance or route does not exist (HTTP 404). */
export class NotFoundError extends RegistryError {
  constructor(message: string, options?: ErrorOptions) {
    super('NOT_FOUND', message, options);
    this.name = 'NotFoundError';
  }
}

/** The request was refused as malformed (HTTP 400). */
export class InvalidArgumentError extends RegistryError {
  constructor(message: string, options?: ErrorOptions) {
    super('INVALID_ARGUMENT', message, options);
    this.name = 'InvalidArgumentError';
  }
}

/** An exclusive registration met an instance that exists (HTTP 409); the seed library's "Existing service". */
export class ExistingServiceError extends RegistryError {
  constructor(message: string, options?: ErrorOptions) {
    super('ALREADY_EXISTS', message, options);
    this.name = 'ExistingServiceError';
  }
}

/** No registry node could be reached or the store is down (HTTP 503, or no answer at all). */
export class UnavailableError extends RegistryError {
  constructor(message: string, options?: ErrorOptions) {
    super('UNAVAILABLE', message, options);
    this.name = 'UnavailableError';
  }
}

/** A token is missing or invalid (HTTP 401). */
export class UnauthenticatedError extends RegistryError {
  constructor(message: string, options?: ErrorOptions) {
    super('UNAUTHENTICATED', message, options);
    this.name = 'UnauthenticatedError';
  }
}

/** The token lacks a needed permission (HTTP 403). */
export class PermissionDeniedError extends RegistryError {
  constructor(message: string, options?: ErrorOptions) {
    super('PERMISSION_DENIED', message, options);
    this.name = 'PermissionDeniedError';
  }
}

/** Rebuilds the typed error from a server's error code, so callers `switch (err.code)` or use `instanceof`. */
export function errorFromCode(code: unknown, message: string, options?: ErrorOptions): RegistryError {
  const known: ErrorCode = isErrorCode(code) ? code : 'INTERNAL';
  switch (known) {
    case 'NOT_FOUND':
      return new NotFoundError(message, options);
    case 'INVALID_ARGUMENT':
      return new InvalidArgumentError(message, options);
    case 'ALREADY_EXISTS':
      return new ExistingServiceError(message, options);
    case 'UNAVAILABLE':
      return new UnavailableError(message, options);
    case 'UNAUTHENTICATED':
      return new UnauthenticatedError(message, options);
    case 'PERMISSION_DENIED':
      return new PermissionDeniedError(message, options);
    case 'PAYLOAD_TOO_LARGE':
    case 'UNSUPPORTED_MEDIA_TYPE':
    case 'NO_ROUTE':
    case 'UPSTREAM_ERROR':
    case 'NO_HEALTHY_INSTANCE':
    case 'UPSTREAM_TIMEOUT':
    case 'PREFIX_TAKEN':
    case 'RESOURCE_EXHAUSTED':
    case 'STORE_UNAVAILABLE':
    case 'REQUEST_TIMEOUT':
    case 'INTERNAL':
      return new RegistryError(known, message, options);
  }
}
