/**
 * The seed Express registry's routes, for the shell scripts and clients written against it:
 * `POST /register`, `POST /deregister` and `GET /services`, over the same records as REST v1 (see issue #3).
 *
 * These routes answer in the seed's format, not the v1 JSON error shape: plain-text 200s
 * (`Service NAME registered.`) and plain-text 400s (`Invalid request data`). Any body is read as JSON whatever
 * its Content-Type, in their own Fastify scope, so a missing or broken body is that 400 rather than a 415.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccessControl } from '../auth/index.js';
import { EVERY_INSTANCE } from '../core/index.js';
import type { Registry } from '../core/index.js';
import { ERROR_CODES, RegistryError } from '../errors/index.js';
import type { Instance } from '../wire/index.js';
import { toApiError } from './error-handler.js';
import {
  MAX_ADDRESS_LENGTH,
  SEED_ADDRESS_KEY,
  parseSeedAddress,
  seedAddressOf,
  seedInstanceId,
} from './seed-address.js';

const TEXT = 'text/plain; charset=utf-8';
const INVALID = 'Invalid request data';

interface SeedBody {
  serviceName: string;
  serviceAddress: string;
}

const KEPT_STATUSES: ReadonlySet<string> = new Set(['UNAUTHENTICATED', 'PERMISSION_DENIED', 'UNSUPPORTED_MEDIA_TYPE']);

/**
 * The seed's clients send JSON (its Express app read bodies with express.json()). Anything else is refused before it
 * is read: a web page can POST text/plain to any address without a CORS preflight (issue #13).
 */
function requireJson(request: FastifyRequest): void {
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  // No body at all is the seed's "Invalid request data", answered by the field checks.
  if (request.headers['content-length'] === '0' || request.headers['content-length'] === undefined) {
    if (request.headers['transfer-encoding'] === undefined) return;
  }
  if (type === 'application/json' || /^application\/[a-z0-9.+-]*\+json$/.test(type)) return;
  throw new RegistryError(
    'UNSUPPORTED_MEDIA_TYPE',
    `the seed routes take application/json, not ${type === '' ? 'a body without a Content-Type' : type}`,
  );
}

/** Adds the seed routes to `app` (they are left out of /openapi.json: they are not part of API v1). */
export function addSeedRoutes(
  app: FastifyInstance,
  registry: Registry,
  options: { bodyLimit: number; access: AccessControl },
): void {
  const { access } = options;
  let services: { index: number; body: string } | undefined;

  void app.register((scope, _opts, done) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: options.bodyLimit }, (_request, body, next) => {
      next(null, body);
    });
    scope.setErrorHandler(answerError);

    scope.post('/register', { config: { access: 'in-handler', hidden: true } }, async (request, reply) => {
      const principal = access.principalOf(request.raw);
      principal.requireSomewhere('write');
      requireJson(request);
      const { serviceName, serviceAddress } = seedBody(request.body);
      principal.require('write', serviceName);
      const { host, port, endpoint } = parseSeedAddress(serviceAddress);
      await registry.register({
        service: serviceName,
        id: seedInstanceId(serviceAddress),
        host,
        port,
        endpoints: endpoint ? [endpoint] : [],
        metadata: { [SEED_ADDRESS_KEY]: serviceAddress },
      });
      return reply.type(TEXT).send(`Service ${serviceName} registered.`);
    });

    scope.post('/deregister', { config: { access: 'in-handler', hidden: true } }, async (request, reply) => {
      const principal = access.principalOf(request.raw);
      principal.requireSomewhere('write');
      requireJson(request);
      const { serviceName, serviceAddress } = seedBody(request.body);
      principal.require('write', serviceName);
      // Whatever registered it: an address GET /services lists is one this route removes.
      const matching = registry
        .list(serviceName, EVERY_INSTANCE)
        .instances.filter((i) => seedAddressOf(i) === serviceAddress);
      for (const instance of matching) {
        try {
          await registry.deregister(serviceName, instance.id);
        } catch (err) {
          if (!(err instanceof RegistryError && err.code === 'NOT_FOUND')) throw err;
        }
      }
      return reply.type(TEXT).send(`Service ${serviceName} deregistered.`);
    });

    scope.get('/services', { config: { access: 'in-handler', hidden: true } }, (request, reply) => {
      const principal = access.principalOf(request.raw);
      reply.type('application/json; charset=utf-8');
      if (!principal.holdsEverywhere('read')) {
        return reply.send(listAddresses(registry, (name) => principal.can('read', name)));
      }
      // Rebuilt only when the registry changed: polling scripts cost one string copy each.
      if (services?.index !== registry.index) {
        services = { index: registry.index, body: listAddresses(registry, () => true) };
      }
      return reply.send(services.body);
    });
    done();
  });
}

/** `{name: [address, ...]}` for every service with instances that `visible` keeps, addresses in registration order. */
function listAddresses(registry: Registry, visible: (service: string) => boolean): string {
  const out: Record<string, string[]> = {};
  for (const { name } of registry.listServices().services) {
    if (!visible(name)) continue;
    const instances: Instance[] = registry.list(name, EVERY_INSTANCE).instances;
    if (instances.length === 0) continue;
    out[name] = instances.sort((a, b) => a.createIndex - b.createIndex).map(seedAddressOf);
  }
  return JSON.stringify(out);
}

/** The seed's check: both fields present and non-empty (strings here), or 400 `Invalid request data`. */
function seedBody(raw: unknown): SeedBody {
  let body: unknown;
  try {
    body = typeof raw === 'string' && raw.trim() !== '' ? JSON.parse(raw) : undefined;
  } catch {
    body = undefined;
  }
  if (typeof body !== 'object' || body === null) throw new RegistryError('INVALID_ARGUMENT', INVALID);
  const { serviceName, serviceAddress } = body as Record<string, unknown>;
  if (
    typeof serviceName !== 'string' ||
    serviceName === '' ||
    typeof serviceAddress !== 'string' ||
    serviceAddress === ''
  ) {
    throw new RegistryError('INVALID_ARGUMENT', INVALID);
  }
  if (serviceAddress.length > MAX_ADDRESS_LENGTH) {
    throw new RegistryError('INVALID_ARGUMENT', `serviceAddress is longer than ${MAX_ADDRESS_LENGTH} characters`);
  }
  return { serviceName, serviceAddress };
}

/**
 * Errors in the seed's plain-text format. The seed's own 400 is exactly `Invalid request data`; what it would have
 * taken but Switchboard refuses (a name breaking the service-name rule, say) adds the reason after a colon.
 */
function answerError(err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  const error = toApiError(err);
  let status = ERROR_CODES[error.code].http;
  let text = error.message;
  if (error.code === 'PAYLOAD_TOO_LARGE') {
    text = 'Payload too large';
  } else if (KEPT_STATUSES.has(error.code)) {
    // Who may not, and what was not understood, are said as such, not folded into "Invalid request" (issue #13).
    text = error.message;
  } else if (status < 500) {
    // A body Fastify could not read at all gets the seed's bare answer; the registry's refusals carry a reason.
    status = 400;
    text = err instanceof RegistryError && error.message !== INVALID ? `${INVALID}: ${error.message}` : INVALID;
  } else {
    request.log.error({ err }, 'seed route failed');
  }
  void reply.code(status).type(TEXT).send(text);
}
