/**
 * Issue #20: `GET /metrics` with prom-client. A real server on port 0 (SQLite store, checks, sweeps, the gateway in
 * process) is driven over HTTP, and its exposition is read as Prometheus reads it: checked by Debian's `promtool`,
 * scraped by Debian's Prometheus, and compared with the metrics docs/grafana-dashboard.json queries.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server as TcpServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/sdk/index.js';
import type { RunningServer } from '../../src/server.js';
import { parseExposition, promtoolFindings, sumOfSamples, untilExposition } from '../fixtures/exposition.js';
import { startUpstream } from '../fixtures/gateway.js';
import { startPrometheus } from '../fixtures/prometheus.js';
import { startTestServer, tempDir } from '../fixtures/server.js';

/** Sub-second sweeps and checks keep the test short (the registry's floor for checks is 1 s by default). */
const FAST = { leases: { sweepIntervalMs: 100 }, checks: { minIntervalMs: 100 } };

async function scrape(server: RunningServer): Promise<string> {
  const res = await fetch(`${server.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return res.text();
}

/** Polls the metrics until `check` holds; fails with the last exposition after 15 s. */
function until(server: RunningServer, check: (text: string) => boolean): Promise<string> {
  return untilExposition(() => scrape(server), check, 15_000);
}

async function tcpListener(): Promise<TcpServer & AsyncDisposable> {
  const server = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(server, {
    [Symbol.asyncDispose]: () =>
      new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      ),
  });
}

function portOf(server: TcpServer): number {
  return (server.address() as { port: number }).port;
}

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  await using listener = await tcpListener();
  return portOf(listener);
}

describe('GET /metrics (issue #20)', () => {
  it('passes promtool and exposes the process metrics under their standard names', async () => {
    using dir = tempDir();
    await using server = await startTestServer({ store: { kind: 'sqlite', dataDir: dir.path } });
    await fetch(`${server.url}/v1/services/web`);
    const text = await scrape(server);
    expect(await promtoolFindings(text)).toEqual([]);
    const { types } = parseExposition(text);
    for (const [name, type] of [
      ['process_cpu_user_seconds_total', 'counter'],
      ['process_resident_memory_bytes', 'gauge'],
      ['nodejs_heap_size_used_bytes', 'gauge'],
      ['nodejs_eventloop_lag_p99_seconds', 'gauge'],
      ['nodejs_gc_duration_seconds', 'histogram'],
      ['switchboard_http_requests_total', 'counter'],
      ['switchboard_http_request_duration_seconds', 'histogram'],
      ['switchboard_instances', 'gauge'],
    ]) {
      expect(types.get(name as string), name).toBe(type);
    }
  });

  it('counts requests by route template and code: the fast path, Fastify routes, unknown routes', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'web', id: 'w1', host: '127.0.0.1', port: 8080, ttl: '1m' });
    const read = { method: 'GET', route: '/v1/services/:service', code: '200' };
    const heartbeat = { method: 'PUT', route: '/v1/services/:service/instances/:id/heartbeat', code: '200' };
    const register = { method: 'PUT', route: '/v1/services/:service/instances/:id', code: '201' };
    const unknown = { method: 'GET', route: 'unknown', code: '404' };
    const before = await scrape(server);

    // Plain reads and heartbeats take the fast path; a read with a query string takes Fastify's route.
    for (let i = 0; i < 3; i++) expect((await fetch(`${server.url}/v1/services/web`)).status).toBe(200);
    expect((await fetch(`${server.url}/v1/services/web?tag=v1`)).status).toBe(200);
    const beat = await fetch(`${server.url}/v1/services/web/instances/w1/heartbeat`, { method: 'PUT' });
    expect(beat.status).toBe(200);
    const missing = await fetch(`${server.url}/v1/services/web/instances/nope/heartbeat`, { method: 'PUT' });
    expect(missing.status).toBe(404);
    for (let i = 0; i < 2; i++) expect((await fetch(`${server.url}/no/such/${i}`)).status).toBe(404);

    const after = await scrape(server);
    const moved = (labels: Record<string, string>, name = 'switchboard_http_requests_total'): number =>
      sumOfSamples(after, name, labels) - sumOfSamples(before, name, labels);
    expect(moved(read)).toBe(4);
    expect(moved(read, 'switchboard_http_request_duration_seconds_count')).toBe(4);
    expect(moved(heartbeat)).toBe(1);
    expect(moved({ ...heartbeat, code: '404' })).toBe(1);
    expect(moved(unknown)).toBe(2);
    expect(sumOfSamples(after, 'switchboard_http_requests_total', register)).toBeGreaterThanOrEqual(1);
    // The URL itself never becomes a label: bounded cardinality.
    expect(after).not.toContain('/no/such');
    expect(after).not.toContain('route="/v1/services/web"');
    // A histogram's +Inf bucket is its count.
    expect(sumOfSamples(after, 'switchboard_http_request_duration_seconds_bucket', { ...read, le: '+Inf' })).toBe(
      sumOfSamples(after, 'switchboard_http_request_duration_seconds_count', read),
    );
  });

  it('times store commits, and counts lapses, expiries and check results', async () => {
    using dir = tempDir();
    await using server = await startTestServer({ ...FAST, store: { kind: 'sqlite', dataDir: dir.path } });
    await using target = await tcpListener();
    const client = new RegistryClient({ url: server.url });
    const commits = (text: string): number =>
      sumOfSamples(text, 'switchboard_store_commit_duration_seconds_count', { store: 'sqlite' });
    const before = await scrape(server);

    await client.register({
      service: 'db',
      id: 'd1',
      host: '127.0.0.1',
      port: portOf(target),
      checks: [{ tcp: `127.0.0.1:${portOf(target)}`, interval: '200ms', timeout: '150ms' }],
    });
    await client.register({ service: 'batch', id: 'b1', host: '127.0.0.1', port: 1, ttl: '1s', deregisterAfter: '1s' });
    await client.register({ service: 'batch', id: 'b2', host: '127.0.0.1', port: 2, ttl: '1s', deregisterAfter: '1h' });
    const afterWrites = await scrape(server);
    expect(commits(afterWrites) - commits(before)).toBeGreaterThanOrEqual(3);
    expect(
      sumOfSamples(afterWrites, 'switchboard_store_commit_mutations_sum', { store: 'sqlite' }),
    ).toBeGreaterThanOrEqual(3);

    // Neither sends a heartbeat: b1 is removed 1 s after its lease ran out, b2 only lapses (turns critical).
    const expired = await until(
      server,
      (text) =>
        sumOfSamples(text, 'switchboard_instances_expired_total') >= 1 &&
        sumOfSamples(text, 'switchboard_leases_lapsed_total') >= 1,
    );
    expect(sumOfSamples(expired, 'switchboard_sweeps_total', { self_preservation: 'false' })).toBeGreaterThan(0);
    expect(sumOfSamples(expired, 'switchboard_self_preservation')).toBe(0);

    const checked = await until(
      server,
      (text) => sumOfSamples(text, 'switchboard_check_runs_total', { status: 'passing' }) >= 1,
    );
    expect(sumOfSamples(checked, 'switchboard_check_duration_seconds_count', { kind: 'tcp' })).toBeGreaterThanOrEqual(
      1,
    );
  });

  it('shows event streams, blocking queries and watchers while they are open', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'feed', id: 'f1', host: '127.0.0.1', port: 1 });
    const controller = new AbortController();
    const stream = await fetch(`${server.url}/v1/events?service=feed`, { signal: controller.signal });
    expect(stream.status).toBe(200);
    const index = Number(stream.headers.get('x-switchboard-index'));
    const held = fetch(`${server.url}/v1/services/feed?index=${index}&wait=30s`);
    try {
      const open = await until(
        server,
        (text) =>
          sumOfSamples(text, 'switchboard_event_streams') === 1 &&
          sumOfSamples(text, 'switchboard_blocking_queries') === 1,
      );
      expect(sumOfSamples(open, 'switchboard_watchers')).toBeGreaterThanOrEqual(1);
      // A change wakes the held read and goes down the stream.
      await client.register({ service: 'feed', id: 'f2', host: '127.0.0.1', port: 2 });
      expect((await held).status).toBe(200);
      await until(
        server,
        (text) =>
          sumOfSamples(text, 'switchboard_event_stream_events_total') >= 1 &&
          sumOfSamples(text, 'switchboard_blocking_queries') === 0,
      );
    } finally {
      controller.abort();
    }
    await until(server, (text) => sumOfSamples(text, 'switchboard_event_streams') === 0);
  });

  it('counts the gateway per service: answers, latency and upstream errors', async () => {
    await using server = await startTestServer({ gateway: { port: 0, routeByName: true } });
    const gateway = server.gateway;
    if (gateway === undefined) throw new Error('the gateway did not start');
    await using users = await startUpstream('users');
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'users', id: 'u1', host: '127.0.0.1', port: users.port });
    await client.register({ service: 'gone', id: 'g1', host: '127.0.0.1', port: await closedPort() });
    await client.register({ service: 'idle', id: 'i1', host: '127.0.0.1', port: users.port });

    const deadline = Date.now() + 15_000;
    while ((await fetch(`${gateway.url}/users/1`)).status !== 200) {
      if (Date.now() > deadline) throw new Error('the gateway never routed /users');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (let i = 0; i < 3; i++) expect((await fetch(`${gateway.url}/users/${i}`)).status).toBe(200);
    let refused = 0;
    while (refused === 0) {
      if (Date.now() > deadline) throw new Error('the gateway never answered /gone with 502');
      if ((await fetch(`${gateway.url}/gone/x`)).status === 502) refused += 1;
      else await new Promise((resolve) => setTimeout(resolve, 20));
    }

    const text = await scrape(server);
    expect(
      sumOfSamples(text, 'switchboard_gateway_service_requests_total', { service: 'users', code: '2xx' }),
    ).toBeGreaterThanOrEqual(4);
    expect(
      sumOfSamples(text, 'switchboard_gateway_service_duration_seconds_count', { service: 'users' }),
    ).toBeGreaterThanOrEqual(4);
    expect(
      sumOfSamples(text, 'switchboard_gateway_service_requests_total', { service: 'gone', code: '5xx' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sumOfSamples(text, 'switchboard_gateway_service_upstream_errors_total', { service: 'gone', kind: 'refused' }),
    ).toBeGreaterThanOrEqual(1);
    expect(sumOfSamples(text, 'switchboard_gateway_requests_total')).toBeGreaterThanOrEqual(5);
    // Per instance: only those sent requests (issue #20: one series per instance of a large registry made every
    // scrape megabytes long).
    expect(
      sumOfSamples(text, 'switchboard_gateway_upstream_requests_total', { service: 'users', instance: 'u1' }),
    ).toBeGreaterThanOrEqual(4);
    expect(text).not.toContain('instance="i1"');
    expect(await promtoolFindings(text)).toEqual([]);
  });

  it('serves every metric docs/grafana-dashboard.json queries', async () => {
    await using server = await startTestServer({ gateway: { port: 0, routeByName: true } });
    const dashboard = JSON.parse(
      readFileSync(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8'),
    ) as {
      schemaVersion: number;
      panels: { title: string; targets?: { expr: string }[] }[];
      templating: { list: { name: string; type: string }[] };
    };
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource' }),
    );
    const { types } = parseExposition(await scrape(server));
    const exposed = new Set<string>();
    for (const [name, type] of types) {
      exposed.add(name);
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exposed.add(`${name}${suffix}`);
    }
    const queried = new Set<string>();
    for (const panel of dashboard.panels) {
      for (const target of panel.targets ?? []) {
        // Metric names are the identifiers that are not PromQL functions, keywords or label names.
        const stripped = target.expr.replace(/\{[^}]*\}/g, '').replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, '');
        for (const [word] of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g))
          if (/^(switchboard|process|nodejs)_/.test(word)) queried.add(word);
      }
    }
    expect(queried.size).toBeGreaterThan(20);
    expect([...queried].filter((name) => !exposed.has(name))).toEqual([]);
  });

  it('is scraped by Prometheus', { timeout: 90_000 }, async () => {
    await using server = await startTestServer();
    await using prometheus = await startPrometheus({ scrapeIntervalS: 1, relabelConfigs: '      []' });
    prometheus.setTargets([{ targets: [new URL(server.url).host], labels: { job_name: 'switchboard' } }]);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const up = await prometheus.query('up');
      const requests = await prometheus.query('switchboard_http_requests_total');
      if (up.length === 1 && up[0]?.value[1] === '1' && requests.length > 0) {
        expect(up[0].metric['job_name']).toBe('switchboard');
        break;
      }
      if (Date.now() > deadline) throw new Error(`prometheus never scraped the registry: ${prometheus.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const memory = await prometheus.query('process_resident_memory_bytes');
    expect(Number(memory[0]?.value[1])).toBeGreaterThan(0);
  });
});
