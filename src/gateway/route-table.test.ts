import { afterEach, describe, expect, it } from 'vitest';
import type { Instance } from '../wire/index.js';
import { routePrefix } from '../wire/index.js';
import { RouteTable, upstreamPath } from './route-table.js';
import type { RouteFeedEvent, RouteTableOptions } from './route-table.js';
import type { Upstream } from './upstream.js';
import { contractInstance, describeDiscoveryContract } from '../balancing/discovery.contract.js';
import type { DiscoverySubject } from '../balancing/discovery.contract.js';

let index = 0;

const instance = contractInstance;

const tables: RouteTable[] = [];

function table(options: Partial<RouteTableOptions> = {}, instances: Instance[] = []): RouteTable {
  const t = new RouteTable({
    routeByName: false,
    balance: 'round-robin',
    pool: { upstreamTimeoutMs: 1_000, connectTimeoutMs: 1_000, maxConnections: 4 },
    ...options,
  });
  tables.push(t);
  t.apply({ type: 'snapshot', index: 1, instances });
  return t;
}

function change(type: Exclude<RouteFeedEvent['type'], 'snapshot'>, inst: Instance): RouteFeedEvent {
  index += 1;
  return { type, index, service: inst.service, instance: inst };
}

afterEach(async () => {
  await Promise.all(tables.splice(0).map((t) => t.close()));
});

describe('RouteTable', () => {
  it('routes a path to the service whose instances carry its url prefix', () => {
    const t = table({}, [instance('tickets', 't1', { url: '/tickets' })]);
    expect(t.match('/tickets')?.service).toBe('tickets');
    expect(t.match('/tickets/')?.service).toBe('tickets');
    expect(t.match('/tickets/7?full=1')?.service).toBe('tickets');
    expect(t.match('/tickets?x=/a/b')?.service).toBe('tickets');
  });

  it('matches prefixes on whole path segments only', () => {
    const t = table({}, [instance('tickets', 't1', { url: '/tickets' })]);
    expect(t.match('/ticketsx')).toBeUndefined();
    expect(t.match('/ticket')).toBeUndefined();
    expect(t.match('/')).toBeUndefined();
  });

  it('lets the longest prefix win', () => {
    const t = table({}, [
      instance('tickets', 't1', { url: '/tickets' }),
      instance('tickets-admin', 'a1', { url: '/tickets/admin' }),
      instance('deep', 'd1', { url: '/a/b/c/d' }),
      instance('root', 'r1', { url: '/' }),
    ]);
    expect(t.match('/tickets/admin/users')?.service).toBe('tickets-admin');
    expect(t.match('/tickets/admin')?.service).toBe('tickets-admin');
    expect(t.match('/tickets/administrators')?.service).toBe('tickets');
    expect(t.match('/tickets/7')?.service).toBe('tickets');
    expect(t.match('/a/b/c/d/e')?.service).toBe('deep');
    expect(t.match('/a/b/c')?.service).toBe('root');
    expect(t.match('/elsewhere')?.service).toBe('root');
  });

  it('routes by service name only when asked to', () => {
    const instances = [instance('users', 'u1')];
    expect(table({}, instances).match('/users/me')).toBeUndefined();
    const byName = table({ routeByName: true }, [instance('users', 'u1')]);
    expect(byName.match('/users/me')?.service).toBe('users');
    expect(byName.match('/users')?.source).toBe('name');
  });

  it('prefers a url prefix over another service of the same name and reports the conflict', () => {
    const t = table({ routeByName: true }, [
      instance('billing', 'b1', { url: '/payments' }),
      instance('payments', 'p1'),
      instance('alpha', 'x1', { url: '/shared' }),
      instance('beta', 'y1', { url: '/shared' }),
    ]);
    expect(t.match('/payments/1')?.service).toBe('billing');
    expect(t.match('/shared')?.service).toBe('alpha');
    expect(t.view().conflicts).toEqual([
      { prefix: '/payments', services: ['billing', 'payments'], routedTo: 'billing' },
      { prefix: '/shared', services: ['alpha', 'beta'], routedTo: 'alpha' },
    ]);
  });

  it('sends traffic only to instances that are UP, not critical and not in maintenance', () => {
    const t = table({}, [
      instance('web', 'up', { url: '/web' }),
      instance('web', 'down', { url: '/web', status: 'DOWN' }),
      instance('web', 'starting', { url: '/web', status: 'STARTING' }),
      instance('web', 'critical', { url: '/web', health: 'critical' }),
      instance('web', 'warning', { url: '/web', health: 'warning' }),
      instance('web', 'drained', { url: '/web', maintenance: { enabled: true, reason: 'deploy' } }),
    ]);
    const route = t.match('/web');
    expect(route?.eligible.map((u) => u.instance.id).sort()).toEqual(['up', 'warning']);
    expect(route?.members).toHaveLength(6);
  });

  it('follows registrations, status changes and deregistrations', () => {
    const t = table();
    const a = instance('web', 'a', { url: '/web' });
    t.apply(change('registered', a));
    expect(t.match('/web')?.eligible.map((u) => u.instance.id)).toEqual(['a']);
    t.apply(change('status', { ...a, status: 'OUT_OF_SERVICE' }));
    expect(t.match('/web')?.eligible).toEqual([]);
    t.apply(change('status', { ...a, status: 'UP' }));
    expect(t.match('/web')?.eligible).toHaveLength(1);
    t.apply(change('deregistered', a));
    expect(t.match('/web')).toBeUndefined();
    const b = instance('web', 'b', { url: '/web' });
    t.apply(change('registered', b));
    t.apply(change('expired', b));
    expect(t.match('/web')).toBeUndefined();
    expect(t.index).toBe(index);
  });

  it('keeps an instance’s upstream (and its outlier state) while its address stays the same', () => {
    const a = instance('web', 'a', { url: '/web' });
    const t = table({}, [a]);
    const first = t.match('/web')?.eligible[0];
    t.apply(change('updated', { ...a, tags: ['v2'] }));
    expect(t.match('/web')?.eligible[0]).toBe(first);
    t.apply(change('updated', { ...a, port: a.port + 1000 }));
    const moved = t.match('/web')?.eligible[0];
    expect(moved).not.toBe(first);
    expect(moved?.port).toBe(a.port + 1000);
    expect(first?.closed).toBe(true);
  });

  it('replaces everything on a new snapshot', () => {
    const t = table({}, [instance('old', 'o1', { url: '/old' })]);
    t.apply({ type: 'snapshot', index: 50, instances: [instance('new', 'n1', { url: '/new' })] });
    expect(t.match('/old')).toBeUndefined();
    expect(t.match('/new')?.service).toBe('new');
    expect(t.index).toBe(50);
  });

  it('reads the balancer and prefix stripping from metadata, and roles from every instance', () => {
    const t = table({ balance: 'least-outstanding' }, [
      instance('api', 'a1', {
        url: '/api',
        metadata: { 'gateway.stripPrefix': 'true', 'gateway.balance': 'weighted' },
      }),
      instance('api', 'a2', { url: '/api', authorizedRoles: ['reader'] }),
      instance('open', 'o1', { url: '/open', metadata: { 'gateway.balance': 'bogus' } }),
      instance('locked', 'l1', { url: '/locked', authorizedRoles: ['admin', 'ops'] }),
    ]);
    const api = t.match('/api/x');
    // a2 changed last, and it says nothing: defaults apply, but its role closes the service.
    expect(api?.balancer.strategy).toBe('least-outstanding');
    expect(api?.stripPrefix).toBe(false);
    expect([...(api?.authorizedRoles ?? [])]).toEqual(['reader']);
    expect(t.match('/open')?.balancer.strategy).toBe('least-outstanding');
    expect(t.match('/open')?.authorizedRoles).toBeUndefined();
    expect([...(t.match('/locked')?.authorizedRoles ?? [])].sort()).toEqual(['admin', 'ops']);

    const strip = table({}, [
      instance('api', 'a1', {
        url: '/api',
        metadata: { 'gateway.stripPrefix': 'true', 'gateway.balance': 'weighted' },
      }),
    ]);
    const route = strip.match('/api/v1/items?q=1');
    expect(route?.balancer.strategy).toBe('weighted');
    expect(route && upstreamPath(route, '/api/v1/items?q=1')).toBe('/v1/items?q=1');
    expect(route && upstreamPath(route, '/api')).toBe('/');
    expect(route && upstreamPath(route, '/api?q=1')).toBe('/?q=1');
  });

  it('keeps its balancer across changes that leave the instances as they were', () => {
    const a = instance('web', 'a', { url: '/web' });
    const t = table({}, [a, instance('web', 'b', { url: '/web' })]);
    const balancer = t.match('/web')?.balancer;
    t.apply(change('updated', { ...a, tags: ['x'] }));
    expect(t.match('/web')?.balancer).toBe(balancer);
    t.apply(change('updated', { ...a, weight: 5 }));
    expect(t.match('/web')?.balancer).not.toBe(balancer);
  });

  it('shows the table for operators', () => {
    const t = table({}, [instance('tickets', 't1', { url: '/tickets', host: '10.0.0.5', port: 3001 })]);
    const view = t.view();
    expect(view.routes).toEqual([
      expect.objectContaining({
        prefix: '/tickets',
        service: 'tickets',
        source: 'url',
        balance: 'round-robin',
        instances: [expect.objectContaining({ id: 't1', address: '10.0.0.5:3001', eligible: true, ejected: false })],
      }),
    ]);
  });
});

describe('routePrefix', () => {
  it('keeps absolute paths without their trailing slash, and refuses anything else', () => {
    expect(routePrefix('/tickets/')).toBe('/tickets');
    expect(routePrefix('/a/b?x')).toBe('/a/b');
    expect(routePrefix('/')).toBe('/');
    expect(routePrefix('http://10.0.0.5/tickets')).toBeUndefined();
    expect(routePrefix('tickets')).toBeUndefined();
    expect(routePrefix(undefined)).toBeUndefined();
  });
});

describeDiscoveryContract('gateway RouteTable', (balance): DiscoverySubject => {
  const t = new RouteTable({
    routeByName: true,
    balance,
    pool: { upstreamTimeoutMs: 1_000, connectTimeoutMs: 1_000, maxConnections: 4 },
  });
  const pick = (service: string): Upstream | undefined => t.match(`/${service}`)?.balancer.pick();
  return {
    feed: (event) => {
      t.apply(event);
      return Promise.resolve();
    },
    eligible: (service) => Promise.resolve((t.match(`/${service}`)?.eligible ?? []).map((u) => u.instance.id)),
    pick: (service) => Promise.resolve(pick(service)?.instance.id),
    hold: (service) => {
      const upstream = pick(service);
      if (!upstream) return Promise.reject(new Error(`no instance of ${service}`));
      upstream.outstanding += 1;
      return Promise.resolve({
        id: upstream.instance.id,
        release: () => {
          upstream.outstanding -= 1;
        },
      });
    },
    close: () => t.close(),
  };
});

describe('RouteTable fallbacks (issue #15)', () => {
  const fallbackTo = (service: string): Record<string, string> => ({ 'switchboard.fallback': service });

  function clockedTable(instances: Instance[], options: Partial<RouteTableOptions> = {}) {
    const clock = { now: 1_000 };
    const t = table({ fallbackMemory: { retentionMs: 60_000, now: () => clock.now }, ...options }, instances);
    return { t, clock };
  }

  it('gives a route the fallback its instances name, over every eligible instance of the fallback', () => {
    const t = table({}, [
      instance('tickets', 't1', { url: '/tickets', metadata: fallbackTo('sorry') }),
      instance('sorry', 's2', { url: '/sorry' }),
      instance('sorry', 's1'),
      instance('sorry', 's3', { status: 'DOWN' }),
    ]);
    const route = t.match('/tickets/7');
    expect(route?.fallback?.service).toBe('sorry');
    expect(route?.fallback?.eligible.map((u) => u.instance.id)).toEqual(['s1', 's2']);
    expect(t.view().routes.find((r) => r.prefix === '/tickets')).toMatchObject({ fallback: 'sorry', retained: false });
  });

  it('follows one hop only, and ignores a fallback to the service itself', () => {
    const t = table({}, [
      instance('tickets', 't1', { url: '/tickets', metadata: fallbackTo('sorry') }),
      instance('sorry', 's1', { url: '/sorry', metadata: fallbackTo('last-resort') }),
      instance('last-resort', 'l1', { url: '/last' }),
      instance('loop', 'o1', { url: '/loop', metadata: fallbackTo('loop') }),
    ]);
    const target = t.match('/tickets')?.fallback;
    expect(target?.service).toBe('sorry');
    // A target has no fallback of its own: nothing to follow past sorry.
    expect(target && 'fallback' in target).toBe(false);
    expect(t.match('/sorry')?.fallback?.service).toBe('last-resort');
    expect(t.match('/loop')?.fallback).toBeUndefined();
  });

  it('keeps the route of a service whose last instance went, with its roles, until the retention runs out', () => {
    const { t, clock } = clockedTable([
      instance('tickets', 't1', {
        url: '/tickets',
        metadata: { ...fallbackTo('sorry'), 'gateway.stripPrefix': 'true' },
        authorizedRoles: ['staff'],
      }),
      instance('sorry', 's1', { url: '/sorry' }),
    ]);
    t.apply(change('deregistered', instance('tickets', 't1')));
    const route = t.match('/tickets/7');
    expect(route).toMatchObject({ service: 'tickets', retained: true, stripPrefix: true, members: [] });
    expect(route?.balancer.pick()).toBeUndefined();
    expect(route?.fallback?.service).toBe('sorry');
    expect([...(route?.authorizedRoles ?? [])]).toEqual(['staff']);
    expect(t.view().routes.find((r) => r.prefix === '/tickets')).toMatchObject({ retained: true, fallback: 'sorry' });

    clock.now += 59_999;
    expect(t.match('/tickets')?.retained).toBe(true);
    clock.now += 1;
    expect(t.match('/tickets')).toBeUndefined();
    expect(t.view().routes.map((r) => r.prefix)).toEqual(['/sorry']);
  });

  it('keeps a retained route across a new snapshot, and drops it when the service comes back', () => {
    const sorry = instance('sorry', 's1', { url: '/sorry' });
    const { t } = clockedTable([instance('tickets', 't1', { url: '/tickets', metadata: fallbackTo('sorry') }), sorry]);
    t.apply({ type: 'snapshot', index: 100, instances: [sorry] });
    expect(t.match('/tickets')?.retained).toBe(true);
    t.apply(change('registered', instance('tickets', 't2', { url: '/tickets', metadata: fallbackTo('sorry') })));
    expect(t.match('/tickets')).toMatchObject({ retained: false, fallback: { service: 'sorry' } });
    expect(t.match('/tickets')?.eligible.map((u) => u.instance.id)).toEqual(['t2']);
  });

  it('gives the prefix up for good once a live service takes it', () => {
    const { t } = clockedTable([
      instance('tickets', 't1', { url: '/tickets', metadata: fallbackTo('sorry') }),
      instance('sorry', 's1', { url: '/sorry' }),
    ]);
    t.apply(change('deregistered', instance('tickets', 't1')));
    expect(t.match('/tickets')?.retained).toBe(true);
    const other = instance('tickets-v2', 'v1', { url: '/tickets' });
    t.apply(change('registered', other));
    expect(t.match('/tickets')).toMatchObject({ service: 'tickets-v2', retained: false });
    expect(t.view().conflicts).toEqual([]);
    t.apply(change('deregistered', other));
    expect(t.match('/tickets')).toBeUndefined();
  });

  it('forgets a service that stops naming a fallback, so its route goes with its last instance', () => {
    const { t } = clockedTable([instance('tickets', 't1', { url: '/tickets', metadata: fallbackTo('sorry') })]);
    t.apply(change('updated', instance('tickets', 't1', { url: '/tickets' })));
    expect(t.match('/tickets')?.fallback).toBeUndefined();
    t.apply(change('deregistered', instance('tickets', 't1')));
    expect(t.match('/tickets')).toBeUndefined();
  });

  it('rebuilds after a change only the routes of the services it touched (issue 20)', () => {
    // Which instances the table reads: a full rebuild reads every one of them.
    const read = new Set<string>();
    const watched = (inst: Instance): Instance =>
      new Proxy(inst, {
        get: (target, key, receiver) => {
          read.add(target.service);
          return Reflect.get(target, key, receiver) as unknown;
        },
      });
    const instances = [watched(instance('sorry', 's1', { url: '/sorry' }))];
    for (let s = 0; s < 1_000; s++) {
      const metadata = s % 2 === 0 ? fallbackTo('sorry') : {};
      for (const id of ['a', 'b', 'c'])
        instances.push(watched(instance(`svc-${s}`, id, { url: `/api/svc-${s}`, metadata })));
    }
    const t = table({ routeByName: true }, instances);
    const prefixes = t.view().routes.map((r) => r.prefix);
    expect(prefixes).toHaveLength(2_001);
    const routes = new Map(prefixes.map((prefix) => [prefix, t.match(prefix)]));
    const renewed = (): string[] => prefixes.filter((prefix) => t.match(prefix) !== routes.get(prefix));

    read.clear();
    t.apply(change('registered', watched(instance('svc-7', 'd', { url: '/api/svc-7' }))));
    expect(t.match('/api/svc-7/x')?.eligible.map((u) => u.instance.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(renewed()).toEqual(['/api/svc-7', '/svc-7']);
    expect([...read]).toEqual(['svc-7']);

    // A change to a fallback service gives the routes falling back to it its new target, and reads nothing else.
    for (const prefix of prefixes) routes.set(prefix, t.match(prefix));
    read.clear();
    t.apply(change('status', watched(instance('sorry', 's1', { url: '/sorry', status: 'DOWN' }))));
    expect(t.match('/api/svc-8')?.fallback?.eligible).toEqual([]);
    expect(renewed()).toHaveLength(1 + 1_000);
    expect(t.match('/api/svc-8')?.balancer).toBe(routes.get('/api/svc-8')?.balancer);
    expect(t.match('/api/svc-9')).toBe(routes.get('/api/svc-9'));
    expect([...read]).toEqual(['sorry']);
  });

  it('cuts the route prefix on a fallback only when the fallback asks for it', () => {
    const route = { prefix: '/tickets', stripPrefix: false };
    expect(upstreamPath(route, '/tickets/7?x=1')).toBe('/tickets/7?x=1');
    expect(upstreamPath({ ...route, stripPrefix: true }, '/tickets/7?x=1')).toBe('/7?x=1');
  });
});
