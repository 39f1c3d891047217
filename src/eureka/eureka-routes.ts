/**
 * Eureka's REST API on the registry's port (issue #18), at `/eureka/apps/…` (Spring Cloud's default) and
 * `/eureka/v2/apps/…` (Netflix's and eureka-js-client's), in JSON or XML, over the same records as REST v1.
 *
 * Invariants: the routes live in their own Fastify scope, whose body parsers read JSON and XML only (within the
 * body limit) and whose error handler answers every failure in the registry's one error shape with its status
 * (Eureka has no error body of its own), so no input yields a 500. Each route checks the caller's rights on the
 * service an application maps to before it reads or changes anything.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccessControl, Principal } from '../auth/index.js';
import type { Registry } from '../core/index.js';
import { toApiError } from '../api/index.js';
import { RegistryError, errorBody } from '../errors/index.js';
import type { Instance, InstanceStatus } from '../wire/index.js';
import { answerFormat, decodeBody, encodeAnswer, mediaTypeOf } from './codec.js';
import type { EurekaAnswer, EurekaFormat } from './codec.js';
import { EurekaViews, visibilityOf } from './eureka-views.js';
import type { Visibility } from './eureka-views.js';
import {
  EUREKA_KEYS,
  RESERVED_PREFIX,
  appOfService,
  eurekaInstanceOf,
  lastDirtyOf,
  registrationFromEureka,
  serviceOfApp,
  statusOf,
} from './mapping.js';

export interface EurekaOptions {
  /** Largest request body, in bytes: the configuration's `http.bodyLimitBytes`. */
  bodyLimit: number;
  /** Whether an instance's `healthCheckUrl` becomes an active check (`--eureka-health-checks`). */
  healthChecks: boolean;
  /** How far back `/apps/delta` reaches. */
  deltaWindowMs: number;
  /** Who may call what (issue #13): writes need write on the service, reads read. */
  access: AccessControl;
}

/** Where Eureka clients find the API: Spring Cloud's default service URL, and Netflix's (eureka-js-client's). */
const BASES = ['/eureka', '/eureka/v2'] as const;

type Params = Record<string, string>;
type Query = Record<string, string | string[] | undefined>;

/** A query parameter given once (the last, when repeated). */
function queryParam(request: FastifyRequest, name: string): string | undefined {
  const value = (request.query as Query)[name];
  return Array.isArray(value) ? value.at(-1) : value;
}

function param(request: FastifyRequest, name: string): string {
  return (request.params as Params)[name] ?? '';
}

/**
 * Serves Eureka's REST API over `registry`.
 * @example
 * addEurekaRoutes(app, registry, { bodyLimit: config.http.bodyLimitBytes, ...config.eureka, access });
 */
export function addEurekaRoutes(app: FastifyInstance, registry: Registry, options: EurekaOptions): void {
  const { access } = options;
  const views = new EurekaViews(registry, { deltaWindowMs: options.deltaWindowMs });
  app.addHook('onClose', (_instance, done) => {
    views.close();
    done();
  });

  /**
   * The instance `id` of an application, checking `right` on its service first; NOT_FOUND when there is none. The
   * lower-cased service is looked in first (a heartbeat costs one lookup); services spelled otherwise, in name order,
   * only when it has no such instance.
   */
  const locate = (request: FastifyRequest, right: 'read' | 'write'): { principal: Principal; instance: Instance } => {
    const principal = access.principalOf(request.raw);
    const app = param(request, 'app');
    const id = param(request, 'id');
    const own = serviceOfApp(app);
    let found = instanceOf(registry, own, id);
    if (found === undefined) {
      const others = registry
        .listServices()
        .services.map((service) => service.name)
        .filter((name) => name !== own && appOfService(name) === appOfService(own))
        .sort();
      for (const name of others) {
        found = instanceOf(registry, name, id);
        if (found) break;
      }
    }
    principal.require(right, found?.service ?? own);
    if (found === undefined)
      throw new RegistryError('NOT_FOUND', `application ${app.toUpperCase()} has no instance ${id}`);
    return { principal, instance: found };
  };

  const send = (request: FastifyRequest, reply: FastifyReply, answer: EurekaAnswer | string): FastifyReply => {
    const format = answerFormat(request.headers.accept);
    const body = typeof answer === 'string' ? answer : encodeAnswer(answer, format);
    return reply.code(200).type(mediaTypeOf(format)).send(body);
  };

  const readable = (request: FastifyRequest): { visibility: Visibility; format: EurekaFormat } => ({
    visibility: visibilityOf(access.principalOf(request.raw)),
    format: answerFormat(request.headers.accept),
  });

  void app.register((scope, _opts, done) => {
    scope.removeAllContentTypeParsers();
    const parse =
      (format: EurekaFormat) =>
      (_request: FastifyRequest, body: string | Buffer, next: (err: Error | null, body?: unknown) => void) => {
        try {
          next(null, decodeBody(body.toString(), format));
        } catch (err) {
          next(err as Error);
        }
      };
    const limits = { parseAs: 'string' as const, bodyLimit: options.bodyLimit };
    scope.addContentTypeParser(['application/json'], limits, parse('json'));
    scope.addContentTypeParser(['application/xml', 'text/xml'], limits, parse('xml'));
    scope.setErrorHandler(answerError);

    const route = { config: { access: 'in-handler', hidden: true } };
    for (const base of BASES) {
      // Register: 204, as Eureka's server answers and eureka-js-client requires exactly.
      scope.post(`${base}/apps/:app`, route, async (request, reply) => {
        const principal = access.principalOf(request.raw);
        const app = param(request, 'app');
        principal.require('write', serviceOfApp(app));
        const previous = (service: string, id: string): Instance | undefined => instanceOf(registry, service, id);
        await registry.register(
          registrationFromEureka(app, request.body, { healthChecks: options.healthChecks, previous }),
        );
        return reply.code(204).send();
      });

      // Heartbeat: 404 tells the client to register again.
      scope.put(`${base}/apps/:app/:id`, route, async (request, reply) => {
        const { instance } = locate(request, 'write');
        const dirty = queryParam(request, 'lastDirtyTimestamp');
        // Eureka's rule: a client whose record is newer than the server's registers it again.
        if (dirty !== undefined && /^\d+$/.test(dirty) && Number(dirty) > lastDirtyOf(instance)) {
          throw new RegistryError('NOT_FOUND', `instance ${instance.id} is newer on the client: register it again`);
        }
        await registry.renew(instance.service, instance.id);
        const status = statusOf(queryParam(request, 'status'));
        const overridden = instance.metadata[EUREKA_KEYS.overriddenStatus] !== undefined;
        if (status !== undefined && !overridden && status !== instance.status) {
          await registry.setStatus(instance.service, instance.id, status);
        }
        return reply.code(200).send();
      });

      scope.delete(`${base}/apps/:app/:id`, route, async (request, reply) => {
        const { instance } = locate(request, 'write');
        await registry.deregister(instance.service, instance.id);
        return reply.code(200).send();
      });

      // A status override wins over what the instance reports, until removed.
      scope.put(`${base}/apps/:app/:id/status`, route, async (request, reply) => {
        const { instance } = locate(request, 'write');
        const value = requiredStatus(queryParam(request, 'value'));
        // Computed from the instance as it is at the write: a registration meanwhile is kept (core's edit).
        await registry.edit(instance.service, instance.id, (current) => ({
          status: value,
          metadata: { ...current.metadata, [EUREKA_KEYS.overriddenStatus]: value },
        }));
        return reply.code(200).send();
      });

      // Removing the override sets the status given, else UNKNOWN (Eureka's InstanceResource.deleteStatusUpdate).
      scope.delete(`${base}/apps/:app/:id/status`, route, async (request, reply) => {
        const { instance } = locate(request, 'write');
        const given = queryParam(request, 'value');
        const status = given === undefined ? 'UNKNOWN' : requiredStatus(given);
        await registry.edit(instance.service, instance.id, (current) => {
          const { [EUREKA_KEYS.overriddenStatus]: _removed, ...metadata } = current.metadata;
          return { status, metadata };
        });
        return reply.code(200).send();
      });

      scope.put(`${base}/apps/:app/:id/metadata`, route, async (request, reply) => {
        const { instance } = locate(request, 'write');
        const given: Record<string, string> = {};
        for (const [key, value] of Object.entries(request.query as Query)) {
          if (key.startsWith(RESERVED_PREFIX)) {
            throw new RegistryError(
              'INVALID_ARGUMENT',
              `metadata keys starting with "${RESERVED_PREFIX}" are Switchboard's: ${key}`,
            );
          }
          const text = Array.isArray(value) ? value.at(-1) : value;
          if (text !== undefined) given[key] = text;
        }
        await registry.edit(instance.service, instance.id, (current) => ({
          metadata: { ...current.metadata, ...given },
        }));
        return reply.code(200).send();
      });

      for (const path of [`${base}/apps`, `${base}/apps/`]) {
        scope.get(path, route, (request, reply) => {
          const { visibility, format } = readable(request);
          return send(request, reply, views.fullBody(visibility, format));
        });
      }

      scope.get(`${base}/apps/delta`, route, (request, reply) => {
        const { visibility, format } = readable(request);
        return send(request, reply, views.deltaBody(visibility, format));
      });

      scope.get(`${base}/apps/:app`, route, (request, reply) => {
        const app = param(request, 'app');
        const principal = access.principalOf(request.raw);
        const visibility = visibilityOf(principal);
        const application = views.application(app, visibility);
        if (application === undefined) {
          // Unreadable reads as refused, as REST v1 refuses it; readable and empty as unknown.
          principal.require('read', serviceOfApp(app));
          throw new RegistryError('NOT_FOUND', `no application ${app.toUpperCase()}`);
        }
        return send(request, reply, { application });
      });

      scope.get(`${base}/apps/:app/:id`, route, (request, reply) => {
        const { instance } = locate(request, 'read');
        return send(request, reply, { instance: eurekaInstanceOf(instance) });
      });

      scope.get(`${base}/instances/:id`, route, (request, reply) => {
        const { visibility } = readable(request);
        const id = param(request, 'id');
        const found = findInstance(registry, id, visibility);
        if (found === undefined) throw new RegistryError('NOT_FOUND', `no instance ${id}`);
        return send(request, reply, { instance: eurekaInstanceOf(found) });
      });

      for (const [path, secure] of [
        [`${base}/vips/:vip`, false],
        [`${base}/svips/:vip`, true],
      ] as const) {
        scope.get(path, route, (request, reply) => {
          const { visibility } = readable(request);
          return send(request, reply, { applications: views.byVip(param(request, 'vip'), visibility, secure) });
        });
      }
    }
    done();
  });
}

function requiredStatus(value: string | undefined): InstanceStatus {
  const status = statusOf(value);
  if (status === undefined)
    throw new RegistryError(
      'INVALID_ARGUMENT',
      'value must name a status: UP, DOWN, STARTING, OUT_OF_SERVICE or UNKNOWN',
    );
  if (status === 'UNKNOWN' && value?.toUpperCase() !== 'UNKNOWN') {
    throw new RegistryError(
      'INVALID_ARGUMENT',
      `value ${value ?? ''} is not a status: UP, DOWN, STARTING, OUT_OF_SERVICE or UNKNOWN`,
    );
  }
  return status;
}

/** The instance, or undefined when `service` has none with that id (or the id is not one). */
function instanceOf(registry: Registry, service: string, id: string): Instance | undefined {
  try {
    return registry.get(service, id);
  } catch (err) {
    if (err instanceof RegistryError && (err.code === 'NOT_FOUND' || err.code === 'INVALID_ARGUMENT')) return undefined;
    throw err;
  }
}

/** `/instances/{id}`: the first readable service, by name, with an instance of that id. */
function findInstance(registry: Registry, id: string, visibility: Visibility): Instance | undefined {
  for (const { name } of registry.listServices().services) {
    const found = visibility.can(name) ? instanceOf(registry, name, id) : undefined;
    if (found) return found;
  }
  return undefined;
}

/** Every failure in the registry's one error shape, with its HTTP status: Eureka's clients read only the status. */
function answerError(err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  const error = toApiError(err);
  const body = errorBody(error);
  if (body.statusCode >= 500) request.log.error({ err }, error.message);
  else request.log.info({ code: error.code }, error.message);
  // A body not read to its end would be taken for the next request on this connection.
  if (!request.raw.complete) void reply.header('connection', 'close');
  void reply.code(body.statusCode).type('application/json; charset=utf-8').send(body);
}
