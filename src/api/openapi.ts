import type { FastifyInstance, RouteOptions } from 'fastify';

interface CollectedRoute {
  method: string;
  url: string;
  schema: NonNullable<RouteOptions['schema']>;
  summary: string | undefined;
  responses: Record<string, unknown> | undefined;
}

/** Route options this API reads from `config` to document a route. */
export interface RouteDocs {
  summary?: string;
  /** Status code → JSON schema of the answer. */
  responses?: Record<string, unknown>;
  /** Leave the route out of the document. */
  hidden?: boolean;
}

/**
 * Collects every route as it is added and answers an OpenAPI 3.1 document built from the route schemas, so the
 * document cannot drift from what the server validates. Call before any route is added.
 */
export function collectOpenApi(app: FastifyInstance, info: { title: string; version: string }): () => object {
  const routes: CollectedRoute[] = [];
  app.addHook('onRoute', (route) => {
    const docs = (route.config ?? {}) as RouteDocs;
    if (docs.hidden) return;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD') continue;
      routes.push({
        method,
        url: route.url,
        schema: route.schema ?? {},
        summary: docs.summary,
        responses: docs.responses,
      });
    }
  });
  let document: object | undefined;
  return () => {
    document ??= build(routes, info);
    return document;
  };
}

function build(routes: CollectedRoute[], info: { title: string; version: string }): object {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.url.replace(/:([A-Za-z_]+)/g, '{$1}');
    const parameters: object[] = [];
    const schema = route.schema as Record<
      string,
      { properties?: Record<string, unknown>; required?: string[] } | undefined
    >;
    for (const [where, key] of [
      ['path', 'params'],
      ['query', 'querystring'],
    ] as const) {
      const part = schema[key];
      for (const [name, property] of Object.entries(part?.properties ?? {})) {
        parameters.push({
          name,
          in: where,
          required: where === 'path' || (part?.required ?? []).includes(name),
          schema: property,
        });
      }
    }
    const operation: Record<string, unknown> = { summary: route.summary, parameters };
    if (schema['body'])
      operation['requestBody'] = { required: true, content: { 'application/json': { schema: schema['body'] } } };
    const responses: Record<string, unknown> = {};
    for (const [code, body] of Object.entries(route.responses ?? { 200: {} })) {
      responses[code] = { description: code, content: { 'application/json': { schema: body } } };
    }
    operation['responses'] = responses;
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operation };
  }
  return { openapi: '3.1.0', info, paths };
}
