/**
 * Which right each REST route needs (issue #13), declared on the route as `config.access` and checked by one
 * onRequest hook, before the body is read: an unauthenticated write costs no parsing. A route that declares
 * nothing needs operator, so a route added without thought is closed rather than open.
 */
import type { FastifyInstance } from 'fastify';
import type { AccessControl } from '../auth/index.js';

/**
 * - `public`: anyone (`/health`, `/openapi.json`);
 * - `read` / `write`: that right on the route's `:service`;
 * - `read-everywhere`: read on every service (`/metrics`);
 * - `per-item`: any principal; the handler keeps what it may read (service lists, pages, the event stream);
 * - `in-handler`: the handler checks (XML-RPC per method, the seed routes by the body's service);
 * - `operator`.
 */
export type RouteAccess = 'public' | 'read' | 'write' | 'read-everywhere' | 'per-item' | 'in-handler' | 'operator';

export function addAccessHook(app: FastifyInstance, access: AccessControl): void {
  app.addHook('onRequest', (request, _reply, done) => {
    // A URL no route serves is a 404 for everyone: the answer tells nothing about the registry.
    if (request.is404) {
      done();
      return;
    }
    const rule = (request.routeOptions.config as { access?: RouteAccess }).access ?? 'operator';
    try {
      switch (rule) {
        case 'public':
        case 'in-handler':
          break;
        case 'read':
        case 'write': {
          const { service } = request.params as { service?: string };
          const principal = access.principalOf(request.raw);
          if (service === undefined) principal.requireEverywhere(rule);
          else principal.require(rule, service);
          break;
        }
        case 'read-everywhere':
          access.principalOf(request.raw).requireEverywhere('read');
          break;
        case 'per-item':
          access.principalOf(request.raw);
          break;
        case 'operator':
          access.principalOf(request.raw).requireOperator();
          break;
      }
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  });
}
