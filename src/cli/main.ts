#!/usr/bin/env node
import { RegistryError } from '../errors/index.js';
import { parseFlags } from './flags.js';
import { SERVE_USAGE, serveCommand } from './serve-command.js';

const USAGE = `usage: switchboard <command> [options]

commands:
  serve      start the registry (see: switchboard serve --help)
`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const flags = parseFlags(rest);
  switch (command) {
    case 'serve':
      if (flags.values['help']) {
        process.stdout.write(`${SERVE_USAGE}\n`);
        return;
      }
      await serveCommand(flags);
      return;
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE);
      return;
    default:
      throw new RegistryError('INVALID_ARGUMENT', `unknown command "${command}" (try: switchboard help)`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  // One line, no stack: the reason is for the operator, not a developer.
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`switchboard: ${message}\n`);
  process.exitCode = 1;
});
