import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { AccessControl } from '../auth/index.js';
import type { Registry } from '../core/index.js';
import type { SubscriberTable } from '../subscribers/index.js';
import { ACK_INTERVAL_HEADER } from '../wire/index.js';
import type { Metrics } from '../metrics/index.js';
import { EventStreams } from './event-streams.js';
import type { EventStreamOptions } from './event-streams.js';
import { errorSchema, eventsQuery } from './schemas.js';
import { subscriberOf } from './subscriber-routes.js';

export type WatchRouteOptions = EventStreamOptions;

/**
 * `GET /v1/events`: every change as Server-Sent Events (issue #6). Each event is `event: <type>`,
 * `id: <index>`, `data: ChangeEvent`; a stream without `since` (or with one older than the change log) starts
 * with `event: snapshot`. `Last-Event-ID` is taken as `since`, so a browser EventSource resumes by itself.
 */
export function addWatchRoutes(
  app: FastifyInstance,
  registry: Registry,
  options: WatchRouteOptions & { access: AccessControl; subscribers?: SubscriberTable; metrics?: Metrics },
): void {
  const { access, subscribers, metrics } = options;
  const streams = new EventStreams(registry, options, app.log);
  if (metrics) addStreamMetrics(metrics, streams);
  // End the streams before the server waits for its connections, so closing is prompt.
  app.addHook('preClose', (done) => {
    streams.close();
    done();
  });
  closeSilentConnections(app);

  app.get<{ Querystring: { service?: string; since?: number } }>(
    '/v1/events',
    {
      schema: { querystring: eventsQuery },
      config: {
        access: 'per-item',
        summary:
          'Server-Sent Events: a snapshot (without since, or when since is older than the change log), then one event per change',
        responses: { 200: { type: 'string', description: 'text/event-stream' }, 400: errorSchema },
      },
    },
    (request, reply) => {
      // A HEAD request gets the headers only: a stream without a body would never end.
      if (request.method === 'HEAD') return reply.type('text/event-stream; charset=utf-8').send();
      const { service } = request.query;
      // Checked before the stream starts: once the 200 is sent, a refusal could not be answered.
      const principal = access.principalOf(request.raw);
      if (service !== undefined) principal.require('read', service);
      const visible = principal.holdsEverywhere('read') ? undefined : (name: string) => principal.can('read', name);
      const lastEventId = request.headers['last-event-id'];
      // A reconnecting EventSource sends the id of the last event it saw: that is where it resumes.
      const since =
        typeof lastEventId === 'string' && /^\d{1,15}$/.test(lastEventId.trim())
          ? Number(lastEventId.trim())
          : request.query.since;
      // A stream that names its subscriber (issue #19) is connected while open; resuming after `since`, it has
      // applied `since`. It acknowledges what it applies later through PUT /v1/subscribers/:id/applied.
      const who = subscribers
        ? subscriberOf(request.headers, {
            watches: service,
            transport: 'events',
            ...(service === undefined ? { scope: principal.readScope() } : {}),
          })
        : undefined;
      if (who && subscribers) {
        const leave = subscribers.connect(who, since);
        reply.raw.once('close', leave);
        reply.raw.setHeader(ACK_INTERVAL_HEADER, String(subscribers.options.ackIntervalMs));
      }
      reply.hijack();
      streams.open(reply.raw, { service, since, visible });
      return reply;
    },
  );
}

/**
 * Closing waits for every connection, and Node counts a connection that has not sent a byte yet as busy (it
 * awaits its headers), so one such socket holds `close()` until its client gives up. fetch (undici) opens one
 * right after a stream is aborted, so each watcher that reconnects can leave one behind. When closing starts,
 * drop the connections that never sent anything, and any that arrive until the listener is closed: no request
 * is lost, since none was sent.
 */
function closeSilentConnections(app: FastifyInstance): void {
  const sockets = new Set<Socket>();
  let closing = false;
  app.server.on('connection', (socket: Socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  app.addHook('preClose', (done) => {
    closing = true;
    for (const socket of sockets) if (socket.bytesRead === 0) socket.destroy();
    done();
  });
}

/** The event streams' families (issue #20), read when scraped from the streams' own counts. */
function addStreamMetrics(metrics: Metrics, streams: EventStreams): void {
  metrics.gauge('switchboard_event_streams', 'Open event streams (GET /v1/events).', () => streams.size);
  metrics.counterFrom(
    'switchboard_event_stream_events_total',
    'Change events written to event streams (one per stream that carried it).',
    () => streams.eventsSent,
  );
  metrics.counterFrom(
    'switchboard_event_streams_dropped_total',
    'Event streams dropped for falling behind (--watch-stream-buffer) or not reading their opening in time.',
    () => streams.dropped,
  );
}
