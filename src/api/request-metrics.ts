/**
 * HTTP requests by method, route and status code (issue #20), for every route on the API's port — the REST API, the
 * fast path, XML-RPC, Consul, Eureka, the seed routes — as one counter and one duration histogram.
 *
 * Invariant: the route label is the route's template (`/v1/services/:service`), never the URL, and a URL no route
 * matches is labelled `unknown`: the number of series is bounded by the routes × methods × codes the server has.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LATENCY_BUCKETS } from '../metrics/index.js';
import type { FastHistogram, HistogramSeries, Metrics } from '../metrics/index.js';

/** The route label of a request no route matched (404s, and requests refused before routing). */
export const UNKNOWN_ROUTE = 'unknown';

const LABELS = ['method', 'route', 'code'];

export class RequestMetrics {
  readonly #duration: FastHistogram;
  /** `method route code` → its series: one lookup per request, no label object built. */
  readonly #series = new Map<string, HistogramSeries>();

  constructor(metrics: Metrics) {
    const duration = metrics.requestHistogram({
      name: 'switchboard_http_request_duration_seconds',
      help:
        'Time from a request to its answer, by method, route template and status code (held blocking queries and ' +
        'event streams included: they last as long as they are held).',
      labels: LABELS,
      buckets: LATENCY_BUCKETS,
    });
    this.#duration = duration;
    metrics.counterFrom(
      {
        name: 'switchboard_http_requests_total',
        help: 'HTTP requests answered, by method, route template and status code.',
        labels: LABELS,
      },
      () => [...duration.all()].map((series) => ({ labels: series.labels, value: series.count })),
    );
  }

  /** The series of one route's answer with one code: bind it once where the code is known ahead (the fast path). */
  series(method: string, route: string, code: number): HistogramSeries {
    const key = `${method} ${route} ${code}`;
    let series = this.#series.get(key);
    if (series === undefined) {
      series = this.#duration.series(method, route, String(code));
      this.#series.set(key, series);
    }
    return series;
  }

  /** A request Fastify answered (also one a route wrote to its socket after `reply.hijack()`). */
  observeReply(request: FastifyRequest, reply: FastifyReply): void {
    this.series(request.method, request.routeOptions.url ?? UNKNOWN_ROUTE, reply.statusCode).observe(
      reply.elapsedTime / 1000,
    );
  }

  /** Counts every answer Fastify sends, whatever plugin added its route. */
  addHook(app: FastifyInstance): void {
    app.addHook('onResponse', (request, reply, done) => {
      this.observeReply(request, reply);
      done();
    });
  }
}
