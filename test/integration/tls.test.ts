/**
 * TLS (issue #13, point 7): the registry and the gateway over https with a CA the test makes, mutual TLS, the SDK and
 * the CLI as clients, secrets from files, and the sqlite files kept to the registry's user.
 */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, UnavailableError, registerSelf } from '../../src/sdk/index.js';
import { runCli } from '../fixtures/cli.js';
import { eventually, spawnGateway, startUpstream } from '../fixtures/gateway.js';
import { startTestServer, tempDir } from '../fixtures/server.js';
import { makeTestPki } from '../fixtures/tls.js';
import type { TestPki } from '../fixtures/tls.js';

let pki: TestPki;
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => {
  pki[Symbol.dispose]();
});

/** Fetches with undici trusting `ca` (and presenting a client certificate when given). */
async function fetchWith(
  url: string,
  tls: { ca: Buffer; cert?: Buffer; key?: Buffer },
): Promise<{ status: number; text: string }> {
  const dispatcher = new Agent({ connect: tls });
  try {
    const response = await undiciFetch(url, { dispatcher });
    return { status: response.status, text: await response.text() };
  } finally {
    await dispatcher.close();
  }
}

describe('registry over TLS', () => {
  it('serves https, and the SDK with the ca option registers, reads and watches', async () => {
    await using server = await startTestServer({
      http: { port: 0, tlsCertFile: pki.serverCert, tlsKeyFile: pki.serverKey },
    });
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const client = new RegistryClient({ url: server.url, ca: pki.read(pki.caCert) });
    await client.register({ service: 'web', id: 'web-1', host: '127.0.0.1', port: 9000 });
    expect((await client.getService('web')).instances.map((i) => i.id)).toEqual(['web-1']);

    // The event stream is on the same port, so over TLS too.
    const stop = new AbortController();
    for await (const event of client.watch('web', { signal: stop.signal })) {
      expect(event).toMatchObject({ type: 'snapshot', instances: [{ id: 'web-1' }] });
      stop.abort();
    }

    // XML-RPC and the seed routes share the port.
    const seed = await fetchWith(`${server.url}/services`, { ca: pki.read(pki.caCert) });
    expect(seed.status).toBe(200);
    expect(seed.text).toContain('web');
  });

  it('closes at once while clients keep idle connections open', async () => {
    const server = await startTestServer({ http: { port: 0, tlsCertFile: pki.serverCert, tlsKeyFile: pki.serverKey } });
    const client = new RegistryClient({ url: server.url, ca: pki.read(pki.caCert) });
    await client.register({ service: 'web', id: 'web-1', host: '127.0.0.1', port: 9000 });
    const stop = new AbortController();
    for await (const _event of client.watch('web', { signal: stop.signal })) stop.abort();
    await client.listServices();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('is refused by a client that does not trust its certificate', async () => {
    await using server = await startTestServer({
      http: { port: 0, tlsCertFile: pki.serverCert, tlsKeyFile: pki.serverKey },
    });
    const untrusting = new RegistryClient({ url: server.url, timeoutMs: 2_000 });
    await expect(untrusting.listServices()).rejects.toThrow(UnavailableError);
    const otherCa = new RegistryClient({ url: server.url, ca: pki.read(pki.selfSignedCert), timeoutMs: 2_000 });
    await expect(otherCa.listServices()).rejects.toThrow(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify/i);
    // Plain http to an https port gets no answer a client could take for the registry's.
    const plain = new RegistryClient({ url: server.url.replace('https:', 'http:'), timeoutMs: 2_000 });
    await expect(plain.listServices()).rejects.toThrow();
  });

  it('trusts a self-signed registry certificate given as the ca', async () => {
    await using server = await startTestServer({
      http: { port: 0, tlsCertFile: pki.selfSignedCert, tlsKeyFile: pki.selfSignedKey },
    });
    const client = new RegistryClient({ url: server.url, ca: pki.read(pki.selfSignedCert).toString('utf8') });
    expect(await client.listServices()).toMatchObject({ services: [] });
  });
});

describe('registerSelf over TLS', () => {
  it('registers with a registry URL and the ca, cert and key options, and deregisters on stop', async () => {
    await using server = await startTestServer({
      http: { port: 0, tlsCertFile: pki.serverCert, tlsKeyFile: pki.serverKey, tlsClientCaFile: pki.caCert },
    });
    const tls = { ca: pki.read(pki.caCert), cert: pki.read(pki.clientCert), key: pki.read(pki.clientKey) };
    await using agent = registerSelf({
      registry: server.url,
      ...tls,
      service: 'tickets',
      port: 3001,
      handleSignals: false,
    });
    const instance = await agent.whenRegistered();
    expect(instance).toMatchObject({ service: 'tickets', port: 3001 });
    expect(instance).not.toHaveProperty('ca');
    await agent.stop();
    const client = new RegistryClient({ url: server.url, ...tls });
    expect((await client.getService('tickets', { status: 'any', health: 'any' })).instances).toEqual([]);
  });
});

describe('mutual TLS', () => {
  const mutual = () => ({
    http: { port: 0, tlsCertFile: pki.serverCert, tlsKeyFile: pki.serverKey, tlsClientCaFile: pki.caCert },
  });

  it('fails the handshake of a client without a certificate', async () => {
    await using server = await startTestServer(mutual());
    const { port } = new URL(server.url);
    // TLS 1.3 finishes the client's side first: the server's refusal arrives as an alert on the first read.
    const failure = await new Promise<Error>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: Number(port), ca: pki.read(pki.caCert) }, () => {
        socket.write('GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
      });
      socket.on('data', () => {
        reject(new Error('the registry answered a client without a certificate'));
      });
      socket.on('error', resolve);
      socket.on('close', () => {
        resolve(new Error('closed'));
      });
    });
    expect(failure.message).toMatch(/certificate required|alert|closed|ECONNRESET/i);

    const anonymous = new RegistryClient({ url: server.url, ca: pki.read(pki.caCert), timeoutMs: 2_000 });
    await expect(anonymous.listServices()).rejects.toThrow(UnavailableError);
    const selfSigned = new RegistryClient({
      url: server.url,
      ca: pki.read(pki.caCert),
      cert: pki.read(pki.selfSignedCert),
      key: pki.read(pki.selfSignedKey),
      timeoutMs: 2_000,
    });
    await expect(selfSigned.listServices()).rejects.toThrow(UnavailableError);
  });

  it('serves a client whose certificate the client CA signed', async () => {
    await using server = await startTestServer(mutual());
    const client = new RegistryClient({
      url: server.url,
      ca: pki.read(pki.caCert),
      cert: pki.read(pki.clientCert),
      key: pki.read(pki.clientKey),
    });
    await client.register({ service: 'web', id: 'web-1', host: '127.0.0.1', port: 9000 });
    expect((await client.getService('web')).instances).toHaveLength(1);
  });
});

describe('the CLI over TLS', () => {
  it('trusts the registry with --ca or SWITCHBOARD_CA, and fails in one line without it', async () => {
    await using server = await startTestServer({
      http: { port: 0, tlsCertFile: pki.serverCert, tlsKeyFile: pki.serverKey },
    });
    const register = ['register', '--service', 'web', '--id', 'web-1', '--host', '127.0.0.1', '--port', '9000'];
    expect(await runCli([...register, '--registry', server.url, '--ca', pki.caCert])).toEqual({
      code: 0,
      stdout: 'web-1\n',
      stderr: '',
    });
    const listed = await runCli(['list', '--json'], { SWITCHBOARD_REGISTRY: server.url, SWITCHBOARD_CA: pki.caCert });
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject({ services: [{ name: 'web', instances: 1 }] });

    const refused = await runCli(['list'], { SWITCHBOARD_REGISTRY: server.url });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/^switchboard: no registry node answered/);

    const missing = await runCli(['list', '--registry', server.url, '--ca', join(pki.dir, 'nope.crt')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^switchboard: --ca .*nope\.crt/);
  });

  it('presents a client certificate with --cert and --key (SWITCHBOARD_CERT, SWITCHBOARD_KEY)', async () => {
    await using server = await startTestServer({
      http: { port: 0, tlsCertFile: pki.serverCert, tlsKeyFile: pki.serverKey, tlsClientCaFile: pki.caCert },
    });
    const ok = await runCli([
      'list',
      '--registry',
      server.url,
      '--ca',
      pki.caCert,
      '--cert',
      pki.clientCert,
      '--key',
      pki.clientKey,
    ]);
    expect(ok).toMatchObject({ code: 0, stdout: 'no services registered\n' });
    const env = { SWITCHBOARD_REGISTRY: server.url, SWITCHBOARD_CA: pki.caCert };
    expect(
      (await runCli(['list'], { ...env, SWITCHBOARD_CERT: pki.clientCert, SWITCHBOARD_KEY: pki.clientKey })).code,
    ).toBe(0);
    expect((await runCli(['list'], env)).code).toBe(1);
    const half = await runCli(['list', '--cert', pki.clientCert], env);
    expect(half.stderr).toMatch(/--cert and --key go together/);
  });

  it('reads the token from --token-file, and refuses it together with --token', async () => {
    await using server = await startTestServer({
      http: { port: 0, tlsCertFile: pki.serverCert, tlsKeyFile: pki.serverKey },
    });
    const tokenFile = join(pki.dir, 'token');
    writeFileSync(tokenFile, 'sekrit-token\n', { mode: 0o600 });
    const args = ['list', '--registry', server.url, '--ca', pki.caCert];
    expect((await runCli([...args, '--token-file', tokenFile])).code).toBe(0);
    expect((await runCli(args, { SWITCHBOARD_TOKEN_FILE: tokenFile })).code).toBe(0);
    const both = await runCli([...args, '--token-file', tokenFile, '--token', 'x']);
    expect(both.stderr).toMatch(/--token and --token-file are alternatives/);
    expect(both.stderr).not.toContain('sekrit-token');
  });
});

describe('serve with TLS settings', () => {
  it('refuses to start with --tls-cert but no --tls-key, in one clear line', async () => {
    const result = await runCli(['serve', '--store', 'memory', '--port', '0', '--tls-cert', pki.serverCert]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('switchboard: invalid configuration: --tls-cert and --tls-key go together\n');
  });

  it('refuses to start when the certificate file cannot be read, naming the flag', async () => {
    const missing = join(pki.dir, 'missing.crt');
    const result = await runCli(['serve', '--store', 'memory', '--port', '0'], {
      SWITCHBOARD_TLS_CERT: missing,
      SWITCHBOARD_TLS_KEY: pki.serverKey,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^switchboard: --tls-cert .*missing\.crt: ENOENT/);
  });
});

describe('gateway over TLS', () => {
  it('serves https inside serve, following a registry with a self-signed certificate', async () => {
    await using upstream = await startUpstream('tickets');
    await using server = await startTestServer({
      http: { port: 0, tlsCertFile: pki.selfSignedCert, tlsKeyFile: pki.selfSignedKey },
      gateway: { port: 0, tlsCertFile: pki.serverCert, tlsKeyFile: pki.serverKey, readyTimeoutMs: 2_000 },
    });
    const gateway = server.gateway;
    if (gateway === undefined) throw new Error('no gateway');
    expect(gateway.url).toMatch(/^https:\/\//);
    const client = new RegistryClient({ url: server.url, ca: pki.read(pki.selfSignedCert) });
    await client.register({ service: 'tickets', host: '127.0.0.1', port: upstream.port, url: '/tickets' });
    await eventually(() => gateway.routes().routes.some((r) => r.service === 'tickets' && r.instances.length > 0));
    expect(gateway.routes().stale).toBe(false);
    const answer = await fetchWith(`${gateway.url}/tickets/1`, { ca: pki.read(pki.caCert) });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toMatchObject({ name: 'tickets', url: '/tickets/1' });
  });

  it('follows a registry that requires client certificates, presenting its own', async () => {
    await using server = await startTestServer({
      http: { port: 0, tlsCertFile: pki.serverCert, tlsKeyFile: pki.serverKey, tlsClientCaFile: pki.caCert },
      gateway: { port: 0, readyTimeoutMs: 2_000 },
    });
    const gateway = server.gateway;
    if (gateway === undefined) throw new Error('no gateway');
    await gateway.ready;
    expect(gateway.routes().stale).toBe(false);
  });

  it('runs as its own command with --tls-cert, --ca and secrets from files', async () => {
    await using upstream = await startUpstream('tickets');
    await using server = await startTestServer({
      http: { port: 0, tlsCertFile: pki.serverCert, tlsKeyFile: pki.serverKey },
    });
    const client = new RegistryClient({ url: server.url, ca: pki.read(pki.caCert) });
    await client.register({ service: 'tickets', host: '127.0.0.1', port: upstream.port, url: '/tickets' });
    const secretFile = join(pki.dir, 'jwt-secret');
    const tokenFile = join(pki.dir, 'gateway-token');
    writeFileSync(secretFile, 'a jwt secret of the gateway, 32 bytes or more\n');
    writeFileSync(tokenFile, 'a registry token\n');

    await using gateway = await spawnGateway(server.url, [
      '--ca',
      pki.caCert,
      '--tls-cert',
      pki.serverCert,
      '--tls-key',
      pki.serverKey,
      '--token-file',
      tokenFile,
      '--jwt-secret-file',
      secretFile,
    ]);
    expect(gateway.url).toMatch(/^https:\/\//);
    await eventually(
      async () => (await fetchWith(`${gateway.url}/tickets`, { ca: pki.read(pki.caCert) })).status === 200,
    );
    expect(gateway.output()).not.toContain('a jwt secret');
    expect(gateway.output()).not.toContain('a registry token');
  });

  it('names the gateway command its own flags when a TLS setting is wrong', async () => {
    const result = await runCli(['gateway', '--tls-cert', pki.serverCert]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/--tls-cert and --tls-key go together/);
    expect(result.stderr).not.toContain('--gateway-tls');
  });
});

describe('sqlite files', () => {
  it('creates the data directory 0700 and the database 0600, its WAL too', async () => {
    using dir = tempDir();
    const dataDir = join(dir.path, 'data');
    {
      await using server = await startTestServer({ store: { kind: 'sqlite', dataDir } });
      const client = new RegistryClient({ url: server.url });
      await client.register({ service: 'web', id: 'web-1', host: '127.0.0.1', port: 9000 });
      expect(statSync(dataDir).mode & 0o777).toBe(0o700);
      expect((statSync(join(dataDir, 'registry.db')).mode & 0o777).toString(8)).toBe('600');
      // SQLite gives its companions the database's mode; -shm exists only without exclusive locking.
      for (const companion of ['registry.db-wal', 'registry.db-shm']) {
        if (!existsSync(join(dataDir, companion))) continue;
        expect((statSync(join(dataDir, companion)).mode & 0o777).toString(8), companion).toBe('600');
      }
    }
  });
});
