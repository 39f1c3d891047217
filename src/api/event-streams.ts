/**
 * The open Server-Sent Event streams of `GET /v1/events`, fed by one subscription to the registry's change feed.
 *
 * Invariants:
 * - A stream never misses a change and never repeats one: it starts with the replay of the change log after
 *   `since` (or with a snapshot when there is no `since` or the log no longer reaches back to it), taken in the
 *   same synchronous step as it joins, and each stream remembers the last index it was sent, so a change both
 *   replayed and pending for the next flush is written once.
 * - Each change is serialized once, however many streams carry it. Changes arrive through the change feed's batched
 *   subscription, so a burst of changes costs one write per stream and the registry never waits for sockets.
 * - Memory is bounded: a stream whose socket holds more than `streamBufferBytes` not yet taken by its client is
 *   dropped, counting every byte but those of its opening replay or snapshot still waiting, which is excused only
 *   for `snapshotTimeoutMs`: a client that has not read its opening by then is dropped too (issue #14: an allowance
 *   that was never reset let a client that never reads stay for ever). A dropped client resumes from its last index
 *   (`Last-Event-ID`), replaying from the change log or taking a snapshot.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import { EVERY_INSTANCE, everyInstance } from '../core/index.js';
import type { ChangeSource, RegistryQueries } from '../core/index.js';
import type { ChangeEvent, Instance } from '../wire/index.js';
import { INDEX_HEADER } from '../wire/index.js';

export interface EventStreamOptions {
  /** How often every stream gets a comment line, so proxies do not close idle streams. */
  keepAliveIntervalMs: number;
  /** How far (bytes not yet taken by the socket) a stream may fall behind before it is dropped. */
  streamBufferBytes: number;
  /** How long a client may take to read its opening replay or snapshot before it is dropped. */
  snapshotTimeoutMs: number;
}

/** What event streams need of the registry: its changes, and its instances for snapshots. */
type EventSource = ChangeSource & Pick<RegistryQueries, 'list' | 'listServices'>;

interface Stream {
  readonly res: ServerResponse;
  /** The service it follows; undefined: every service. */
  readonly service: string | undefined;
  /** For a stream of every service whose reader may not read them all: the services it may read (issue #13). */
  readonly visible: ((service: string) => boolean) | undefined;
  /** The index of the last change this stream has been sent (or that its snapshot covers). */
  last: number;
  /** Bytes of the opening replay or snapshot, excused from the bound while they wait (for `snapshotTimeoutMs`). */
  readonly opening: number;
  /** Bytes written to the response so far, the opening included. */
  written: number;
  /** Drops the stream if its opening has not been read in time. */
  deadline: NodeJS.Timeout | undefined;
}

interface Frame {
  readonly index: number;
  readonly service: string;
  readonly text: string;
}

/** How long a client's EventSource should wait before reconnecting (the `retry:` field). */
const RETRY_MS = 1_000;
const KEEP_ALIVE = ': keep-alive\n\n';

export class EventStreams {
  readonly #registry: EventSource;
  readonly #options: EventStreamOptions;
  readonly #logger: FastifyBaseLogger;
  readonly #all = new Set<Stream>();
  readonly #byService = new Map<string, Set<Stream>>();
  #unsubscribe: (() => void) | undefined;
  #keepAlive: NodeJS.Timeout | undefined;
  /** Snapshots serialized at one registry index, shared by every client that reconnects at once. */
  #snapshots = { index: -1, bodies: new Map<string, string>() };
  #closed = false;
  /** Change events written, one per stream that carried each (issue #20). */
  eventsSent = 0;
  /** Streams dropped for falling behind or not reading their opening in time. */
  dropped = 0;

  constructor(registry: EventSource, options: EventStreamOptions, logger: FastifyBaseLogger) {
    this.#registry = registry;
    this.#options = options;
    this.#logger = logger;
  }

  /** How many streams are open. */
  get size(): number {
    let size = this.#all.size;
    for (const set of this.#byService.values()) size += set.size;
    return size;
  }

  /**
   * Starts a stream on `res` (whose request has been hijacked from Fastify): the replay after `since`, or a
   * snapshot, then every change as it happens.
   */
  open(
    res: ServerResponse,
    from: {
      service: string | undefined;
      since: number | undefined;
      visible?: ((service: string) => boolean) | undefined;
    },
  ): void {
    const { service, since } = from;
    const visible = service === undefined ? from.visible : undefined;
    const registry = this.#registry;
    const index = registry.index;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // Tell nginx-like proxies not to buffer the stream.
      'x-accel-buffering': 'no',
      // A stream's socket is never reused: once it ends, the client opens a new one.
      connection: 'close',
      [INDEX_HEADER]: String(index),
    });
    if (this.#closed) {
      res.end();
      return;
    }
    // An index ahead of the registry's comes from another history (a registry restarted on an empty store).
    const replay = since === undefined || since > index ? undefined : registry.changesSince(since, service);
    let text = `retry: ${RETRY_MS}\n\n`;
    if (replay === undefined)
      text += visible ? snapshotFrame(index, everyInstance(this.#registry, visible)) : this.#snapshot(service, index);
    else for (const change of replay) if (visible?.(change.service) !== false) text += frameOf(change);
    // The opening replay or snapshot may be large: it is not falling behind, so it does not count while it waits.
    const opening = Buffer.byteLength(text);
    const stream: Stream = { res, service, visible, last: index, opening, written: opening, deadline: undefined };
    this.#add(stream);
    res.once('close', () => {
      clearTimeout(stream.deadline);
      this.#remove(stream);
    });
    if (!res.write(text)) {
      stream.deadline = setTimeout(() => {
        stream.deadline = undefined;
        if (openingWaiting(stream) > 0) this.#drop(stream, 'event stream did not read its opening snapshot in time');
      }, this.#options.snapshotTimeoutMs);
      stream.deadline.unref();
    }
  }

  /** Ends every stream (the server is closing); clients reconnect to another node or when it is back. */
  close(): void {
    this.#closed = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
    for (const stream of this.#streams()) stream.res.end();
    this.#all.clear();
    this.#byService.clear();
  }

  #snapshot(service: string | undefined, index: number): string {
    if (this.#snapshots.index !== index) this.#snapshots = { index, bodies: new Map() };
    const key = service ?? '';
    let body = this.#snapshots.bodies.get(key);
    if (body === undefined) {
      const instances =
        service === undefined ? everyInstance(this.#registry) : this.#registry.list(service, EVERY_INSTANCE).instances;
      body = snapshotFrame(index, instances);
      // Bound the cache: snapshots of many services at one index are rare, and rebuilding one is cheap.
      if (this.#snapshots.bodies.size >= 64) this.#snapshots.bodies.clear();
      this.#snapshots.bodies.set(key, body);
    }
    return body;
  }

  #add(stream: Stream): void {
    if (stream.service === undefined) {
      this.#all.add(stream);
    } else {
      let set = this.#byService.get(stream.service);
      if (!set) {
        set = new Set();
        this.#byService.set(stream.service, set);
      }
      set.add(stream);
    }
    this.#unsubscribe ??= this.#registry.subscribe(undefined, (changes) => {
      this.#flush(changes);
    });
    if (!this.#keepAlive) {
      this.#keepAlive = setInterval(() => {
        for (const s of this.#streams()) this.#write(s, KEEP_ALIVE);
      }, this.#options.keepAliveIntervalMs);
      this.#keepAlive.unref();
    }
  }

  #remove(stream: Stream): void {
    if (stream.service === undefined) {
      this.#all.delete(stream);
    } else {
      const set = this.#byService.get(stream.service);
      set?.delete(stream);
      if (set?.size === 0) this.#byService.delete(stream.service);
    }
    if (this.#all.size === 0 && this.#byService.size === 0) {
      this.#unsubscribe?.();
      this.#unsubscribe = undefined;
      clearInterval(this.#keepAlive);
      this.#keepAlive = undefined;
    }
  }

  *#streams(): Generator<Stream> {
    yield* this.#all;
    for (const set of this.#byService.values()) yield* set;
  }

  #flush(changes: readonly ChangeEvent[]): void {
    // Serialize only what some stream will carry.
    const batch: Frame[] = [];
    for (const change of changes) {
      if (this.#all.size === 0 && !this.#byService.has(change.service)) continue;
      batch.push({ index: change.index, service: change.service, text: frameOf(change) });
    }
    if (batch.length === 0) return;
    if (this.#all.size > 0) this.#send(this.#all, batch);
    const byService = new Map<string, Frame[]>();
    for (const frame of batch) {
      if (!this.#byService.has(frame.service)) continue;
      let frames = byService.get(frame.service);
      if (!frames) {
        frames = [];
        byService.set(frame.service, frames);
      }
      frames.push(frame);
    }
    for (const [service, frames] of byService) {
      const streams = this.#byService.get(service);
      if (streams) this.#send(streams, frames);
    }
  }

  /** Writes `frames` (in index order) to each stream, once: the shared text, or what a new stream has not seen. */
  #send(streams: Set<Stream>, frames: Frame[]): void {
    const first = (frames[0] as Frame).index;
    const last = (frames[frames.length - 1] as Frame).index;
    // Encoded once for every stream that is up to date (nearly all of them).
    let shared: Buffer | undefined;
    for (const stream of [...streams]) {
      let text: Buffer | string;
      const { visible } = stream;
      if (visible) {
        const carried = frames.filter((f) => f.index > stream.last && visible(f.service));
        this.eventsSent += carried.length;
        text = carried.map((f) => f.text).join('');
      } else if (stream.last < first) {
        shared ??= Buffer.from(frames.map((f) => f.text).join(''));
        this.eventsSent += frames.length;
        text = shared;
      } else {
        const carried = frames.filter((f) => f.index > stream.last);
        this.eventsSent += carried.length;
        text = carried.map((f) => f.text).join('');
      }
      stream.last = Math.max(stream.last, last);
      if (text !== '') this.#write(stream, text);
    }
  }

  #write(stream: Stream, text: Buffer | string): void {
    const { res } = stream;
    if (res.destroyed || res.writableEnded) return;
    res.write(text);
    stream.written += typeof text === 'string' ? Buffer.byteLength(text) : text.length;
    // Whatever the opening's excuse, bytes beyond it count: a client that never reads is dropped once its changes
    // pile up past the bound, and by the snapshot deadline at the latest.
    if (res.writableLength - openingWaiting(stream) > this.#options.streamBufferBytes) {
      this.#drop(stream, 'event stream fell too far behind; dropped (the client resumes from its last index)');
    }
  }

  #drop(stream: Stream, why: string): void {
    const { res } = stream;
    this.#logger.info({ service: stream.service, behindBytes: res.writableLength }, why);
    this.dropped += 1;
    clearTimeout(stream.deadline);
    this.#remove(stream);
    res.destroy();
  }
}

/**
 * Bytes of a stream's opening still waiting to be taken by its client. The opening was written first, so of the
 * bytes written, those no longer buffered went out opening first.
 */
function openingWaiting(stream: Stream): number {
  const taken = stream.written - stream.res.writableLength;
  return Math.max(0, stream.opening - Math.max(0, taken));
}

function snapshotFrame(index: number, instances: Instance[]): string {
  return `event: snapshot\nid: ${index}\ndata: ${JSON.stringify({ type: 'snapshot', index, instances })}\n\n`;
}

/** One change as an SSE event: `event:` its type, `id:` its index, `data:` the ChangeEvent JSON. */
function frameOf(change: ChangeEvent): string {
  return `event: ${change.type}\nid: ${change.index}\ndata: ${JSON.stringify(change)}\n\n`;
}
