/**
 * Issue #15's scaling acceptance, with real processes: a registry with its gateway, `switchboard agent` (the built
 * CLI) running a slow service with `scale: { metric: 'inflight', … }`, and load sent through the gateway. The count
 * rises to max while the load lasts, falls back to min once it stops, and moves one step at a time, a cooldown apart.
 */
import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/sdk/index.js';
import { instancesOf, spawnAgent, until, writeDefinition } from '../fixtures/agent.js';
import { startTestServer, tempDir } from '../fixtures/server.js';

/** A service that answers after 200 ms (so requests pile up in flight), and /health at once. */
const SLOW_SERVICE = [
  "const http = require('node:http');",
  'const server = http.createServer((req, res) => {',
  "  if (req.url === '/health') return res.end('ok');",
  '  setTimeout(() => res.end(String(process.pid)), 200);',
  '});',
  "server.listen(Number(process.env.PORT), '127.0.0.1');",
  "process.on('SIGTERM', () => server.close(() => process.exit(0)));",
].join('\n');

const COOLDOWN_MS = 2_000;

/** Keeps `concurrency` requests in flight to `url` until stopped; failures (an instance going away) are ignored. */
function loadOn(url: string, concurrency: number): { stop: () => Promise<void>; answered: () => number } {
  let running = true;
  let answered = 0;
  const loop = async (): Promise<void> => {
    while (running) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        if (res.ok) answered += 1;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
    answered: () => answered,
  };
}

describe('switchboard agent: scaling', () => {
  it('scales up to max under load through the gateway and back to min after, one step per cooldown', async () => {
    await using server = await startTestServer({ gateway: { port: 0 } });
    const gatewayUrl = server.gateway?.url as string;
    using dir = tempDir();
    const client = new RegistryClient({ url: server.url });
    writeDefinition(dir.path, 'web.json', {
      service: 'web',
      url: '/web',
      ttl: '5s',
      check: { http: 'http://${HOST}:${PORT}/health', interval: '1s', failuresBefore: 1 },
      run: {
        command: process.execPath,
        args: ['-e', SLOW_SERVICE],
        instances: { min: 1, max: 3 },
        drain: '0s',
        grace: '2s',
      },
      scale: { metric: 'inflight', target: 2, cooldown: `${COOLDOWN_MS / 1000}s` },
    });
    await using agent = await spawnAgent([
      '--config-dir',
      dir.path,
      '--registry',
      server.url,
      '--gateway',
      gatewayUrl,
      '--scale-interval',
      '200ms',
    ]);

    // Follow the registry: when each instance was first listed and last listed, and the most listed at once.
    const firstSeen = new Map<string, number>();
    const lastSeen = new Map<string, number>();
    let most = 0;
    const watch = { on: true };
    const watcher = (async () => {
      while (watch.on) {
        const ids = (await instancesOf(client, 'web')).map((instance) => instance.id);
        const now = Date.now();
        for (const id of ids) {
          if (!firstSeen.has(id)) firstSeen.set(id, now);
          lastSeen.set(id, now);
        }
        most = Math.max(most, ids.length);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const count = async (): Promise<number> => (await instancesOf(client, 'web')).length;

    await until('one instance routed by the gateway', async () => {
      const res = await fetch(`${gatewayUrl}/web/ping`).catch(() => undefined);
      return res?.ok === true ? true : undefined;
    });
    expect(await count()).toBe(1);

    // 12 requests in flight over 200 ms answers: 12, 6, then 4 per instance, always above the target of 2.
    const load = loadOn(`${gatewayUrl}/web/work`, 12);
    await until('three instances under load', async () => ((await count()) === 3 ? true : undefined), 60_000);
    // Stay loaded a while: the count must stay at max, never above.
    await new Promise((resolve) => setTimeout(resolve, COOLDOWN_MS * 1.5));
    expect(await count()).toBe(3);
    // What the agent reads: the gateway's figures for the route, over its last 10 s.
    const page = (await (await fetch(`${gatewayUrl}/_gateway/routes`)).json()) as {
      routes: { service: string; load: { inflight: number; rps: number; p90Ms: number | null; windowMs: number } }[];
    };
    const figures = page.routes.find((route) => route.service === 'web')?.load;
    expect(figures?.windowMs).toBe(10_000);
    expect(figures?.inflight).toBeGreaterThan(0);
    expect(figures?.rps).toBeGreaterThan(10);
    expect(figures?.p90Ms).toBeGreaterThanOrEqual(150);
    await load.stop();
    expect(load.answered()).toBeGreaterThan(0);

    await until('back to one instance', async () => ((await count()) === 1 ? true : undefined), 60_000);
    watch.on = false;
    await watcher;
    expect(most).toBe(3);

    // One step at a time, a cooldown apart: the agent says so in its log, and the registry saw the instances come
    // and go in that rhythm (registration takes a process start and a check, so allow half a cooldown of slack).
    const steps = [...agent.output().matchAll(/web: scaling (\d+) → (\d+): (.*)/g)].map((m) => [
      Number(m[1]),
      Number(m[2]),
    ]);
    expect(steps).toEqual([
      [1, 2],
      [2, 3],
      [3, 2],
      [2, 1],
    ]);
    expect(agent.output()).toMatch(/in-flight per instance [\d.]+ > target 2 with 1 instance: 1 → 2/);
    const arrivals = [...firstSeen.values()].sort((a, b) => a - b);
    expect(arrivals).toHaveLength(3);
    expect((arrivals[2] as number) - (arrivals[1] as number)).toBeGreaterThanOrEqual(COOLDOWN_MS / 2);
    const departures = [...lastSeen.entries()]
      .filter(([id]) => id !== 'web-1')
      .map(([, at]) => at)
      .sort((a, b) => a - b);
    expect(departures).toHaveLength(2);
    expect((departures[1] as number) - (departures[0] as number)).toBeGreaterThanOrEqual(COOLDOWN_MS / 2);
  }, 180_000);
});
