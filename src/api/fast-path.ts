/**
 * The two requests a registry answers most — a plain discovery read and a heartbeat — answered straight from the
 * node:http request handler, before Fastify's routing, hooks and reply machinery (which cost about as much CPU as
 * the rest of such a request together; see bench/RESULTS.md).
 *
 * Invariant: a fast answer is byte-for-byte what the Fastify route would answer (same body from the same cache,
 * same headers, same error shape). Anything else — a query string, a conditional request, a body, another method,
 * a name that breaks the rules — is left to Fastify, which stays the one place that validates and documents routes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { AccessControl, ServiceRight } from '../auth/index.js';
import type { Registry } from '../core/index.js';
import { INDEX_HEADER, INSTANCE_ID_PATTERN, SERVICE_NAME_PATTERN } from '../wire/index.js';
import type { AnswerCache } from './answer-cache.js';
import type { BlockingReads } from './blocking-reads.js';
import { errorBody } from '../errors/index.js';
import type { RegistryError } from '../errors/index.js';
import { toApiError } from './error-handler.js';
import type { RequestMetrics } from './request-metrics.js';
import { DEFAULT_FILTER, serviceBody } from './service-routes.js';

const SERVICE_READ = new RegExp(`^/v1/services/(${SERVICE_NAME_PATTERN.slice(1, -1)})$`);
const HEARTBEAT = new RegExp(
  `^/v1/services/(${SERVICE_NAME_PATTERN.slice(1, -1)})/instances/(${INSTANCE_ID_PATTERN.slice(1, -1)})/heartbeat$`,
);
const JSON_TYPE = 'application/json; charset=utf-8';
/** The templates of the Fastify routes these requests would take, so both count under one route label. */
const READ_ROUTE = '/v1/services/:service';
const HEARTBEAT_ROUTE = '/v1/services/:service/instances/:id/heartbeat';

export interface FastPathParts {
  registry: Registry;
  /** A read needs read on its service, a heartbeat write (issue #13), checked here as the routes' hook would. */
  access: AccessControl;
  cache: AnswerCache;
  blocking: BlockingReads;
  logger: FastifyBaseLogger;
  /** Where each answer is counted and timed (issue #20), as Fastify's onResponse hook counts the others. */
  requests: RequestMetrics;
}

/** Returns a request handler that answers what it can and hands the rest to `next` (Fastify). */
export function createFastPath(
  parts: FastPathParts,
  next: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { registry, cache, blocking, logger, access, requests } = parts;
  // Bound once: a fast answer's metrics cost two clock reads and a bucket search, no label lookup.
  const readOk = requests.series('GET', READ_ROUTE, 200);
  const heartbeatOk = requests.series('PUT', HEARTBEAT_ROUTE, 200);

  /** The refusal the routes' access hook would answer, or undefined when `req` may. */
  function refusal(req: IncomingMessage, right: ServiceRight, service: string): RegistryError | undefined {
    try {
      access.principalOf(req).require(right, service);
      return undefined;
    } catch (err) {
      return err as RegistryError;
    }
  }

  /** Answers the refusal; returns its status code. */
  function refuse(res: ServerResponse, error: RegistryError): number {
    const body = errorBody(error);
    send(res, { status: body.statusCode, body: JSON.stringify(body), index: registry.index });
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
        const error = toApiError(err as Error);
        const body = errorBody(error);
        if (body.statusCode >= 500) logger.error({ err }, error.message);
        send(res, { status: body.statusCode, body: JSON.stringify(body), index: registry.index });
        requests.series('PUT', HEARTBEAT_ROUTE, body.statusCode).observe((performance.now() - startedAt) / 1000);
      },
    );
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
    } else if (req.method === 'PUT' && !hasBody(req)) {
      const match = HEARTBEAT.exec(url);
      if (match) {
        const startedAt = performance.now();
        // The request has no body to read: resume so that 'end' fires and the socket can take the next request.
        req.resume();
        const refused = refusal(req, 'write', match[1] as string);
        if (refused) {
          const code = refuse(res, refused);
          requests.series('PUT', HEARTBEAT_ROUTE, code).observe((performance.now() - startedAt) / 1000);
        } else {
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

function send(res: ServerResponse, answer: { status: number; body: string; index: number }): void {
  const { status, body, index } = answer;
  res.writeHead(status, {
    [INDEX_HEADER]: index,
    'content-type': JSON_TYPE,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
