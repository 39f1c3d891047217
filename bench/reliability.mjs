#!/usr/bin/env node
// `npm run reliability` (issue 21): runs test/reliability with RELIABILITY_PROFILE (default long) one file at a time,
// then the fuzz suite at length, and writes the results section of bench/RESULTS.md with a chart of the soak
// (bench/reliability-soak.svg). `npm test` runs the same files with the short profile and writes nothing.
// `node bench/reliability.mjs medium` runs a shorter profile (3-minute soak) and says so in the section.
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

// `--from DIR` writes the section from the results a previous run left in DIR (tests, fuzz and their exit codes as
// JSON lines) instead of running anything: to redo the report, or to merge a rerun of one file into a run.
const fromAt = process.argv.indexOf('--from');
const fromDir = fromAt >= 0 ? process.argv[fromAt + 1] : undefined;
const positional = process.argv.slice(2).filter((arg, i, all) => arg !== '--from' && all[i - 1] !== '--from');
const profile = positional[0] ?? process.env.RELIABILITY_PROFILE ?? 'long';
const FUZZ_RUNS = { short: 2_000, medium: 20_000, long: 100_000 }[profile];
if (FUZZ_RUNS === undefined) throw new Error(`profile must be short, medium or long, not ${profile}`);
const RESULTS = new URL('./RESULTS.md', import.meta.url);
const CHART = new URL('./reliability-soak.svg', import.meta.url);

/** Runs vitest on `files` with `env`; resolves with its exit code and output (also echoed to stderr). */
function vitest(files, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--maxWorkers=1', ...files], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    const collect = (chunk) => {
      text += chunk;
      process.stderr.write(chunk);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, text }));
  });
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');

/** Hand-drawn SVG: one panel per series over the soak's time axis. */
function chart(samples, title) {
  const width = 760;
  const panel = 120;
  const left = 70;
  const right = 20;
  const top = 40;
  const gap = 38;
  const series = [
    { key: 'ops', label: 'throughput (answers/s)', color: '#1f77b4' },
    { key: 'errors', label: 'errors (/s)', color: '#d62728' },
    { key: 'rssMiB', label: 'server RSS (MiB)', color: '#2ca02c' },
    ...(samples.some((s) => s.heapMiB !== undefined)
      ? [{ key: 'heapMiB', label: 'server V8 heap used (MiB)', color: '#8c564b' }]
      : []),
    { key: 'loopP99Ms', label: 'event-loop p99 (ms)', color: '#9467bd' },
  ];
  const height = top + series.length * (panel + gap) + 10;
  const tMax = Math.max(1, ...samples.map((s) => s.t));
  const x = (t) => left + ((width - left - right) * t) / tMax;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${title}</text>`,
  ];
  series.forEach(({ key, label, color }, i) => {
    const y0 = top + i * (panel + gap);
    const values = samples.map((s) => s[key] ?? 0);
    const max = Math.max(1, ...values) * 1.1;
    const y = (v) => y0 + panel - (panel * v) / max;
    parts.push(`<text x="${left}" y="${y0 - 6}" font-weight="bold">${label}</text>`);
    parts.push(`<line x1="${left}" y1="${y0 + panel}" x2="${width - right}" y2="${y0 + panel}" stroke="#444"/>`);
    parts.push(`<line x1="${left}" y1="${y0}" x2="${left}" y2="${y0 + panel}" stroke="#444"/>`);
    for (const tick of [0, 0.5, 1]) {
      const v = max * tick;
      parts.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v >= 10 ? fmt(v) : v.toFixed(1)}</text>`);
      parts.push(`<line x1="${left}" y1="${y(v)}" x2="${width - right}" y2="${y(v)}" stroke="#ddd"/>`);
    }
    for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
      const t = tMax * tick;
      parts.push(`<text x="${x(t)}" y="${y0 + panel + 14}" text-anchor="middle">${fmt(t)} s</text>`);
    }
    const points = samples
      .filter((s) => s[key] !== undefined)
      .map((s) => `${x(s.t).toFixed(1)},${y(s[key]).toFixed(1)}`)
      .join(' ');
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${points}"/>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

const resultsDir = fromDir ?? mkdtempSync(join(os.tmpdir(), 'switchboard-reliability-'));
const file = join(resultsDir, 'results.jsonl');
const started = Date.now();
try {
  if (fromDir === undefined) {
    const suite = await vitest(['test/reliability'], { RELIABILITY_PROFILE: profile, RELIABILITY_RESULTS: resultsDir });
    appendFileSync(file, `${JSON.stringify({ test: 'suite', code: suite.code })}\n`);
    const fuzz = await vitest(['test/fuzz'], { FUZZ_RUNS: String(FUZZ_RUNS) });
    const line = /fuzz: (\d+) requests; statuses (\{[^}]*\})/.exec(fuzz.text);
    appendFileSync(
      file,
      `${JSON.stringify({ test: 'fuzz', code: fuzz.code, requests: line ? Number(line[1]) : undefined, statuses: line ? JSON.parse(line[2]) : undefined })}\n`,
    );
  }
  const results = existsSync(file)
    ? Object.fromEntries(
        readFileSync(file, 'utf8')
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line))
          .map((r) => [r.test, r]),
      )
    : {};
  const { soak, 'kill-single': single, 'kill-cluster': cluster } = results;
  const partition = results['partition-single'];
  const cut = results['partition-cluster'];
  const disk = results['full-disk'];
  const fuzzRun = results.fuzz;
  const passed = results.suite?.code === 0 && fuzzRun?.code === 0 && fuzzRun.requests !== undefined;
  const misses = [
    ...[single, cluster]
      .filter((r) => r && (r.lost > 0 || r.failures > 0))
      .map((r) => `${r.test}: ${r.lost} lost, ${r.failures} unexpected answers`),
    ...(soak && soak.errors > 0 ? [`soak: ${soak.errors} errors`] : []),
    ...(soak && profile !== 'short' && soak.rssGrowth >= 0.1
      ? [`soak: RSS grew ${(soak.rssGrowth * 100).toFixed(1)}% after warm-up (bound 10%)`]
      : []),
    ...(soak && profile !== 'short' && soak.loopP99Ms >= 50
      ? [`soak: event-loop p99 ${soak.loopP99Ms.toFixed(0)} ms (bound 50 ms)`]
      : []),
  ];
  const cell = (value, render) => (value === undefined ? 'not run' : render(value));
  const rows = [
    '| scenario | load held | faults injected | checked | writes lost |',
    '|---|---|---|---|---|',
    `| kill -9, single registry (sqlite) | ${cell(single, (r) => `${r.keys} keys changed without pause: ${fmt(r.acknowledged)} operations acknowledged, ${fmt(r.inDoubt)} in doubt`)} | ${cell(single, (r) => `${r.kills} SIGKILLs${r.slowStarts ? ` (${r.slowStarts} restarts took over 10 s on the loaded machine and were retried)` : ''}`)} | ${cell(single, (r) => `${r.checks} full comparisons with the ledger; ${r.failures} unexpected answers`)} | ${cell(single, (r) => r.lost)} |`,
    `| kill -9, cluster (3 etcd members, 2 nodes) | ${cell(cluster, (r) => `${r.keys} keys: ${fmt(r.acknowledged)} acknowledged, ${fmt(r.inDoubt)} in doubt`)} | ${cell(cluster, (r) => `${r.kills} SIGKILLs (nodes and etcd members in turn)${r.slowStarts ? `; ${r.slowStarts} slow restarts retried` : ''}`)} | ${cell(cluster, (r) => `${r.checks} comparisons (every running node); ${r.failures} unexpected answers`)} | ${cell(cluster, (r) => r.lost)} |`,
    `| partition: half the instances cut off | ${cell(partition, (r) => `${r.instances} leased instances, ${r.cutOff} behind the proxy`)} | ${cell(partition, (r) => `${fmt(r.partitionMs / 1000)} s cut`)} | ${cell(partition, (r) => `self-preservation on; evicted during the cut: ${r.evictedDuringPartition}; expired after the heal: exactly the ${r.expiredAfterHeal} silenced; cut-off instances removed at the heal: ${r.cutOffRemovedAtHeal}`)} | — |`,
    `| partition: node cut off from etcd | writes on both nodes | ${cell(cut, (r) => `${fmt(r.partitionMs / 1000)} s cut`)} | ${cell(cut, (r) => `writes refused with 503 ${r.refusedWith}, reads marked stale, caught up after`)} | — |`,
    `| full disk | ${cell(disk, (r) => `${r.acknowledgedBeforeFull} registrations of ~14 KiB on a ${r.filesystem}`)} | filled, SIGKILLed and restarted full, space freed | ${cell(disk, (r) => `${r.refused} writes refused with ${r.refusedWith}`)} | ${cell(disk, (r) => r.lost)} |`,
    `| soak | ${cell(soak, (r) => `${fmt(r.seconds)} s: ${fmt(r.leases)} heartbeating leases, ${fmt(r.eventStreams)} event streams, ${r.blockingQueries} blocking queries, churn, lookups, gateway; ${fmt(r.operations)} answers, ${fmt(r.eventsReceived)} events`)} | — | ${cell(soak, (r) => `errors ${r.errors}; RSS ${r.rssAtWarmMiB} → ${r.rssAtEndMiB} MiB after ${r.warmUpSeconds} s warm-up (${(r.rssGrowth * 100).toFixed(1)}%)${r.heapAtWarmMiB === undefined ? '' : `, V8 heap ${r.heapAtWarmMiB} → ${r.heapAtEndMiB} MiB`}; event-loop p99 ${r.loopP99Ms.toFixed(1)} ms`)} | — |`,
    `| fuzz (hostile input) | ${fuzzRun?.requests === undefined ? 'not run' : `${fmt(fuzzRun.requests)} generated requests`} | — | no 5xx, no crash, no hang | — |`,
  ];
  if (soak) writeFileSync(CHART, chart(soak.samples, `Soak, ${profile} profile: ${fmt(soak.seconds)} s of mixed load`));
  const stamp = `_${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · node ${process.version} · ${os.cpus().length} cores · ${Math.round(os.totalmem() / 2 ** 30)} GiB · ${((Date.now() - started) / 1000).toFixed(0)} s_`;
  const body = `## Reliability: faults under load (issue 21)

\`npm run reliability\` runs test/reliability with the **${profile}** profile${profile === 'long' ? '' : ' (not the long one: see the soak length)'}, then the fuzz suite with ${fmt(fuzzRun?.requests ?? FUZZ_RUNS)} inputs. ${passed ? 'Every check passed.' : `**The run failed**: ${misses.length > 0 ? misses.join('; ') : 'see the log'}.`}
Writes lost counts acknowledged operations the registry did not serve afterwards (or served back after an acknowledged
deregistration); an operation whose answer never came is in doubt, and either outcome is accepted for it until the next
acknowledged one. CI runs the same files with the short profile (10 kills, a 30 s soak with 500 leases and 50 streams),
asserting correctness and errors; the timing bounds (RSS growth under 10% after warm-up, event-loop p99 under 50 ms)
are asserted by the long profile only. The event-loop figure is ${soak ? soak.loopSource : 'not measured'}${soak?.metricsFailures ? `; ${soak.metricsFailures} /metrics scrapes failed` : ''}.

${rows.join('\n')}

![Soak: throughput, errors, RSS and event-loop p99 over time](reliability-soak.svg)`;
  let text = readFileSync(RESULTS, 'utf8');
  const section = `<!-- bench:reliability -->\n${body}\n\n${stamp}\n<!-- /bench:reliability -->`;
  const pattern = /<!-- bench:reliability -->[\s\S]*?<!-- \/bench:reliability -->/;
  text = pattern.test(text) ? text.replace(pattern, () => section) : `${text.trimEnd()}\n\n${section}\n`;
  writeFileSync(RESULTS, text);
  process.stdout.write(`${body}\n`);
  if (!passed) process.exitCode = 1;
} finally {
  if (fromDir === undefined) rmSync(resultsDir, { recursive: true, force: true });
}
