import { OPTIONS, loadConfig } from '../config/index.js';
import { startServer } from '../server.js';
import type { ParsedFlags } from './flags.js';

export const SERVE_USAGE = `switchboard serve [options]

Starts the registry. Each option can also come from the environment or a JSON config file (--config FILE).
${OPTIONS.map((o) => `  --${o.flag.padEnd(24)} ${o.help} (env ${o.env})`).join('\n')}
  --${'config'.padEnd(24)} JSON config file (env SWITCHBOARD_CONFIG)`;

/** Runs the registry until SIGTERM or SIGINT, then shuts it down cleanly. */
export async function serveCommand(flags: ParsedFlags): Promise<void> {
  const config = loadConfig({ flags: flags.values });
  const server = await startServer(config);
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`switchboard: shutdown after ${signal} failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
