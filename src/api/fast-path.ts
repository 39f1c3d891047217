/**
 * The three requests a registry answers most — a plain discovery read, a heartbeat and a registration — answered
 * straight from the node:http request handler, before Fastify's routing, hooks and reply machinery (which cost about
 * as much CPU as the rest of such a request together; see bench/RESULTS.md).
 *
 * Invariant: a fast answer is what the Fastify route would answer (same body from the same cache, same status and
 * content type, same error shape and message). A registration's body is parsed and validated by the functions the
 * route uses (validation.ts), so a bad one is refused alike. Anything else — a query string, a conditional request, a
 * body where none is expected, a body that is not plain JSON of a declared length within the limit, another method,
 * a name that breaks the rules — is left to Fastify, which stays the one place that routes and documents requests.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { AccessControl, ServiceRight } from '../auth/index.js';
import type { Registry } from '../core/index.js';
import { INDEX_HEADER, INSTANCE_ID_PATTERN, SERVICE_NAME_PATTERN } from '../wire/index.js';
import type { InstanceRegistration } from '../wire/index.js';
import type { AnswerCache } from './answer-cache.js';
import type { BlockingReads } from './blocking-reads.js';
import { errorBody } from '../errors/index.js';
import type { RegistryError } from '../errors/index.js';
import { toApiError } from './error-handler.js';
import type { RequestMetrics } from './request-metrics.js';
import { registrationBody } from './schemas.js';
import { DEFAULT_FILTER, serviceBody } from './service-routes.js';
import { compileValidator, invalidBody, parseJsonBody } from './validation.js';

const SERVICE_READ = new RegExp(`^/v1/services/(${SERVICE_NAME_PATTERN.slice(1, -1)})$`);
const HEARTBEAT = new RegExp(
  `^/v1/services/(${SERVICE_NAME_PATTERN.slice(1, -1)})/instances/(${INSTANCE_ID_PATTERN.slice(1, -1)})/heartbeat$`,
);
const REGISTRATION = new RegExp(
  `^/v1/services/(${SERVICE_NAME_PATTERN.slice(1, -1)})/instances/(${INSTANCE_ID_PATTERN.slice(1, -1)})$`,
);
const JSON_TYPE = 'application/json; charset=utf-8';
/** Content types of a body the fast path reads; any other (or a parameter it does not know) goes to Fastify. */
const PLAIN_JSON = new Set(['application/json', 'application/json; charset=utf-8']);
/** The templates of the Fastify routes these requests would take, so both count under one route label. */
const READ_ROUTE = '/v1/services/:service';
const HEARTBEAT_ROUTE = '/v1/services/:service/instances/:id/heartbeat';
const REGISTRATION_ROUTE = '/v1/services/:service/instances/:id';
/** The route's own validator: Ajv compiles a schema once, so this is the function Fastify calls for the route. */
const validateRegistration = compileValidator(registrationBody, 'body');

export interface FastPathParts {
  registry: Registry;
  /** A read needs read on its service, a heartbeat write (issue #13), checked here as the routes' hook would. */
  access: AccessControl;
  cache: AnswerCache;
  blocking: BlockingReads;
  logger: FastifyBaseLogger;
  /** Where each answer is counted and timed (issue #20), as Fastify's onResponse hook counts the others. */
  requests: RequestMetrics;
  /** The largest body Fastify reads (`http.bodyLimitBytes`): a longer one is left to it, to be refused with 413. */
  bodyLimit: number;
}

/** Returns a request handler that answers what it can and hands the rest to `next` (Fastify). */
export function createFastPath(
  parts: FastPathParts,
  next: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { registry, cache, blocking, logger, access, requests, bodyLimit } = parts;
  // Bound once: a fast answer's metrics cost two clock reads and a bucket search, no label lookup.
  const readOk = requests.series('GET', READ_ROUTE, 200);
  const heartbeatOk = requests.series('PUT', HEARTBEAT_ROUTE, 200);
  const registered = {
    200: requests.series('PUT', REGISTRATION_ROUTE, 200),
    201: requests.series('PUT', REGISTRATION_ROUTE, 201),
  };

  /** The refusal the routes' access hook would answer, or undefined when `req` may. */
  function refusal(req: IncomingMessage, right: ServiceRight, service: string): RegistryError | undefined {
    try {
      access.principalOf(req).require(right, service);
      return undefined;
    } catch (err) {
      return err as RegistryError;
    }
  }

  /** Answers an error as the routes' error handler does (logged, in the one error shape); returns its status code. */
  function refuse(res: ServerResponse, err: unknown): number {
    const error = toApiError(err as Error);
    const body = errorBody(error);
    if (body.statusCode >= 500) logger.error({ err }, error.message);
    else logger.info({ code: error.code }, error.message);
    send(res, { status: body.statusCode, body: JSON.stringify(body), index: undefined });
    return body.statusCode;
  }

  function read(service: string, req: IncomingMessage, res: ServerResponse): void {
    const body = serviceBody({ registry, cache }, service, DEFAULT_FILTER);
    blocking.write(res, { url: req.url ?? '', index: registry.serviceIndex(service), body });
  }

  function heartbeat(match: RegExpExecArray, res: ServerResponse, startedAt: number): void {
    registry.renew(match[1] as string, match[2] as string).then(
      (instance) => {
        send(res, { status: 200, body: JSON.stringify(instance), index: registry.index });
        heartbeatOk.observe((performance.now() - startedAt) / 1000);
      },
      (err: unknown) => {
        const code = refuse(res, err);
        requests.series('PUT', HEARTBEAT_ROUTE, code).observe((performance.now() - startedAt) / 1000);
      },
    );
  }

  /** Reads the body (at most `bodyLimit` bytes, as its declared length says), validates it, registers. */
  function register(
    req: IncomingMessage,
    res: ServerResponse,
    { service, id, startedAt }: { service: string; id: string; startedAt: number },
  ): void {
    const failed = (err: unknown): void => {
      const code = refuse(res, err);
      requests.series('PUT', REGISTRATION_ROUTE, code).observe((performance.now() - startedAt) / 1000);
    };
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => {
      let fields: InstanceRegistration;
      try {
        const text =
          chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8');
        const value = parseJsonBody(text);
        if (!validateRegistration(value)) throw invalidBody(validateRegistration);
        fields = value as InstanceRegistration;
      } catch (err) {
        failed(err);
        return;
      }
      registry.register({ ...fields, service, id }, { exclusive: false }).then(({ instance, created }) => {
        const status = created ? 201 : 200;
        send(res, { status, body: JSON.stringify(instance), index: registry.index });
        registered[status].observe((performance.now() - startedAt) / 1000);
      }, failed);
    });
  }

  return (req, res) => {
    const url = req.url ?? '';
    if (req.method === 'GET' && req.headers['if-none-match'] === undefined) {
      const match = SERVICE_READ.exec(url);
      if (match) {
        const startedAt = performance.now();
        const service = match[1] as string;
        const refused = refusal(req, 'read', service);
        if (refused) {
          const code = refuse(res, refused);
          requests.series('GET', READ_ROUTE, code).observe((performance.now() - startedAt) / 1000);
        } else {
          read(service, req, res);
          readOk.observe((performance.now() - startedAt) / 1000);
        }
        return;
      }
    } else if (req.method === 'PUT') {
      const withBody = hasBody(req);
      const match = withBody ? plainJson(req, bodyLimit) && REGISTRATION.exec(url) : HEARTBEAT.exec(url);
      if (match) {
        const startedAt = performance.now();
        const route = withBody ? REGISTRATION_ROUTE : HEARTBEAT_ROUTE;
        const refused = refusal(req, 'write', match[1] as string);
        if (refused) {
          // Refused before its body is read, as the routes' onRequest hook refuses; the body is drained unread.
          req.resume();
          const code = refuse(res, refused);
          requests.series('PUT', route, code).observe((performance.now() - startedAt) / 1000);
        } else if (withBody) {
          register(req, res, { service: match[1] as string, id: match[2] as string, startedAt });
        } else {
          // The request has no body to read: resume so that 'end' fires and the socket can take the next request.
          req.resume();
          heartbeat(match, res, startedAt);
        }
        return;
      }
    }
    next(req, res);
  };
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** A body of a declared length within the limit, plain JSON, not encoded: what the fast path reads itself. */
function plainJson(req: IncomingMessage, bodyLimit: number): boolean {
  const { headers } = req;
  const type = headers['content-type'];
  return (
    type !== undefined &&
    PLAIN_JSON.has(type.toLowerCase()) &&
    headers['transfer-encoding'] === undefined &&
    headers['content-encoding'] === undefined &&
    Number(headers['content-length']) <= bodyLimit
  );
}

/** Writes an answer; errors carry no index header, as the routes' error handler sends none. */
function send(res: ServerResponse, answer: { status: number; body: string; index: number | undefined }): void {
  const { status, body, index } = answer;
  const length = Buffer.byteLength(body);
  res.writeHead(
    status,
    index === undefined
      ? { 'content-type': JSON_TYPE, 'content-length': length }
      : { [INDEX_HEADER]: index, 'content-type': JSON_TYPE, 'content-length': length },
  );
  res.end(body);
}
