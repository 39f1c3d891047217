export { ERROR_CODES, isErrorCode } from './codes.js';
export type { ErrorCode } from './codes.js';
export { RegistryError, toRegistryError } from './registry-error.js';
export { ErrorBodySchema, codeOfStatus, errorBody, errorFromBody, isRetryable, reasonOf } from './error-body.js';
export type { ErrorBody } from './error-body.js';
export {
  ExistingServiceError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  UnauthenticatedError,
  UnavailableError,
  errorFromCode,
} from './typed-errors.js';
