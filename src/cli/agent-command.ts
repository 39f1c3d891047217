/**
 * `switchboard agent`: the third-party registrar (issue #15), and `switchboard agent status`, which asks a running
 * agent what it manages. The agent reaches the registry through the SDK with the client flags every client command
 * takes (--registry, --token-file, --ca, …).
 *
 * Stopping: SIGINT or SIGTERM drains every supervised process (deregister, SIGTERM, SIGKILL after its grace) and
 * exits 0; a second signal, or the process exiting any other way, SIGKILLs what is left so no child outlives it.
 * SIGHUP reloads the definitions.
 */
import { RegistryError } from '../errors/index.js';
import { DEFAULT_STATUS_PORT, Registrar, openLoadSource, startStatusServer } from '../registrar/index.js';
import type { AgentStatus, ServiceStatus } from '../registrar/index.js';
import { RegistryClient } from '../sdk/index.js';
import type { AgentLogger } from '../sdk/index.js';
import { parseDuration } from '../wire/index.js';
import { clientOptions, table, toJson } from './client-output.js';
import type { ParsedFlags } from './flags.js';
import { CLIENT_FLAGS } from '../config/index.js';

export const AGENT_USAGE = `switchboard agent --config-dir DIR [options]

Registers and supervises the services defined in DIR, one file per service (*.json, *.yaml, *.yml), and follows the
directory: a changed file is applied, a removed one deregisters its instances, SIGHUP reloads everything.
  --config-dir DIR          the definitions (required)
  --registry URL[,URL…]     registry node(s) (env SWITCHBOARD_REGISTRY; default http://127.0.0.1:8900)
  --token-file FILE         the registry token, read from a file so it stays out of ps (or --token, SWITCHBOARD_TOKEN)
  --ca FILE, --cert FILE, --key FILE   TLS for an https:// registry, as the other client commands take them
  --gateway URL             the gateway whose load figures drive \`scale\` rules (none: nothing scales)
  --scale-interval D        how often scale rules are evaluated (default 5s)
  --status-port N           serve GET /status on 127.0.0.1:N (default ${DEFAULT_STATUS_PORT}; 0: any free port)

switchboard agent status [--status-url URL] [--json]
  what a running agent manages, per service (default URL http://127.0.0.1:${DEFAULT_STATUS_PORT}/status)`;

const RUN_FLAGS = new Set<string>(['config-dir', ...CLIENT_FLAGS, 'gateway', 'scale-interval', 'status-port', 'help']);
const STATUS_FLAGS = new Set(['status-url', 'json', 'help']);

export async function agentCommand(flags: ParsedFlags): Promise<void> {
  const [sub, ...extra] = flags.positionals;
  if (sub !== undefined && sub !== 'status') {
    throw new RegistryError('INVALID_ARGUMENT', `agent: unknown subcommand "${sub}" (try: switchboard agent --help)`);
  }
  if (extra.length > 0) throw new RegistryError('INVALID_ARGUMENT', `agent: unexpected argument "${extra.join(' ')}"`);
  const allowed = sub === 'status' ? STATUS_FLAGS : RUN_FLAGS;
  for (const name of Object.keys(flags.all)) {
    if (!allowed.has(name))
      throw new RegistryError('INVALID_ARGUMENT', `agent${sub ? ` ${sub}` : ''}: unknown option --${name}`);
  }
  if (sub === 'status') {
    await printStatus(flags);
    return;
  }
  await runAgent(flags);
}

const logger: AgentLogger = {
  info: (message) => {
    process.stdout.write(`switchboard agent: ${message}\n`);
  },
  warn: (message) => {
    process.stderr.write(`switchboard agent: ${message}\n`);
  },
};

async function runAgent(flags: ParsedFlags): Promise<void> {
  const configDir = flags.values['config-dir'];
  if (configDir === undefined || configDir === '') {
    throw new RegistryError('INVALID_ARGUMENT', 'agent: --config-dir DIR is required (see: switchboard agent --help)');
  }
  const statusPort = integer(flags.values['status-port'] ?? String(DEFAULT_STATUS_PORT), '--status-port');
  const scaleIntervalMs = parseDuration(flags.values['scale-interval'] ?? '5s', '--scale-interval');
  if (scaleIntervalMs < 100) throw new RegistryError('INVALID_ARGUMENT', '--scale-interval must be at least 100ms');
  const options = clientOptions(flags);
  const client = new RegistryClient(options);
  const gateway = flags.values['gateway'];
  const loadSource =
    gateway === undefined
      ? undefined
      : openLoadSource({
          url: gateway,
          ...(options.token === undefined ? {} : { token: options.token }),
          ...(Buffer.isBuffer(options.ca) ? { ca: options.ca } : {}),
        });
  const registrar = new Registrar({
    configDir,
    client,
    logger,
    scaleIntervalMs,
    ...(loadSource === undefined ? {} : { loadSource }),
  });

  // Whatever ends the process, no supervised child may outlive it.
  process.on('exit', () => {
    registrar.killNow();
  });
  try {
    await registrar.start();
  } catch (err) {
    registrar.killNow();
    throw new RegistryError('INVALID_ARGUMENT', `agent: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  const status = await startStatusServer(statusPort, () => registrar.status()).catch((err: unknown) => {
    registrar.killNow();
    throw new RegistryError('INVALID_ARGUMENT', `agent: cannot serve status on port ${statusPort}: ${String(err)}`);
  });
  logger.info(`managing ${configDir}; status on ${status.url}`);

  process.on('SIGHUP', () => {
    logger.info('SIGHUP: reloading');
    void registrar.reload();
  });
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn(`${signal} again: killing every process now`);
      process.exit(1);
    }
    stopping = true;
    logger.info(`${signal}: deregistering and stopping everything`);
    void Promise.all([registrar.stop(), status.close()]).then(() => {
      logger.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

async function printStatus(flags: ParsedFlags): Promise<void> {
  const given = flags.values['status-url'] ?? `http://127.0.0.1:${DEFAULT_STATUS_PORT}`;
  // The agent's address alone (`http://127.0.0.1:8901`) means its status page.
  const url = /^https?:\/\/[^/]+\/?$/.test(given) ? `${given.replace(/\/$/, '')}/status` : given;
  let status: AgentStatus;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    status = (await res.json()) as AgentStatus;
  } catch (err) {
    throw new RegistryError(
      'UNAVAILABLE',
      `agent status: no agent answers at ${url} (${err instanceof Error ? err.message : String(err)})`,
      {
        cause: err,
      },
    );
  }
  if (flags.values['json'] === 'true') {
    process.stdout.write(toJson(status));
    return;
  }
  const rows = status.services.map((s: ServiceStatus) => [
    s.service,
    s.kind,
    String(s.desired),
    String(s.running),
    String(s.registered),
    s.lastRestart ? `${ago(s.lastRestart.at)} ${s.lastRestart.instance}: ${s.lastRestart.reason}` : '-',
    s.lastScaling
      ? `${ago(s.lastScaling.at)} ${s.lastScaling.from}→${s.lastScaling.to}: ${s.lastScaling.reason}`
      : (s.scaling ?? '-'),
  ]);
  process.stdout.write(
    table(['SERVICE', 'KIND', 'DESIRED', 'RUNNING', 'REGISTERED', 'LAST RESTART', 'LAST SCALING'], rows),
  );
  for (const { file, error } of status.errors) {
    const runs = status.services.find((s) => s.file === file);
    process.stdout.write(
      `\nfile error: ${file}: ${error}\n  (${runs ? `its last good version of ${runs.service} keeps running` : 'nothing of it runs'})\n`,
    );
  }
}

function ago(at: number): string {
  const seconds = Math.max(0, Math.round((Date.now() - at) / 1_000));
  return seconds < 120 ? `${seconds}s ago` : `${Math.round(seconds / 60)}m ago`;
}

function integer(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 65_535) {
    throw new RegistryError('INVALID_ARGUMENT', `${flag} must be a port number (0 to 65535), not "${text}"`);
  }
  return value;
}
