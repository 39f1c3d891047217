import type { ErrorCode } from './codes.js';

/** An error with a stable code; a plain `Error` anywhere else means a bug. */
export class RegistryError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'RegistryError';
  }
}

/** Turns anything thrown into a RegistryError: foreign errors become INTERNAL, keeping the original as `cause`. */
export function toRegistryError(err: unknown): RegistryError {
  if (err instanceof RegistryError) return err;
  return new RegistryError('INTERNAL', 'internal error', { cause: err });
}
