// Shared pieces of the benchmark sections: child processes, autocannon runs, table formatting.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

export const CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;

/** Spawns a node process running `args` and resolves once a line of its output matches `ready` (group 1 = url). */
export function spawnNode(args, { ready, env = {} }) {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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

/** Starts `switchboard serve` on a free port. */
export function startRegistry(args = []) {
  return spawnNode([CLI, 'serve', '--port', '0', '--log-level', 'info', ...args], {
    ready: /"url":"(http:\/\/[^"]+)".*switchboard registry listening/,
    env: { SWITCHBOARD_LOG_LEVEL: 'info' },
  });
}

/** Starts a bare node:http server (bench/bare-server.mjs) answering `body` to every request. */
export function startBare(body) {
  return spawnNode([new URL('./bare-server.mjs', import.meta.url).pathname], {
    ready: /listening (http:\/\/\S+)/,
    env: { BARE_BODY: body },
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
