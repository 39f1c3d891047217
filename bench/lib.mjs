// Shared pieces of the benchmark sections: child processes, autocannon runs, table formatting.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import autocannon from 'autocannon';

const CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;

/**
 * How to run the `switchboard` bin: node with the flags of the bin's shebang (`#!/usr/bin/env -S node …`), as an
 * installed bin or `npm start` runs it, then the CLI. Spawn `[...SWITCHBOARD, 'serve', …]` with process.execPath.
 */
export const SWITCHBOARD = [
  ...(/^#!\/usr\/bin\/env -S node(.*)$/.exec(readFileSync(CLI, 'utf8').split('\n')[0])?.[1] ?? '')
    .split(' ')
    .filter(Boolean),
  CLI,
];

/**
 * Spawns a node process running `args` and resolves once a line of its output matches `ready` (group 1 = url).
 * `pinned`: a server under test, started on the servers' cores (see WRK).
 */
export function spawnNode(args, { ready, env = {}, pinned = false }) {
  const [command, argv] = pinned ? onServerCores(process.execPath, args) : [process.execPath, args];
  const child = spawn(command, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk.toString();
      const match = ready.exec(output);
      if (match) resolve({ child, url: match[1], output: () => output, stop: () => stop(child) });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`process exited (${code}) before it was ready:\n${output}`)));
  });
}

function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
  });
}

/** Starts `switchboard serve` on a free port (`pinned`: see spawnNode). */
export function startRegistry(args = [], { pinned = false } = {}) {
  return spawnNode([...SWITCHBOARD, 'serve', '--port', '0', '--log-level', 'info', ...args], {
    ready: /"url":"(http:\/\/[^"]+)".*switchboard registry listening/,
    env: { SWITCHBOARD_LOG_LEVEL: 'info' },
    pinned,
  });
}

/** Starts a bare node:http server (bench/bare-server.mjs) answering `body` to every request (`pinned`: see spawnNode). */
export function startBare(body, { pinned = false } = {}) {
  return spawnNode([new URL('./bare-server.mjs', import.meta.url).pathname], {
    ready: /listening (http:\/\/\S+)/,
    env: { BARE_BODY: body },
    pinned,
  });
}

/** Resident memory of a process, in MiB. */
export function rssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/** CPU time (user + system) a process has used, in ms. */
export function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/**
 * One autocannon run; resolves { rps, p50, p99, errors, non2xx, cpuUs }. With the server's `pid`, `cpuUs` is the
 * server's CPU time per request in µs: unlike req/s it does not move with what else the machine is running.
 */
export async function load(options, pid) {
  const before = pid === undefined ? 0 : cpuMs(pid);
  const result = await autocannon({ connections: 50, duration: 8, ...options });
  const requests = result.requests.total || 1;
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    cpuUs: pid === undefined ? undefined : ((cpuMs(pid) - before) * 1000) / requests,
  };
}

/**
 * Issue 20's method, for the sections that set Switchboard against etcd, nginx and a bare server: wrk (C, one thread)
 * as the load generator on the last core, every server under test on the others, so that no server shares a core with
 * the load generator and the ratios are the servers' own. `{ missing }`, the reason, when wrk is not installed.
 */
export const WRK = (() => {
  const probe = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (probe.error) return { missing: 'wrk is not installed here (Debian: `apt-get install wrk`)' };
  const cores = availableParallelism();
  const pinned = cores >= 2 && spawnSync('taskset', ['--version']).error === undefined;
  return {
    version: /wrk (?:debian\/)?(\S+)/.exec(probe.stdout + probe.stderr)?.[1] ?? '',
    loadCore: pinned ? String(cores - 1) : undefined,
    serverCores: pinned ? (cores === 2 ? '0' : `0-${cores - 2}`) : undefined,
  };
})();

/** In words, for a section's method paragraph. */
export const WRK_METHOD =
  WRK.loadCore === undefined
    ? `wrk ${WRK.version ?? ''}, one thread, sharing the cores with the servers (fewer than 2 cores, or no taskset)`
    : `wrk ${WRK.version}, one thread, on core ${WRK.loadCore}; every server under test pinned to core${WRK.serverCores.includes('-') ? 's' : ''} ${WRK.serverCores} (\`taskset\`, all its threads), as issue 20 measured`;

/**
 * `[command, args]` that start a server under test on the servers' cores, from its first instruction (Go sizes
 * GOMAXPROCS, Node its GC threads, from what the process sees at start); unchanged when they cannot be kept apart.
 */
export function onServerCores(command, args) {
  return WRK.serverCores === undefined ? [command, args] : ['taskset', ['-c', WRK.serverCores, command, ...args]];
}

const run = promisify(execFile);
const WRK_SCRIPTS = new URL('./wrk/', import.meta.url).pathname;
let wrkRuns = 0;

/**
 * One wrk run against `url` (with `script`, a file of bench/wrk/, and `env` for it); resolves like `load`, with
 * `cpuUs` the CPU time the processes `pids` spent per request. Each run gets its own PREFIX (4 base64 characters) for
 * scripts that must not repeat a key across runs.
 */
export async function wrkLoad({ url, script, env = {}, connections = 50, duration = 8 }, pids = []) {
  const prefix = (wrkRuns++).toString(36).padStart(4, 'x');
  const args = [
    '-t1',
    `-c${connections}`,
    `-d${duration}s`,
    '--latency',
    ...(script ? ['-s', WRK_SCRIPTS + script] : []),
    url,
  ];
  const before = pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
  const { stdout } = await run(
    WRK.loadCore === undefined ? 'wrk' : 'taskset',
    WRK.loadCore === undefined ? args : ['-c', WRK.loadCore, 'wrk', ...args],
    {
      env: { ...process.env, PREFIX: prefix, ...env },
      maxBuffer: 1 << 20,
    },
  );
  const after = pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
  const field = (pattern) => pattern.exec(stdout)?.[1];
  const requests = Number(field(/(\d+) requests in/)) || 1;
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  return {
    rps: Number(field(/Requests\/sec:\s+([\d.]+)/)),
    p50: wrkMs(field(/^\s+50%\s+(\S+)/m)),
    p99: wrkMs(field(/^\s+99%\s+(\S+)/m)),
    errors: socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
    non2xx: Number(field(/Non-2xx or 3xx responses: (\d+)/) ?? 0),
    cpuUs: pids.length === 0 ? undefined : ((after - before) * 1000) / requests,
  };
}

/** wrk's latency figures (`812.00us`, `5.33ms`, `1.20s`, `2.00m`) in ms. */
function wrkMs(text) {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text ?? '');
  if (!match) throw new Error(`wrk printed no latency figure: ${text}`);
  return Number(match[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[match[2]];
}

export const fmt = {
  rps: (n) => Math.round(n).toLocaleString('en-US'),
  ms: (n) => `${Number(n).toFixed(n < 10 ? 2 : 1)} ms`,
  pct: (n) => `${Math.round(n * 100)}%`,
};

/** Registers instances through the REST API, `concurrency` requests at a time (with `headers`: a token, say). */
export async function registerMany(url, count, make, concurrency = 64, headers = {}) {
  let next = 0;
  async function worker() {
    while (next < count) {
      const i = next++;
      const { service, id, body } = make(i);
      const res = await fetch(`${url}/v1/services/${service}/instances/${id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`register ${service}/${id}: ${res.status} ${await res.text()}`);
      await res.arrayBuffer().catch(() => undefined);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
}
