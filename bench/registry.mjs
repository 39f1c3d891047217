// Registry benchmark (issues 2 and 20): lookups, durable registrations and heartbeats of `switchboard serve` with
// its gateway attached and 50,000 instances held, side by side in one run with the same registry without the gateway,
// a bare node:http server, and a single etcd member's put through its HTTP API; then memory and lookup speed with
// 100,000 instances in 10,000 services against the bare server.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  WRK,
  WRK_METHOD,
  fmt,
  onServerCores,
  registerMany,
  rssMiB,
  startBare,
  startRegistry,
  wrkLoad,
} from './lib.mjs';

const HELD = 50_000;

// bench/wrk/registrations.lua writes the same body for the registration runs.
// Leases outlast the run (15 min): with a short ttl the held instances, which send no heartbeats, would lapse all at
// once mid-run, and each lapse is a durable write that the runs around it would carry.
const instanceBody = (i) => ({
  host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  port: 8080,
  ttl: '15m',
  tags: ['v1'],
});

/** One etcd member (Debian's etcd-server) with its data on the same disk as the registry's; undefined when absent. */
async function startEtcd(dir) {
  if (spawnSync('etcd', ['--version']).status !== 0) return undefined;
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const url = `http://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${port + 1}`;
  const child = spawn(
    ...onServerCores('etcd', [
      '--data-dir',
      dir,
      '--listen-client-urls',
      url,
      '--advertise-client-urls',
      url,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `default=${peer}`,
      '--log-level',
      'error',
    ]),
    { stdio: 'ignore' },
  );
  for (let tries = 0; ; tries++) {
    const ok = await fetch(`${url}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (tries > 200 || child.exitCode !== null) throw new Error('etcd did not start');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill('SIGTERM');
    });
  return { url, pid: child.pid, stop };
}

/** Unique registrations (bench/wrk/registrations.lua), `PUT /v1/services/reg-N/instances/<run>-I`. */
function registrations(url, pid) {
  return (extra) => wrkLoad({ url, script: 'registrations.lua', ...extra }, [pid]);
}

const ROUNDS = 3;

/**
 * Runs each target once per round (after a 2 s warm-up each), ROUNDS rounds interleaved; keeps each one's better run,
 * with every run of it in `runs` (round by round, so two targets' runs of one round can be paired).
 */
async function interleaved(targets) {
  for (const run of Object.values(targets)) await run({ duration: 2 }).catch(() => undefined);
  const runs = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of Object.entries(targets)) (runs[name] ??= []).push(await run({}));
  }
  return Object.fromEntries(
    Object.entries(runs).map(([name, all]) => [name, { ...all.reduce((a, b) => (b.rps > a.rps ? b : a)), runs: all }]),
  );
}

/** The median over the rounds of a / b, each round's runs paired: a neighbour's burst moves one pair, not the figure. */
function pairedMedian(a, b, value) {
  const ratios = a.runs.map((run, i) => value(run) / value(b.runs[i])).sort((x, y) => x - y);
  return ratios[Math.floor(ratios.length / 2)];
}

export default async function run() {
  if (WRK.missing)
    return `## Registry: lookups, registrations, heartbeats (issues 2 and 20)\n\nNot run: ${WRK.missing}.`;
  const dirs = [];
  const scratch = () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
    dirs.push(dir);
    return dir;
  };
  const notes = [];
  const stops = [];
  // The registration runs write a new instance per request, far past the default --max-instances: this measures
  // throughput, not the quota.
  const attached = await startRegistry(
    ['--data-dir', scratch(), '--max-instances', '10000000', '--gateway-port', '0'],
    {
      pinned: true,
    },
  );
  stops.push(() => attached.stop());
  const alone = await startRegistry(['--data-dir', scratch(), '--max-instances', '10000000'], { pinned: true });
  stops.push(() => alone.stop());
  let rows;
  let big;
  let etcdVersion;
  try {
    const etcd = await startEtcd(join(scratch(), 'etcd')).catch((err) => {
      notes.push(`etcd could not run: ${err.message}`);
      return undefined;
    });
    if (etcd) {
      stops.push(() => etcd.stop());
      etcdVersion = /etcd Version: (\S+)/.exec(spawnSync('etcd', ['--version'], { encoding: 'utf8' }).stdout)?.[1];
    } else if (notes.length === 0)
      notes.push('etcd is not installed here (Debian: `apt-get install etcd-server`): no etcd row');
    for (const registry of [attached, alone]) {
      await registerMany(
        registry.url,
        HELD,
        (i) => ({ service: `held-${i % 1000}`, id: `h${i}`, body: instanceBody(i) }),
        128,
      );
      await registerMany(registry.url, 10, (i) => ({ service: 'lookup', id: `lookup-${i}`, body: instanceBody(i) }));
      await registerMany(
        registry.url,
        10_000,
        (i) => ({ service: `hb-${i % 100}`, id: `hb${i}`, body: instanceBody(i) }),
        128,
      );
    }
    const lookupBody = await (await fetch(`${alone.url}/v1/services/lookup`)).text();
    const bare = await startBare(lookupBody, { pinned: true });
    stops.push(() => bare.stop());
    // What etcd stores per put: the registry's own record of an instance, under a key of the same shape.
    const stored = await (await fetch(`${alone.url}/v1/services/lookup/instances/lookup-1`)).text();

    const lookupOf = (target) => (extra) =>
      wrkLoad({ url: `${target.url}/v1/services/lookup`, ...extra }, [target.child.pid]);
    const lookups = await interleaved({ attached: lookupOf(attached), alone: lookupOf(alone), bare: lookupOf(bare) });

    const writes = {
      attached: registrations(attached.url, attached.child.pid),
      alone: registrations(alone.url, alone.child.pid),
    };
    if (etcd) {
      // A new key per put (bench/wrk/etcd-put.lua) under the registry's key prefix; 27 bytes, so whole base64.
      const env = {
        KEY_PREFIX: Buffer.from('/switchboard/instances/reg-').toString('base64'),
        VALUE: Buffer.from(stored).toString('base64'),
      };
      writes.etcd = (extra) => wrkLoad({ url: etcd.url, script: 'etcd-put.lua', env, ...extra }, [etcd.pid]);
    }
    const registered = await interleaved(writes);

    const heartbeatsOf = (target) => (extra) =>
      wrkLoad({ url: target.url, script: 'heartbeats.lua', ...extra }, [target.child.pid]);
    const bareWrite = (extra) =>
      wrkLoad({ url: bare.url, script: 'put.lua', env: { BODY: JSON.stringify(instanceBody(1)) }, ...extra }, [
        bare.child.pid,
      ]);
    const heartbeats = await interleaved({
      attached: heartbeatsOf(attached),
      alone: heartbeatsOf(alone),
      bare: bareWrite,
    });
    rows = { lookups, registered, heartbeats, held: HELD + 10_010 };
  } finally {
    for (const stop of stops.reverse()) await stop();
  }

  // A fresh registry holding 100,000 instances in 10,000 services: memory, and lookups against the bare server.
  const bigDir = scratch();
  const registry = await startRegistry(['--data-dir', bigDir], { pinned: true });
  try {
    const rssEmpty = rssMiB(registry.child.pid);
    const started = Date.now();
    await registerMany(
      registry.url,
      100_000,
      (i) => ({ service: `svc-${i % 10_000}`, id: `i${i}`, body: instanceBody(i) }),
      128,
    );
    const seconds = (Date.now() - started) / 1000;
    await registerMany(registry.url, 10, (i) => ({ service: 'lookup', id: `lookup-${i}`, body: instanceBody(i) }));
    const bare = await startBare(await (await fetch(`${registry.url}/v1/services/lookup`)).text(), { pinned: true });
    try {
      const lookupOf = (target) => (extra) =>
        wrkLoad({ url: `${target.url}/v1/services/lookup`, ...extra }, [target.child.pid]);
      const lookups = await interleaved({ registry: lookupOf(registry), bare: lookupOf(bare) });
      big = { rssEmpty, rss: rssMiB(registry.child.pid), seconds, lookups };
    } finally {
      await bare.stop();
    }
  } finally {
    await registry.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }

  const cell = (r) =>
    r === undefined
      ? '— | — | — | —'
      : `${fmt.rps(r.rps)} | ${fmt.ms(r.p50)} | ${fmt.ms(r.p99)} | ${Math.round(r.cpuUs)} µs`;
  const errors = (...results) => results.reduce((sum, r) => sum + (r ? r.errors + r.non2xx : 0), 0);
  const { lookups, registered, heartbeats } = rows;
  const table = [
    ['Lookup of a 10-instance service', lookups.attached, lookups.alone, 'bare `node:http`', lookups.bare],
    [
      'Durable registration (unique instances)',
      registered.attached,
      registered.alone,
      `etcd ${etcdVersion ?? ''} put (HTTP API)`,
      registered.etcd,
    ],
    [
      'Heartbeat (10,000 leased instances)',
      heartbeats.attached,
      heartbeats.alone,
      'bare `node:http` (PUT)',
      heartbeats.bare,
    ],
  ]
    .map(
      ([name, a, b, baseline, c]) =>
        `| ${name} | ${cell(a)} | ${cell(b)} | ${baseline}: ${c ? `${fmt.rps(c.rps)} req/s, p99 ${fmt.ms(c.p99)}, ${Math.round(c.cpuUs)} µs` : 'not run'} | ${errors(a, b, c)} |`,
    )
    .join('\n');
  const cost = (a, b) =>
    `${fmt.pct(pairedMedian(a, b, (r) => r.cpuUs) - 1)} CPU per request, ${fmt.pct(1 - pairedMedian(a, b, (r) => r.rps))} req/s`;
  const met = (ok) => (ok ? '**met**' : '**not met**');
  const etcdRatio = registered.etcd ? registered.attached.rps / registered.etcd.rps : undefined;
  const bigRatio = big.lookups.registry.rps / big.lookups.bare.rps;
  const verdict = [
    etcdRatio === undefined
      ? '- Durable registrations ≥ 2× etcd put: etcd did not run, not compared.'
      : `- Durable registrations ≥ 2× etcd's put, gateway attached: ${met(etcdRatio >= 2)}, ${etcdRatio.toFixed(2)}× (${fmt.rps(registered.attached.rps)} against ${fmt.rps(registered.etcd.rps)} req/s, the best rounds; the median of the rounds' paired ratios ${pairedMedian(registered.attached, registered.etcd, (r) => r.rps).toFixed(2)}×; CPU per request ${Math.round(registered.attached.cpuUs)} against ${Math.round(registered.etcd.cpuUs)} µs).`,
    `- Registration p99 under 50 ms at 50 connections: ${met(registered.attached.p99 < 50)} (${fmt.ms(registered.attached.p99)}).`,
    `- The gateway inside serve costs registrations and lookups at most 10%: registrations ${cost(registered.attached, registered.alone)}; lookups ${cost(lookups.attached, lookups.alone)}; heartbeats ${cost(heartbeats.attached, heartbeats.alone)} (medians of the ${ROUNDS} rounds' paired ratios; negative: cheaper, i.e. noise).`,
    `- Lookup ≥ 0.8× the bare server with 100,000 instances held: ${met(bigRatio >= 0.8)}, ${bigRatio.toFixed(2)}× (and ${(lookups.attached.rps / lookups.bare.rps).toFixed(2)}× with ${fmt.rps(rows.held)} held and the gateway attached).`,
  ].join('\n');
  return `## Registry: lookups, registrations, heartbeats (issues 2 and 20)

Three registries side by side: \`serve --gateway-port\` (the gateway attached) and plain \`serve\`, both on SQLite
(\`synchronous=FULL\`, group commit: every registration is acknowledged only after its transaction is fsynced) in their
own processes and each holding ${fmt.rps(rows.held)} instances before the runs (the registration runs add theirs);
and the baselines: a bare \`node:http\` server (own process) answering a fixed body the size of the lookup answer, and
one etcd member (Debian's package, data on the same disk) taking \`POST /v3/kv/put\` of the registry's own stored
record through its HTTP API, the way a client without gRPC writes to it. Load: ${WRK_METHOD}; 50 connections, 8 s per run
after a 2 s warm-up per target, ${ROUNDS} rounds interleaved across the targets, each cell the best round (the gateway's cost below: the median of the rounds' paired ratios). req/s moves
with whatever else the shared machine runs; the server's own CPU time per request (from /proc) moves less.

| scenario | serve + gateway: req/s · p50 · p99 · CPU/req | serve alone: req/s · p50 · p99 · CPU/req | baseline (same run) | errors / non-2xx |
|---|---|---|---|---:|
${table}

**100,000 instances in 10,000 services** (a fresh registry, registered over HTTP in ${big.seconds.toFixed(1)} s =
${fmt.rps(100_000 / big.seconds)} registrations/s at 128 concurrent requests): RSS ${Math.round(big.rss)} MiB
(${Math.round(big.rssEmpty)} MiB empty); lookup of a 10-instance service ${fmt.rps(big.lookups.registry.rps)} req/s
(p99 ${fmt.ms(big.lookups.registry.p99)}, ${Math.round(big.lookups.registry.cpuUs)} µs CPU) against the bare server's
${fmt.rps(big.lookups.bare.rps)} (${Math.round(big.lookups.bare.cpuUs)} µs) in the same run.
${notes.length > 0 ? `\nNotes: ${notes.join('; ')}.\n` : ''}
**Targets (issue 20)**
${verdict}`;
}
