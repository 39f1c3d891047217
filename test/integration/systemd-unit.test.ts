/**
 * examples/systemd/tickets.service, run the way systemd runs it (issue #4): its ExecStart, ExecStartPost and
 * ExecStopPost lines as written, with `${VAR}` expanded from its Environment= lines. Only the registry address and
 * the port change (tests cannot use fixed ports), and the installed paths point into this repository.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { NotFoundError, RegistryClient } from '../../src/sdk/index.js';
import { runCli } from '../fixtures/cli.js';
import { startTestServer } from '../fixtures/server.js';
import { freePort, spawnNode } from '../fixtures/tickets.js';

const UNIT = fileURLToPath(new URL('../../examples/systemd/tickets.service', import.meta.url));

interface Unit {
  environment: Record<string, string>;
  execStart: string[];
  execStartPost: string[];
  execStopPost: string[];
  /** ExecStopPost's failure is ignored ("-" prefix). */
  stopPostIgnoresFailure: boolean;
}

function parseUnit(text: string): Unit {
  const environment: Record<string, string> = {};
  const exec: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'Environment') {
      const inner = value.indexOf('=');
      environment[value.slice(0, inner)] = value.slice(inner + 1);
    } else if (key.startsWith('Exec')) {
      exec[key] = value;
    }
  }
  const words = (key: string): string[] => {
    const line = exec[key];
    if (line === undefined) throw new Error(`the unit has no ${key}`);
    // Our lines use no quoting, so splitting on blanks is what systemd does with them.
    return line.replace(/^[-@:+!]+/, '').split(/\s+/);
  };
  return {
    environment,
    execStart: words('ExecStart'),
    execStartPost: words('ExecStartPost'),
    execStopPost: words('ExecStopPost'),
    stopPostIgnoresFailure: (exec['ExecStopPost'] ?? '').startsWith('-'),
  };
}

/** systemd's `${VAR}` expansion from the unit's environment. */
function expand(args: string[], env: Record<string, string>): string[] {
  return args.map((arg) => arg.replace(/\$\{(\w+)\}/g, (_m, name: string) => env[name] ?? ''));
}

/** The CLI's arguments after the installed binary, which must be the switchboard CLI. */
function cliArgs(command: string[]): string[] {
  const [binary, ...args] = command;
  expect(binary).toBe('/usr/local/bin/switchboard');
  return args;
}

describe('examples/systemd/tickets.service', () => {
  const unit = parseUnit(readFileSync(UNIT, 'utf8'));

  it('registers the service on start and deregisters it on stop with the CLI commands it declares', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    const env = { ...unit.environment, PORT: String(await freePort()), SWITCHBOARD_REGISTRY: server.url };
    expect(unit.environment['SELF_REGISTRY']).toBeUndefined();

    // ExecStart: /usr/bin/node examples/tickets/server.mjs (WorkingDirectory: the installed repository).
    const [node, ...script] = expand(unit.execStart, env);
    expect(node).toBe('/usr/bin/node');
    await using service = spawnNode(script, env);
    await service.waitForOutput('tickets listening on');

    // ExecStartPost
    const started = await runCli(cliArgs(expand(unit.execStartPost, env)), env);
    expect(started).toEqual({ code: 0, stdout: `tickets-${env.PORT}\n`, stderr: '' });
    const instance = await client.getInstance('tickets', `tickets-${env.PORT}`);
    expect(instance).toMatchObject({
      url: '/tickets',
      endpoints: [{ type: 'http', url: `http://127.0.0.1:${env.PORT}/tickets` }],
      authorizedRoles: ['tickets-query'],
      status: 'UP',
    });
    expect(instance.ttl).toBeUndefined();
    // The registered endpoint is the running service.
    const answer = await fetch(instance.endpoints[0]?.url ?? '');
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ tickets: expect.any(Array) as unknown });

    // A restart runs ExecStartPost again: the same instance is updated, not duplicated.
    expect((await runCli(cliArgs(expand(unit.execStartPost, env)), env)).code).toBe(0);
    expect((await client.getService('tickets')).instances).toHaveLength(1);

    // systemctl stop: SIGTERM to the service, then ExecStopPost.
    service.child.kill('SIGTERM');
    await service.exited;
    const stopped = await runCli(cliArgs(expand(unit.execStopPost, env)), env);
    expect(stopped).toEqual({ code: 0, stdout: `deregistered tickets/tickets-${env.PORT}\n`, stderr: '' });
    await expect(client.getInstance('tickets', `tickets-${env.PORT}`)).rejects.toBeInstanceOf(NotFoundError);

    // Stopping again (or after a failed start): the deregistration fails, which the unit's "-" prefix ignores.
    const again = await runCli(cliArgs(expand(unit.execStopPost, env)), env);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/^switchboard: .*has no instance.*\n$/);
    expect(unit.stopPostIgnoresFailure).toBe(true);
  });

  it('fails ExecStartPost (and so the start) with a one-line reason when the registry is down', async () => {
    const env = { ...unit.environment, SWITCHBOARD_REGISTRY: `http://127.0.0.1:${await freePort()}` };
    const result = await runCli(cliArgs(expand(unit.execStartPost, env)), env);
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^switchboard: no registry node answered .*\n$/);
  });
});
