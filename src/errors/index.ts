export { ERROR_CODES, isErrorCode } from './codes.js';
export type { ErrorCode } from './codes.js';
export { RegistryError, toRegistryError } from './registry-error.js';
