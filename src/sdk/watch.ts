/**
 * Watching the registry from a client (issue #6): Server-Sent Events from `GET /v1/events` underneath, resumed from
 * the last index after a dropped connection, and blocking queries when the event stream is unavailable.
 *
 * Invariant: the iterator never skips a change silently and never yields one twice. After a reconnect it resumes
 * after the last index it yielded; when the registry can no longer replay from there, the next event is a
 * snapshot, which replaces everything the consumer knew.
 */
import {
  ACK_INTERVAL_HEADER,
  BLOCKING_WAIT,
  CHANGE_TYPES,
  SUBSCRIBER_HEADER,
  SUBSCRIBER_NAME_HEADER,
} from '../wire/index.js';
import type { ChangeEvent, ChangeType, Instance, ServiceAnswer, ServiceList } from '../wire/index.js';
import { UnavailableError, errorFromBody, isRetryable } from '../errors/index.js';
import { EventStreamParser } from './event-stream-parser.js';
import type { Answer, RegistryClient, RequestOptions } from './registry-client.js';
import type { FetchFunction } from './tls-fetch.js';

/** Every instance of the watched service (or of every service), whatever its status or health, at `index`. */
export interface SnapshotEvent {
  type: 'snapshot';
  index: number;
  instances: Instance[];
}

/** What `client.watch()` yields: a snapshot that replaces what was known, or one change. */
export type WatchEvent = ChangeEvent | SnapshotEvent;

/** The state of a watch's connection, reported through `onStatus`. */
export interface WatchStatus {
  /** True once the registry answers; false while the watch waits to reconnect. */
  connected: boolean;
  /** `events`: Server-Sent Events; `blocking`: blocking queries, when the event stream is unavailable. */
  mode: 'events' | 'blocking';
  /** Why the connection was lost (when not connected). */
  error?: unknown;
  /** When the next attempt is made (when not connected). */
  retryInMs?: number;
}

export interface WatchOptions {
  /** Resume after this index: changes after it are replayed (or a snapshot comes first when they are gone). */
  since?: number;
  /** Ends the watch: the iterator finishes without an error. */
  signal?: AbortSignal;
  /** Told whenever the connection is made or lost, e.g. to flag a cache as stale. */
  onStatus?: (status: WatchStatus) => void;
  /**
   * How this watch names itself to the registry (issue #19: `GET /v1/subscribers`, drains). Default: a random id
   * named `watch`. The watch reports an event applied once the consumer asks for the next one, so consume each event
   * fully (take it into the state you route from) before asking for the next. `false`: the watch does not name
   * itself, is not listed and no drain waits for it: for viewers that send the watched services no traffic (the
   * dashboard, `switchboard watch`).
   */
  subscriber?: SubscriberName | false;
}

/** A subscriber's id (1–64 of `A-Z a-z 0-9 . _ : -`) and readable name (at most 128 characters). */
export interface SubscriberName {
  id: string;
  name: string;
}

/**
 * A subscriber id no other process is likely to pick: 128 random bits in hex. Not `crypto.randomUUID()`, which
 * browsers offer only to pages served over https or from localhost.
 */
export function newSubscriberId(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  let id = '';
  for (const byte of bytes) id += byte.toString(16).padStart(2, '0');
  return id;
}

/** What a watch needs from the RegistryClient that runs it. */
export interface WatchTransport {
  readonly urls: readonly string[];
  readonly token: string | undefined;
  readonly timeoutMs: number;
  readonly client: Pick<RegistryClient, 'request' | 'instances' | 'url'>;
  /** The client's fetch (the global one, or one with its TLS options). */
  readonly fetch: FetchFunction;
}

/** The event stream answered in a way that says it is not there (an older registry, or a proxy in between). */
class EventsUnavailable extends Error {}

const FIRST_RETRY_MS = 200;
const MAX_RETRY_MS = 5_000;
/** The registry sends a comment every 15 s by default; this much silence means the connection is dead. */
const IDLE_TIMEOUT_MS = 50_000;
const CHANGE_TYPE_SET = new Set<string>(CHANGE_TYPES);

/**
 * The events of `service` (every service when undefined), for `RegistryClient.watch`.
 * Retries with jittered exponential backoff; only an error whose code is not retryable (errors/codes.ts: a bad
 * name, no permission) ends it with an error.
 */
export async function* watchEvents(
  transport: WatchTransport,
  service: string | undefined,
  options: WatchOptions = {},
): AsyncGenerator<WatchEvent, void, undefined> {
  const { signal } = options;
  const subscriber = options.subscriber ?? { id: newSubscriberId(), name: 'watch' };
  const named = subscriber === false ? undefined : subscriber;
  let since = options.since;
  let node = Math.max(0, transport.urls.indexOf(transport.client.url));
  let mode: WatchStatus['mode'] = 'events';
  let failures = 0;
  let connected = false;
  const report = (status: WatchStatus): void => {
    try {
      options.onStatus?.(status);
    } catch {
      // A listener's bug must not end the watch.
    }
  };
  const onOpen = (): void => {
    failures = 0;
    if (!connected) {
      connected = true;
      report({ connected: true, mode });
    }
  };

  while (!isAborted(signal)) {
    const attempt = new AbortController();
    const attemptSignal = signal ? AbortSignal.any([signal, attempt.signal]) : attempt.signal;
    let error: unknown;
    const acks =
      mode === 'events' && named
        ? new Acknowledger(transport, { node: transport.urls[node] as string, service, subscriber: named })
        : undefined;
    try {
      const source =
        mode === 'events'
          ? streamEvents(
              transport,
              { node: transport.urls[node] as string, service, since, subscriber: named },
              { signal: attemptSignal, attempt, onOpen, acks },
            )
          : pollEvents(transport.client, { service, since, subscriber: named }, { signal: attemptSignal, onOpen });
      for await (const event of source) {
        // Never hand out a change the consumer has already had (a replay overlapping what was delivered).
        if (event.type !== 'snapshot' && since !== undefined && event.index <= since) continue;
        since = event.index;
        yield event;
        // The consumer asks for the next event only once it has taken this one in: it is applied.
        acks?.applied(event.index);
      }
      error = new UnavailableError('the registry ended the event stream');
    } catch (err) {
      if (isAborted(signal)) return;
      if (err instanceof EventsUnavailable) {
        mode = 'blocking';
        continue;
      }
      // A request the registry refused (bad name, no permission) stays refused: the retryable column decides.
      if (!isRetryable(err)) throw err;
      error = err;
      // The registry may have changed (or the proxy in between): look for the event stream again.
      mode = 'events';
    } finally {
      attempt.abort();
      acks?.close();
    }
    // Another node may answer: move on (a single node is simply retried).
    node = (node + 1) % transport.urls.length;
    // Full jitter: clients dropped together by one registry do not all come back at the same moment.
    const retryInMs = Math.round(Math.random() * Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** failures));
    failures += 1;
    connected = false;
    report({ connected: false, mode, error, retryInMs });
    if (!(await sleep(retryInMs, signal))) return;
  }
}

/** One connection to `GET /v1/events`, yielding its events until it ends. */
async function* streamEvents(
  transport: WatchTransport,
  at: { node: string; service: string | undefined; since: number | undefined; subscriber: SubscriberName | undefined },
  control: { signal: AbortSignal; attempt: AbortController; onOpen: () => void; acks: Acknowledger | undefined },
): AsyncGenerator<WatchEvent, void, undefined> {
  const params = new URLSearchParams();
  if (at.service !== undefined) params.set('service', at.service);
  if (at.since !== undefined) params.set('since', String(at.since));
  const qs = params.toString();
  const url = `${at.node}/v1/events${qs === '' ? '' : `?${qs}`}`;
  const headers: Record<string, string> = {
    accept: 'text/event-stream',
    'cache-control': 'no-cache',
    ...subscriberHeaders(at.subscriber),
  };
  if (transport.token !== undefined) headers['authorization'] = `Bearer ${transport.token}`;
  // Abort when the registry is silent for too long: first for the headers, then between chunks.
  let timer = setTimeout(() => {
    control.attempt.abort();
  }, transport.timeoutMs);
  const idle = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      control.attempt.abort();
    }, IDLE_TIMEOUT_MS);
  };
  try {
    const response = await transport.fetch(url, { headers, signal: control.signal });
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      if (response.status === 404 || response.status === 405 || response.status === 501) throw new EventsUnavailable();
      throw errorFromBody(response.status, text);
    }
    if (!(response.headers.get('content-type') ?? '').includes('text/event-stream') || !response.body) {
      await response.body?.cancel();
      throw new EventsUnavailable();
    }
    control.onOpen();
    const interval = Number(response.headers.get(ACK_INTERVAL_HEADER));
    if (Number.isFinite(interval) && interval > 0) control.acks?.setInterval(interval);
    idle();
    const parser = new EventStreamParser();
    const decoder = new TextDecoder();
    const reader: ReadableStreamDefaultReader<Uint8Array> = response.body.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        idle();
        for (const message of parser.push(decoder.decode(value, { stream: true }))) {
          const event = toWatchEvent(message.event, message.data);
          if (event) yield event;
        }
      }
    } finally {
      reader.releaseLock();
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The fallback: blocking queries. Each answer whose index moved is yielded as a snapshot, since a read cannot say
 * what changed in between.
 */
async function* pollEvents(
  client: WatchTransport['client'],
  at: { service: string | undefined; since: number | undefined; subscriber: SubscriberName | undefined },
  control: { signal: AbortSignal; onOpen: () => void },
): AsyncGenerator<WatchEvent, void, undefined> {
  let index = at.since;
  // A blocking query's `index` is the one the consumer has applied: the registry learns the progress from it.
  const headers = subscriberHeaders(at.subscriber);
  for (;;) {
    const query: RequestOptions['query'] = index === undefined ? {} : { index, wait: BLOCKING_WAIT.default };
    const blocking = {
      signal: control.signal,
      extraTimeoutMs: index === undefined ? 0 : (BLOCKING_WAIT.defaultMs * 17) / 16,
      headers,
    };
    if (at.service !== undefined) {
      const answer: Answer<ServiceAnswer> = await client.request<ServiceAnswer>({
        method: 'GET',
        path: `/v1/services/${encodeURIComponent(at.service)}`,
        query: { ...query, status: 'any', health: 'any' },
        ...blocking,
      });
      control.onOpen();
      if (answer.body.index !== index)
        yield { type: 'snapshot', index: answer.body.index, instances: answer.body.instances };
      index = answer.body.index;
    } else {
      const answer: Answer<ServiceList> = await client.request<ServiceList>({
        method: 'GET',
        path: '/v1/services',
        query,
        ...blocking,
      });
      control.onOpen();
      if (answer.body.index !== index) {
        const instances: Instance[] = [];
        for await (const instance of client.instances()) instances.push(instance);
        yield { type: 'snapshot', index: answer.body.index, instances };
      }
      index = answer.body.index;
    }
  }
}

function subscriberHeaders(subscriber: SubscriberName | undefined): Record<string, string> {
  if (subscriber === undefined) return {};
  // Header values are Latin-1: a name outside it is sent as its id rather than failing the watch.
  const name = /^[\x20-\x7e]*$/.test(subscriber.name) ? subscriber.name : subscriber.id;
  return { [SUBSCRIBER_HEADER]: subscriber.id, [SUBSCRIBER_NAME_HEADER]: name };
}

/**
 * An event stream's acknowledgements (`PUT /v1/subscribers/:id/applied`), batched: at most one request per interval,
 * carrying the last index applied, sent to the node the stream is connected to (it keeps the subscriber).
 */
class Acknowledger {
  readonly #transport: WatchTransport;
  readonly #to: { node: string; service: string | undefined; subscriber: SubscriberName };
  #intervalMs = 0;
  /** Set once the registry announces its interval: one that does not (issue #19 absent) keeps no subscribers. */
  #wanted = false;
  #pending: number | undefined;
  #sent = -1;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(
    transport: WatchTransport,
    to: { node: string; service: string | undefined; subscriber: SubscriberName },
  ) {
    this.#transport = transport;
    this.#to = to;
  }

  setInterval(ms: number): void {
    this.#wanted = true;
    this.#intervalMs = Math.min(ms, 60_000);
  }

  applied(index: number): void {
    if (!this.#wanted || index <= this.#sent) return;
    this.#pending = index;
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, this.#intervalMs);
  }

  /** The stream ended: what was applied and not yet sent goes now (the subscriber is still known for a while). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#flush();
  }

  #flush(): void {
    const index = this.#pending;
    if (index === undefined || index <= this.#sent) return;
    this.#pending = undefined;
    this.#sent = index;
    const { node, service, subscriber } = this.#to;
    const params = new URLSearchParams({ index: String(index) });
    if (service !== undefined) params.set('service', service);
    const headers: Record<string, string> = {};
    if (this.#transport.token !== undefined) headers['authorization'] = `Bearer ${this.#transport.token}`;
    const url = `${node}/v1/subscribers/${encodeURIComponent(subscriber.id)}/applied?${params.toString()}`;
    // Best effort: a lost acknowledgement is made good by the next one (or by the resumed stream's `since`).
    this.#transport
      .fetch(url, { method: 'PUT', headers, signal: AbortSignal.timeout(this.#transport.timeoutMs) })
      .then((response) => response.body?.cancel())
      .catch(() => undefined);
  }
}

function toWatchEvent(type: string, data: string): WatchEvent | undefined {
  if (type !== 'snapshot' && !CHANGE_TYPE_SET.has(type)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const event = parsed as Partial<SnapshotEvent> & Partial<ChangeEvent>;
  if (typeof event.index !== 'number') return undefined;
  if (type === 'snapshot')
    return Array.isArray(event.instances) ? { type, index: event.index, instances: event.instances } : undefined;
  if (typeof event.service !== 'string' || typeof event.instance !== 'object') return undefined;
  return { type: type as ChangeType, index: event.index, service: event.service, instance: event.instance };
}

/** Read through a function, so the compiler does not assume an abort seen once cannot happen later. */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
