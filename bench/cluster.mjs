// Cluster benchmark (issue 12): one node on SQLite against 1, 2 and 3 nodes on a 3-member etcd cluster, in one run:
// registrations/s, lookups/s, heartbeats/s, the delay from a write on node A to its event on node B, and with
// 100,000 instances the RSS of each node and how long a restarted node takes to serve them all again.
// Needs etcd on PATH (Debian: etcd-server); without it the section says so and measures nothing.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt, load, registerMany, rssMiB, startRegistry } from './lib.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const DURATION = 5;
const body = (i) => ({ host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080, ttl: '10m' });

function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Three etcd members on loopback; resolves once the cluster answers. */
async function startEtcd(dir) {
  const members = [];
  for (let i = 1; i <= 3; i++) members.push({ name: `e${i}`, client: await freePort(), peer: await freePort() });
  const initial = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
  const children = members.map((m) =>
    spawn(
      'etcd',
      [
        ...['--name', m.name, '--data-dir', join(dir, m.name)],
        ...['--listen-client-urls', `http://127.0.0.1:${m.client}`],
        ...['--advertise-client-urls', `http://127.0.0.1:${m.client}`],
        ...['--listen-peer-urls', `http://127.0.0.1:${m.peer}`],
        ...['--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`],
        ...['--initial-cluster', initial, '--initial-cluster-state', 'new', '--log-level', 'error'],
      ],
      { stdio: 'ignore' },
    ),
  );
  const endpoints = members.map((m) => `http://127.0.0.1:${m.client}`);
  for (let tries = 0; ; tries++) {
    const ok = await Promise.all(
      endpoints.map((e) =>
        fetch(`${e}/health`)
          .then((r) => r.ok)
          .catch(() => false),
      ),
    );
    if (ok.every(Boolean)) break;
    if (tries > 200) throw new Error('etcd did not start');
    await sleep(100);
  }
  return { endpoints, stop: () => children.forEach((c) => c.kill('SIGKILL')) };
}

/** One autocannon run per node at once, the connections split between them; figures summed (p50/p99: the worst). */
async function loadOn(nodes, options) {
  const results = await Promise.all(
    nodes.map((node) =>
      load({ duration: DURATION, connections: Math.max(1, Math.round(50 / nodes.length)), ...options(node) }),
    ),
  );
  return {
    rps: results.reduce((sum, r) => sum + r.rps, 0),
    p50: Math.max(...results.map((r) => r.p50)),
    p99: Math.max(...results.map((r) => r.p99)),
    errors: results.reduce((sum, r) => sum + r.errors + r.non2xx, 0),
  };
}

let unique = 0;
const registrations = () => ({
  requests: [
    {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      setupRequest: (req) => {
        const i = unique++;
        return { ...req, path: `/v1/services/reg-${i % 500}/instances/r${i}`, body: JSON.stringify(body(i)) };
      },
    },
  ],
});

function heartbeats(count) {
  let h = 0;
  return () => ({
    requests: [
      {
        method: 'PUT',
        setupRequest: (req) => ({ ...req, path: `/v1/services/hb/instances/hb${h++ % count}/heartbeat` }),
      },
    ],
  });
}

/** Delays from a registration sent to `writer` to its event on `reader`'s stream, in ms. */
async function writeToEvent(writer, reader, rounds = 200) {
  const controller = new AbortController();
  const response = await fetch(`${reader}/v1/events?service=lag`, { signal: controller.signal });
  const decoder = new TextDecoder();
  const waiting = new Map();
  const reading = (async () => {
    let buffer = '';
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const id = /"id":"(lag-\d+)"/.exec(frame)?.[1];
          if (id && waiting.has(id)) waiting.get(id)(performance.now());
        }
      }
    } catch {
      // aborted
    }
  })();
  await sleep(300);
  const delays = [];
  for (let i = 0; i < rounds; i++) {
    const id = `lag-${i}`;
    const arrived = new Promise((resolve) => waiting.set(id, resolve));
    const sent = performance.now();
    await fetch(`${writer}/v1/services/lag/instances/${id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body(i)),
    }).then((r) => r.arrayBuffer());
    delays.push((await arrived) - sent);
  }
  controller.abort();
  await reading;
  delays.sort((a, b) => a - b);
  return { p50: delays[Math.floor(delays.length / 2)], p99: delays[Math.floor(delays.length * 0.99)] };
}

/**
 * Registers `count` instances over the nodes (16 at a time per node; a 503 is retried after a pause and counted),
 * then restarts the first node and times until it serves them all.
 */
async function bigRegistry(nodes, restart, count) {
  const started = performance.now();
  let refused = 0;
  await Promise.all(
    nodes.map(async (node, n) => {
      let next = 0;
      const share = Math.ceil(count / nodes.length);
      const worker = async () => {
        while (next < share) {
          const k = next++ * nodes.length + n;
          for (;;) {
            const res = await fetch(`${node.url}/v1/services/big-${k % 10_000}/instances/b${k}`, {
              method: 'PUT',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(body(k)),
            });
            await res.arrayBuffer();
            if (res.ok) break;
            if (res.status !== 503) throw new Error(`register b${k}: ${res.status}`);
            refused += 1;
            await sleep(100);
          }
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const rss = nodes.map((node) => rssMiB(node.child.pid));
  const t0 = performance.now();
  const again = await restart();
  for (;;) {
    const health = await (await fetch(`${again.url}/health`)).json();
    if (health.instances >= count) break;
    await sleep(20);
  }
  return { seconds, rss, refused, startMs: performance.now() - t0, again };
}

export default async function run() {
  if (spawnSync('etcd', ['--version']).status !== 0) {
    return '## Cluster on etcd (issue 12)\n\netcd is not installed here (Debian: `apt-get install etcd-server`): not measured.';
  }
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-cluster-'));
  const stops = [];
  try {
    const sqlite = await startRegistry(['--data-dir', join(dir, 'sqlite')]);
    stops.push(() => sqlite.stop());
    const etcd = await startEtcd(dir);
    stops.push(() => etcd.stop());
    const nodeArgs = (n) => ['--store', 'etcd', '--etcd-endpoints', etcd.endpoints.join(','), '--node-name', `n${n}`];
    const nodes = [];
    for (let n = 1; n <= 3; n++) {
      const node = await startRegistry(nodeArgs(n));
      // A node that dies under the load says why (its output is otherwise lost with it).
      node.child.once('exit', (code, signal) => {
        if (signal !== 'SIGTERM')
          process.stderr.write(`node n${n} exited (${code ?? signal}):\n${node.output().slice(-4000)}\n`);
      });
      nodes.push(node);
      stops.push(() => node.stop());
    }
    const setups = [
      ['1 node, SQLite', [sqlite]],
      ['1 node, etcd ×3', nodes.slice(0, 1)],
      ['2 nodes, etcd ×3', nodes.slice(0, 2)],
      ['3 nodes, etcd ×3', nodes],
    ];

    for (const target of [sqlite, nodes[0]]) {
      await registerMany(target.url, 10, (i) => ({ service: 'lookup', id: `l${i}`, body: body(i) }));
      await registerMany(target.url, 10_000, (i) => ({ service: 'hb', id: `hb${i}`, body: body(i) }), 128);
    }
    await sleep(1_000);
    const rows = [];
    for (const [name, targets] of setups) {
      const reg = await loadOn(targets, (node) => ({ url: node.url, ...registrations() }));
      const look = await loadOn(targets, (node) => ({ url: `${node.url}/v1/services/lookup` }));
      const beat = heartbeats(10_000);
      const hb = await loadOn(targets, (node) => ({ url: node.url, ...beat() }));
      rows.push({ name, reg, look, hb });
    }
    const local = await writeToEvent(sqlite.url, sqlite.url);
    const across = await writeToEvent(nodes[0].url, nodes[1].url);

    const soloBig = await bigRegistry(
      [sqlite],
      async () => {
        await sqlite.stop();
        const again = await startRegistry(['--data-dir', join(dir, 'sqlite')]);
        stops.push(() => again.stop());
        return again;
      },
      100_000,
    );
    const clusterBig = await bigRegistry(
      nodes,
      async () => {
        await nodes[0].stop();
        const again = await startRegistry(nodeArgs(1));
        stops.push(() => again.stop());
        return again;
      },
      100_000,
    );

    const base = rows[0];
    const ratio = (value, of) => `${fmt.rps(value)} (${(value / of).toFixed(2)}×)`;
    const table = rows
      .map(
        (r) =>
          `| ${r.name} | ${ratio(r.reg.rps, base.reg.rps)} | ${fmt.ms(r.reg.p99)} | ${ratio(r.look.rps, base.look.rps)} | ${ratio(r.hb.rps, base.hb.rps)} | ${r.reg.errors + r.look.errors + r.hb.errors} |`,
      )
      .join('\n');
    return `## Cluster on etcd (issue 12)

One registry node on SQLite against 1, 2 and 3 registry nodes on a 3-member etcd cluster, all on this one 2-core
machine in the same run (the etcd members, the nodes and the load generator share the two cores, so the absolute
figures are for the record and the ratios say how the designs compare). 50 connections in all, split between the
nodes, ${DURATION} s per row; ratios are to the SQLite row.

| setup | registrations/s | registration p99 | lookups/s (10 instances) | heartbeats/s (10,000 leases) | errors |
|---|---|---|---|---|---|
${table}

Heartbeats never reach etcd (each node batches what it took, one write per shard per sweep), so they scale like
lookups; every registration is an etcd transaction acknowledged after the write is committed by a majority and
applied by the node.

- Write on one node to its event on the stream of another: p50 ${fmt.ms(across.p50)}, p99 ${fmt.ms(across.p99)}
  (one SQLite node, write to event on itself: p50 ${fmt.ms(local.p50)}, p99 ${fmt.ms(local.p99)}).
- 100,000 instances in 10,000 services: registered in ${clusterBig.seconds.toFixed(1)} s over 3 nodes
  (SQLite: ${soloBig.seconds.toFixed(1)} s; ${clusterBig.refused} registrations answered 503 under that load and were
  retried); RSS per node ${clusterBig.rss.map((r) => `${Math.round(r)} MiB`).join(', ')}
  (SQLite node: ${Math.round(soloBig.rss[0])} MiB). A node restarted serves all of them again after
  ${(clusterBig.startMs / 1000).toFixed(1)} s (SQLite: ${(soloBig.startMs / 1000).toFixed(1)} s).`;
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}
