/**
 * The gateway's routes: a local copy of the registry kept current by its watch (a snapshot, then one change event at
 * a time), so no request ever waits on the registry, and the gateway keeps routing on the last table it had when the
 * registry cannot be reached.
 *
 * - A service whose instances carry a `url` (`/tickets`) is routed under that prefix; with `routeByName` every service
 *   is also routed under `/{service}`. The longest prefix wins, matched on whole path segments (`/tickets` takes
 *   `/tickets` and `/tickets/7`, never `/ticketsx`). A prefix named by a `url` wins over the same prefix by name; two
 *   services naming one prefix is a conflict, settled by name order and listed in `view().conflicts`.
 * - Per service, from the instance changed last: `metadata["gateway.balance"]` (round-robin, weighted,
 *   least-outstanding; else the gateway's default) and `metadata["gateway.stripPrefix"] = "true"`.
 *   `authorizedRoles` is the union over the service's instances, so one instance asking for roles closes the service.
 * - Instances take traffic when `UP`, not `critical` and not in maintenance; ejected ones are skipped per pick.
 * - Fallbacks (issue #15, the rule in src/balancing/fallback.ts): a route whose service names one in
 *   `metadata["switchboard.fallback"]` carries it as `fallback`, over every instance of the fallback service (its
 *   eligibility, balancer and stripPrefix); the proxy uses it when the route's own balancer has nothing to pick. A
 *   target never carries a fallback of its own: one hop only. When a service's last instance goes, its routes are
 *   kept as `retained` routes (no members; their last prefixes, roles, stripPrefix and fallback) so its requests still
 *   reach the fallback, until a live service claims the prefix or the retention period runs out.
 *
 * Changes are applied at once and the prefix index is rebuilt lazily on the next lookup, so a burst of events (a
 * snapshot of thousands of instances) costs one rebuild.
 */
import {
  FallbackMemory,
  InstanceCache,
  compare,
  fallbackOf,
  inMaintenance,
  isBalanceStrategy,
  isEligible,
} from '../balancing/index.js';
import type { CacheEvent, FallbackMemoryOptions } from '../balancing/index.js';
import type { WatchEvent } from '../sdk/index.js';
import { routePrefix } from '../wire/index.js';
import type { Instance } from '../wire/index.js';
import { keepBalancer } from './balancer.js';
import type { BalanceStrategy, Balancer } from './balancer.js';
import { Upstream } from './upstream.js';
import type { PoolOptions } from './upstream.js';
import { loadFigures, routeLoadView } from './load-window.js';
import type { RouteLoadView } from './load-window.js';

/** The metadata keys a service sets its gateway behaviour with. */
export const BALANCE_KEY = 'gateway.balance';
export const STRIP_PREFIX_KEY = 'gateway.stripPrefix';

/** The registry's watch: a snapshot of every instance, then one event per change. */
export type RouteFeedEvent = WatchEvent;

export type RouteSource = 'url' | 'name' | 'url+name';

export interface Route {
  readonly prefix: string;
  readonly service: string;
  readonly source: RouteSource;
  readonly stripPrefix: boolean;
  readonly balancer: Balancer;
  /** Every instance routed here, eligible or not. */
  readonly members: readonly Upstream[];
  /** Those that take traffic (UP, not critical, not in maintenance). */
  readonly eligible: readonly Upstream[];
  /** Roles of which a caller needs one; undefined when the service is open. */
  readonly authorizedRoles: ReadonlySet<string> | undefined;
  /** Where requests go when the balancer has nothing to pick (issue #15). */
  readonly fallback: FallbackTarget | undefined;
  /** Kept for a service that has no instance left, only to reach its fallback. */
  readonly retained: boolean;
}

/**
 * A route's fallback service: every one of its instances, chosen by its own balancer over its eligible ones. It has
 * no fallback of its own: a fallback's fallback is never followed.
 */
export interface FallbackTarget {
  readonly service: string;
  /** The fallback's instances ask for it: the original route's prefix is cut (else the path goes as it came). */
  readonly stripPrefix: boolean;
  readonly balancer: Balancer;
  readonly eligible: readonly Upstream[];
}

export interface RouteTableOptions {
  routeByName: boolean;
  /** Balancer of services that do not name one. */
  balance: BalanceStrategy;
  pool: PoolOptions;
  /** How long the routes of a service with no instance left are kept for its fallback (tests: the clock too). */
  fallbackMemory?: FallbackMemoryOptions;
}

export interface RouteInstanceView {
  id: string;
  address: string;
  status: string;
  health: string;
  maintenance: boolean;
  weight: number;
  eligible: boolean;
  ejected: boolean;
  ejectedUntil: string | null;
  outstanding: number;
  consecutiveFailures: number;
  requests: number;
  failures: number;
  ejections: number;
  /** Answers per second and p90 time to headers (ms, null without answers) over the last window. */
  rps: number;
  p90Ms: number | null;
}

export interface RouteView {
  prefix: string;
  service: string;
  source: RouteSource;
  stripPrefix: boolean;
  balance: BalanceStrategy;
  authorizedRoles: string[];
  /** The fallback service, or null (issue #15). */
  fallback: string | null;
  /** True while the route is kept, without instances, for a service that has none left. */
  retained: boolean;
  instances: RouteInstanceView[];
  /** The route's instances together, over the last window (issue #15: what the registrar scales on). */
  load: RouteLoadView;
}

export interface RouteConflict {
  prefix: string;
  services: string[];
  routedTo: string;
}

export interface RouteTableView {
  /** The registry index the table reflects. */
  index: number;
  routes: RouteView[];
  conflicts: RouteConflict[];
}

interface ServiceState {
  instances: ReadonlyMap<string, Instance>;
  upstreams: ReadonlyMap<string, Upstream>;
}

interface Claim {
  service: string;
  byUrl: Upstream[];
  byName: boolean;
  /** What a service with no instance left last said, for its retained route. */
  retained?: Retained;
}

/** What the route table remembers of a service that names a fallback, for when its last instance goes. */
interface Retained {
  fallback: string;
  /** The prefixes its urls claimed (a prefix another service takes is dropped). */
  prefixes: Set<string>;
  byName: boolean;
  stripPrefix: boolean;
  roles: ReadonlySet<string> | undefined;
}

export class RouteTable {
  readonly #options: RouteTableOptions;
  /** The instances, kept by the shared watch-fed cache; the upstreams live beside it, one per instance. */
  readonly #cache = new InstanceCache({
    put: (instance) => {
      this.#put(instance);
    },
    remove: (instance) => {
      this.#remove(instance);
    },
  });
  readonly #upstreams = new Map<string, Map<string, Upstream>>();
  #routes = new Map<string, Route>();
  #root: Route | undefined;
  /** Most path segments of any prefix: a lookup tries no deeper. */
  #depth = 0;
  #conflicts: RouteConflict[] = [];
  /** Fallback targets by service, rebuilt with the routes (kept here for their balancers' rotation). */
  #targets = new Map<string, FallbackTarget>();
  readonly #memory: FallbackMemory<Retained>;
  #dirty = false;
  /** Scratch space for a lookup's candidate prefix ends (lookups are synchronous, so one is enough). */
  #cuts = new Int32Array(8);

  constructor(options: RouteTableOptions) {
    this.#options = options;
    this.#memory = new FallbackMemory(options.fallbackMemory);
  }

  /** The registry index of the last snapshot or event applied. */
  get index(): number {
    return this.#cache.index;
  }

  /** Applies one event of the watch (a `RouteFeedEvent`). */
  apply(event: CacheEvent): void {
    // Routes are rebuilt lazily, so what a service said must be taken before an event can make it vanish: a service
    // registered and gone between two lookups must still leave its fallback behind.
    if (event.type === 'snapshot') {
      for (const [service, instances] of this.#cache.services) this.#remember(service, instances);
    } else if (event.type === 'deregistered' || event.type === 'expired') {
      const instances = this.#cache.services.get(event.service);
      if (instances?.size === 1 && instances.has(event.instance.id)) this.#remember(event.service, instances);
    }
    this.#cache.apply(event);
    this.#dirty = true;
  }

  /** The route for a request target (`/path?query`), or undefined. */
  match(target: string): Route | undefined {
    if (this.#dirty || this.#memory.expired) this.#rebuild();
    const routes = this.#routes;
    if (routes.size > 0) {
      const query = target.indexOf('?');
      const end = query === -1 ? target.length : query;
      // Candidate prefixes end at each later '/' (segment boundaries) and at the end of the path, up to #depth segments.
      const cuts = this.#cuts;
      let count = 0;
      let at = 0;
      while (count < this.#depth) {
        const slash = target.indexOf('/', at + 1);
        if (slash === -1 || slash >= end) {
          if (end > at + 1 || count === 0) cuts[count++] = end;
          break;
        }
        cuts[count++] = slash;
        at = slash;
      }
      for (let i = count - 1; i >= 0; i--) {
        const route = routes.get(target.slice(0, cuts[i]));
        if (route !== undefined) return route;
      }
    }
    return this.#root;
  }

  /** How many routes the table holds. */
  get size(): number {
    if (this.#dirty || this.#memory.expired) this.#rebuild();
    return this.#routes.size + (this.#root ? 1 : 0);
  }

  /** The table for operators (`GET /_gateway/routes`). */
  view(): RouteTableView {
    if (this.#dirty || this.#memory.expired) this.#rebuild();
    const all = [...this.#routes.values()];
    if (this.#root) all.push(this.#root);
    all.sort((a, b) => compare(a.prefix, b.prefix));
    const now = performance.now();
    return {
      index: this.#cache.index,
      routes: all.map((route) => ({
        prefix: route.prefix,
        service: route.service,
        source: route.source,
        stripPrefix: route.stripPrefix,
        balance: route.balancer.strategy,
        authorizedRoles: route.authorizedRoles ? [...route.authorizedRoles].sort() : [],
        fallback: route.fallback?.service ?? null,
        retained: route.retained,
        instances: route.members.map((u) => instanceView(u, { eligible: route.eligible.includes(u), now })),
        load: routeLoadView(route.members, now),
      })),
      conflicts: this.#conflicts,
    };
  }

  /** Every upstream of every instance (for metrics). */
  upstreams(): Upstream[] {
    const all: Upstream[] = [];
    for (const upstreams of this.#upstreams.values()) all.push(...upstreams.values());
    return all;
  }

  /** Closes every pool at once. */
  async close(): Promise<void> {
    const closing = this.upstreams().map((u) => u.destroy());
    this.#upstreams.clear();
    this.#routes = new Map();
    this.#root = undefined;
    await Promise.all(closing);
  }

  /** Gives a new instance its upstream, and a moved one a new upstream; one at the same address keeps its own. */
  #put(instance: Instance): void {
    const upstreams = this.#upstreams.get(instance.service) ?? new Map<string, Upstream>();
    this.#upstreams.set(instance.service, upstreams);
    const upstream = upstreams.get(instance.id);
    if (upstream?.host === instance.host && upstream.port === instance.port) {
      upstream.instance = instance;
      return;
    }
    if (upstream) void upstream.close();
    upstreams.set(instance.id, new Upstream(instance, this.#options.pool));
  }

  #remove(instance: Instance): void {
    const upstreams = this.#upstreams.get(instance.service);
    const upstream = upstreams?.get(instance.id);
    upstreams?.delete(instance.id);
    if (upstreams?.size === 0) this.#upstreams.delete(instance.service);
    // Requests under way finish; no new one is sent to it.
    if (upstream) void upstream.close();
  }

  #state(service: string): ServiceState {
    return {
      instances: this.#cache.services.get(service) ?? new Map<string, Instance>(),
      upstreams: this.#upstreams.get(service) ?? new Map<string, Upstream>(),
    };
  }

  #rebuild(): void {
    this.#dirty = false;
    const claims = new Map<string, Claim[]>();
    const claim = (prefix: string, service: string): Claim => {
      let list = claims.get(prefix);
      if (!list) claims.set(prefix, (list = []));
      let found = list.find((c) => c.service === service);
      if (!found) list.push((found = { service, byUrl: [], byName: false }));
      return found;
    };
    for (const service of this.#cache.services.keys()) {
      const state = this.#state(service);
      for (const upstream of state.upstreams.values()) {
        const prefix = routePrefix(upstream.instance.url);
        if (prefix !== undefined) claim(prefix, service).byUrl.push(upstream);
      }
      if (this.#options.routeByName) claim(`/${service}`, service).byName = true;
    }
    this.#retain(claims, claim);

    const previous = this.#routes;
    const previousRoot = this.#root;
    const routes = new Map<string, Route>();
    const conflicts: RouteConflict[] = [];
    let root: Route | undefined;
    let depth = 0;
    const targets = new Map<string, FallbackTarget>();
    for (const [prefix, list] of claims) {
      // A url names its prefix on purpose and wins over a service's name; among equals the first name wins.
      const byUrl = list.filter((c) => c.byUrl.length > 0).sort((a, b) => compare(a.service, b.service));
      const chosen = byUrl[0] ?? list[0];
      if (!chosen) continue;
      if (list.length > 1) {
        conflicts.push({ prefix, services: list.map((c) => c.service).sort(compare), routedTo: chosen.service });
      }
      const old = prefix === '/' ? previousRoot : previous.get(prefix);
      let route: Route;
      if (chosen.retained) {
        route = this.#retainedRoute({ prefix, service: chosen.service, retained: chosen.retained }, targets);
      } else {
        const state = this.#state(chosen.service);
        const members = chosen.byName ? [...state.upstreams.values()] : chosen.byUrl;
        members.sort((a, b) => compare(a.instance.id, b.instance.id));
        const source: RouteSource = chosen.byUrl.length > 0 ? (chosen.byName ? 'url+name' : 'url') : 'name';
        route = this.#route({ prefix, service: chosen.service, source, members, state, targets }, old);
      }
      if (prefix === '/') root = route;
      else {
        routes.set(prefix, route);
        depth = Math.max(depth, segments(prefix));
      }
    }
    this.#routes = routes;
    this.#root = root;
    this.#targets = targets;
    this.#depth = depth;
    if (this.#cuts.length < depth + 1) this.#cuts = new Int32Array(depth + 1);
    this.#conflicts = conflicts.sort((a, b) => compare(a.prefix, b.prefix));
  }

  #route(
    spec: {
      prefix: string;
      service: string;
      source: RouteSource;
      members: Upstream[];
      state: ServiceState;
      targets: Map<string, FallbackTarget>;
    },
    old: Route | undefined,
  ): Route {
    const { prefix, service, source, members, state } = spec;
    const settings = serviceSettings(state.instances, this.#options.balance);
    const eligible = members.filter((u) => isEligible(u.instance));
    // Keep the balancer (its rotation and weights) across changes that leave its instances and weights as they were.
    const balancer = keepBalancer(old?.service === service ? old.balancer : undefined, settings.balance, eligible);
    const fallback = fallbackOf(service, state.instances.values());
    return {
      prefix,
      service,
      source,
      stripPrefix: settings.stripPrefix,
      balancer,
      members,
      eligible,
      authorizedRoles: settings.roles,
      fallback: fallback === undefined ? undefined : this.#target(fallback, spec.targets),
      retained: false,
    };
  }

  /** The route of a service with no instance left: nothing of its own to pick, so every request goes to the fallback. */
  #retainedRoute(
    spec: { prefix: string; service: string; retained: Retained },
    targets: Map<string, FallbackTarget>,
  ): Route {
    const { prefix, service, retained } = spec;
    return {
      prefix,
      service,
      source: retained.prefixes.has(prefix) ? 'url' : 'name',
      stripPrefix: retained.stripPrefix,
      balancer: keepBalancer(undefined, this.#options.balance, []),
      members: [],
      eligible: [],
      authorizedRoles: retained.roles,
      fallback: this.#target(retained.fallback, targets),
      retained: true,
    };
  }

  /** The fallback target for `service`, built once per rebuild; its balancer carries on from the last rebuild's. */
  #target(service: string, targets: Map<string, FallbackTarget>): FallbackTarget {
    const built = targets.get(service);
    if (built) return built;
    const state = this.#state(service);
    const settings = serviceSettings(state.instances, this.#options.balance);
    const eligible = [...state.upstreams.values()]
      .filter((u) => isEligible(u.instance))
      .sort((a, b) => compare(a.instance.id, b.instance.id));
    const old = this.#targets.get(service);
    const target: FallbackTarget = {
      service,
      stripPrefix: settings.stripPrefix,
      balancer: keepBalancer(old?.balancer, settings.balance, eligible),
      eligible,
    };
    targets.set(service, target);
    return target;
  }

  /** Remembers what `service`'s routes need once its last instance is gone; forgets it when it names no fallback. */
  #remember(service: string, instances: ReadonlyMap<string, Instance>): void {
    const fallback = fallbackOf(service, instances.values());
    if (fallback === undefined) {
      this.#memory.seen(service, undefined);
      return;
    }
    const settings = serviceSettings(instances, this.#options.balance);
    const prefixes = new Set<string>();
    for (const instance of instances.values()) {
      const prefix = routePrefix(instance.url);
      if (prefix !== undefined) prefixes.add(prefix);
    }
    const byName = this.#options.routeByName;
    this.#memory.seen(service, {
      fallback,
      prefixes,
      byName,
      stripPrefix: settings.stripPrefix,
      roles: settings.roles,
    });
  }

  /**
   * Remembers, per service that names a fallback, what its routes need once its last instance is gone; claims the
   * prefixes of services that have gone (unless a live service claims them: then they are dropped for good).
   */
  #retain(claims: Map<string, Claim[]>, claim: (prefix: string, service: string) => Claim): void {
    const memory = this.#memory;
    for (const [service, instances] of this.#cache.services) this.#remember(service, instances);
    for (const service of [...memory.services()]) if (!this.#cache.services.has(service)) memory.gone(service);
    const live = (prefix: string): boolean => claims.get(prefix)?.some((c) => c.retained === undefined) === true;
    for (const [service, retained] of memory.retained()) {
      for (const prefix of [...retained.prefixes]) {
        if (live(prefix)) retained.prefixes.delete(prefix);
        else claim(prefix, service).retained = retained;
      }
      if (retained.byName) {
        const prefix = `/${service}`;
        if (live(prefix)) retained.byName = false;
        else claim(prefix, service).retained = retained;
      }
      if (retained.prefixes.size === 0 && !retained.byName) memory.forget(service);
    }
  }
}

/**
 * Rewrites the request target for the upstream: the prefix is cut when the service asks for it. On a fallback, the
 * route's prefix is cut when the fallback service asks for it (`{ prefix: route.prefix, stripPrefix: target's }`).
 */
export function upstreamPath(route: Pick<Route, 'prefix' | 'stripPrefix'>, target: string): string {
  if (!route.stripPrefix || route.prefix === '/') return target;
  const rest = target.slice(route.prefix.length);
  return rest === '' || rest.startsWith('?') ? `/${rest}` : rest;
}

function serviceSettings(
  instances: ReadonlyMap<string, Instance>,
  fallback: BalanceStrategy,
): { balance: BalanceStrategy; stripPrefix: boolean; roles: ReadonlySet<string> | undefined } {
  let latest: Instance | undefined;
  const roles = new Set<string>();
  for (const instance of instances.values()) {
    if (!latest || instance.modifyIndex > latest.modifyIndex) latest = instance;
    for (const role of instance.authorizedRoles) roles.add(role);
  }
  const balance = latest?.metadata[BALANCE_KEY];
  return {
    balance: isBalanceStrategy(balance) ? balance : fallback,
    stripPrefix: latest?.metadata[STRIP_PREFIX_KEY] === 'true',
    roles: roles.size > 0 ? roles : undefined,
  };
}

function segments(prefix: string): number {
  let n = 0;
  for (let i = 0; i < prefix.length; i++) if (prefix.charCodeAt(i) === 47) n++;
  return n;
}

function instanceView(upstream: Upstream, { eligible, now }: { eligible: boolean; now: number }): RouteInstanceView {
  const instance = upstream.instance;
  const { rps, p90Ms } = loadFigures([upstream], now);
  return {
    id: instance.id,
    address: `${upstream.host}:${upstream.port}`,
    status: instance.status,
    health: instance.health,
    maintenance: inMaintenance(instance),
    weight: instance.weight,
    eligible,
    ejected: upstream.ejected,
    ejectedUntil: upstream.ejected ? new Date(upstream.ejectedUntil).toISOString() : null,
    outstanding: upstream.outstanding,
    consecutiveFailures: upstream.consecutiveFailures,
    requests: upstream.requests,
    failures: upstream.failures,
    ejections: upstream.totalEjections,
    rps,
    p90Ms,
  };
}
