/**
 * How the REST API turns a request's text into checked values: the JSON body parser, the schema validators and the
 * message of a validation failure. Fastify's routes and the fast path (fast-path.ts) both use these, so a bad request
 * gets the same answer whichever of them reads it.
 */
import { Ajv } from 'ajv';
import type { ErrorObject } from 'ajv';
import { parse as parseSecureJson } from 'secure-json-parse';
import { RegistryError } from '../errors/index.js';

/**
 * Query strings and paths are text, so their values are converted to the schema's types (and a single `?tag=a`
 * becomes an array). Bodies are JSON and keep their types: `"port": "80"` or `"ttl": true` is refused, not converted.
 */
const AJV_OPTIONS = { removeAdditional: false, useDefaults: true, allErrors: false, strict: false } as const;
const coercingAjv = new Ajv({ ...AJV_OPTIONS, coerceTypes: 'array' });
const strictAjv = new Ajv({ ...AJV_OPTIONS, coerceTypes: false });

export type Validator = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

/**
 * The validator of one part of a request. Ajv keeps what it compiled by schema, so the fast path and the Fastify route
 * of one schema share one function.
 */
export function compileValidator(schema: object, httpPart: string | undefined): Validator {
  return (httpPart === 'body' ? strictAjv : coercingAjv).compile(schema);
}

/** Fastify's `schemaErrorFormatter`: "body/port must be integer", the failing parts joined by commas. */
export function validationError(errors: readonly ErrorObject[], dataVar: string): Error {
  return new Error(
    errors.map((error) => `${dataVar}${error.instancePath} ${error.message ?? 'is invalid'}`).join(', '),
  );
}

/** The INVALID_ARGUMENT a body that fails `validate` is answered with (as Fastify's validation error becomes one). */
export function invalidBody(validate: Validator): RegistryError {
  return new RegistryError('INVALID_ARGUMENT', validationError(validate.errors ?? [], 'body').message);
}

/**
 * A JSON body as a value. Keys that would reach an object's prototype (`__proto__`, `constructor.prototype`) are
 * refused, as Fastify's own parser does, since handlers spread bodies into records.
 */
export function parseJsonBody(text: string): unknown {
  if (text.length === 0) throw new RegistryError('INVALID_ARGUMENT', 'body is empty but content-type is JSON');
  try {
    return parseSecureJson(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (err) {
    throw new RegistryError('INVALID_ARGUMENT', `body is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}
