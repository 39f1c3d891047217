/**
 * One registered instance as the gateway sees it: a keep-alive connection pool, the requests under way, and its
 * outlier state. An Upstream lives as long as its instance keeps its address, so pools and ejections survive the
 * instance's status and health changes.
 *
 * Outlier ejection: `consecutiveFailures` failures in a row (connect errors, resets, timeouts or 5xx answers) eject the
 * instance for a cool-down that doubles with every ejection in a row (base, 2×base, 4×base… up to the maximum); one
 * success resets both counts.
 *
 * Connections are handed out here, not queued inside undici (issue #14): a request takes one of the pool's
 * `maxConnections` slots before it is dispatched, or waits in line for at most the acquire timeout, so a pool held
 * by slow requests answers the rest with 503 rather than leaving them hanging.
 */
import { Pool } from 'undici';
import type { Instance } from '../wire/index.js';
import { LoadWindow } from './load-window.js';

export interface OutlierOptions {
  /** Failures in a row that eject an instance. Default 3. */
  consecutiveFailures: number;
  /** The first ejection's cool-down. Default 10 s. */
  baseEjectionMs: number;
  /** The longest cool-down. Default 5 min. */
  maxEjectionMs: number;
}

export interface PoolOptions {
  /** Time to wait for response headers, and at most between two body chunks. */
  upstreamTimeoutMs: number;
  connectTimeoutMs: number;
  /** Most connections to one instance; more requests queue. */
  maxConnections: number;
}

/** A request waiting for a connection. */
interface Waiter {
  granted: () => void;
  timer: NodeJS.Timeout;
}

export const DEFAULT_OUTLIER: OutlierOptions = {
  consecutiveFailures: 3,
  baseEjectionMs: 10_000,
  maxEjectionMs: 300_000,
};

/** What an ejection tells the gateway (for its log and counters). */
export interface Ejection {
  upstream: Upstream;
  cooldownMs: number;
}

export class Upstream {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  /** `http://host:port` */
  readonly origin: string;
  /** The instance as last heard from the registry. */
  instance: Instance;
  /** Requests dispatched and not finished (the least-outstanding balancer reads it). */
  outstanding = 0;
  consecutiveFailures = 0;
  ejected = false;
  /** Ejections in a row; the next cool-down is base × 2^ejections. */
  ejections = 0;
  ejectedUntil = 0;
  // Counters, for /_gateway/routes and metrics.
  requests = 0;
  failures = 0;
  totalEjections = 0;
  /** Answers and their latencies over the last seconds (issue #15: what the registrar scales on). */
  readonly load = new LoadWindow();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #slots: number;
  readonly #options: PoolOptions;
  /** Made on the first request: most instances of a large registry may never be sent one through this gateway. */
  #pool: Pool | undefined;
  /** Slots taken by requests under way. */
  #busy = 0;
  /** Requests waiting for a slot, first come first served (a Set keeps insertion order). */
  readonly #waiting = new Set<Waiter>();

  constructor(instance: Instance, options: PoolOptions) {
    this.key = upstreamKey(instance);
    this.instance = instance;
    this.host = instance.host;
    this.port = instance.port;
    this.origin = `http://${instance.host.includes(':') ? `[${instance.host}]` : instance.host}:${instance.port}`;
    this.#options = options;
    this.#slots = options.maxConnections;
  }

  /** The keep-alive connection pool to the instance. */
  get pool(): Pool {
    if (this.#pool === undefined) {
      const options = this.#options;
      this.#pool = new Pool(this.origin, {
        connections: options.maxConnections,
        pipelining: 1,
        headersTimeout: options.upstreamTimeoutMs,
        bodyTimeout: options.upstreamTimeoutMs,
        connectTimeout: options.connectTimeoutMs,
      });
      // Connection errors surface on each request; the pool's own event would otherwise go unhandled.
      this.#pool.on('connectionError', () => undefined);
      // Asked for after close (a request that waited for a slot): a closed pool refuses it, as before.
      if (this.#closed) void this.#pool.close().catch(() => undefined);
    }
    return this.#pool;
  }

  /**
   * Calls `granted` once a connection slot is this request's (at once when one is free), or `expired` after
   * `timeoutMs` in line. When it has to wait, returns a function that leaves the line (the client went away), true
   * if it was still in it; once granted, the slot is handed back with `release()`.
   */
  acquire(granted: () => void, expired: () => void, timeoutMs: number): (() => boolean) | undefined {
    if (this.#busy < this.#slots) {
      this.#busy += 1;
      granted();
      return undefined;
    }
    const waiter: Waiter = {
      granted,
      timer: setTimeout(() => {
        this.#waiting.delete(waiter);
        expired();
      }, timeoutMs),
    };
    this.#waiting.add(waiter);
    return () => {
      if (!this.#waiting.delete(waiter)) return false;
      clearTimeout(waiter.timer);
      return true;
    };
  }

  /** Hands a slot taken with `acquire` back: to the first request in line, if any. */
  release(): void {
    for (const waiter of this.#waiting) {
      this.#waiting.delete(waiter);
      clearTimeout(waiter.timer);
      // Not from inside the undici callback that released the slot: dispatch from a fresh stack.
      queueMicrotask(waiter.granted);
      return;
    }
    this.#busy -= 1;
  }

  /** Requests waiting for a connection. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** A request finished well (any answer below 500). */
  succeeded(): void {
    this.consecutiveFailures = 0;
    this.ejections = 0;
  }

  /**
   * A request failed (connect error, reset, timeout, or a 5xx answer). Returns the ejection it caused, if any.
   * `now` is the caller's clock reading, so a burst of failures costs one clock read each at most.
   */
  failed(outlier: OutlierOptions, now: number): Ejection | undefined {
    this.failures += 1;
    this.consecutiveFailures += 1;
    if (this.ejected || this.#closed || this.consecutiveFailures < outlier.consecutiveFailures) return undefined;
    const cooldownMs = Math.min(outlier.baseEjectionMs * 2 ** this.ejections, outlier.maxEjectionMs);
    this.ejections += 1;
    this.totalEjections += 1;
    this.ejected = true;
    this.ejectedUntil = now + cooldownMs;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.ejected = false;
      this.consecutiveFailures = 0;
    }, cooldownMs);
    this.#timer.unref();
    return { upstream: this, cooldownMs };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Stops taking requests; those under way finish first. */
  close(): Promise<void> {
    this.#closed = true;
    // Balancers skip ejected upstreams, so a route built before the instance left never picks it again.
    this.ejected = true;
    if (this.#timer) clearTimeout(this.#timer);
    return this.#pool?.close().catch(() => undefined) ?? Promise.resolve();
  }

  /** Cuts every connection at once (shutdown). */
  destroy(): Promise<void> {
    this.#closed = true;
    this.ejected = true;
    if (this.#timer) clearTimeout(this.#timer);
    return this.#pool?.destroy().catch(() => undefined) ?? Promise.resolve();
  }
}

/** Instances keep their Upstream (pool and outlier state) while their service, id and address stay the same. */
export function upstreamKey(instance: Pick<Instance, 'service' | 'id' | 'host' | 'port'>): string {
  return `${instance.service}\0${instance.id}\0${instance.host}\0${instance.port}`;
}
