/**
 * Issue #13 as an operator meets it: `serve` on a network address refuses to run open, `--auth on` writes the first
 * operator token to the data dir (0600) and never logs it, tokens live in the store across restarts, and an
 * unchanged MicroReg client (Python's xmlrpc.client) works with the token as basic auth's password.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../fixtures/cli.js';
import { runPython } from '../fixtures/python.js';
import { spawnRegistry } from '../fixtures/process.js';
import { startTestServer, tempDir } from '../fixtures/server.js';

const PYTHON = `
import sys, xmlrpc.client
url, token = sys.argv[1], sys.argv[2]
host = url.split('://', 1)[1]
authed = xmlrpc.client.ServerProxy('http://:%s@%s' % (token, host))
anonymous = xmlrpc.client.ServerProxy(url)
try:
    anonymous.register('billing', '10.0.0.9', 8000)
    print('anonymous register: allowed')
except xmlrpc.client.Fault as fault:
    print('anonymous register: fault', fault.faultCode)
instance = authed.register('billing', '10.0.0.9', 8000)
print('authed register:', 'ok' if instance else 'False')
print('lookup:', authed.get_service_details('billing'))
print('authed unregister:', authed.unregister('billing'))
try:
    anonymous.get_service_details('billing')
    print('anonymous lookup: allowed')
except xmlrpc.client.Fault as fault:
    print('anonymous lookup: fault', fault.faultCode)
`;

function python(args: string[]): Promise<{ code: number | null; output: string }> {
  return runPython('-c', { env: {}, args: [PYTHON, ...args] });
}

describe('auth as an operator meets it (issue #13)', () => {
  it('refuses to listen beyond loopback with auth off, naming --auth on', async () => {
    using dir = tempDir();
    const result = await runCli(['serve', '--host', '0.0.0.0', '--port', '0', '--data-dir', dir.path]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/refusing to listen on 0\.0\.0\.0 with auth off.*--auth on/);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('starts beyond loopback with --auth on, and the bootstrap token (0600, never logged) works across restarts', async () => {
    using dir = tempDir();
    const args = ['--host', '0.0.0.0', '--auth', 'on', '--data-dir', dir.path];
    let token: string;
    let created: { id: string; secret: string };
    {
      await using registry = await spawnRegistry(args);
      const file = join(dir.path, 'bootstrap-token');
      token = readFileSync(file, 'utf8').trim();
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(dir.path).mode & 0o777).toBe(0o700);
      expect(registry.output()).toContain(file);
      expect(registry.output()).not.toContain(token);
      const anonymous = await fetch(`${registry.url}/v1/services/web/instances/w1`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ host: '10.0.0.1', port: 80 }),
      });
      expect(anonymous.status).toBe(401);
      const response = await fetch(`${registry.url}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'deployer', write: ['web'] }),
      });
      expect(response.status).toBe(201);
      created = (await response.json()) as { id: string; secret: string };
      registry.child.kill('SIGKILL');
      await registry.exited;
    }
    // The same data dir: the tokens come back from the database; no second bootstrap token is made.
    await using registry = await spawnRegistry(args);
    expect(readFileSync(join(dir.path, 'bootstrap-token'), 'utf8').trim()).toBe(token);
    const registered = await fetch(`${registry.url}/v1/services/web/instances/w1`, {
      method: 'PUT',
      headers: { 'x-switchboard-token': created.secret, 'content-type': 'application/json' },
      body: JSON.stringify({ host: '10.0.0.1', port: 80 }),
    });
    expect(registered.status).toBe(201);
    const listed = await fetch(`${registry.url}/v1/tokens`, { headers: { authorization: `Bearer ${token}` } });
    const names = ((await listed.json()) as { tokens: { name: string }[] }).tokens.map((t) => t.name);
    expect(names).toEqual(['bootstrap', 'deployer']);
    expect(registry.output()).not.toContain(created.secret);
  });

  it("lets Python's xmlrpc.client register and unregister with the token as basic auth; without it, a fault", async () => {
    using dir = tempDir();
    await using server = await startTestServer({ auth: { mode: 'on' }, store: { kind: 'memory', dataDir: dir.path } });
    const token = readFileSync(join(dir.path, 'bootstrap-token'), 'utf8').trim();
    const { code, output } = await python([server.url, token]);
    expect(code, output).toBe(0);
    expect(output).toContain('anonymous register: fault 1401');
    expect(output).toContain('authed register: ok');
    expect(output).toContain("lookup: ['10.0.0.9', 8000]");
    expect(output).toContain('authed unregister: True');
    expect(output).toContain('anonymous lookup: fault 1401');
  });

  it('lets anonymous requests do what --anonymous-policy allows, and no more', async () => {
    using dir = tempDir();
    await using server = await startTestServer({
      auth: { mode: 'on', anonymousPolicy: { read: ['*'], write: [], operator: false } },
      store: { kind: 'memory', dataDir: dir.path },
    });
    expect((await fetch(`${server.url}/v1/services/web`)).status).toBe(200);
    expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
    const write = await fetch(`${server.url}/v1/services/web/instances/w1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ host: '10.0.0.1', port: 80 }),
    });
    expect(write.status).toBe(401);
  });

  it("runs the in-process gateway with auth on: it follows every service, and its operator pages take the registry's tokens", async () => {
    using dir = tempDir();
    await using server = await startTestServer({
      auth: { mode: 'on' },
      store: { kind: 'memory', dataDir: dir.path },
      gateway: { port: 0 },
    });
    const token = readFileSync(join(dir.path, 'bootstrap-token'), 'utf8').trim();
    const gateway = server.gateway as NonNullable<typeof server.gateway>;
    const registered = await fetch(`${server.url}/v1/services/web/instances/w1`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ host: '127.0.0.1', port: 9, url: '/web' }),
    });
    expect(registered.status).toBe(201);
    expect((await fetch(`${gateway.url}/_gateway/routes`)).status).toBe(401);
    expect((await fetch(`${gateway.url}/_gateway/health`)).status).toBe(200);
    for (let tries = 0; ; tries++) {
      const routes = await fetch(`${gateway.url}/_gateway/routes`, { headers: { authorization: `Bearer ${token}` } });
      expect(routes.status).toBe(200);
      const body = (await routes.json()) as { routes: { prefix: string; service: string }[] };
      if (body.routes.some((r) => r.service === 'web')) break;
      expect(tries).toBeLessThan(100);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
});
