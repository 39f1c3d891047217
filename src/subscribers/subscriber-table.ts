/**
 * Who follows the registry, and how far (issue #19): every subscriber that names itself on an event stream or a
 * blocking read, the index it reports it has applied, its lag, and the drains that wait for them.
 *
 * Invariants:
 * - Memory is bounded: at most `maxTracked` subscribers are kept (the longest unseen disconnected one makes room; when
 *   every one is connected a newcomer is simply not tracked, its watch still works), a subscriber unseen for
 *   `forgetAfterMs` is forgotten, and the times of at most `CHANGE_TIMES` recent changes are kept for lags.
 * - A subscriber is live while a stream or a blocking read of it is open, and for `liveMs` after it was last seen
 *   (an acknowledgement, a read, a disconnect). A drain waits only for live subscribers of the drained service, and
 *   for those watching every service: one that went away and did not come back within `liveMs` is not waited for.
 * - Applied indexes only grow: a late or replayed report never moves a subscriber back.
 * - Subscribers of other nodes (cluster mode) come from `applyRemote` and count for drains and lists as local ones
 *   do, by the same rules, until `dropRemote`: the cluster layer calls it when the node's published keys vanish
 *   with its etcd lease. A node that is alive but quiet therefore keeps counting: waiting too long is safe, answering
 *   too early is not.
 */
import type { ChangeSource } from '../core/index.js';
import { serviceGlobMatcher } from '../wire/index.js';
import type { DrainSubscriber, Subscriber, SubscriberTransport } from '../wire/index.js';

/** The bounds of the table: the configuration's `subscribers` slice. */
export interface SubscriberOptions {
  /** Subscribers kept at most (local ones; each other node is bounded by its own). */
  maxTracked: number;
  /** How long a subscriber that is not connected still counts as live (a drain waits for it). */
  liveMs: number;
  /** How long a subscriber unseen stays listed. */
  forgetAfterMs: number;
  /** A subscriber whose lag is above this is counted by the `switchboard_subscribers_behind` gauge. */
  behindMs: number;
  /** How often subscribers send their acknowledgements (announced to them on the event stream). */
  ackIntervalMs: number;
  /** Cluster mode: how often a node publishes its subscribers' progress through etcd, when it changed. */
  publishIntervalMs: number;
  /** The longest `wait` a drain may ask for. */
  maxDrainWaitMs: number;
}

/** A watcher naming itself: who it is, what it watches (undefined: every service), and how. */
export interface SubscriberIdentity {
  id: string;
  name: string;
  watches: string | undefined;
  transport: SubscriberTransport;
  /**
   * For a watcher of every service whose reader may not read them all: the globs of the services it may read, the
   * only ones its stream carries. It counts for drains of those services only, and its lag counts their changes
   * only: it is never sent the others, so it could never acknowledge them. Undefined: every service.
   */
  scope?: readonly string[] | undefined;
}

/** One subscriber as a node publishes it to the others (cluster mode). */
export interface SubscriberProgress {
  id: string;
  name: string;
  watches: string | null;
  transport: SubscriberTransport;
  connected: boolean;
  applied: number | null;
  /** How long ago (ms) it was last seen, when published: no clock is shared between nodes. */
  agoMs: number;
  /** `SubscriberIdentity.scope`; null or absent: every service. */
  scope?: readonly string[] | null;
}

/** What a drain answers: who had applied `index` and who had not, when it ended. */
export interface DrainReport {
  complete: boolean;
  waitedMs: number;
  caughtUp: DrainSubscriber[];
  behind: DrainSubscriber[];
}

/** What the table needs of the registry: its indexes, and each change as it is applied (for lags in time). */
export type ProgressSource = Pick<ChangeSource, 'index' | 'serviceIndex' | 'watch'>;

interface Entry {
  readonly id: string;
  name: string;
  readonly watches: string | undefined;
  scope: readonly string[] | undefined;
  /** Whether a change of this service is one it follows: `watches`, else `scope`'s services, else every one. */
  follows: ((service: string) => boolean) | undefined;
  transport: SubscriberTransport;
  node: string;
  connections: number;
  applied: number | undefined;
  lastSeen: number;
}

interface Drain {
  readonly service: string;
  readonly index: number;
  readonly started: number;
  readonly resolve: (report: DrainReport) => void;
  readonly timer: NodeJS.Timeout;
}

/** Times of this many recent changes are kept: lags older than that are reported from the oldest one kept. */
const CHANGE_TIMES = 10_000;
/** How often pending drains look again at who is live (acknowledgements wake them at once). */
const DRAIN_TICK_MS = 200;

export class SubscriberTable {
  readonly #source: ProgressSource;
  readonly #options: SubscriberOptions;
  readonly #now: () => number;
  readonly #node: () => string;
  readonly #local = new Map<string, Entry>();
  /** Other nodes' subscribers, by node: what each last published. */
  readonly #remote = new Map<string, { entries: Entry[] }>();
  /** Recent changes, in index order, as parallel rings: index, service, when applied here. */
  readonly #ring = {
    index: new Float64Array(CHANGE_TIMES),
    at: new Float64Array(CHANGE_TIMES),
    service: new Array<string>(CHANGE_TIMES),
    start: 0,
    size: 0,
  };
  readonly #drains = new Set<Drain>();
  readonly #lagListeners = new Set<(ms: number) => void>();
  readonly #stopWatching: () => void;
  #tick: NodeJS.Timeout | undefined;
  #closed = false;
  #version = 0;

  constructor(
    source: ProgressSource,
    options: SubscriberOptions,
    context: { node: () => string; now?: () => number } = { node: () => 'local' },
  ) {
    this.#source = source;
    this.#options = options;
    this.#now = context.now ?? Date.now;
    this.#node = context.node;
    this.#stopWatching = source.watch(undefined, (change) => {
      this.#remember(change.index, change.service);
    });
  }

  get options(): SubscriberOptions {
    return this.#options;
  }

  /** Subscribers kept on this node. */
  get size(): number {
    return this.#local.size;
  }

  /** Grows whenever what `progress()` would say of this node's subscribers may have changed (so publishing can skip). */
  get version(): number {
    return this.#version;
  }

  /**
   * A stream or a blocking read of `who` opened, having applied `applied` when known (a blocking read's `index`, a
   * stream's `since`). Returns the function to call when it closes.
   */
  connect(who: SubscriberIdentity, applied: number | undefined): () => void {
    const entry = this.#entry(who);
    if (entry === undefined) return () => undefined;
    entry.connections += 1;
    if (applied !== undefined) this.#advance(entry, applied);
    else this.#check();
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      entry.connections = Math.max(0, entry.connections - 1);
      entry.lastSeen = this.#now();
      this.#version += 1;
      this.#check();
    };
  }

  /** An acknowledgement: subscriber `id` of `watches` has applied `index`. False when no such subscriber is known. */
  ack(id: string, watches: string | undefined, index: number): boolean {
    const entry = this.#local.get(keyOf(id, watches));
    if (entry === undefined) return false;
    this.#advance(entry, index);
    return true;
  }

  /** Every subscriber known (this node's and the others'), those of services `visible` keeps. */
  list(visible: (watches: string | undefined) => boolean = () => true): Subscriber[] {
    this.#forget();
    const now = this.#now();
    const out: Subscriber[] = [];
    for (const entry of this.#entries()) {
      if (!visible(entry.watches)) continue;
      const lag = this.#lagOf(entry, now);
      out.push({
        id: entry.id,
        name: entry.name,
        watches: entry.watches ?? null,
        transport: entry.transport,
        node: entry.node,
        connected: entry.connections > 0,
        live: this.#live(entry, now),
        applied: entry.applied ?? null,
        lagChanges: lag.changes,
        lagMs: lag.ms,
        lastSeen: new Date(entry.lastSeen).toISOString(),
      });
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Live subscribers whose lag is above `behindMs` (the gauge). */
  behind(): number {
    const now = this.#now();
    let count = 0;
    for (const entry of this.#entries()) {
      if (this.#live(entry, now) && this.#lagOf(entry, now, false).ms > this.#options.behindMs) count += 1;
    }
    return count;
  }

  /** Called with the lag (ms) of the oldest change a subscriber reports applied, each time one does (the histogram). */
  onLag(listener: (ms: number) => void): () => void {
    this.#lagListeners.add(listener);
    return () => this.#lagListeners.delete(listener);
  }

  /**
   * Resolves once every live subscriber of `service` (and every one watching every service) has applied `index`, or
   * after `waitMs` (capped at `maxDrainWaitMs`), with who had and who had not.
   */
  drain(service: string, index: number, waitMs: number): Promise<DrainReport> {
    return new Promise((resolve) => {
      const started = this.#now();
      const drain: Drain = {
        service,
        index,
        started,
        resolve,
        timer: setTimeout(
          () => {
            this.#finish(drain);
          },
          Math.min(waitMs, this.#options.maxDrainWaitMs),
        ),
      };
      this.#drains.add(drain);
      if (this.#closed || this.#report(drain).complete) {
        this.#finish(drain);
        return;
      }
      this.#tick ??= setInterval(() => {
        this.#check();
      }, DRAIN_TICK_MS);
    });
  }

  /** This node's subscribers as it publishes them to the others. */
  progress(): SubscriberProgress[] {
    this.#forget();
    const now = this.#now();
    return [...this.#local.values()].map((e) => ({
      id: e.id,
      name: e.name,
      watches: e.watches ?? null,
      transport: e.transport,
      connected: e.connections > 0,
      applied: e.applied ?? null,
      agoMs: Math.max(0, now - e.lastSeen),
      scope: e.scope ?? null,
    }));
  }

  /** What node `node` published of its subscribers: replaces what it published before. */
  applyRemote(node: string, progress: readonly SubscriberProgress[]): void {
    if (node === this.#node()) return;
    const at = this.#now();
    const entries = progress.slice(0, this.#options.maxTracked).map((p): Entry => ({
      id: p.id,
      name: p.name,
      ...following(p.watches ?? undefined, p.scope ?? undefined),
      transport: p.transport,
      node,
      connections: p.connected ? 1 : 0,
      applied: p.applied ?? undefined,
      lastSeen: at - p.agoMs,
    }));
    this.#remote.set(node, { entries });
    this.#check();
  }

  /** Forgets a node that left the cluster (its published progress vanished with its lease). */
  dropRemote(node: string): void {
    if (this.#remote.delete(node)) this.#check();
  }

  /** Ends every drain now (the server is closing) and stops following the registry. */
  close(): void {
    this.#closed = true;
    this.#stopWatching();
    for (const drain of [...this.#drains]) this.#finish(drain);
  }

  #entry(who: SubscriberIdentity): Entry | undefined {
    const key = keyOf(who.id, who.watches);
    const now = this.#now();
    let entry = this.#local.get(key);
    if (entry === undefined) {
      if (this.#local.size >= this.#options.maxTracked && !this.#makeRoom()) return undefined;
      entry = {
        id: who.id,
        name: who.name,
        ...following(who.watches, who.scope),
        transport: who.transport,
        node: this.#node(),
        connections: 0,
        applied: undefined,
        lastSeen: now,
      };
      this.#local.set(key, entry);
    }
    entry.name = who.name;
    // The same subscriber may come back with another token, which may read other services.
    if (who.watches === undefined) Object.assign(entry, following(undefined, who.scope));
    entry.transport = who.transport;
    entry.node = this.#node();
    entry.lastSeen = now;
    this.#version += 1;
    return entry;
  }

  #advance(entry: Entry, applied: number): void {
    const now = this.#now();
    entry.lastSeen = now;
    this.#version += 1;
    const before = entry.applied;
    if (before === undefined || applied > before) {
      entry.applied = applied;
      if (before !== undefined && this.#lagListeners.size > 0) {
        // How long the oldest change it has just taken in had waited.
        const first = this.#firstAfter(before, entry.follows);
        if (first !== undefined && this.#ring.index[first] !== undefined && this.#ring.index[first] <= applied) {
          const ms = Math.max(0, now - (this.#ring.at[first] as number));
          for (const listener of this.#lagListeners) listener(ms);
        }
      }
    }
    this.#check();
  }

  #live(entry: Entry, now: number): boolean {
    // A remote entry is listed only while its node's published progress is (see dropRemote).
    return entry.connections > 0 || now - entry.lastSeen <= this.#options.liveMs;
  }

  /** The index what `entry` watches is at. */
  #scopeIndex(watches: string | undefined): number {
    return watches === undefined ? this.#source.index : this.#source.serviceIndex(watches);
  }

  /** Its lag: changes of what it watches after the index it applied, and how long the oldest has waited. */
  #lagOf(entry: Entry, now: number, count = true): { changes: number; ms: number } {
    const applied = entry.applied ?? 0;
    if (applied >= this.#scopeIndex(entry.watches)) return { changes: 0, ms: 0 };
    const first = this.#firstAfter(applied, entry.follows);
    // A scoped watcher of every service is behind only on the changes it is sent (those kept: see CHANGE_TIMES).
    if (first === undefined && entry.scope !== undefined) return { changes: 0, ms: 0 };
    const ring = this.#ring;
    if (first === undefined) {
      // Older than every change kept (or before this node started): at least as old as the oldest kept.
      const oldest = ring.size > 0 ? (ring.at[ring.start] as number) : now;
      return {
        changes: Math.max(1, count ? this.#countAfter(applied, entry.follows) : 1),
        ms: Math.max(0, now - oldest),
      };
    }
    return {
      changes: count ? this.#countAfter(applied, entry.follows) : 1,
      ms: Math.max(0, now - (ring.at[first] as number)),
    };
  }

  #remember(index: number, service: string): void {
    const ring = this.#ring;
    const slot = (ring.start + ring.size) % CHANGE_TIMES;
    ring.index[slot] = index;
    ring.at[slot] = this.#now();
    ring.service[slot] = service;
    if (ring.size < CHANGE_TIMES) ring.size += 1;
    else ring.start = (ring.start + 1) % CHANGE_TIMES;
  }

  /** The ring slot of the first change after `index` of a service `follows` (any service when undefined). */
  #firstAfter(index: number, follows: Entry['follows']): number | undefined {
    const ring = this.#ring;
    // Binary search over the ring's positions (it is in index order) for the first index above `index`.
    let lo = 0;
    let hi = ring.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((ring.index[(ring.start + mid) % CHANGE_TIMES] as number) <= index) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < ring.size; i++) {
      const slot = (ring.start + i) % CHANGE_TIMES;
      if (follows === undefined || follows(ring.service[slot] as string)) return slot;
    }
    return undefined;
  }

  #countAfter(index: number, follows: Entry['follows']): number {
    const ring = this.#ring;
    let count = 0;
    for (let i = ring.size - 1; i >= 0; i--) {
      const slot = (ring.start + i) % CHANGE_TIMES;
      if ((ring.index[slot] as number) <= index) break;
      if (follows === undefined || follows(ring.service[slot] as string)) count += 1;
    }
    return count;
  }

  *#entries(): Generator<Entry> {
    yield* this.#local.values();
    for (const remote of this.#remote.values()) yield* remote.entries;
  }

  /** Makes room for one more by forgetting the longest unseen subscriber that is not connected. */
  #makeRoom(): boolean {
    this.#forget();
    if (this.#local.size < this.#options.maxTracked) return true;
    let oldest: [string, Entry] | undefined;
    for (const pair of this.#local) {
      if (pair[1].connections === 0 && (oldest === undefined || pair[1].lastSeen < oldest[1].lastSeen)) oldest = pair;
    }
    if (oldest === undefined) return false;
    this.#local.delete(oldest[0]);
    this.#version += 1;
    return true;
  }

  #forget(): void {
    const now = this.#now();
    const stale = (entry: Entry): boolean =>
      entry.connections === 0 && now - entry.lastSeen > this.#options.forgetAfterMs;
    for (const [key, entry] of this.#local) {
      if (stale(entry)) {
        this.#local.delete(key);
        this.#version += 1;
      }
    }
    // The publishing node forgets them by the same rule; until it publishes again, this node does it for it.
    for (const remote of this.#remote.values()) {
      if (remote.entries.some(stale)) remote.entries = remote.entries.filter((entry) => !stale(entry));
    }
  }

  #report(drain: Drain): DrainReport {
    const now = this.#now();
    const caughtUp: DrainSubscriber[] = [];
    const behind: DrainSubscriber[] = [];
    for (const entry of this.#entries()) {
      if (entry.follows !== undefined && !entry.follows(drain.service)) continue;
      if (!this.#live(entry, now)) continue;
      const item: DrainSubscriber = {
        id: entry.id,
        name: entry.name,
        node: entry.node,
        watches: entry.watches ?? null,
        applied: entry.applied ?? null,
      };
      if (entry.applied !== undefined && entry.applied >= drain.index) caughtUp.push(item);
      else behind.push(item);
    }
    return { complete: behind.length === 0, waitedMs: Math.max(0, now - drain.started), caughtUp, behind };
  }

  #check(): void {
    for (const drain of [...this.#drains]) if (this.#report(drain).complete) this.#finish(drain);
  }

  #finish(drain: Drain): void {
    if (!this.#drains.delete(drain)) return;
    clearTimeout(drain.timer);
    if (this.#drains.size === 0) {
      clearInterval(this.#tick);
      this.#tick = undefined;
    }
    drain.resolve(this.#report(drain));
  }
}

/** An entry's scope fields: what it watches, and the test of the services whose changes it follows. */
function following(
  watches: string | undefined,
  scope: readonly string[] | undefined,
): Pick<Entry, 'watches' | 'scope' | 'follows'> {
  if (watches !== undefined) return { watches, scope: undefined, follows: (service) => service === watches };
  if (scope === undefined) return { watches, scope, follows: undefined };
  return { watches, scope, follows: serviceGlobMatcher(scope) };
}

function keyOf(id: string, watches: string | undefined): string {
  return `${id}\u0000${watches ?? ''}`;
}
