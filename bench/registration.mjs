// Registration benchmark (issue 4): how fast the self-registration agent and the CLI act, each next to its
// baseline in the same run — the example service's start and SIGTERM without the agent, and `node` doing nothing.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SWITCHBOARD, fmt, startRegistry, spawnNode } from './lib.mjs';

const TICKETS = new URL('../examples/tickets/server.mjs', import.meta.url).pathname;
const ROUNDS = 7;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function instance(url, id) {
  const res = await fetch(`${url}/v1/services/tickets/instances/${encodeURIComponent(id)}`);
  if (res.status === 404) return undefined;
  return res.json();
}

/** Polls every 2 ms until `check()` is truthy; resolves the elapsed milliseconds since `since`. */
async function until(check, since, limitMs = 15_000) {
  for (;;) {
    if (await check()) return performance.now() - since;
    if (performance.now() - since > limitMs) throw new Error('timed out');
    await sleep(2);
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function startTickets(env) {
  return spawnNode([TICKETS], { ready: /tickets listening on (http:\/\/\S+)/, env: { PORT: '0', ...env } });
}

function exited(child) {
  return new Promise((resolve) => child.once('exit', resolve));
}

function runCli(args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: 'ignore' });
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args.join(' ')} exited ${code}`))));
  });
}

async function timed(fn) {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

export default async function run() {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
  const registry = await startRegistry(['--data-dir', dataDir, '--lease-sweep-interval', '200ms']);
  const url = registry.url;
  const agentEnv = { SELF_REGISTRY: '1', SWITCHBOARD_REGISTRY: url, SWITCHBOARD_TTL: '30s' };
  const rows = [];
  let current = registry;
  try {
    // 1. Start: spawn → listening (baseline), spawn → visible in the registry (with the agent).
    const listen = [];
    const visible = [];
    const stopBare = [];
    const stopAgent = [];
    for (let i = 0; i < ROUNDS; i++) {
      let start = performance.now();
      const bare = await startTickets({});
      listen.push(performance.now() - start);
      start = performance.now();
      bare.child.kill('SIGTERM');
      await exited(bare.child);
      stopBare.push(performance.now() - start);

      start = performance.now();
      const agent = await startTickets(agentEnv);
      const port = new URL(agent.url).port;
      visible.push(await until(async () => (await instance(url, `127.0.0.1:${port}`)) !== undefined, start));
      // 2. Stop: SIGTERM → process exited and instance gone.
      start = performance.now();
      const gone = exited(agent.child);
      agent.child.kill('SIGTERM');
      await gone;
      const exitedAt = performance.now() - start;
      const goneAt = await until(async () => (await instance(url, `127.0.0.1:${port}`)) === undefined, start);
      stopAgent.push(Math.max(exitedAt, goneAt));
    }
    rows.push(['Start → listening (no registry)', median(listen), 'Start → registered and visible', median(visible)]);
    rows.push([
      'SIGTERM → exited (no registry)',
      median(stopBare),
      'SIGTERM → deregistered and exited',
      median(stopAgent),
    ]);

    // 3. Registry outage: SIGKILL the registry, restart it on the same data directory, time until the agent's
    //    first heartbeat reaches the new process (ttl 3s: heartbeats every 1 s, retries capped at 1 s).
    const port = new URL(url).port;
    const recoveries = [];
    const agent = await startTickets({ ...agentEnv, SWITCHBOARD_TTL: '3s' });
    const id = `127.0.0.1:${new URL(agent.url).port}`;
    await until(async () => (await instance(url, id)) !== undefined, performance.now());
    for (let i = 0; i < 3; i++) {
      current.child.kill('SIGKILL');
      await exited(current.child);
      await sleep(1_500);
      current = await startRegistry(['--port', port, '--data-dir', dataDir, '--lease-sweep-interval', '200ms']);
      const restartedAt = Date.now();
      const start = performance.now();
      recoveries.push(
        await until(async () => Date.parse((await instance(url, id))?.lastHeartbeat ?? '0') > restartedAt, start),
      );
    }
    agent.child.kill('SIGTERM');
    await exited(agent.child);
    rows.push([
      'Heartbeat interval (ttl 3s)',
      1_000,
      'Registry restart → first heartbeat of the agent',
      median(recoveries),
    ]);

    // 4. The CLI as systemd runs it: one `switchboard register` and one `deregister`, process start to exit.
    const nodeOnly = [];
    const register = [];
    const deregister = [];
    const env = { SWITCHBOARD_REGISTRY: url };
    for (let i = 0; i < ROUNDS; i++) {
      nodeOnly.push(await timed(() => runCli(['-e', ''], env)));
      register.push(
        await timed(() =>
          runCli(
            [
              ...SWITCHBOARD,
              'register',
              '--service',
              'tickets',
              '--id',
              `cli-${i}`,
              '--host',
              '127.0.0.1',
              '--port',
              '3001',
            ],
            env,
          ),
        ),
      );
      deregister.push(
        await timed(() => runCli([...SWITCHBOARD, 'deregister', '--service', 'tickets', '--id', `cli-${i}`], env)),
      );
    }
    rows.push(['`node -e ""` (process start)', median(nodeOnly), '`switchboard register`', median(register)]);
    rows.push(['`node -e ""` (process start)', median(nodeOnly), '`switchboard deregister`', median(deregister)]);
  } finally {
    await current.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }

  return `## Registration: self-registration agent and CLI

Medians of ${ROUNDS} rounds (3 for the restart), the example service (examples/tickets/server.mjs) as a real child
process against a registry child process (SQLite store). Each row puts the baseline — the same thing without the
registry — next to the measured figure.

| baseline | ms | with registration | ms |
|---|---:|---|---:|
${rows.map(([a, x, b, y]) => `| ${a} | ${fmt.ms(x)} | ${b} | ${fmt.ms(y)} |`).join('\n')}

Deregistration happens before the process exits (the agent re-raises SIGTERM only afterwards), so "deregistered and
exited" is one round trip more than a plain exit. After a registry restart the agent's retries are capped at the
heartbeat interval, so it reaches the new process within one interval: well inside the fresh ttl the registry
gives restored leases.`;
}
