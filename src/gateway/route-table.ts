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
 * Changes are applied at once and the routes are brought up to date lazily on the next lookup, so a burst of events
 * (a snapshot of thousands of instances) costs one rebuild. That rebuild is incremental (issue 20): it takes again
 * only the claims of the services changed since the last lookup, and builds routes only for the prefixes whose claims
 * changed, plus new fallback targets for the routes falling back to a changed service; so its cost follows the size
 * of the change, not of the registry. Where two services that have gone both retain one prefix, the first name wins,
 * as everywhere else.
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
  fallbackMemory?: Omit<FallbackMemoryOptions, 'forgotten'>;
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
  /** The services changed since the last lookup: the next one rebuilds only what depends on them. */
  #changed = new Set<string>();
  /** Who claims each prefix (a prefix no one claims has no entry). */
  readonly #claims = new Map<string, Claim[]>();
  /** The prefixes each service claims, live or retained, so a change can withdraw them. */
  readonly #claimed = new Map<string, Set<string>>();
  #routes = new Map<string, Route>();
  #root: Route | undefined;
  /** How many routes (the root aside) have each number of path segments, for `#depth`. */
  #depths: number[] = [];
  /** Most path segments of any prefix: a lookup tries no deeper. */
  #depth = 0;
  readonly #conflicts = new Map<string, RouteConflict>();
  /** `#conflicts` ordered by prefix, until they change. */
  #conflictList: RouteConflict[] | undefined;
  /** Fallback targets by service, kept while a route uses them (for their balancers' rotation). */
  readonly #targets = new Map<string, FallbackTarget>();
  /** Per fallback service, the prefixes whose routes fall back to it: a change to it rebuilds only their targets. */
  readonly #fallbackUsers = new Map<string, Set<string>>();
  readonly #memory: FallbackMemory<Retained>;
  /** Scratch space for a lookup's candidate prefix ends (lookups are synchronous, so one is enough). */
  #cuts = new Int32Array(8);

  constructor(options: RouteTableOptions) {
    this.#options = options;
    this.#memory = new FallbackMemory({
      ...options.fallbackMemory,
      forgotten: (service) => this.#changed.add(service),
    });
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
    // The cache's hooks mark the services it changes.
    this.#cache.apply(event);
  }

  /** The route for a request target (`/path?query`), or undefined. */
  match(target: string): Route | undefined {
    if (this.#changed.size > 0 || this.#memory.expired) this.#rebuild();
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
    if (this.#changed.size > 0 || this.#memory.expired) this.#rebuild();
    return this.#routes.size + (this.#root ? 1 : 0);
  }

  /** The table for operators (`GET /_gateway/routes`). */
  view(): RouteTableView {
    if (this.#changed.size > 0 || this.#memory.expired) this.#rebuild();
    const all = [...this.#routes.values()];
    if (this.#root) all.push(this.#root);
    all.sort((a, b) => compare(a.prefix, b.prefix));
    const now = performance.now();
    this.#conflictList ??= [...this.#conflicts.values()].sort((a, b) => compare(a.prefix, b.prefix));
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
      conflicts: this.#conflictList,
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
    this.#changed.clear();
    this.#claims.clear();
    this.#claimed.clear();
    this.#routes = new Map();
    this.#root = undefined;
    this.#depths = [];
    this.#depth = 0;
    this.#conflicts.clear();
    this.#conflictList = undefined;
    this.#targets.clear();
    this.#fallbackUsers.clear();
    await Promise.all(closing);
  }

  /**
   * Keeps an instance's upstream when it stays at the same address; a moved one loses it. Upstreams are made when a
   * rebuild first needs the instance (`#state`), not here: a registration the gateway never routes costs it no pool
   * and no counters (issue #20: with 50,000 instances they doubled the gateway's memory and a registration's cost).
   */
  #put(instance: Instance): void {
    this.#changed.add(instance.service);
    const upstreams = this.#upstreams.get(instance.service);
    const upstream = upstreams?.get(instance.id);
    if (upstream === undefined) return;
    if (upstream.host === instance.host && upstream.port === instance.port) {
      upstream.instance = instance;
      return;
    }
    upstreams?.delete(instance.id);
    void upstream.close();
  }

  #remove(instance: Instance): void {
    this.#changed.add(instance.service);
    const upstreams = this.#upstreams.get(instance.service);
    const upstream = upstreams?.get(instance.id);
    upstreams?.delete(instance.id);
    if (upstreams?.size === 0) this.#upstreams.delete(instance.service);
    // Requests under way finish; no new one is sent to it.
    if (upstream) void upstream.close();
  }

  /** A service's instances and their upstreams, one per instance, made for those that have none yet. */
  #state(service: string): ServiceState {
    const instances = this.#cache.services.get(service);
    if (instances === undefined)
      return { instances: new Map<string, Instance>(), upstreams: new Map<string, Upstream>() };
    let upstreams = this.#upstreams.get(service);
    if (upstreams === undefined) this.#upstreams.set(service, (upstreams = new Map<string, Upstream>()));
    if (upstreams.size !== instances.size) {
      for (const instance of instances.values()) {
        if (!upstreams.has(instance.id)) upstreams.set(instance.id, new Upstream(instance, this.#options.pool));
      }
    }
    return { instances, upstreams };
  }

  /**
   * Brings the routes up to date with the services changed since the last lookup: their claims are taken again, and
   * only the prefixes whose claims changed get new routes (plus, for a changed fallback service, the routes falling
   * back to it get its new target). The work follows the size of the change, not of the registry.
   */
  #rebuild(): void {
    // A sweep tells of the services it forgets through the memory's `forgotten` hook, which marks them changed.
    if (this.#memory.expired) this.#memory.retained();
    const changed = this.#changed;
    this.#changed = new Set();
    const touched = new Set<string>();
    const gone: [string, Retained][] = [];
    for (const service of changed) {
      this.#withdraw(service, touched);
      const instances = this.#cache.services.get(service);
      if (instances !== undefined) {
        this.#remember(service, instances);
        this.#claimLive(service, touched);
        continue;
      }
      this.#memory.gone(service);
      const retained = this.#memory.get(service);
      if (retained !== undefined) gone.push([service, retained]);
    }
    // A live service taking a prefix takes it from the services that have gone for good.
    for (const prefix of touched) {
      const list = this.#claims.get(prefix) ?? [];
      if (!list.some((c) => c.retained === undefined)) continue;
      for (const { service, retained } of [...list]) {
        if (retained === undefined) continue;
        this.#unclaim(prefix, service);
        this.#giveUp(service, retained, prefix);
      }
    }
    for (const [service, retained] of gone) this.#claimRetained(service, retained, touched);

    const fresh = new Map<string, FallbackTarget>();
    const unused = new Set<string>();
    for (const prefix of touched) this.#settle(prefix, { changed, fresh, unused });
    // A changed fallback service gets a new target: the routes that fall back to it (and were not rebuilt) take it.
    for (const service of changed) {
      const users = this.#fallbackUsers.get(service);
      if (users === undefined) continue;
      for (const prefix of users) {
        const route = this.#routeAt(prefix);
        if (route === undefined || touched.has(prefix)) continue;
        this.#setRoute(prefix, { ...route, fallback: this.#target(service, { changed, fresh }) });
      }
    }
    for (const service of unused) {
      if (this.#fallbackUsers.get(service)?.size === 0) {
        this.#fallbackUsers.delete(service);
        this.#targets.delete(service);
      }
    }
    let depth = this.#depths.length - 1;
    while (depth > 0 && !this.#depths[depth]) depth--;
    this.#depth = Math.max(depth, 0);
    if (this.#cuts.length < this.#depth + 1) this.#cuts = new Int32Array(this.#depth + 1);
  }

  /** Takes back every claim of `service`, live or retained. */
  #withdraw(service: string, touched: Set<string>): void {
    const prefixes = this.#claimed.get(service);
    if (prefixes === undefined) return;
    for (const prefix of [...prefixes]) {
      this.#unclaim(prefix, service);
      touched.add(prefix);
    }
  }

  #claim(prefix: string, service: string): Claim {
    let list = this.#claims.get(prefix);
    if (!list) this.#claims.set(prefix, (list = []));
    let found = list.find((c) => c.service === service);
    if (!found) list.push((found = { service, byUrl: [], byName: false }));
    let prefixes = this.#claimed.get(service);
    if (!prefixes) this.#claimed.set(service, (prefixes = new Set()));
    prefixes.add(prefix);
    return found;
  }

  #unclaim(prefix: string, service: string): void {
    const list = this.#claims.get(prefix);
    const at = list?.findIndex((c) => c.service === service) ?? -1;
    if (list && at !== -1) {
      list.splice(at, 1);
      if (list.length === 0) this.#claims.delete(prefix);
    }
    const prefixes = this.#claimed.get(service);
    prefixes?.delete(prefix);
    if (prefixes?.size === 0) this.#claimed.delete(service);
  }

  /** Claims the prefixes of a service that has instances: its urls', and its name's with `routeByName`. */
  #claimLive(service: string, touched: Set<string>): void {
    for (const upstream of this.#state(service).upstreams.values()) {
      const prefix = routePrefix(upstream.instance.url);
      if (prefix === undefined) continue;
      this.#claim(prefix, service).byUrl.push(upstream);
      touched.add(prefix);
    }
    if (this.#options.routeByName) {
      const prefix = `/${service}`;
      this.#claim(prefix, service).byName = true;
      touched.add(prefix);
    }
  }

  /** Claims what a service that has gone still holds, but never a prefix a live service claims (that one it gives up). */
  #claimRetained(service: string, retained: Retained, touched: Set<string>): void {
    const live = (prefix: string): boolean => this.#claims.get(prefix)?.some((c) => c.retained === undefined) === true;
    for (const prefix of [...retained.prefixes]) {
      if (live(prefix)) retained.prefixes.delete(prefix);
      else {
        this.#claim(prefix, service).retained = retained;
        touched.add(prefix);
      }
    }
    if (retained.byName) {
      const prefix = `/${service}`;
      if (live(prefix)) retained.byName = false;
      else {
        this.#claim(prefix, service).retained = retained;
        touched.add(prefix);
      }
    }
    if (retained.prefixes.size === 0 && !retained.byName) this.#memory.forget(service);
  }

  /** A gone service gives `prefix` up for good (a live service took it); with nothing left to hold, it is forgotten. */
  #giveUp(service: string, retained: Retained, prefix: string): void {
    retained.prefixes.delete(prefix);
    if (prefix === `/${service}`) retained.byName = false;
    if (retained.prefixes.size === 0 && !retained.byName) this.#memory.forget(service);
  }

  /** Rebuilds the route (and the conflict) of one prefix from its claims. */
  #settle(
    prefix: string,
    rebuild: { changed: Set<string>; fresh: Map<string, FallbackTarget>; unused: Set<string> },
  ): void {
    const list = this.#claims.get(prefix);
    const old = this.#routeAt(prefix);
    if (old?.fallback) {
      this.#fallbackUsers.get(old.fallback.service)?.delete(prefix);
      rebuild.unused.add(old.fallback.service);
    }
    const conflict = this.#conflicts.get(prefix);
    if (conflict !== undefined) {
      this.#conflicts.delete(prefix);
      this.#conflictList = undefined;
    }
    if (list === undefined || list.length === 0) {
      this.#setRoute(prefix, undefined);
      return;
    }
    // A url names its prefix on purpose and wins over a service's name; among equals the first name wins.
    let chosen: Claim | undefined;
    for (const c of list) if (c.byUrl.length > 0 && (!chosen || compare(c.service, chosen.service) < 0)) chosen = c;
    if (!chosen) for (const c of list) if (!chosen || compare(c.service, chosen.service) < 0) chosen = c;
    chosen ??= list[0] as Claim;
    if (list.length > 1) {
      const services = list.map((c) => c.service).sort(compare);
      this.#conflicts.set(prefix, { prefix, services, routedTo: chosen.service });
      this.#conflictList = undefined;
    }
    let route: Route;
    if (chosen.retained) {
      route = this.#retainedRoute({ prefix, service: chosen.service, retained: chosen.retained }, rebuild);
    } else {
      const state = this.#state(chosen.service);
      const members = chosen.byName ? [...state.upstreams.values()] : [...chosen.byUrl];
      members.sort((a, b) => compare(a.instance.id, b.instance.id));
      const source: RouteSource = chosen.byUrl.length > 0 ? (chosen.byName ? 'url+name' : 'url') : 'name';
      route = this.#route({ prefix, service: chosen.service, source, members, state }, old, rebuild);
    }
    this.#setRoute(prefix, route);
    if (route.fallback) {
      const service = route.fallback.service;
      let users = this.#fallbackUsers.get(service);
      if (!users) this.#fallbackUsers.set(service, (users = new Set()));
      users.add(prefix);
    }
  }

  #routeAt(prefix: string): Route | undefined {
    return prefix === '/' ? this.#root : this.#routes.get(prefix);
  }

  /** Puts (or, with undefined, drops) the route of `prefix`, keeping `#depths` in step. */
  #setRoute(prefix: string, route: Route | undefined): void {
    if (prefix === '/') {
      this.#root = route;
      return;
    }
    const had = this.#routes.has(prefix);
    if (route === undefined) this.#routes.delete(prefix);
    else this.#routes.set(prefix, route);
    if (had === (route !== undefined)) return;
    const n = segments(prefix);
    this.#depths[n] = (this.#depths[n] ?? 0) + (had ? -1 : 1);
  }

  #route(
    spec: { prefix: string; service: string; source: RouteSource; members: Upstream[]; state: ServiceState },
    old: Route | undefined,
    rebuild: { changed: Set<string>; fresh: Map<string, FallbackTarget> },
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
      fallback: fallback === undefined ? undefined : this.#target(fallback, rebuild),
      retained: false,
    };
  }

  /** The route of a service with no instance left: nothing of its own to pick, so every request goes to the fallback. */
  #retainedRoute(
    spec: { prefix: string; service: string; retained: Retained },
    rebuild: { changed: Set<string>; fresh: Map<string, FallbackTarget> },
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
      fallback: this.#target(retained.fallback, rebuild),
      retained: true,
    };
  }

  /**
   * The fallback target for `service`: the one kept while the service has not changed, else built anew (once per
   * rebuild), its balancer carrying on from the last one's.
   */
  #target(service: string, rebuild: { changed: Set<string>; fresh: Map<string, FallbackTarget> }): FallbackTarget {
    const kept = rebuild.changed.has(service) ? rebuild.fresh.get(service) : this.#targets.get(service);
    if (kept) return kept;
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
    this.#targets.set(service, target);
    rebuild.fresh.set(service, target);
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
