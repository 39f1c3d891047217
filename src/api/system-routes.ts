import type { FastifyInstance } from 'fastify';
import type { RegistryQueries } from '../core/index.js';
import { ClusterViewSchema, INDEX_HEADER } from '../wire/index.js';
import type { ClusterView, HealthAnswer } from '../wire/index.js';

/** Liveness, the cluster's nodes and the served API description. */
export function addSystemRoutes(
  app: FastifyInstance,
  registry: RegistryQueries,
  answers: { openApi: () => object; cluster: () => ClusterView },
): void {
  app.get(
    '/health',
    { config: { access: 'public', summary: 'Liveness and the state of the store (503 when the store is failing)' } },
    (_request, reply) => {
      const health = registry.health();
      // Degraded: the store is reachable but its writes miss their deadline (a stalled disk; issue #14).
      const status = health.store.ok ? 'ok' : health.store.degraded ? 'degraded' : 'unavailable';
      const answer: HealthAnswer = { status, stale: registry.stale, ...health };
      return reply
        .code(health.store.ok ? 200 : 503)
        .header(INDEX_HEADER, health.index)
        .send(answer);
    },
  );

  app.get(
    '/v1/cluster',
    {
      config: {
        access: 'public',
        summary: 'The registry nodes: advertised URL, last report, index applied, lag, and which leads',
        responses: { 200: ClusterViewSchema },
      },
    },
    (_request, reply) => reply.header(INDEX_HEADER, registry.index).send(answers.cluster()),
  );

  app.get('/openapi.json', { config: { access: 'public', hidden: true } }, (_request, reply) =>
    reply.send(answers.openApi()),
  );
}
