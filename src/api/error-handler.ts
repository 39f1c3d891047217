import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { checkInstanceId, checkServiceName } from '../core/index.js';
import { RegistryError, codeOfStatus, errorBody, toRegistryError } from '../errors/index.js';
import type { ErrorCode } from '../errors/index.js';

/** Fastify's own error codes that are the client's fault, and the stable code each becomes. */
const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_ARGUMENT',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_ARGUMENT',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_ARGUMENT',
  FST_ERR_VALIDATION: 'INVALID_ARGUMENT',
};

/** Turns whatever a handler threw into the one error shape, so no input can produce a bare 500. */
export function toApiError(err: FastifyError | Error): RegistryError {
  if (err instanceof RegistryError) return err;
  const fastifyError = err as Partial<FastifyError>;
  if (fastifyError.validation) return new RegistryError('INVALID_ARGUMENT', err.message, { cause: err });
  const mapped = fastifyError.code === undefined ? undefined : FASTIFY_CODES[fastifyError.code];
  if (mapped)
    return new RegistryError(
      mapped,
      mapped === 'INVALID_ARGUMENT' && /JSON/i.test(err.message)
        ? `body is not valid JSON: ${err.message}`
        : err.message,
      { cause: err },
    );
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    // Any 4xx Fastify raises without a code above still maps onto the table by its status.
    return new RegistryError(codeOfStatus(status), err.message, { cause: err });
  }
  return toRegistryError(err);
}

/**
 * A path parameter that fails its schema pattern gets the core's message, which says what a valid service name or
 * instance id looks like (the schema's own message only quotes the regular expression).
 */
function explainParams(err: FastifyError | Error, request: FastifyRequest): RegistryError | undefined {
  if ((err as Partial<FastifyError>).validationContext !== 'params') return undefined;
  const params = (request.params ?? {}) as Record<string, unknown>;
  try {
    if ('service' in params) checkServiceName(params['service']);
    if ('id' in params) checkInstanceId(params['id']);
  } catch (explained) {
    if (explained instanceof RegistryError) return explained;
  }
  return undefined;
}

export function handleError(err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  const error = explainParams(err, request) ?? toApiError(err);
  const body = errorBody(error);
  if (body.statusCode >= 500) request.log.error({ err }, error.message);
  else request.log.info({ code: error.code }, error.message);
  void reply.code(body.statusCode).type('application/json; charset=utf-8').send(body);
}

export function handleNotFound(request: FastifyRequest, reply: FastifyReply): void {
  const error = new RegistryError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`);
  void reply.code(404).type('application/json; charset=utf-8').send(errorBody(error));
}
