/**
 * Consul's HTTP API on the registry's own port (issue #17), over the same records: the agent's service and TTL
 * check calls, and the catalog, health and status reads that Prometheus, the npm `consul` client and
 * python-consul use. The mapping between the two models is mapping.ts's.
 *
 * Invariants:
 * - Every read answers `X-Consul-Index` ≥ 1 (Prometheus and the npm client drop an answer whose index is 0), a
 *   service's read the index of that service alone, and `X-Consul-KnownLeader` / `X-Consul-LastContact`.
 * - A refusal keeps the registry's status code and is answered as Consul answers errors: the message as text/plain.
 * - Access is declared per route (`config.access`, checked by the API's one hook); a token may come as
 *   `X-Consul-Token` or `?token=` (auth/credentials.ts), and request URLs are never logged.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AnswerCache, Waiters, toApiError } from '../api/index.js';
import type { AccessControl, Principal } from '../auth/index.js';
import { EVERY_INSTANCE, everyInstance } from '../core/index.js';
import type { Registry } from '../core/index.js';
import { ERROR_CODES, RegistryError } from '../errors/index.js';
import { blockingWaitMs } from '../wire/index.js';
import type { ClusterView, Instance, InstanceStatus } from '../wire/index.js';
import {
  AGENT_SERVICE_FIELDS,
  CATALOG_ENTRY_FIELDS,
  CHECK_FIELDS,
  HEALTH_ENTRY_FIELDS,
  NODE_FIELDS,
  answerFilterOf,
  checkNodeMeta,
  single,
} from './answer-filter.js';
import type { AnswerFilter, AnswerObjects } from './answer-filter.js';
import { InstanceDirectory } from './instance-directory.js';
import {
  CHECK_UPDATE_STATUS,
  catalogEntryOf,
  checkUpdateOf,
  checksOf,
  healthEntryOf,
  instanceIdOfCheck,
  nodeOf,
  parseEnable,
  parseGoDuration,
  peerAddressOf,
  registrationOf,
  serviceOf,
} from './mapping.js';
import type { CheckUpdate } from './mapping.js';

export interface ConsulOptions {
  /** Who may call what (issue #13). */
  access: AccessControl;
  /** The datacenter every answer names (Prometheus labels targets `__meta_consul_dc` with it). */
  datacenter: string;
  /** The registry's nodes and leader: `/v1/status/*`, `/v1/agent/self` and `X-Consul-KnownLeader`. */
  cluster: () => ClusterView;
  /** Reported as the agent's version. */
  version: string;
  /** Largest request body, in bytes: the configuration's `http.bodyLimitBytes`. */
  bodyLimit: number;
  /** Longest `?filter=` expression, in characters: the configuration's `consul.maxFilterLength`. */
  maxFilterLength: number;
}

type Query = Record<string, string | string[] | undefined>;
interface ServiceRoute {
  Params: { service: string };
  Querystring: Query;
}
interface IdRoute {
  Params: { id: string };
  Querystring: Query;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const TEXT_TYPE = 'text/plain; charset=utf-8';
const DEFAULT_MAINTENANCE_REASON =
  'Maintenance mode is enabled for this service, but no reason was provided. This is a default message.';

/**
 * Adds the Consul routes to the registry's Fastify app, in a scope of their own (their own body parser and error
 * shape).
 * @example
 * const app = buildApi({ registry, logger, ... });
 * addConsulRoutes(app, registry, { access, datacenter: 'dc1', cluster, version, bodyLimit: 1_048_576 });
 */
export function addConsulRoutes(app: FastifyInstance, registry: Registry, options: ConsulOptions): void {
  const { access, datacenter } = options;
  const waiters = new Waiters(registry);
  const directory = new InstanceDirectory(registry);
  // One answer per (service, index, query): every Prometheus and every Consul client polls health/service.
  const cache = new AnswerCache();
  const stopPruning = registry.onServicesPruned((services) => {
    for (const service of services) for (const kind of SERVICE_ANSWERS) cache.delete(`${kind}:${service}`);
  });
  app.addHook('preClose', (done) => {
    waiters.close();
    done();
  });
  app.addHook('onClose', (_instance, done) => {
    stopPruning();
    directory.close();
    done();
  });

  const headersOf = (index: number): Record<string, string | number> => {
    const view = options.cluster();
    return {
      'x-consul-index': consulIndex(index),
      'x-consul-knownleader': view.leader === null ? 'false' : 'true',
      'x-consul-lastcontact': 0,
      'content-type': JSON_TYPE,
    };
  };

  /**
   * A read that may block (`?index=&wait=`) until its scope (a service, or the whole registry) changes past the
   * index the client holds (see consulIndex). `read` checks the request's parameters (a bad `filter` is refused at
   * once, not after the wait) and returns what builds the body.
   */
  const blockingRead =
    <R extends { Params?: unknown; Querystring: Query }>(
      scopeOf: (request: FastifyRequest<R>) => string | undefined,
      read: (request: FastifyRequest<R>) => () => string,
    ) =>
    (request: FastifyRequest<R>, reply: FastifyReply): void => {
      const scope = scopeOf(request);
      const query = request.query as Query;
      const index = indexParam(query);
      const waitMs = waitParam(query);
      const body = read(request);
      const answer = (): void => {
        void reply.headers(headersOf(waiters.indexOf(scope))).send(body());
      };
      // An index ahead of the whole registry comes from another history (a registry restarted on an empty store):
      // answer at once so the client starts over from what is there now.
      if (index === undefined || index < consulIndex(waiters.indexOf(scope)) || index > consulIndex(registry.index)) {
        answer();
        return;
      }
      const cancel = waiters.hold(scope, { index: registryIndex(index), ms: waitMs }, () => {
        try {
          answer();
        } catch (err) {
          void reply.send(err);
        }
      });
      reply.raw.once('close', cancel);
    };

  /**
   * A list read's body: cached per filter for callers who read everything, made for each caller who reads some
   * services.
   */
  const listBody = (
    request: FastifyRequest,
    at: { kind: string; filter: AnswerFilter },
    build: (principal: Principal) => unknown,
  ): string => {
    const principal = access.principalOf(request.raw);
    const make = (): string => JSON.stringify(build(principal));
    if (!principal.holdsEverywhere('read')) return make();
    return cache.get({ key: `list:${at.kind}`, variant: at.filter.variant, index: registry.index }, make);
  };

  /** The request's `filter` and `node-meta` over `objects` (see answer-filter.ts). */
  const filterOf = (request: FastifyRequest, objects: AnswerObjects): AnswerFilter =>
    answerFilterOf(request.query as Query, objects, options.maxFilterLength);

  /** A service read's body, made once per (service, index, query). */
  const serviceBody = (service: string, at: { kind: ServiceAnswer; variant: string }, build: () => unknown): string => {
    const index = registry.serviceIndex(service);
    const make = (): string => JSON.stringify(build());
    // Only known services are cached, so reads of random names cannot grow the cache.
    return index === 0 ? make() : cache.get({ key: `${at.kind}:${service}`, variant: at.variant, index }, make);
  };

  void app.register((scope, _opts, done) => {
    // Consul clients send JSON under any Content-Type, or none (python-consul); every write is a PUT, which a web
    // page cannot send cross-origin without a CORS preflight, so reading any type opens no CSRF hole.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: options.bodyLimit }, (_request, body, next) => {
      next(null, body);
    });
    scope.setErrorHandler(answerError);

    // ---- agent writes ----------------------------------------------------------------------------------------------

    scope.put<{ Querystring: Query }>(
      '/v1/agent/service/register',
      { config: { access: 'in-handler', hidden: true } },
      async (request, reply) => {
        const principal = access.principalOf(request.raw);
        // A caller that may write nothing hears 401/403 before anything about its body.
        principal.requireSomewhere('write');
        const registration = registrationOf(parseJson(request.body), remoteHost(request.ip));
        principal.require('write', registration.service);
        const others = directory.othersOf(registration.id, registration.service);
        if (others.length > 0) {
          throw new RegistryError(
            'ALREADY_EXISTS',
            `service ID "${registration.id}" is registered in service ${others.join(', ')}: deregister it first ` +
              '(Consul IDs are unique, Switchboard ids unique per service)',
          );
        }
        await registry.register({ service: registration.service, id: registration.id, ...registration.body });
        return reply.type(TEXT_TYPE).send('');
      },
    );

    /** The service of instance `id`, once the caller may write it. */
    const writableService = (request: FastifyRequest, id: string): string => {
      const principal = access.principalOf(request.raw);
      principal.requireSomewhere('write');
      const service = directory.serviceOf(id);
      principal.require('write', service);
      return service;
    };

    // GET as well, as python3-consul 0.7 sends it (see the check updates below).
    scope.route<IdRoute>({
      method: ['PUT', 'GET'],
      url: '/v1/agent/service/deregister/:id',
      config: { access: 'in-handler', hidden: true },
      handler: async (request, reply) => {
        if (request.method === 'GET') refuseBrowserGet(request);
        const { id } = request.params;
        await registry.deregister(writableService(request, id), id);
        return reply.type(TEXT_TYPE).send('');
      },
    });

    scope.put<IdRoute>(
      '/v1/agent/service/maintenance/:id',
      { config: { access: 'in-handler', hidden: true } },
      async (request, reply) => {
        const { id } = request.params;
        const service = writableService(request, id);
        const enable = parseEnable(single(request.query['enable']));
        const given = single(request.query['reason']);
        const reason = given === undefined || given === '' ? DEFAULT_MAINTENANCE_REASON : given;
        await registry.setMaintenance(service, id, enable ? { enable, reason } : { enable });
        return reply.type(TEXT_TYPE).send('');
      },
    );

    /** A TTL check's update: a heartbeat and a status report, on the instance the check belongs to. */
    const updateCheck = async (request: FastifyRequest, checkId: string, status: InstanceStatus): Promise<void> => {
      const principal = access.principalOf(request.raw);
      principal.requireSomewhere('write');
      const { service, id } = checkOwner(directory, checkId);
      principal.require('write', service);
      if (registry.get(service, id).ttl !== undefined) await registry.renew(service, id);
      await registry.setStatus(service, id, status);
    };

    for (const update of Object.keys(CHECK_UPDATE_STATUS) as CheckUpdate[]) {
      // Consul before 1.0 took these as GET, and Debian's python3-consul (0.7) still sends GET (and deregisters
      // with GET): taken from programs, never from a browser (a page can make any browser GET a URL, with no
      // preflight or Origin check).
      scope.route<{ Params: { checkId: string }; Querystring: Query }>({
        method: ['PUT', 'GET'],
        url: `/v1/agent/check/${update}/:checkId`,
        config: { access: 'in-handler', hidden: true },
        handler: async (request, reply) => {
          if (request.method === 'GET') refuseBrowserGet(request);
          // The `note` is not kept: Switchboard stores no output for the lease.
          await updateCheck(request, request.params.checkId, CHECK_UPDATE_STATUS[update]);
          return reply.type(TEXT_TYPE).send('');
        },
      });
    }

    // Consul 1.0's form of the three above, with the status (and output) in a JSON body.
    scope.put<{ Params: { checkId: string } }>(
      '/v1/agent/check/update/:checkId',
      { config: { access: 'in-handler', hidden: true } },
      async (request, reply) => {
        const principal = access.principalOf(request.raw);
        // A caller that may write nothing hears 401/403 before anything about its body.
        principal.requireSomewhere('write');
        const status = checkUpdateOf(parseJson(request.body));
        await updateCheck(request, request.params.checkId, status);
        return reply.type(TEXT_TYPE).send('');
      },
    );

    // ---- reads -----------------------------------------------------------------------------------------------------

    scope.get('/v1/agent/self', { config: { access: 'in-handler', hidden: true } }, (request, reply) => {
      access.principalOf(request.raw).requireSomewhere('read');
      const view = options.cluster();
      const self = view.nodes.find((node) => node.name === view.self);
      const [address = '', port = '0'] = self ? splitHostPort(peerAddressOf(self.url)) : [];
      return reply.headers(headersOf(registry.index)).send(
        JSON.stringify({
          Config: {
            Datacenter: datacenter,
            NodeName: view.self,
            NodeID: '',
            Server: true,
            Revision: '',
            Version: options.version,
            PrimaryDatacenter: datacenter,
          },
          Member: {
            Name: view.self,
            Addr: address,
            Port: Number(port),
            Tags: { dc: datacenter, role: 'consul', build: options.version },
            Status: 1,
          },
          Meta: {},
        }),
      );
    });

    scope.get<{ Querystring: Query }>(
      '/v1/agent/services',
      { config: { access: 'per-item', hidden: true } },
      blockingRead(
        () => undefined,
        (request) => {
          // An agent's services take no `node-meta` in Consul.
          const filter = filterOf(request, { fields: AGENT_SERVICE_FIELDS });
          return () =>
            listBody(request, { kind: 'agent-services', filter }, (principal) => {
              // The whole registry is one agent: every instance, keyed by its ID.
              const services: Record<string, unknown> = {};
              for (const instance of everyInstance(registry, (service) => principal.can('read', service))) {
                const service = serviceOf(instance, datacenter);
                if (filter.keeps(service)) services[instance.id] = service;
              }
              return services;
            });
        },
      ),
    );

    scope.get<{ Querystring: Query }>(
      '/v1/catalog/services',
      { config: { access: 'per-item', hidden: true } },
      blockingRead(
        () => undefined,
        (request) => {
          // Consul filters the catalog's service entries, and lists the services and tags of those it keeps.
          const filter = filterOf(request, { fields: CATALOG_ENTRY_FIELDS, nodeMetaOf: (entry) => entry['NodeMeta'] });
          return () =>
            listBody(request, { kind: 'catalog-services', filter }, (principal) => {
              const services: Record<string, string[]> = {};
              for (const summary of registry.listServices().services) {
                if (!principal.can('read', summary.name)) continue;
                const tags = new Set<string>();
                let kept = filter.everything;
                for (const instance of registry.list(summary.name, EVERY_INSTANCE).instances) {
                  if (!filter.everything && !filter.keeps(catalogEntryOf(instance, datacenter))) continue;
                  kept = true;
                  for (const tag of instance.tags) tags.add(tag);
                }
                if (kept) services[summary.name] = [...tags].sort();
              }
              return services;
            });
        },
      ),
    );

    scope.get<{ Querystring: Query }>(
      '/v1/catalog/nodes',
      { config: { access: 'per-item', hidden: true } },
      blockingRead(
        () => undefined,
        (request) => {
          const filter = filterOf(request, { fields: NODE_FIELDS, nodeMetaOf: (node) => node['Meta'] });
          return () =>
            listBody(request, { kind: 'catalog-nodes', filter }, (principal) => {
              const hosts = new Set<string>();
              for (const instance of everyInstance(registry, (service) => principal.can('read', service)))
                hosts.add(instance.host);
              return [...hosts]
                .sort()
                .map((host) => nodeOf(host, datacenter))
                .filter((node) => filter.keeps(node));
            });
        },
      ),
    );

    scope.get<ServiceRoute>(
      '/v1/catalog/service/:service',
      { config: { access: 'read', hidden: true } },
      blockingRead(
        (request) => request.params.service,
        (request) => {
          const { service } = request.params;
          const tags = tagsParam(request.query);
          const filter = filterOf(request, { fields: CATALOG_ENTRY_FIELDS, nodeMetaOf: (entry) => entry['NodeMeta'] });
          return () =>
            serviceBody(service, { kind: 'catalog', variant: JSON.stringify([tags, filter.variant]) }, () =>
              withTags(registry.list(service, EVERY_INSTANCE).instances, tags)
                .map((instance) => catalogEntryOf(instance, datacenter))
                .filter((entry) => filter.keeps(entry)),
            );
        },
      ),
    );

    scope.get<ServiceRoute>(
      '/v1/health/service/:service',
      { config: { access: 'read', hidden: true } },
      blockingRead(
        (request) => request.params.service,
        (request) => {
          const { service } = request.params;
          const tags = tagsParam(request.query);
          const passing = flagParam(request.query['passing']);
          const filter = filterOf(request, {
            fields: HEALTH_ENTRY_FIELDS,
            nodeMetaOf: (entry) => (entry['Node'] as Record<string, unknown>)['Meta'],
          });
          const variant = JSON.stringify([passing, tags, filter.variant]);
          return () =>
            serviceBody(service, { kind: 'health', variant }, () => {
              const now = Date.now();
              const entries: unknown[] = [];
              for (const instance of withTags(registry.list(service, EVERY_INSTANCE).instances, tags)) {
                const { entry, status } = healthEntryOf(instance, { datacenter, now });
                // Consul's `passing` keeps the entries all of whose checks pass; the filter applies to what is left.
                if ((!passing || status === 'passing') && filter.keeps(entry)) entries.push(entry);
              }
              return entries;
            });
        },
      ),
    );

    scope.get<ServiceRoute>(
      '/v1/health/checks/:service',
      { config: { access: 'read', hidden: true } },
      blockingRead(
        (request) => request.params.service,
        (request) => {
          const { service } = request.params;
          const filter = filterOf(request, { fields: CHECK_FIELDS, nodeMetaOf: checkNodeMeta });
          return () =>
            serviceBody(service, { kind: 'checks', variant: filter.variant }, () => {
              const now = Date.now();
              return registry
                .list(service, EVERY_INSTANCE)
                .instances.flatMap((instance) => checksOf(instance, now))
                .filter((check) => filter.keeps(check as unknown as Record<string, unknown>));
            });
        },
      ),
    );

    scope.get('/v1/catalog/datacenters', { config: { access: 'public', hidden: true } }, (_request, reply) =>
      reply.headers(headersOf(registry.index)).send(JSON.stringify([datacenter])),
    );

    scope.get('/v1/status/leader', { config: { access: 'public', hidden: true } }, (_request, reply) => {
      const view = options.cluster();
      const leader = view.nodes.find((node) => node.name === view.leader);
      return reply.headers(headersOf(registry.index)).send(JSON.stringify(leader ? peerAddressOf(leader.url) : ''));
    });

    scope.get('/v1/status/peers', { config: { access: 'public', hidden: true } }, (_request, reply) =>
      reply
        .headers(headersOf(registry.index))
        .send(JSON.stringify(options.cluster().nodes.map((node) => peerAddressOf(node.url)))),
    );

    done();
  });
}

/**
 * A registry index as X-Consul-Index: one more, because Consul clients take 0 for "no index" (Prometheus starts from
 * 0 and drops an answer whose index equals the last one) and the registry answers 0 before its first change. Not
 * max(1, index): a registry whose first change gets index 1 would answer 1 both before and after it, and Prometheus
 * would drop the answer that has the first instance.
 */
function consulIndex(index: number): number {
  return index + 1;
}

/** The registry index an X-Consul-Index stands for. */
function registryIndex(index: number): number {
  return index - 1;
}

const SERVICE_ANSWERS = ['catalog', 'health', 'checks'] as const;
type ServiceAnswer = (typeof SERVICE_ANSWERS)[number];

/** `?index=`: a blocking query's index, as Consul reads it (an unsigned integer). */
function indexParam(query: Query): number | undefined {
  const raw = single(query['index']);
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) throw new RegistryError('INVALID_ARGUMENT', `Invalid index: ${JSON.stringify(raw)}`);
  return Number(raw);
}

/**
 * `?wait=` in Go's duration syntax (`120000ms`, `5m`, `10s`): 5 minutes by default and 10 at most, plus up to a
 * sixteenth of it, as Consul adds, so clients that came together leave apart.
 */
function waitParam(query: Query): number {
  const raw = single(query['wait']);
  const ms = blockingWaitMs(raw === undefined || raw === '' ? undefined : `${parseGoDuration(raw, 'wait')}ms`);
  return Math.round(ms + (Math.random() * ms) / 16);
}

/** `?tag=` (repeatable): an instance must carry every one. */
function tagsParam(query: Query): string[] {
  const raw = query['tag'];
  const tags = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return [...new Set(tags.filter((tag) => tag !== ''))].sort();
}

/** A flag parameter such as `?passing`: present means true, unless it says false. */
function flagParam(value: string | string[] | undefined): boolean {
  const raw = single(value);
  if (raw === undefined) return false;
  return !['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(raw);
}

function withTags(instances: readonly Instance[], tags: readonly string[]): readonly Instance[] {
  if (tags.length === 0) return instances;
  return instances.filter((instance) => tags.every((tag) => instance.tags.includes(tag)));
}

function parseJson(body: unknown): unknown {
  const text = typeof body === 'string' ? body : '';
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new RegistryError('INVALID_ARGUMENT', `Request decode failed: ${(err as Error).message}`, { cause: err });
  }
}

/** The caller's address as a registration's host (an IPv4 peer of a dual-stack socket is written `::ffff:a.b.c.d`). */
function remoteHost(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice('::ffff:'.length) : ip;
}

function splitHostPort(address: string): [string, string] {
  const colon = address.lastIndexOf(':');
  return colon < 0 ? [address, '0'] : [address.slice(0, colon), address.slice(colon + 1)];
}

/**
 * The instance a TTL check update names: `service:<ID>`. An active check's id (`service:<ID>:<n>`, or its own
 * CheckID) is the registry's to update: the answer says so; any other id is unknown (404, as Consul answers).
 */
function checkOwner(directory: InstanceDirectory, checkId: string): { service: string; id: string } {
  const unknown = new RegistryError('NOT_FOUND', `Unknown check ID "${checkId}"`);
  const id = instanceIdOfCheck(checkId);
  if (id === undefined) throw unknown;
  try {
    return { service: directory.serviceOf(id), id };
  } catch (err) {
    if (!(err instanceof RegistryError) || err.code !== 'NOT_FOUND') throw err;
  }
  const owner = /^(.+):\d+$/.exec(id)?.[1];
  if (owner !== undefined) {
    try {
      directory.serviceOf(owner);
    } catch {
      throw unknown;
    }
    throw new RegistryError(
      'INVALID_ARGUMENT',
      `check "${checkId}" is not a TTL check: the registry runs it and sets its status`,
    );
  }
  throw unknown;
}

/**
 * A GET that changes the registry is taken only from a program: a request with any sign of a browser (Fetch
 * Metadata, an Origin or a Referer) is refused, since any web page can make a browser send one.
 */
function refuseBrowserGet(request: FastifyRequest): void {
  const { headers } = request;
  if (headers['sec-fetch-site'] === undefined && headers.origin === undefined && headers.referer === undefined) return;
  throw new RegistryError(
    'PERMISSION_DENIED',
    'a browser may not change the registry with GET: send PUT (GET is taken from clients written for Consul < 1.0)',
  );
}

/** Consul's error shape: the status code, and the message as plain text. The URL (it may hold ?token=) is not logged. */
function answerError(err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  const error = toApiError(err);
  const status = ERROR_CODES[error.code].http;
  if (status >= 500) request.log.error({ err, code: error.code }, 'Consul API request failed');
  else request.log.info({ code: error.code }, error.message);
  void reply.code(status).type(TEXT_TYPE).send(error.message);
}
