import type { FastifyInstance } from 'fastify';
import type { RegistryQueries } from '../core/index.js';
import { INDEX_HEADER } from '../wire/index.js';

/** Liveness and the served API description. */
export function addSystemRoutes(app: FastifyInstance, registry: RegistryQueries, openApi: () => object): void {
  app.get(
    '/health',
    { config: { summary: 'Liveness and the state of the store (503 when the store is failing)' } },
    (_request, reply) => {
      const health = registry.health();
      return reply
        .code(health.store.ok ? 200 : 503)
        .header(INDEX_HEADER, health.index)
        .send({ status: health.store.ok ? 'ok' : 'unavailable', ...health });
    },
  );

  app.get('/openapi.json', { config: { hidden: true } }, (_request, reply) => reply.send(openApi()));
}
