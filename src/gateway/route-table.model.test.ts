/**
 * A model-based test of the incremental route table (issue 20): random sequences of watch events (registrations,
 * updates, status and health changes, deregistrations, expiries, snapshots) over a few services, ids and url prefixes
 * (shared, nested, the root, one that is also a service's name), with the metadata the gateway reads, interleaved with
 * lookups and clock ticks. At every lookup the table must answer what a reference answers: a small, independent
 * implementation of the documented rules that recomputes everything from the instances and from what gone services
 * last said (retained routes depend on history, so the reference follows the same events and looks up at the same
 * moments). Checked: `view()` (routes, members, eligibility, settings, fallbacks, conflicts), `match()` over a set of
 * targets, the fallback targets, the connection pools (one open upstream per instance at its address, every other one
 * closed), and balancers kept exactly when a route's service, strategy, eligible upstreams and weights are unchanged.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { Instance, InstanceStatus } from '../wire/index.js';
import { RouteTable } from './route-table.js';
import type { FallbackTarget, Route, RouteFeedEvent } from './route-table.js';
import type { Balancer, BalanceStrategy } from './balancer.js';
import type { Upstream } from './upstream.js';

const NUM_RUNS = 200;
const RETENTION_MS = 100;

const SERVICES = ['alpha', 'beta', 'gamma', 'sorry'] as const;
const IDS = ['a', 'b', 'c'] as const;
/** Shared and nested prefixes, the root, one that is a service's name, a trailing slash, and two that name nothing. */
const URLS = [undefined, '/shared', '/shared/deep', '/shared/', '/alpha', '/gamma/x', '/', 'relative', 'http://x/y'];
const FALLBACKS = [undefined, 'sorry', 'sorry', 'alpha', 'beta', 'self', 'Not A Name'];
const TARGETS = [
  '/',
  '/shared',
  '/shared/',
  '/shared/deep/7?x=/alpha',
  '/sharedx',
  '/alpha',
  '/alpha/1',
  '/beta/2',
  '/gamma',
  '/gamma/x/y',
  '/sorry',
  '/nowhere',
];

interface Fields {
  url: string | undefined;
  port: number;
  status: InstanceStatus;
  health: Instance['health'];
  maintenance: boolean;
  weight: number;
  roles: string[];
  balance: string | undefined;
  strip: string | undefined;
  fallback: string | undefined;
}

/** The fields of an instance the table never heard of (a deregistration may name one). */
const UNKNOWN: Fields = {
  url: '/shared',
  port: 1,
  status: 'UP',
  health: 'passing',
  maintenance: false,
  weight: 100,
  roles: [],
  balance: undefined,
  strip: undefined,
  fallback: undefined,
};

type Step =
  | { kind: 'put'; type: 'registered' | 'updated' | 'status' | 'health'; key: number; fields: Fields }
  | { kind: 'remove'; type: 'deregistered' | 'expired'; key: number }
  | { kind: 'snapshot'; keep: boolean[]; extra: { key: number; fields: Fields }[] }
  | { kind: 'lookup' }
  | { kind: 'tick'; ms: number };

const KEYS = SERVICES.flatMap((service) => IDS.map((id) => ({ service, id })));
const keyArb = fc.nat({ max: KEYS.length - 1 });
const fieldsArb: fc.Arbitrary<Fields> = fc.record({
  url: fc.constantFrom(...URLS),
  port: fc.constantFrom(9001, 9002),
  status: fc.constantFrom<InstanceStatus[]>('UP', 'UP', 'UP', 'DOWN', 'STARTING', 'OUT_OF_SERVICE'),
  health: fc.constantFrom<Instance['health'][]>('passing', 'passing', 'warning', 'critical'),
  maintenance: fc.boolean(),
  weight: fc.constantFrom(0, 1, 100),
  roles: fc.subarray(['r1', 'r2']),
  balance: fc.constantFrom(undefined, 'round-robin', 'weighted', 'least-outstanding', 'bogus'),
  strip: fc.constantFrom(undefined, 'true', 'false'),
  fallback: fc.constantFrom(...FALLBACKS),
});
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('put' as const),
      type: fc.constantFrom('registered' as const, 'updated' as const, 'status' as const, 'health' as const),
      key: keyArb,
      fields: fieldsArb,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('remove' as const),
      type: fc.constantFrom('deregistered' as const, 'expired' as const),
      key: keyArb,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('snapshot' as const),
      keep: fc.array(fc.boolean(), { minLength: KEYS.length, maxLength: KEYS.length }),
      extra: fc.array(fc.record({ key: keyArb, fields: fieldsArb }), { maxLength: 3 }),
    }),
  },
  { weight: 5, arbitrary: fc.constant({ kind: 'lookup' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.constantFrom(10, 60, 100, 150) }) },
);

function build(key: number, fields: Fields, index: number): Instance {
  const { service, id } = KEYS[key] as (typeof KEYS)[number];
  const metadata: Record<string, string> = {};
  if (fields.balance !== undefined) metadata['gateway.balance'] = fields.balance;
  if (fields.strip !== undefined) metadata['gateway.stripPrefix'] = fields.strip;
  if (fields.fallback !== undefined)
    metadata['switchboard.fallback'] = fields.fallback === 'self' ? service : fields.fallback;
  return {
    id,
    service,
    host: '127.0.0.1',
    port: fields.port,
    ...(fields.url === undefined ? {} : { url: fields.url }),
    endpoints: [],
    status: fields.status,
    health: fields.health,
    tags: [],
    metadata,
    weight: fields.weight,
    authorizedRoles: fields.roles,
    ...(fields.maintenance ? { maintenance: { enabled: true, reason: 'test' } } : {}),
    registeredAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    lastHeartbeat: '2026-01-01T00:00:00.000Z',
    createIndex: index,
    modifyIndex: index,
  };
}

// ---- the reference: the documented rules, recomputed from scratch ----------------------------------------------

interface Said {
  fallback: string;
  prefixes: Set<string>;
  byName: boolean;
  stripPrefix: boolean;
  roles: string[];
}

interface RefClaim {
  service: string;
  urls: Instance[];
  byName: boolean;
  said?: Said;
}

interface RefRoute {
  prefix: string;
  service: string;
  source: 'url' | 'name' | 'url+name';
  stripPrefix: boolean;
  balance: BalanceStrategy;
  roles: string[];
  retained: boolean;
  members: Instance[];
  fallback: string | undefined;
}

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

function prefixOf(url: string | undefined): string | undefined {
  if (url?.startsWith('/') !== true) return undefined;
  let path = url.split(/[?#]/)[0] as string;
  while (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return path;
}

const eligibleOf = (i: Instance): boolean => i.status === 'UP' && i.health !== 'critical' && !i.maintenance?.enabled;

/** The settings of a service: from its instance changed last, roles from all of them. */
function settingsOf(service: string, instances: Instance[], defaultBalance: BalanceStrategy) {
  const latest = instances.reduce((a, b) => (b.modifyIndex > a.modifyIndex ? b : a));
  const balance = latest.metadata['gateway.balance'];
  const named = latest.metadata['switchboard.fallback'];
  return {
    balance: (['round-robin', 'weighted', 'least-outstanding'].includes(balance ?? '')
      ? balance
      : defaultBalance) as BalanceStrategy,
    stripPrefix: latest.metadata['gateway.stripPrefix'] === 'true',
    roles: [...new Set(instances.flatMap((i) => i.authorizedRoles))].sort(byString),
    fallback: named !== undefined && named !== service && NAME.test(named) ? named : undefined,
  };
}

class Reference {
  readonly instances = new Map<string, Map<string, Instance>>();
  readonly memory = new Map<string, { said: Said; goneAt: number | undefined }>();
  routes = new Map<string, RefRoute>();
  conflicts: { prefix: string; services: string[]; routedTo: string }[] = [];

  constructor(
    readonly routeByName: boolean,
    readonly balance: BalanceStrategy,
    readonly clock: { now: number },
  ) {}

  apply(event: RouteFeedEvent): void {
    if (event.type === 'snapshot') {
      for (const service of this.instances.keys()) this.remember(service);
      this.instances.clear();
      for (const instance of event.instances) this.put(instance);
      return;
    }
    if (event.type === 'deregistered' || event.type === 'expired') {
      const byId = this.instances.get(event.service);
      if (byId?.size === 1 && byId.has(event.instance.id)) this.remember(event.service);
      byId?.delete(event.instance.id);
      if (byId?.size === 0) this.instances.delete(event.service);
      return;
    }
    this.put(event.instance);
  }

  put(instance: Instance): void {
    const byId = this.instances.get(instance.service) ?? new Map<string, Instance>();
    this.instances.set(instance.service, byId);
    byId.set(instance.id, instance);
  }

  remember(service: string): void {
    const instances = [...(this.instances.get(service)?.values() ?? [])];
    const settings = settingsOf(service, instances, this.balance);
    if (settings.fallback === undefined) {
      this.memory.delete(service);
      return;
    }
    const prefixes = new Set(instances.map((i) => prefixOf(i.url)).filter((p) => p !== undefined));
    this.memory.set(service, {
      said: {
        fallback: settings.fallback,
        prefixes,
        byName: this.routeByName,
        stripPrefix: settings.stripPrefix,
        roles: settings.roles,
      },
      goneAt: undefined,
    });
  }

  /** Everything again, as at a lookup. */
  lookup(): void {
    for (const [service, known] of this.memory) {
      if (known.goneAt !== undefined && this.clock.now >= known.goneAt + RETENTION_MS) this.memory.delete(service);
    }
    for (const service of this.instances.keys()) this.remember(service);
    for (const [service, known] of this.memory) if (!this.instances.has(service)) known.goneAt ??= this.clock.now;

    const claims = new Map<string, RefClaim[]>();
    const claim = (prefix: string, service: string): RefClaim => {
      const list = claims.get(prefix) ?? [];
      claims.set(prefix, list);
      let found = list.find((c) => c.service === service);
      if (!found) list.push((found = { service, urls: [], byName: false }));
      return found;
    };
    for (const [service, byId] of this.instances) {
      for (const instance of byId.values()) {
        const prefix = prefixOf(instance.url);
        if (prefix !== undefined) claim(prefix, service).urls.push(instance);
      }
      if (this.routeByName) claim(`/${service}`, service).byName = true;
    }
    const live = (prefix: string): boolean => claims.get(prefix)?.some((c) => c.said === undefined) === true;
    for (const [service, known] of [...this.memory]) {
      if (known.goneAt === undefined) continue;
      const said = known.said;
      for (const prefix of [...said.prefixes]) {
        if (live(prefix)) said.prefixes.delete(prefix);
        else claim(prefix, service).said = said;
      }
      if (said.byName) {
        if (live(`/${service}`)) said.byName = false;
        else claim(`/${service}`, service).said = said;
      }
      if (said.prefixes.size === 0 && !said.byName) this.memory.delete(service);
    }

    this.routes = new Map();
    this.conflicts = [];
    for (const [prefix, list] of claims) {
      const names = list.map((c) => c.service).sort(byString);
      const byUrl = list.filter((c) => c.urls.length > 0).map((c) => c.service);
      const routedTo = byUrl.sort(byString)[0] ?? names[0] ?? '';
      if (list.length > 1) this.conflicts.push({ prefix, services: names, routedTo });
      const chosen = list.find((c) => c.service === routedTo) as RefClaim;
      if (chosen.said) {
        this.routes.set(prefix, {
          prefix,
          service: routedTo,
          source: chosen.said.prefixes.has(prefix) ? 'url' : 'name',
          stripPrefix: chosen.said.stripPrefix,
          balance: this.balance,
          roles: chosen.said.roles,
          retained: true,
          members: [],
          fallback: chosen.said.fallback,
        });
        continue;
      }
      const all = [...(this.instances.get(routedTo)?.values() ?? [])];
      const settings = settingsOf(routedTo, all, this.balance);
      this.routes.set(prefix, {
        prefix,
        service: routedTo,
        source: chosen.urls.length > 0 ? (chosen.byName ? 'url+name' : 'url') : 'name',
        stripPrefix: settings.stripPrefix,
        balance: settings.balance,
        roles: settings.roles,
        retained: false,
        members: (chosen.byName ? all : chosen.urls).sort((a, b) => byString(a.id, b.id)),
        fallback: settings.fallback,
      });
    }
    this.conflicts.sort((a, b) => byString(a.prefix, b.prefix));
  }

  /** Longest whole-segment prefix of the path, else the root. */
  match(target: string): RefRoute | undefined {
    const path = target.split('?')[0] as string;
    const candidates: string[] = [];
    for (let i = 1; i < path.length; i++) if (path[i] === '/') candidates.push(path.slice(0, i));
    if (!path.endsWith('/')) candidates.push(path);
    for (const prefix of candidates.reverse()) {
      const route = prefix === '/' ? undefined : this.routes.get(prefix);
      if (route) return route;
    }
    return this.routes.get('/');
  }

  target(service: string) {
    const all = [...(this.instances.get(service)?.values() ?? [])];
    const settings =
      all.length > 0 ? settingsOf(service, all, this.balance) : { stripPrefix: false, balance: this.balance };
    return {
      service,
      stripPrefix: settings.stripPrefix,
      balance: settings.balance,
      eligible: all
        .filter(eligibleOf)
        .map((i) => i.id)
        .sort(byString),
    };
  }

  observe() {
    const routes = [...this.routes.values()].sort((a, b) => byString(a.prefix, b.prefix));
    return {
      routes: routes.map((r) => ({
        prefix: r.prefix,
        service: r.service,
        source: r.source,
        stripPrefix: r.stripPrefix,
        balance: r.balance,
        authorizedRoles: r.roles,
        fallback: r.fallback ?? null,
        retained: r.retained,
        instances: r.members.map((i) => ({ id: i.id, address: `${i.host}:${i.port}`, eligible: eligibleOf(i) })),
        target: r.fallback === undefined ? null : this.target(r.fallback),
      })),
      conflicts: this.conflicts,
      matches: TARGETS.map((target) => {
        const r = this.match(target);
        return r === undefined
          ? null
          : {
              prefix: r.prefix,
              service: r.service,
              retained: r.retained,
              fallback: r.fallback ?? null,
              eligible: r.members.filter(eligibleOf).map((i) => i.id),
            };
      }),
    };
  }
}

// ---- what the table answers ---------------------------------------------------------------------------------------

function describeTarget(target: FallbackTarget | undefined) {
  return target === undefined
    ? null
    : {
        service: target.service,
        stripPrefix: target.stripPrefix,
        balance: target.balancer.strategy,
        eligible: target.eligible.map((u) => u.instance.id),
      };
}

function observe(t: RouteTable) {
  const view = t.view();
  return {
    routes: view.routes.map((r) => ({
      prefix: r.prefix,
      service: r.service,
      source: r.source,
      stripPrefix: r.stripPrefix,
      balance: r.balance,
      authorizedRoles: r.authorizedRoles,
      fallback: r.fallback,
      retained: r.retained,
      instances: r.instances.map((i) => ({ id: i.id, address: i.address, eligible: i.eligible })),
      target: describeTarget(t.match(r.prefix)?.fallback),
    })),
    conflicts: view.conflicts,
    matches: TARGETS.map((target) => {
      const r = t.match(target);
      return r === undefined
        ? null
        : {
            prefix: r.prefix,
            service: r.service,
            retained: r.retained,
            fallback: r.fallback?.service ?? null,
            eligible: r.eligible.map((u) => u.instance.id),
          };
    }),
  };
}

/** What a route's balancer was built over: kept exactly while these stay the same. */
interface BalancerBasis {
  service: string;
  balancer: Balancer;
  eligible: Upstream[];
  weights: number[];
}

function basis(route: Route): BalancerBasis {
  return {
    service: route.service,
    balancer: route.balancer,
    eligible: [...route.eligible],
    weights: route.eligible.map((u) => u.instance.weight),
  };
}

const tables: RouteTable[] = [];
afterEach(async () => {
  await Promise.all(tables.splice(0).map((t) => t.close()));
});

describe('RouteTable, incrementally, against a reference rebuilt from scratch (issue 20)', () => {
  it('answers every lookup as the reference does', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.constantFrom<BalanceStrategy[]>('round-robin', 'weighted', 'least-outstanding'),
        fc.array(stepArb, { minLength: 1, maxLength: 80, size: 'max' }),
        async (routeByName, balance, steps) => {
          const clock = { now: 1_000 };
          const t = new RouteTable({
            routeByName,
            balance,
            pool: { upstreamTimeoutMs: 1_000, connectTimeoutMs: 1_000, maxConnections: 4 },
            fallbackMemory: { retentionMs: RETENTION_MS, now: () => clock.now },
          });
          tables.push(t);
          const ref = new Reference(routeByName, balance, clock);
          let index = 0;
          const feed = (event: RouteFeedEvent): void => {
            t.apply(event);
            ref.apply(event);
          };
          const seen = new Set<Upstream>();
          let bases = new Map<string, BalancerBasis>();
          try {
            feed({ type: 'snapshot', index: 0, instances: [] });
            for (const step of [...steps, { kind: 'lookup' as const }]) {
              switch (step.kind) {
                case 'put': {
                  const instance = build(step.key, step.fields, ++index);
                  feed({ type: step.type, index, service: instance.service, instance });
                  break;
                }
                case 'remove': {
                  const { service, id } = KEYS[step.key] as (typeof KEYS)[number];
                  const known = ref.instances.get(service)?.get(id);
                  const instance = known ?? build(step.key, UNKNOWN, 0);
                  feed({ type: step.type, index: ++index, service, instance: { ...instance, service, id } });
                  break;
                }
                case 'snapshot': {
                  const kept = [...ref.instances.values()]
                    .flatMap((byId) => [...byId.values()])
                    .filter((i) => step.keep[KEYS.findIndex((k) => k.service === i.service && k.id === i.id)]);
                  const byKey = new Map(kept.map((i) => [`${i.service}/${i.id}`, i]));
                  for (const { key, fields } of step.extra) {
                    const instance = build(key, fields, ++index);
                    byKey.set(`${instance.service}/${instance.id}`, instance);
                  }
                  feed({ type: 'snapshot', index: ++index, instances: [...byKey.values()] });
                  break;
                }
                case 'tick':
                  clock.now += step.ms;
                  break;
                case 'lookup': {
                  ref.lookup();
                  expect(observe(t)).toEqual(ref.observe());
                  // One open upstream per instance, at its address, over its latest record; every other one closed.
                  const live = t.upstreams();
                  const expected = [...ref.instances.values()].flatMap((byId) => [...byId.values()]);
                  expect(
                    live
                      .map((u) => `${u.instance.service}/${u.instance.id}@${u.port}#${u.instance.modifyIndex}`)
                      .sort(),
                  ).toEqual(expected.map((i) => `${i.service}/${i.id}@${i.port}#${i.modifyIndex}`).sort());
                  for (const u of live) {
                    expect(u.closed).toBe(false);
                    expect(u.port).toBe(u.instance.port);
                    seen.add(u);
                  }
                  for (const u of seen) if (!live.includes(u)) expect(u.closed).toBe(true);
                  // A balancer is kept exactly when its service, strategy, upstreams and weights are unchanged.
                  const next = new Map<string, BalancerBasis>();
                  for (const { prefix } of t.view().routes) {
                    const route = t.match(prefix) as Route;
                    const before = bases.get(prefix);
                    if (!route.retained && before !== undefined) {
                      const same =
                        before.service === route.service &&
                        before.balancer.strategy === route.balancer.strategy &&
                        before.eligible.length === route.eligible.length &&
                        before.eligible.every(
                          (u, i) => u === route.eligible[i] && before.weights[i] === u.instance.weight,
                        );
                      expect(route.balancer === before.balancer).toBe(same);
                    }
                    next.set(prefix, basis(route));
                  }
                  bases = next;
                  break;
                }
              }
            }
          } finally {
            tables.splice(tables.indexOf(t), 1);
            await t.close();
          }
        },
      ),
      { numRuns: NUM_RUNS },
    );
  }, 120_000);
});
