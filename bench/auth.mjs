// Access control's cost (issue 13): lookups and heartbeats against a registry with auth off and one with auth on
// (a token whose policy names services by glob), measured in the same run, interleaved, on the same data.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt, load, registerMany, startRegistry } from './lib.mjs';

const HEARTBEATING = 10_000;
const instanceBody = (i) => ({ host: `10.0.${(i >> 8) & 255}.${i & 255}`, port: 8080, ttl: '60s' });

async function prepare(registry, headers) {
  await registerMany(
    registry.url,
    10,
    (i) => ({ service: 'lookup', id: `lookup-${i}`, body: instanceBody(i) }),
    10,
    headers,
  );
  await registerMany(
    registry.url,
    HEARTBEATING,
    (i) => ({ service: `hb-${i % 100}`, id: `hb${i}`, body: instanceBody(i) }),
    64,
    headers,
  );
}

function lookups(registry, headers) {
  return load({ url: `${registry.url}/v1/services/lookup`, headers }, registry.child.pid);
}

function heartbeats(registry, headers) {
  let h = 0;
  return load(
    {
      url: registry.url,
      requests: [
        {
          method: 'PUT',
          headers,
          setupRequest: (req) => ({
            ...req,
            path: `/v1/services/hb-${h % 100}/instances/hb${h++ % HEARTBEATING}/heartbeat`,
          }),
        },
      ],
    },
    registry.child.pid,
  );
}

const PAIRS = 4;
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * Warm both up, then alternate off/on PAIRS times: each pair runs back to back, so noise hits both alike. Reports
 * the median req/s and CPU per request of each side, and the median of the pairs' ratios.
 */
async function interleaved(measure, off, on) {
  await measure(off).catch(() => undefined);
  await measure(on).catch(() => undefined);
  const pairs = [];
  for (let i = 0; i < PAIRS; i++) {
    // Alternate which goes first, so neither always runs on a machine the other just warmed.
    const [a, b] =
      i % 2 === 0 ? [await measure(off), await measure(on)] : [...[await measure(on), await measure(off)].reverse()];
    pairs.push({ off: a, on: b });
  }
  const side = (name) => ({
    rps: median(pairs.map((p) => p[name].rps)),
    cpuUs: median(pairs.map((p) => p[name].cpuUs)),
    errors: pairs.reduce((n, p) => n + p[name].errors + p[name].non2xx, 0),
  });
  return {
    off: side('off'),
    on: side('on'),
    rpsRatio: median(pairs.map((p) => p.on.rps / p.off.rps)),
    cpuRatio: median(pairs.map((p) => p.on.cpuUs / p.off.cpuUs)),
  };
}

/** The check alone, in this process: what a request pays for auth, without the noise of a network run. */
async function checkCost() {
  const { AccessControl, TokenTable } = await import('../dist/auth/index.js');
  const { createMemoryStore } = await import('../dist/store/memory/index.js');
  const tokens = await TokenTable.open(createMemoryStore());
  const { secret } = await tokens.create({
    name: 'bench',
    policy: { read: ['look*'], write: ['hb-*'], operator: false },
  });
  const none = { read: [], write: [], operator: false };
  const modes = {
    off: { access: new AccessControl({ mode: 'off', anonymousPolicy: none, tokens }), headers: {} },
    on: {
      access: new AccessControl({ mode: 'on', anonymousPolicy: none, tokens }),
      headers: { authorization: `Bearer ${secret}` },
    },
  };
  const ns = {};
  for (const [mode, { access, headers }] of Object.entries(modes)) {
    const req = { headers };
    const n = 2_000_000;
    for (let i = 0; i < 100_000; i++) access.principalOf(req).require('read', 'lookup');
    const started = process.hrtime.bigint();
    for (let i = 0; i < n; i++) access.principalOf(req).require(i % 2 ? 'read' : 'write', i % 2 ? 'lookup' : 'hb-7');
    ns[mode] = Number(process.hrtime.bigint() - started) / n;
  }
  tokens.close();
  return ns;
}

export default async function run() {
  const dirs = [
    mkdtempSync(join(tmpdir(), 'switchboard-bench-off-')),
    mkdtempSync(join(tmpdir(), 'switchboard-bench-on-')),
  ];
  const off = await startRegistry(['--data-dir', dirs[0]]);
  const on = await startRegistry(['--data-dir', dirs[1], '--auth', 'on']);
  try {
    const operator = readFileSync(join(dirs[1], 'bootstrap-token'), 'utf8').trim();
    const created = await fetch(`${on.url}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench', read: ['look*'], write: ['hb-*'] }),
    });
    if (created.status !== 201) throw new Error(`token: ${created.status} ${await created.text()}`);
    const { secret } = await created.json();
    await prepare(off, {});
    await prepare(on, { authorization: `Bearer ${operator}` });
    const token = { authorization: `Bearer ${secret}` };
    const lookup = await interleaved((r) => lookups(r, r === on ? token : {}), off, on);
    const heartbeat = await interleaved((r) => heartbeats(r, r === on ? token : {}), off, on);
    for (const { off: a, on: b } of [lookup, heartbeat]) {
      if (a.errors + b.errors > 0) throw new Error('a measured request failed');
    }
    const cost = await checkCost();
    const row = (name, { off: a, on: b, rpsRatio, cpuRatio }) =>
      `| ${name} | ${fmt.rps(a.rps)} | ${fmt.rps(b.rps)} | ${fmt.pct(rpsRatio)} | ${a.cpuUs.toFixed(1)} µs | ${b.cpuUs.toFixed(1)} µs | ${fmt.pct(cpuRatio)} |`;
    return `## Access control: auth on against auth off (issue 13)

Two registries side by side (SQLite store, 10,000 heartbeating leases in 100 services): one with auth off, one with
\`--auth on\` whose requests carry a token with \`read:look*\` and \`write:hb-*\`, so every request is authenticated
and checked against a glob. After a warm-up, ${PAIRS} pairs of runs alternate between the two (50 connections, 8 s
each); the table gives each side's median and the median of the pairs' ratios. CPU is the server's own time per
request, the steadier figure; on a shared machine either ratio still moves by ±15%.

| Request | auth off req/s | auth on req/s | on/off | auth off CPU/req | auth on CPU/req | on/off |
|---|---:|---:|---:|---:|---:|---:|
${row('Lookup of a 10-instance service (fast path)', lookup)}
${row('Heartbeat (fast path)', heartbeat)}

The check alone (finding the token's principal from its header, then the glob decision), timed in one process over
2,000,000 requests: ${cost.off.toFixed(0)} ns with auth off, ${cost.on.toFixed(0)} ns with auth on: auth adds
${(cost.on - cost.off).toFixed(0)} ns, ${(((cost.on - cost.off) / 1000 / lookup.off.cpuUs) * 100).toFixed(1)}% of a lookup's CPU.

Target (issue 13): auth on costs lookups and heartbeats at most 10%.`;
  } finally {
    await off.stop();
    await on.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}
