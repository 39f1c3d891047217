import type { AccessControl } from '../auth/index.js';
import type { FastifyInstance } from 'fastify';
import type { InstanceFilter, Registry } from '../core/index.js';
import type { Health, InstanceStatus } from '../wire/index.js';
import { INDEX_HEADER } from '../wire/index.js';
import { serviceKey } from './answer-cache.js';
import type { AnswerCache } from './answer-cache.js';
import type { BlockingReads } from './blocking-reads.js';
import {
  blockingQuery,
  errorSchema,
  instancePageSchema,
  pageQuery,
  serviceAnswerSchema,
  serviceListSchema,
  serviceParams,
  serviceQuery,
} from './schemas.js';

interface ServiceQuery {
  status?: (InstanceStatus | 'any')[];
  health?: (Health | 'any')[];
  tag?: string[];
  zone?: string;
}

/** Turns the query into a filter and a key naming it (equal filters, equal keys). */
export function filterOf(query: ServiceQuery): { filter: InstanceFilter; key: string } {
  const filter: InstanceFilter = {};
  if (query.status)
    filter.status = query.status.includes('any') ? 'any' : [...new Set(query.status as InstanceStatus[])].sort();
  if (query.health)
    filter.health = query.health.includes('any') ? 'any' : [...new Set(query.health as Health[])].sort();
  if (query.tag) filter.tags = [...new Set(query.tag)].sort();
  if (query.zone !== undefined) filter.zone = query.zone;
  return { filter, key: JSON.stringify(filter) };
}

/** The default query's filter (status UP, health not critical): the read the fast path answers. */
export const DEFAULT_FILTER = filterOf({});

/**
 * The body of the one service-read answer, `{ name, index, instances }` for `filter`, made once per change of the
 * service and then served from the cache. The route, its blocking reads and the fast path all answer this.
 */
export function serviceBody(
  parts: { registry: Registry; cache: AnswerCache },
  service: string,
  filter: { filter: InstanceFilter; key: string },
): string {
  const { registry, cache } = parts;
  const index = registry.serviceIndex(service);
  const build = (): string => JSON.stringify({ name: service, ...registry.list(service, filter.filter) });
  // Only known services are cached, so lookups of random names cannot grow the cache.
  return index === 0 ? build() : cache.get({ key: serviceKey(service), variant: filter.key, index }, build);
}

export interface ServiceRouteParts {
  /** Serialized answers, shared with the fast path (fast-path.ts). */
  cache: AnswerCache;
  /** `?index=&wait=` blocking queries and ETags (issue #6); a read's scope index must be the index it answers. */
  blocking: BlockingReads;
  /** Who may read which service (issue #13): lists and pages keep what the caller may read. */
  access: AccessControl;
}

/** Discovery reads: the service list, one service's instances, and the paginated traversal. */
export function addServiceRoutes(app: FastifyInstance, registry: Registry, parts: ServiceRouteParts): void {
  const { cache, blocking, access } = parts;

  app.get(
    '/v1/services',
    {
      schema: { querystring: blockingQuery },
      config: {
        access: 'per-item',
        summary: 'Every service with instances, with counts by status',
        responses: { 200: serviceListSchema },
      },
    },
    blocking.handler(
      () => undefined,
      (request) => {
        const principal = access.principalOf(request.raw);
        if (principal.holdsEverywhere('read')) {
          return cache.get({ key: '', variant: '', index: registry.index }, () =>
            JSON.stringify(registry.listServices()),
          );
        }
        // A token that reads some services sees those: the list says nothing of the others, not even their names.
        const list = registry.listServices();
        return JSON.stringify({ ...list, services: list.services.filter((s) => principal.can('read', s.name)) });
      },
      (request) => {
        const principal = access.principalOf(request.raw);
        return principal.holdsEverywhere('read') ? '' : (principal.tokenId ?? 'anonymous');
      },
    ),
  );

  app.get<{ Params: { service: string }; Querystring: ServiceQuery }>(
    '/v1/services/:service',
    {
      schema: { params: serviceParams, querystring: serviceQuery },
      config: {
        access: 'read',
        summary: 'The instances to call (default: status UP, health not critical); unknown services have none',
        responses: { 200: serviceAnswerSchema, 400: errorSchema },
      },
    },
    blocking.handler(
      (request) => request.params.service,
      (request) => serviceBody({ registry, cache }, request.params.service, filterOf(request.query)),
    ),
  );

  app.get<{ Querystring: { limit: number; cursor?: string } }>(
    '/v1/instances',
    {
      schema: { querystring: pageQuery },
      config: {
        access: 'per-item',
        summary: 'Every instance, in pages ordered by (service, id)',
        responses: { 200: instancePageSchema, 400: errorSchema },
      },
    },
    (request, reply) => {
      const page = registry.page(request.query.cursor, request.query.limit);
      const principal = access.principalOf(request.raw);
      if (!principal.holdsEverywhere('read')) {
        // The cursor still moves over every instance, so a page may hold fewer than `limit` (even none).
        page.instances = page.instances.filter((instance) => principal.can('read', instance.service));
      }
      return reply.header(INDEX_HEADER, registry.index).send(page);
    },
  );
}
