#!/usr/bin/env -S node --max-semi-space-size=32
// Node's default young generation (16 MiB semi-spaces) is scavenged every few hundred registrations, each scavenge
// copying the instances just registered: at 32 MiB a registration costs about a quarter less CPU (bench/RESULTS.md).
// `npm start` passes the same flags; test/unit/node-flags.test.ts keeps the two alike.
import { RegistryError } from '../errors/index.js';
import { parseFlags } from './flags.js';
import { clientCommand } from './registration-commands.js';
import { tokenCommand } from './token-commands.js';

const USAGE = `usage: switchboard <command> [options]

commands:
  serve      start the registry (see: switchboard serve --help)
  gateway    run the API gateway in front of the registered services (see: switchboard gateway --help)
  agent      register and supervise services from definition files; agent status (see: switchboard agent --help)
  register   register an instance, e.g. from a systemd unit (see: switchboard register --help)
  deregister remove an instance
  heartbeat  renew an instance's lease
  status set set an instance's status (UP, DOWN, STARTING, OUT_OF_SERVICE, UNKNOWN)
  drain      take an instance out of discovery and wait until no subscriber routes to it (see: switchboard drain --help)
  list       the registered services
  get        a service's instances, or one instance
  token      create, list and revoke access tokens (see: switchboard token --help)
`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const flags = parseFlags(rest);
  switch (command) {
    case 'serve': {
      // Loaded only here: the server code takes a while to load, and the client commands (run by systemd on
      // every start and stop) need none of it.
      const { SERVE_USAGE, serveCommand } = await import('./serve-command.js');
      if (flags.values['help']) {
        process.stdout.write(`${SERVE_USAGE}\n`);
        return;
      }
      await serveCommand(flags);
      return;
    }
    case 'gateway': {
      const { GATEWAY_USAGE, gatewayCommand } = await import('./gateway-command.js');
      if (flags.values['help']) {
        process.stdout.write(`${GATEWAY_USAGE}\n`);
        return;
      }
      await gatewayCommand(flags);
      return;
    }
    case 'agent': {
      const { AGENT_USAGE, agentCommand } = await import('./agent-command.js');
      if (flags.values['help']) {
        process.stdout.write(`${AGENT_USAGE}\n`);
        return;
      }
      await agentCommand(flags);
      return;
    }
    case 'register':
    case 'deregister':
    case 'heartbeat':
    case 'status':
    case 'list':
    case 'get':
      await clientCommand(command, flags);
      return;
    case 'token':
      await tokenCommand(flags);
      return;
    case 'drain': {
      const { DRAIN_USAGE, drainCommand } = await import('./drain-command.js');
      if (flags.values['help']) {
        process.stdout.write(`${DRAIN_USAGE}\n`);
        return;
      }
      process.exitCode = await drainCommand(flags);
      return;
    }
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
