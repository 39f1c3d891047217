// Does the health checker keep up? 10,000 instances, each with one 10 s check (half HTTP, half TCP) against local
// servers in another process, through the real registry core (memory store). Measures checks per second achieved vs
// scheduled, lateness (start − due), probe duration, failed probes, CPU and RSS of the checker's process, and the
// event loop's delay; then the same load through a baseline: one setInterval per check, no jitter, no bound.
import { fork } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createChecker, probe } from '../dist/checks/index.js';
import { DEFAULTS } from '../dist/config/index.js';
import { createRegistry } from '../dist/core/index.js';
import { createMemoryStore } from '../dist/store/memory/index.js';

const INSTANCES = 10_000;
const INTERVAL_MS = 10_000;
const TIMEOUT_MS = 2_000;
const TARGET_PORTS = 8; // of each kind
const WARMUP_MS = 12_000; // the first probes, then the jittered second ones, settle within one interval
const WINDOW_MS = 60_000;
const BASELINE_ROUNDS = 2;
// The core's config slices as `serve` passes them; the targets are local servers, which checks may then point at.
const CORE = {
  leases: DEFAULTS.leases,
  changeLogSize: DEFAULTS.watch.changeLogSize,
  checks: { ...DEFAULTS.checks, allowHosts: ['127.0.0.0/8'] },
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const ms = (v) => (Number.isNaN(v) ? '–' : v < 10 ? `${v.toFixed(2)} ms` : `${Math.round(v)} ms`);

async function startTargets() {
  const child = fork(new URL('./checker-targets.mjs', import.meta.url), [String(TARGET_PORTS)], { stdio: 'inherit' });
  const ports = await new Promise((resolve) => child.once('message', resolve));
  const usage = () =>
    new Promise((resolve) => {
      child.once('message', (m) => resolve(m.cpu));
      child.send('usage');
    });
  return { ...ports, usage, stop: () => child.send('exit') };
}

function specsFor(targets) {
  return Array.from({ length: INSTANCES }, (_, i) => {
    const http = i % 2 === 0;
    const ports = http ? targets.http : targets.tcp;
    const port = ports[i % ports.length];
    return {
      id: `i${i}`,
      check: http
        ? {
            http: `http://127.0.0.1:${port}/health`,
            interval: `${INTERVAL_MS / 1000}s`,
            timeout: `${TIMEOUT_MS / 1000}s`,
          }
        : { tcp: `127.0.0.1:${port}`, interval: `${INTERVAL_MS / 1000}s`, timeout: `${TIMEOUT_MS / 1000}s` },
    };
  });
}

/** Collects runs that start inside the window. */
function recorder() {
  const lateness = [];
  const duration = [];
  let failed = 0;
  let recording = false;
  return {
    start() {
      recording = true;
    },
    stop() {
      recording = false;
    },
    add(run) {
      if (!recording) return;
      lateness.push(run.startedAt - run.dueAt);
      duration.push(run.finishedAt - run.startedAt);
      if (run.result.status !== 'passing') failed += 1;
    },
    summary(windowMs) {
      lateness.sort((a, b) => a - b);
      duration.sort((a, b) => a - b);
      return {
        runs: lateness.length,
        perSecond: lateness.length / (windowMs / 1000),
        late: { p50: quantile(lateness, 0.5), p99: quantile(lateness, 0.99), max: lateness.at(-1) ?? NaN },
        duration: { p50: quantile(duration, 0.5), p99: quantile(duration, 0.99) },
        failed,
      };
    },
  };
}

async function measureChecker(targets) {
  const registry = await createRegistry({ ...CORE, store: createMemoryStore(), autoSweep: false });
  const record = recorder();
  const answered = new Set();
  let allPassingAt;
  const t0 = performance.now();
  const checker = createChecker({
    registry,
    concurrency: 256,
    onRun: (run) => {
      record.add(run);
      if (allPassingAt !== undefined) return;
      answered.add(run.check.id);
      if (answered.size === INSTANCES) allPassingAt = performance.now() - t0;
    },
  });
  checker.start();
  for (const { id, check } of specsFor(targets)) {
    await registry.register({
      service: `svc${Number(id.slice(1)) % 100}`,
      id,
      host: '127.0.0.1',
      port: 1,
      checks: [check],
    });
  }
  const registeredIn = performance.now() - t0;
  await sleep(WARMUP_MS);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const cpu0 = process.cpuUsage();
  const target0 = await targets.usage();
  const started = performance.now();
  record.start();
  await sleep(WINDOW_MS);
  record.stop();
  const windowMs = performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  const target1 = await targets.usage();
  loop.disable();
  const rss = process.memoryUsage().rss;
  const stats = checker.stats();
  const critical = registry.list('svc0', { health: ['critical'] }).instances.length;
  await checker.close();
  await registry.close();
  return {
    ...record.summary(windowMs),
    registeredIn,
    allPassingAt,
    cpu: (cpu.user + cpu.system) / 1000 / windowMs,
    targetCpu: (target1.user + target1.system - target0.user - target0.system) / 1000 / windowMs,
    rss,
    loopP99: loop.percentile(99) / 1e6,
    skipped: stats.skipped,
    critical,
  };
}

/** The baseline: one timer per check, all started together, every probe started when its timer fires. */
async function measureBaseline(targets) {
  const record = recorder();
  const registry = await createRegistry({ ...CORE, store: createMemoryStore(), autoSweep: false });
  const checks = [];
  for (const { id, check } of specsFor(targets)) {
    await registry.register({ service: 'svc', id, host: '127.0.0.1', port: 1, checks: [check] });
  }
  for (const c of registry.listChecks()) checks.push(c);
  const signal = new AbortController().signal;
  setMaxListeners(0, signal);
  const timers = [];
  const loop = monitorEventLoopDelay({ resolution: 10 });
  const start = performance.now();
  for (const check of checks) {
    let round = 0;
    timers.push(
      setInterval(() => {
        round += 1;
        const dueAt = start + round * INTERVAL_MS;
        const startedAt = performance.now();
        void probe(check.spec, signal).then((result) => {
          record.add({ dueAt, startedAt, finishedAt: performance.now(), result });
          void registry.recordCheckResult(check, result);
        });
      }, INTERVAL_MS),
    );
  }
  loop.enable();
  record.start();
  const cpu0 = process.cpuUsage();
  await sleep(BASELINE_ROUNDS * INTERVAL_MS + TIMEOUT_MS + 500);
  const windowMs = BASELINE_ROUNDS * INTERVAL_MS;
  const cpu = process.cpuUsage(cpu0);
  record.stop();
  loop.disable();
  for (const t of timers) clearInterval(t);
  const rss = process.memoryUsage().rss;
  await registry.close();
  return {
    ...record.summary(windowMs),
    cpu: (cpu.user + cpu.system) / 1000 / (performance.now() - start),
    rss,
    loopP99: loop.percentile(99) / 1e6,
  };
}

export default async function checkerBench() {
  const targets = await startTargets();
  const loadBefore = os.loadavg()[0];
  try {
    const ours = await measureChecker(targets);
    await sleep(2_000); // let the checker's sockets drain before the baseline
    const base = await measureBaseline(targets);
    const loadAfter = os.loadavg()[0];
    const scheduled = INSTANCES / (INTERVAL_MS / 1000);
    const pct = (v) => `${Math.round(v * 100)} %`;
    const mib = (v) => `${Math.round(v / 2 ** 20)} MiB`;
    const row = (name, r) =>
      `| ${name} | ${scheduled} | ${r.perSecond.toFixed(1)} | ${ms(r.late.p50)} | ${ms(r.late.p99)} | ${ms(r.late.max)} | ${ms(r.duration.p50)} | ${ms(r.duration.p99)} | ${r.failed} | ${pct(r.cpu)} | ${mib(r.rss)} | ${ms(r.loopP99)} |`;
    return `## Health checker: 10,000 instances with 10 s checks

${INSTANCES.toLocaleString('en')} instances, each with one check every ${INTERVAL_MS / 1000} s (timeout ${TIMEOUT_MS / 1000} s): half HTTP
\`GET\` (keep-alive off), half TCP connect, against ${TARGET_PORTS} HTTP and ${TARGET_PORTS} TCP servers in a separate local process.
The checker runs with the real registry core (memory store), which gets every result. Measured over ${WINDOW_MS / 1000} s after a
${WARMUP_MS / 1000} s warm-up; lateness = probe start − due time; CPU is the checker's process (100 % = one core).

| scheduler | checks/s scheduled | checks/s achieved | late p50 | late p99 | late max | probe p50 | probe p99 | failed probes | CPU | RSS | event loop p99 |
|---|---|---|---|---|---|---|---|---|---|---|---|
${row('Switchboard checker (one deadline heap, jittered starts, 256 in flight)', ours)}
${row(`baseline: a setInterval per check, no jitter, no bound (${BASELINE_ROUNDS} rounds)`, base)}

- All ${INSTANCES.toLocaleString('en')} checks had a first result ${Math.round(ours.allPassingAt ?? NaN)} ms after the checker started (registration took
  ${Math.round(ours.registeredIn)} ms); runs skipped for falling an interval behind: ${ours.skipped}; the target servers used
  ${pct(ours.targetCpu)} of a core.
- The baseline fires all ${INSTANCES.toLocaleString('en')} probes in the same instant every interval: the burst overflows the servers' accept
  queues and the probes' own timeouts, so healthy instances fail checks; the checker spreads the same work over the interval.
- The machine is shared: its 1-minute load average was ${loadBefore.toFixed(1)} before and ${loadAfter.toFixed(1)} after the run
  (${os.cpus().length} cores), which moves the tail figures (late p99, probe p99) from run to run.`;
  } finally {
    targets.stop();
  }
}
