/**
 * Subscribers and drains (issue #19), defined once for the server, the SDK and the CLI: the headers a watcher names
 * itself with, the shape of `GET /v1/subscribers`, and the answer of `PUT …/instances/:id/drain`.
 *
 * A subscriber is one watcher (the SDK's `watch()`, each service a `Discovery` follows, the gateway) of one scope:
 * one service, or every service (`watches: null`). It reports the index it has *applied* (taken into the state it
 * routes from): a blocking query's `?index=` says so, and an event stream acknowledges with
 * `PUT /v1/subscribers/:id/applied?index=N[&service=S]`.
 */
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';

/** The subscriber's id, on `GET /v1/events` and blocking reads: `SUBSCRIBER_ID_PATTERN`. */
export const SUBSCRIBER_HEADER = 'x-switchboard-subscriber';
/** Its readable name (what `GET /v1/subscribers` shows), at most `SUBSCRIBER_NAME_MAX` characters. */
export const SUBSCRIBER_NAME_HEADER = 'x-switchboard-subscriber-name';
/**
 * On an event stream's answer: how often (ms) the subscriber should send its acknowledgements, batched; the server's
 * `subscribers.ackIntervalMs`.
 */
export const ACK_INTERVAL_HEADER = 'x-switchboard-ack-interval';

/** Subscriber ids: 1–64 letters, digits, `.`, `_`, `:`, `-` (they sit in a URL path as they are). */
export const SUBSCRIBER_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$';
export const SUBSCRIBER_NAME_MAX = 128;

/** The maintenance reason a drain sets: how the registry, the dashboard and `registerSelf` tell a drain apart. */
export const DRAIN_REASON = 'draining';

/** How a subscriber follows the registry (`in-process`: the gateway `serve` runs, fed by the registry itself). */
export const SUBSCRIBER_TRANSPORTS = ['events', 'blocking', 'in-process'] as const;
export type SubscriberTransport = (typeof SUBSCRIBER_TRANSPORTS)[number];

export const SubscriberSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  watches: Type.Union([Type.String(), Type.Null()], { description: 'the service it follows; null: every service' }),
  transport: Type.Union(SUBSCRIBER_TRANSPORTS.map((t) => Type.Literal(t))),
  node: Type.String({ description: 'the registry node it is connected to' }),
  connected: Type.Boolean({ description: 'a stream or a blocking query of it is open now' }),
  live: Type.Boolean({ description: 'connected, or seen within subscribers.liveMs: a drain waits for it' }),
  applied: Type.Union([Type.Integer(), Type.Null()], { description: 'the index it has applied; null: not known yet' }),
  lagChanges: Type.Integer({ description: 'changes of what it watches after the index it applied' }),
  lagMs: Type.Integer({ description: 'how long the oldest of those changes has waited' }),
  lastSeen: Type.String({ format: 'date-time' }),
});
export type Subscriber = Static<typeof SubscriberSchema>;

export const SubscriberListSchema = Type.Object({
  index: Type.Integer(),
  subscribers: Type.Array(SubscriberSchema),
});
export type SubscriberList = Static<typeof SubscriberListSchema>;

/** One subscriber in a drain's answer. */
export const DrainSubscriberSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  node: Type.String(),
  watches: Type.Union([Type.String(), Type.Null()]),
  applied: Type.Union([Type.Integer(), Type.Null()]),
});
export type DrainSubscriber = Static<typeof DrainSubscriberSchema>;

export const DrainAnswerSchema = Type.Object({
  service: Type.String(),
  id: Type.String(),
  index: Type.Integer({ description: 'the index of the drain: every live subscriber of the service must reach it' }),
  complete: Type.Boolean({ description: 'every live subscriber had applied the drain when this was answered' }),
  waitedMs: Type.Integer(),
  caughtUp: Type.Array(DrainSubscriberSchema),
  behind: Type.Array(DrainSubscriberSchema, {
    description: 'live subscribers that had not applied it when wait ran out',
  }),
});
export type DrainAnswer = Static<typeof DrainAnswerSchema>;
