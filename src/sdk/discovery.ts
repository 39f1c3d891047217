/**
 * Client-side discovery (seed 002, issue #6): a local cache of the services a caller asks about, kept current by
 * one watch per service, and a choice of instance per call.
 *
 * Invariants:
 * - Only healthy instances are handed out: status UP, health not critical, not in maintenance.
 * - The cache is never emptied because the registry is unreachable: the last known instances keep being served,
 *   and `stale` says so until the watch is connected again.
 * - Fallbacks (issue #15, the rule in src/balancing/fallback.ts, as the gateway applies it): while a service has no
 *   healthy instance and names a fallback service (`metadata["switchboard.fallback"]`, remembered for an hour after
 *   its last instance went), `all`, `pick`, `call` and `fetch` hand out the fallback's healthy instances, each flagged
 *   with `fallbackFor: <the service asked for>`. One hop only: the fallback's own fallback is not followed.
 */
import { FallbackMemory, InstanceCache, fallbackOf, keepOrCreateBalancer } from '../balancing/index.js';
import type { Balancer, BalancerAccess, PickStrategy } from '../balancing/index.js';
import { RegistryError, UnavailableError } from '../errors/index.js';
import type { Instance } from '../wire/index.js';
import type { RegistryClient } from './registry-client.js';
import { newSubscriberId } from './watch.js';
import type { SubscriberName, WatchEvent, WatchStatus } from './watch.js';

/** How `pick` chooses among a service's healthy instances. */
export type DiscoveryStrategy = PickStrategy;

export interface DiscoveryOptions {
  /** Default `round-robin`. `weighted` follows each instance's `weight`; `least-outstanding` the calls in flight. */
  strategy?: DiscoveryStrategy;
  /** How long `fetch` skips an instance it could not connect to (passive health). Default 5 s. */
  coolDownMs?: number;
  /** The base URL `fetch` calls for an instance. Default `http://<host>:<port>`. */
  baseUrl?: (instance: Instance) => string;
  /**
   * How this cache names itself to the registry (issue #19: `GET /v1/subscribers`, drains); each service it follows
   * is one subscriber of that service under this id. Default: a random id named `discovery`.
   */
  subscriber?: Partial<SubscriberName>;
  /**
   * Awaited before each change (or snapshot) of a service is applied to the cache; the registry is told a change was
   * applied only after it is. For staged rollouts, and for tests that need a deliberately slow consumer.
   */
  beforeApply?: (event: { service: string; index: number }) => Promise<void> | void;
}

/** What `on('change')` listeners get: the service's healthy instances after a change. */
export interface DiscoveryChange {
  service: string;
  instances: readonly Instance[];
  /** The registry cannot be reached: these are the last known instances. */
  stale: boolean;
}

export type DiscoveryListener = (change: DiscoveryChange) => void;

/**
 * What `Discovery` hands out: an instance, with `fallbackFor` set when it belongs to the fallback service of the
 * service asked for (then `service` is the fallback's name and `fallbackFor` the name asked for). Callers that ignore
 * `fallbackFor` keep working: it is an `Instance`.
 */
export type OfferedInstance = Instance & { readonly fallbackFor?: string };

interface Entry {
  readonly service: string;
  readonly controller: AbortController;
  /** Every instance, whatever its status (the cache the gateway's route table uses too). */
  readonly cache: InstanceCache;
  /** The healthy ones, ordered by id; rebuilt after each change. */
  healthy: readonly Instance[];
  /** Over `healthy`; kept across changes that leave the healthy instances and their weights as they were. */
  balancer: Balancer<Instance> | undefined;
  loaded: boolean;
  connected: boolean;
  /** Why the watch could not connect (or failed for good). */
  error: unknown;
  /** Callers of a service whose first answer has not come yet. */
  waiting: { resolve: () => void; reject: (err: unknown) => void }[];
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/**
 * A load-balancing cache of service instances, fed by watches on the registry.
 * @example
 * const discovery = new Discovery(new RegistryClient({ url: 'http://127.0.0.1:8900' }), { strategy: 'weighted' });
 * const instance = await discovery.pick('tickets');
 * const response = await discovery.fetch('tickets', '/tickets?limit=10');
 * discovery.on('change', ({ service, instances, stale }) => console.log(service, instances.length, stale));
 * discovery.close();
 */
export class Discovery implements Disposable {
  readonly #client: RegistryClient;
  readonly #strategy: DiscoveryStrategy;
  readonly #coolDownMs: number;
  readonly #baseUrl: (instance: Instance) => string;
  readonly #subscriber: SubscriberName;
  readonly #beforeApply: DiscoveryOptions['beforeApply'];
  readonly #entries = new Map<string, Entry>();
  /** Per service watched, the fallback its instances last named (kept for a while after the last one went). */
  readonly #fallbacks = new FallbackMemory<string>();
  readonly #listeners = new Set<DiscoveryListener>();
  /** Calls in flight per `service\0id`. */
  readonly #outstanding = new Map<string, number>();
  /** Epoch ms until which an instance is skipped, per `service\0id`. */
  readonly #coolUntil = new Map<string, number>();
  /** While a pick runs: skip instances cooling down (see `#choose`), as of `#now`. */
  #warmOnly = true;
  #now = 0;
  readonly #access: BalancerAccess<Instance> = {
    key: (instance) => instance.id,
    weight: (instance) => instance.weight,
    outstanding: (instance) => this.#outstanding.get(keyOf(instance)) ?? 0,
    available: (instance) => !this.#warmOnly || (this.#coolUntil.get(keyOf(instance)) ?? 0) <= this.#now,
  };
  #closed = false;

  constructor(client: RegistryClient, options: DiscoveryOptions = {}) {
    this.#client = client;
    this.#strategy = options.strategy ?? 'round-robin';
    this.#coolDownMs = options.coolDownMs ?? 5_000;
    this.#baseUrl = options.baseUrl ?? defaultBaseUrl;
    this.#subscriber = {
      id: options.subscriber?.id ?? newSubscriberId(),
      name: options.subscriber?.name ?? 'discovery',
    };
    this.#beforeApply = options.beforeApply;
  }

  /**
   * The id this cache names itself with to the registry (`GET /v1/subscribers`).
   * @example
   * console.log(`discovery ${discovery.subscriberId}`);
   */
  get subscriberId(): string {
    return this.#subscriber.id;
  }

  /**
   * True while the registry cannot be reached for some service asked about: what is served is the last known list.
   * @example
   * if (discovery.stale) console.warn('serving cached instances');
   */
  get stale(): boolean {
    for (const entry of this.#entries.values()) if (entry.loaded && !entry.connected) return true;
    return false;
  }

  /**
   * The healthy instances of `service` (status UP, not critical, not in maintenance). The first call for a service
   * starts watching it and waits for its first answer; UnavailableError if the registry cannot be reached then.
   * When it has none and names a fallback service, the fallback's healthy instances, flagged with `fallbackFor`.
   * @example
   * const instances = await discovery.all('tickets');
   * if (instances[0]?.fallbackFor !== undefined) console.warn(`tickets is down: ${instances[0].service} answers`);
   */
  async all(service: string): Promise<OfferedInstance[]> {
    const serving = await this.#serving(await this.#loaded(service));
    return serving.fallbackFor === undefined
      ? [...serving.entry.healthy]
      : serving.entry.healthy.map((instance) => flagged(instance, service));
  }

  /**
   * One healthy instance of `service`, chosen by the strategy; UnavailableError when it has none. With
   * `least-outstanding`, pair each pick with `release(instance)` when the call is done (or use `call`). When the
   * service has no healthy instance but names a fallback, the pick is one of the fallback's, with `fallbackFor` set.
   * @example
   * const { host, port, fallbackFor } = await discovery.pick('tickets');
   * if (fallbackFor !== undefined) console.warn('tickets has no healthy instance: calling its fallback');
   */
  async pick(service: string): Promise<OfferedInstance> {
    const serving = await this.#serving(await this.#loaded(service));
    const instance = this.#choose(serving.entry);
    if (!instance) throw new UnavailableError(`service ${service} has no healthy instance`);
    if (this.#strategy === 'least-outstanding') this.#acquire(instance);
    return serving.fallbackFor === undefined ? instance : flagged(instance, serving.fallbackFor);
  }

  /**
   * Ends a call on an instance from `pick` (for `least-outstanding`).
   * @example
   * const instance = await discovery.pick('tickets');
   * try { await callTickets(instance); } finally { discovery.release(instance); }
   */
  release(instance: Instance): void {
    const key = keyOf(instance);
    const count = this.#outstanding.get(key) ?? 0;
    if (count <= 1) this.#outstanding.delete(key);
    else this.#outstanding.set(key, count - 1);
  }

  /**
   * Picks an instance (the fallback's, flagged, when the service has none: see `pick`), runs `fn` on it, and counts
   * the call as outstanding until it settles.
   * @example
   * const body = await discovery.call('tickets', async (i) => (await fetch(`http://${i.host}:${i.port}/`)).text());
   */
  async call<T>(service: string, fn: (instance: OfferedInstance) => Promise<T>): Promise<T> {
    const serving = await this.#serving(await this.#loaded(service));
    const instance = this.#choose(serving.entry);
    if (!instance) throw new UnavailableError(`service ${service} has no healthy instance`);
    this.#acquire(instance);
    try {
      return await fn(serving.fallbackFor === undefined ? instance : flagged(instance, serving.fallbackFor));
    } finally {
      this.release(instance);
    }
  }

  /**
   * Calls `path` on an instance of `service` with Node's fetch. When the connection fails, the instance is skipped
   * for the cool-down, and an idempotent request (GET, HEAD, OPTIONS, PUT, DELETE) whose body can be sent again is
   * retried once on another instance. HTTP error statuses are answers, not failures: they are returned. When the
   * service has no healthy instance but names a fallback, `path` goes as it is to one of the fallback's instances.
   * @example
   * const response = await discovery.fetch('tickets', '/tickets', { headers: { accept: 'application/json' } });
   */
  async fetch(service: string, path: string, init: RequestInit = {}): Promise<Response> {
    const { entry } = await this.#serving(await this.#loaded(service));
    const method = (init.method ?? 'GET').toUpperCase();
    const retryable = IDEMPOTENT.has(method) && replayable(init.body);
    // At most two attempts: the second one avoids the instance the first one could not connect to.
    let failed: Instance | undefined;
    for (;;) {
      const instance = this.#choose(entry, failed);
      if (!instance) {
        throw new UnavailableError(
          failed === undefined
            ? `service ${service} has no healthy instance`
            : `service ${service} has no other instance to retry on`,
        );
      }
      const retry = failed !== undefined;
      failed = instance;
      const url = this.#baseUrl(instance) + (path.startsWith('/') ? path : `/${path}`);
      this.#acquire(instance);
      try {
        return await fetch(url, init);
      } catch (err) {
        if (init.signal?.aborted) throw err;
        this.#coolUntil.set(keyOf(instance), Date.now() + this.#coolDownMs);
        if (!retryable || retry || entry.healthy.length <= 1) {
          throw new UnavailableError(`${method} ${url} failed: ${describe(err)}`, { cause: err });
        }
      } finally {
        this.release(instance);
      }
    }
  }

  /**
   * Listens to changes of the services asked about.
   * @example
   * discovery.on('change', ({ service, instances }) => console.log(service, instances.map((i) => i.id)));
   */
  on(_event: 'change', listener: DiscoveryListener): this {
    this.#listeners.add(listener);
    return this;
  }

  /**
   * Stops a listener.
   * @example
   * discovery.off('change', listener);
   */
  off(_event: 'change', listener: DiscoveryListener): this {
    this.#listeners.delete(listener);
    return this;
  }

  /**
   * Stops every watch. Calls waiting for a first answer fail with UnavailableError.
   * @example
   * discovery.close();
   */
  close(): void {
    this.#closed = true;
    for (const entry of this.#entries.values()) {
      entry.controller.abort();
      this.#fail(entry, new UnavailableError('discovery is closed'));
    }
    this.#entries.clear();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async #loaded(service: string): Promise<Entry> {
    if (this.#closed) throw new UnavailableError('discovery is closed');
    const entry = this.#entries.get(service) ?? this.#start(service);
    if (entry.loaded) return entry;
    // Nothing is known yet and the registry cannot be reached: say so now rather than wait.
    if (entry.error !== undefined && !entry.connected) throw unavailable(entry);
    await new Promise<void>((resolve, reject) => {
      entry.waiting.push({ resolve, reject });
    });
    return entry;
  }

  #start(service: string): Entry {
    const entry: Entry = {
      service,
      controller: new AbortController(),
      cache: new InstanceCache(),
      healthy: [],
      balancer: undefined,
      loaded: false,
      connected: false,
      error: undefined,
      waiting: [],
    };
    this.#entries.set(service, entry);
    const events = this.#client.watch(service, {
      signal: entry.controller.signal,
      subscriber: this.#subscriber,
      onStatus: (status) => {
        this.#onStatus(entry, status);
      },
    });
    void (async () => {
      try {
        for await (const event of events) {
          if (this.#beforeApply) await this.#beforeApply({ service, index: event.index });
          if (entry.controller.signal.aborted) return;
          this.#apply(entry, event);
        }
      } catch (err) {
        // The registry refused the watch (e.g. an invalid name): forget the entry so a later call tries again.
        if (this.#entries.get(service) === entry) this.#entries.delete(service);
        entry.error = err;
        this.#fail(entry, err);
      }
    })();
    return entry;
  }

  #onStatus(entry: Entry, status: WatchStatus): void {
    const wasStale = entry.loaded && !entry.connected;
    entry.connected = status.connected;
    if (!status.connected) {
      entry.error = status.error;
      if (!entry.loaded) this.#fail(entry, unavailable(entry));
    }
    if (entry.loaded && wasStale !== !entry.connected) this.#emit(entry);
  }

  #apply(entry: Entry, event: WatchEvent): void {
    entry.cache.apply(event);
    this.#learnFallback(entry);
    entry.healthy = entry.cache.eligible(entry.service);
    entry.balancer = keepOrCreateBalancer(entry.balancer, this.#strategy, {
      items: entry.healthy,
      access: this.#access,
    });
    entry.error = undefined;
    if (!entry.loaded) {
      entry.loaded = true;
      const waiting = entry.waiting;
      entry.waiting = [];
      for (const w of waiting) w.resolve();
    }
    this.#emit(entry);
  }

  #emit(entry: Entry): void {
    const change: DiscoveryChange = { service: entry.service, instances: [...entry.healthy], stale: !entry.connected };
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch {
        // A listener's bug must not stop the cache from being kept current.
      }
    }
  }

  #fail(entry: Entry, err: unknown): void {
    const waiting = entry.waiting;
    entry.waiting = [];
    for (const w of waiting) w.reject(err);
  }

  /**
   * Remembers the fallback the service's instances name (the memory runs out an hour after its last instance went),
   * and starts watching the fallback at once, so that the first call that needs it does not wait for it.
   */
  #learnFallback(entry: Entry): void {
    const instances = entry.cache.services.get(entry.service);
    if (instances === undefined) {
      this.#fallbacks.gone(entry.service);
      return;
    }
    const fallback = fallbackOf(entry.service, instances.values());
    this.#fallbacks.seen(entry.service, fallback);
    if (fallback !== undefined && !this.#entries.has(fallback)) this.#start(fallback);
  }

  /**
   * Where a call on `entry`'s service goes: to its own instances while it has a healthy one, else to its fallback's
   * (one hop: the fallback's own fallback is not consulted), else nowhere (its own, empty).
   */
  async #serving(entry: Entry): Promise<{ entry: Entry; fallbackFor: string | undefined }> {
    const own = { entry, fallbackFor: undefined };
    if (entry.healthy.length > 0) return own;
    const fallback = this.#fallbacks.get(entry.service);
    if (fallback === undefined) return own;
    try {
      const target = await this.#loaded(fallback);
      return target.healthy.length > 0 ? { entry: target, fallbackFor: entry.service } : own;
    } catch {
      // The fallback cannot be discovered (registry unreachable, bad name): answer as a service without one.
      return own;
    }
  }

  /** One healthy instance other than `avoid`, preferring those not cooling down after a failed connection. */
  #choose(entry: Entry, avoid?: Instance): Instance | undefined {
    const balancer = entry.balancer;
    if (!balancer) return undefined;
    this.#now = Date.now();
    this.#warmOnly = true;
    const warm = balancer.pick(avoid);
    if (warm) return warm;
    // When every instance is cooling down, trying one beats failing outright.
    this.#warmOnly = false;
    try {
      return balancer.pick(avoid);
    } finally {
      this.#warmOnly = true;
    }
  }

  #acquire(instance: Instance): void {
    const key = keyOf(instance);
    this.#outstanding.set(key, (this.#outstanding.get(key) ?? 0) + 1);
  }
}

/** A copy of the fallback's `instance`, flagged with the service it stands in for. */
function flagged(instance: Instance, fallbackFor: string): OfferedInstance {
  return { ...instance, fallbackFor };
}

function keyOf(instance: Instance): string {
  return `${instance.service}\u0000${instance.id}`;
}

function defaultBaseUrl(instance: Instance): string {
  const host = instance.host.includes(':') && !instance.host.startsWith('[') ? `[${instance.host}]` : instance.host;
  return `http://${host}:${instance.port}`;
}

/** A body fetch can send a second time (not a one-shot stream). */
function replayable(body: RequestInit['body']): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof URLSearchParams ||
    body instanceof Blob ||
    body instanceof FormData
  );
}

function unavailable(entry: Entry): RegistryError {
  if (entry.error instanceof RegistryError && entry.error.code !== 'UNAVAILABLE') return entry.error;
  return new UnavailableError(
    `cannot discover ${entry.service}: the registry cannot be reached (${describe(entry.error)})`,
    {
      cause: entry.error,
    },
  );
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? err.message;
  }
  return String(err);
}
