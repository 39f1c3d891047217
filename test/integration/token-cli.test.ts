/**
 * `switchboard token create | list | revoke` as an operator runs them (issue #13): the built CLI as a child process
 * against a real registry with auth on, signed in with the bootstrap token the registry wrote to its data dir.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/sdk/index.js';
import type { CreatedToken, TokenInfo } from '../../src/sdk/index.js';
import { runCli } from '../fixtures/cli.js';
import type { CliResult } from '../fixtures/cli.js';
import { startAuthServer, tempDir } from '../fixtures/server.js';

/** A failure is one line on stderr naming the reason, nothing on stdout. */
function expectOneLineFailure(result: CliResult, reason: RegExp): void {
  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^switchboard: /);
  expect(lines[0]).toMatch(reason);
}

/** `key:   value` lines of `token create`'s readable output. */
function field(stdout: string, key: string): string {
  const value = new RegExp(`^${key}:\\s+(\\S.*)$`, 'm').exec(stdout)?.[1];
  if (value === undefined) throw new Error(`no ${key} in:\n${stdout}`);
  return value;
}

/** The bootstrap token's file (for `--token-file`) and secret. */
function bootstrapOf(dir: string): { bootstrapFile: string; bootstrap: string } {
  const bootstrapFile = join(dir, 'bootstrap-token');
  return { bootstrapFile, bootstrap: readFileSync(bootstrapFile, 'utf8').trim() };
}

const PAYMENTS = ['--service', 'payments', '--host', '127.0.0.1', '--port', '3001', '--id', 'p1'];
const BILLING = ['--service', 'billing', '--host', '127.0.0.1', '--port', '3002', '--id', 'b1'];

describe('switchboard token create / list / revoke', () => {
  it('creates a token and prints its id and secret once; the token may write its own service only', async () => {
    using dir = tempDir();
    await using server = await startAuthServer(dir.path);
    const { bootstrapFile, bootstrap } = bootstrapOf(dir.path);
    const env = { SWITCHBOARD_REGISTRY: server.url };

    const created = await runCli(
      [
        'token',
        'create',
        '--name',
        'payments-deploy',
        '--write',
        'payments',
        '--ttl',
        '1h',
        '--token-file',
        bootstrapFile,
      ],
      env,
    );
    expect(created.code).toBe(0);
    expect(created.stderr).toBe('');
    const id = field(created.stdout, 'id');
    const secret = field(created.stdout, 'secret');
    expect(field(created.stdout, 'name')).toBe('payments-deploy');
    expect(field(created.stdout, 'policy')).toBe('write:payments');
    expect(Date.parse(field(created.stdout, 'expires'))).toBeGreaterThan(Date.now());
    expect(created.stdout).toMatch(/shown only this once/);
    expect(created.stdout.split(secret)).toHaveLength(2);
    const operator = new RegistryClient({ url: server.url, token: bootstrap });
    expect(await operator.listTokens()).toContainEqual(
      expect.objectContaining({
        id,
        name: 'payments-deploy',
        policy: { read: [], write: ['payments'], operator: false },
      }),
    );

    const registered = await runCli(['register', ...PAYMENTS, '--token', secret], env);
    expect(registered).toEqual({ code: 0, stdout: 'p1\n', stderr: '' });
    expectOneLineFailure(await runCli(['register', ...BILLING, '--token', secret], env), /billing/);
    // The code behind that line, as the SDK sees it.
    const writer = new RegistryClient({ url: server.url, token: secret });
    await expect(writer.register({ service: 'billing', host: '127.0.0.1', port: 3002 })).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
    });
    // Managing tokens is for operators: a write token is denied, no token is not signed in.
    expectOneLineFailure(await runCli(['token', 'list', '--token', secret], env), /operator/);
    await expect(writer.listTokens()).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await expect(new RegistryClient({ url: server.url }).listTokens()).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
    });
  });

  it('lists tokens without their secrets, as a table or JSON', async () => {
    using dir = tempDir();
    await using server = await startAuthServer(dir.path);
    const { bootstrapFile, bootstrap } = bootstrapOf(dir.path);
    const env = { SWITCHBOARD_REGISTRY: server.url, SWITCHBOARD_TOKEN_FILE: bootstrapFile };

    const json = await runCli(
      ['token', 'create', '--name', 'dashboards', '--read', '*', '--read', 'pay*,bill*', '--json'],
      env,
    );
    expect(json.code).toBe(0);
    const reader = JSON.parse(json.stdout) as CreatedToken;
    expect(reader).toMatchObject({ name: 'dashboards', policy: { read: ['*', 'pay*', 'bill*'], write: [] } });
    expect(reader.secret).toMatch(/\S{20,}/);
    expect(reader.expiresAt).toBeUndefined();

    const table = await runCli(['token', 'list', '--token', bootstrap], { SWITCHBOARD_REGISTRY: server.url });
    expect(table.code).toBe(0);
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+NAME\s+POLICY\s+CREATED\s+EXPIRES$/);
    const row = rows.find((line) => line.startsWith(reader.id));
    expect(row).toMatch(/dashboards\s+read:\*,read:pay\*,read:bill\*\s+\S+\s+never$/);
    expect(rows.some((line) => /\soperator\s/.test(line))).toBe(true);
    for (const secret of [bootstrap, reader.secret]) {
      expect(table.stdout).not.toContain(secret);
      expect(table.stderr).not.toContain(secret);
    }

    const listed = await runCli(['token', 'list', '--json'], env);
    expect(listed.code).toBe(0);
    const { tokens } = JSON.parse(listed.stdout) as { tokens: (TokenInfo & { secret?: string })[] };
    expect(tokens.map((t) => t.name)).toContain('dashboards');
    expect(tokens.every((t) => t.secret === undefined)).toBe(true);
    expect(listed.stdout).not.toContain(reader.secret);
    expect(listed.stdout).not.toContain(bootstrap);
  });

  it('revokes a token, after which the registry refuses it as unauthenticated', async () => {
    using dir = tempDir();
    await using server = await startAuthServer(dir.path);
    const { bootstrapFile } = bootstrapOf(dir.path);
    const env = { SWITCHBOARD_REGISTRY: server.url, SWITCHBOARD_TOKEN_FILE: bootstrapFile };
    const operator = new RegistryClient({ url: server.url, token: bootstrapOf(dir.path).bootstrap });
    const token = await operator.createToken({ name: 'short-lived', write: ['payments'] });
    const writer = new RegistryClient({ url: server.url, token: token.secret });
    await writer.register({ service: 'payments', id: 'p1', host: '127.0.0.1', port: 3001 });

    const revoked = await runCli(['token', 'revoke', token.id], env);
    expect(revoked).toEqual({
      code: 0,
      stdout: `revoked token ${token.id} "short-lived" (write:payments)\n`,
      stderr: '',
    });
    await expect(writer.heartbeat('payments', 'p1')).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    const refused = await runCli(['heartbeat', '--service', 'payments', '--id', 'p1', '--token', token.secret], {
      SWITCHBOARD_REGISTRY: server.url,
    });
    expectOneLineFailure(refused, /not valid|revoked/);
    expect(refused.stderr).not.toContain(token.secret);
    expect((await operator.listTokens()).map((t) => t.id)).not.toContain(token.id);

    expectOneLineFailure(await runCli(['token', 'revoke', token.id], env), new RegExp(token.id));
    expectOneLineFailure(await runCli(['token', 'revoke'], env), /give the token id/);
  });

  it('explains itself, and refuses a create without a name or rights before asking the registry', async () => {
    const help = await runCli(['token', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/switchboard token create --name NAME/);
    expect(help.stdout).toMatch(/switchboard token list/);
    expect(help.stdout).toMatch(/switchboard token revoke ID/);
    // Port 9 (discard) is never asked: these fail on their flags.
    const env = { SWITCHBOARD_REGISTRY: 'http://127.0.0.1:9' };
    expectOneLineFailure(await runCli(['token', 'create', '--read', '*'], env), /--name is required/);
    expectOneLineFailure(
      await runCli(['token', 'create', '--name', 'x'], env),
      /--read GLOB, --write GLOB or --operator/,
    );
    expectOneLineFailure(
      await runCli(['token', 'create', '--name', 'x', '--service', 'y'], env),
      /unknown option --service/,
    );
    expectOneLineFailure(await runCli(['token', 'rotate'], env), /unknown command "rotate"/);
    expectOneLineFailure(
      await runCli(['token', 'create', '--name', 'x', '--read', '*', '--ttl', 'soon'], env),
      /--ttl: "soon" is not a duration/,
    );
  });
});
