/**
 * Blocking queries held until their scope (one service, or the whole registry) changes.
 *
 * Invariants:
 * - A wait always ends by calling `done` exactly once: when the scope's index passes the one the client saw, when
 *   the wait runs out, or when the server closes. Ending is never an error: the caller answers with what is current.
 * - However many requests wait on a scope, it has one registry listener, so a change to service A never touches the
 *   waiters of service B, and 1,000 waiters of one service cost one listener call per change.
 * - Waiters are woken by the change feed's batched subscription, on a later turn than the registry's apply path: a
 *   burst of changes wakes each waiter once, and the registry never waits for sockets.
 */
import type { ChangeSource } from '../core/index.js';

interface Waiter {
  /** The index the client saw; it is woken once the scope's index is above it. */
  readonly index: number;
  readonly done: () => void;
  timer: NodeJS.Timeout | undefined;
}

interface Scope {
  readonly waiters: Set<Waiter>;
  readonly unsubscribe: () => void;
}

/** What waiters need of the registry. */
export type WatchSource = Pick<ChangeSource, 'index' | 'serviceIndex' | 'subscribe'>;

/** Service names cannot be empty, so the empty key names the whole registry. */
const ALL = '';

export class Waiters {
  readonly #registry: WatchSource;
  readonly #scopes = new Map<string, Scope>();
  #closed = false;

  constructor(registry: WatchSource) {
    this.#registry = registry;
  }

  /** The index a scope's answer carries: the service's last change, or the registry's. */
  indexOf(service: string | undefined): number {
    return service === undefined ? this.#registry.index : this.#registry.serviceIndex(service);
  }

  /** How many requests are waiting (for tests and metrics). */
  get size(): number {
    let size = 0;
    for (const scope of this.#scopes.values()) size += scope.waiters.size;
    return size;
  }

  /**
   * Calls `done` once `service`'s index (every service's when undefined) is above `index`, or after `ms`.
   * Returns a function that cancels the wait without calling `done` (the client went away).
   */
  hold(service: string | undefined, wait: { index: number; ms: number }, done: () => void): () => void {
    if (this.#closed || this.indexOf(service) > wait.index) {
      done();
      return () => undefined;
    }
    const key = service ?? ALL;
    let scope = this.#scopes.get(key);
    if (!scope) {
      const created: Scope = {
        waiters: new Set(),
        unsubscribe: this.#registry.subscribe(service, () => {
          this.#wake(key, created);
        }),
      };
      scope = created;
      this.#scopes.set(key, scope);
    }
    const waiter: Waiter = { index: wait.index, done, timer: undefined };
    const owner = scope;
    waiter.timer = setTimeout(() => {
      this.#release(key, owner, waiter);
      done();
    }, wait.ms);
    scope.waiters.add(waiter);
    return () => {
      this.#release(key, owner, waiter);
    };
  }

  /** Ends every wait now (the server is closing); later waits end at once. */
  close(): void {
    this.#closed = true;
    const scopes = [...this.#scopes.entries()];
    this.#scopes.clear();
    for (const [, scope] of scopes) {
      scope.unsubscribe();
      for (const waiter of scope.waiters) {
        clearTimeout(waiter.timer);
        waiter.done();
      }
      scope.waiters.clear();
    }
  }

  #wake(key: string, scope: Scope): void {
    if (this.#scopes.get(key) !== scope) return;
    const current = this.indexOf(key === ALL ? undefined : key);
    const woken: Waiter[] = [];
    for (const waiter of scope.waiters) if (current > waiter.index) woken.push(waiter);
    for (const waiter of woken) this.#release(key, scope, waiter);
    for (const waiter of woken) waiter.done();
  }

  #release(key: string, scope: Scope, waiter: Waiter): void {
    clearTimeout(waiter.timer);
    if (!scope.waiters.delete(waiter)) return;
    if (scope.waiters.size === 0 && this.#scopes.get(key) === scope) {
      this.#scopes.delete(key);
      scope.unsubscribe();
    }
  }
}
