/**
 * The registration commands as a user runs them (issue #4): `node dist/cli/main.js …` as a child process against a
 * real registry, checking exit codes, stdout and the one-line reason on stderr.
 */
import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/sdk/index.js';
import { runCli } from '../fixtures/cli.js';
import type { CliResult } from '../fixtures/cli.js';
import { startTestServer } from '../fixtures/server.js';
import { freePort } from '../fixtures/tickets.js';

/** A failure is one line on stderr naming the reason, nothing on stdout, and no usage dump. */
function expectOneLineFailure(result: CliResult, reason: string | RegExp): void {
  expect(result.code).not.toBe(0);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^switchboard: /);
  expect(lines[0]).toMatch(reason);
  expect(result.stderr).not.toMatch(/usage/i);
}

const TICKETS = [
  '--service',
  'tickets',
  '--host',
  '127.0.0.1',
  '--port',
  '3001',
  '--url',
  '/tickets',
  '--endpoint',
  'http=http://127.0.0.1:3001/tickets',
  '--role',
  'tickets-query',
];

describe('switchboard register / deregister / status / heartbeat / list / get', () => {
  it('registers an instance and prints its id; --json prints the stored instance', async () => {
    await using server = await startTestServer();
    const env = { SWITCHBOARD_REGISTRY: server.url };
    const plain = await runCli(['register', ...TICKETS, '--id', 'tickets-1'], env);
    expect(plain).toEqual({ code: 0, stdout: 'tickets-1\n', stderr: '' });

    const generated = await runCli(['register', ...TICKETS], env);
    expect(generated.code).toBe(0);
    expect(generated.stdout).toMatch(/^[0-9a-f-]{36}\n$/);

    const json = await runCli(
      [
        'register',
        ...TICKETS,
        '--id',
        'tickets-2',
        '--endpoint',
        'amqp=amqp://127.0.0.1/tickets',
        '--tag',
        'v2',
        '--tag',
        'eu',
        '--meta',
        'owner=team-a',
        '--meta',
        'build=42=x',
        '--status',
        'starting',
        '--ttl',
        '30',
        '--deregister-after',
        '5m',
        '--weight',
        '50',
        '--zone',
        'eu-1',
        '--json',
      ],
      env,
    );
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      service: 'tickets',
      id: 'tickets-2',
      host: '127.0.0.1',
      port: 3001,
      url: '/tickets',
      endpoints: [
        { type: 'http', url: 'http://127.0.0.1:3001/tickets' },
        { type: 'amqp', url: 'amqp://127.0.0.1/tickets' },
      ],
      authorizedRoles: ['tickets-query'],
      tags: ['v2', 'eu'],
      metadata: { owner: 'team-a', build: '42=x' },
      status: 'STARTING',
      ttl: '30s',
      deregisterAfter: '5m',
      weight: 50,
      zone: 'eu-1',
    });
  });

  it('shows services and instances as tables, and as JSON with --json', async () => {
    await using server = await startTestServer();
    const env = { SWITCHBOARD_REGISTRY: server.url };
    expect((await runCli(['list'], env)).stdout).toBe('no services registered\n');
    await runCli(['register', ...TICKETS, '--id', 'tickets-1', '--tag', 'v2'], env);
    await runCli(['register', ...TICKETS, '--id', 'tickets-2', '--port', '3002', '--status', 'DOWN'], env);

    const list = await runCli(['list'], env);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^SERVICE\s+INSTANCES\s+BY STATUS$/);
    expect(list.stdout).toMatch(/^tickets\s+2\s+(UP 1, DOWN 1|DOWN 1, UP 1)$/m);
    expect(JSON.parse((await runCli(['list', '--json'], env)).stdout)).toMatchObject({
      services: [{ name: 'tickets', instances: 2 }],
    });

    // Every instance by default, DOWN ones too: an operator wants to see them.
    const get = await runCli(['get', 'tickets'], env);
    expect(get.code).toBe(0);
    const [header, ...rows] = get.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+HOST\s+PORT\s+STATUS\s+HEALTH\s+URL\s+TAGS$/);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/^tickets-1\s+127\.0\.0\.1\s+3001\s+UP\s+passing\s+\/tickets\s+v2$/);
    expect(rows[1]).toMatch(/^tickets-2\s+127\.0\.0\.1\s+3002\s+DOWN\s+passing\s+\/tickets$/);

    const up = JSON.parse((await runCli(['get', 'tickets', '--status', 'UP', '--json'], env)).stdout) as {
      instances: { id: string }[];
    };
    expect(up.instances.map((i) => i.id)).toEqual(['tickets-1']);

    const one = await runCli(['get', 'tickets', 'tickets-1'], env);
    expect(one.stdout).toMatch(/^id:\s+tickets-1$/m);
    expect(one.stdout).toMatch(/^endpoints:\s+http=http:\/\/127\.0\.0\.1:3001\/tickets$/m);
    expect(JSON.parse((await runCli(['get', 'tickets', 'tickets-1', '--json'], env)).stdout)).toMatchObject({
      id: 'tickets-1',
    });

    expect((await runCli(['get', 'nothing'], env)).stdout).toBe('nothing has no instances\n');
  });

  it('sets the status, renews the lease and deregisters', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    const registry = ['--registry', server.url];
    await runCli(['register', ...registry, ...TICKETS, '--id', 'tickets-1', '--ttl', '30s']);

    expect(
      await runCli(['status', 'set', ...registry, '--service', 'tickets', '--id', 'tickets-1', 'OUT_OF_SERVICE']),
    ).toEqual({
      code: 0,
      stdout: 'tickets/tickets-1 is OUT_OF_SERVICE\n',
      stderr: '',
    });
    expect((await client.getInstance('tickets', 'tickets-1')).status).toBe('OUT_OF_SERVICE');
    const viaFlag = await runCli([
      'status',
      'set',
      ...registry,
      '--service',
      'tickets',
      '--id',
      'tickets-1',
      '--status',
      'UP',
      '--json',
    ]);
    expect(JSON.parse(viaFlag.stdout)).toMatchObject({ status: 'UP' });

    const before = (await client.getInstance('tickets', 'tickets-1')).lastHeartbeat;
    const heartbeat = await runCli(['heartbeat', ...registry, '--service', 'tickets', '--id', 'tickets-1']);
    expect(heartbeat).toEqual({ code: 0, stdout: 'renewed tickets/tickets-1 (health passing)\n', stderr: '' });
    expect(Date.parse((await client.getInstance('tickets', 'tickets-1')).lastHeartbeat)).toBeGreaterThanOrEqual(
      Date.parse(before),
    );

    const deregister = await runCli(['deregister', ...registry, '--service', 'tickets', '--id', 'tickets-1']);
    expect(deregister).toEqual({ code: 0, stdout: 'deregistered tickets/tickets-1\n', stderr: '' });
    expect((await client.getService('tickets', { status: 'any' })).instances).toEqual([]);
  });

  it('fails with a one-line reason and a non-zero exit', async () => {
    await using server = await startTestServer();
    const env = { SWITCHBOARD_REGISTRY: server.url };
    await runCli(['register', ...TICKETS, '--id', 'tickets-1'], env);

    expectOneLineFailure(
      await runCli(['register', ...TICKETS, '--id', 'tickets-1', '--exclusive'], env),
      /already has an instance/,
    );
    expectOneLineFailure(
      await runCli(['deregister', '--service', 'tickets', '--id', 'nope'], env),
      /has no instance nope/,
    );
    expectOneLineFailure(
      await runCli(['heartbeat', '--service', 'tickets', '--id', 'nope'], env),
      /has no instance nope/,
    );
    expectOneLineFailure(
      await runCli(['register', '--service', 'tickets', '--port', '3001'], env),
      /--host is required/,
    );
    expectOneLineFailure(
      await runCli(['register', ...TICKETS, '--port', 'http'], env),
      /--port: "http" is not a whole number/,
    );
    expectOneLineFailure(await runCli(['register', ...TICKETS, '--endpoint', 'nourl'], env), /TYPE=URL/);
    expectOneLineFailure(await runCli(['register', ...TICKETS, '--ttl', 'soon'], env), /ttl/);
    expectOneLineFailure(
      await runCli(['status', 'set', '--service', 'tickets', '--id', 'tickets-1', 'SLEEPY'], env),
      /not one of UP/,
    );
    expectOneLineFailure(await runCli(['status', '--service', 'tickets', '--id', 'tickets-1'], env), /status set/);
    expectOneLineFailure(await runCli(['list', '--colour', 'red'], env), /unknown option --colour/);
    expectOneLineFailure(await runCli(['get'], env), /service name/);
    expectOneLineFailure(await runCli(['list', '--registry', 'localhost:8900']), /not an http\(s\) URL/);
    const dead = `http://127.0.0.1:${await freePort()}`;
    expectOneLineFailure(await runCli(['list'], { SWITCHBOARD_REGISTRY: dead }), /no registry node answered/);
  });

  it('takes the registry from --registry over SWITCHBOARD_REGISTRY, and fails over between comma-separated nodes', async () => {
    await using server = await startTestServer();
    const dead = `http://127.0.0.1:${await freePort()}`;
    expect((await runCli(['list', '--registry', server.url], { SWITCHBOARD_REGISTRY: dead })).code).toBe(0);
    expect((await runCli(['list'], { SWITCHBOARD_REGISTRY: `${dead},${server.url}` })).code).toBe(0);
    expect((await runCli(['register', ...TICKETS, '--registry', `${dead},${server.url}`])).code).toBe(0);
  });

  it('prints its usage when asked, and only then', async () => {
    const help = await runCli(['register', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('switchboard register --service NAME --host H --port P');
    const top = await runCli(['help']);
    expect(top.stdout).toMatch(/^\s+register\s/m);
  });
});
