/**
 * Tokens in cluster mode (issue #13): they live in etcd, so a token created through one registry node works on the
 * others, a revoked one stops working everywhere, and two nodes starting together make one bootstrap token.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startRegistryCluster } from '../fixtures/cluster.js';
import { sharedEtcdEndpoints } from '../fixtures/etcd.js';
import { tempDir } from '../fixtures/server.js';

async function until(what: string, probe: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('tokens across registry nodes (issue #13)', () => {
  it('accepts a token on every node once created through one, and on none once revoked', async () => {
    using dir = tempDir();
    await using cluster = await startRegistryCluster({
      endpoints: sharedEtcdEndpoints(),
      nodes: 2,
      flags: ['--auth', 'on', '--data-dir', dir.path],
    });
    const [a, b] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
    const operator = readFileSync(join(dir.path, 'bootstrap-token'), 'utf8').trim();
    const asOperator = { authorization: `Bearer ${operator}` };
    const listed = await fetch(`${b.url}/v1/tokens`, { headers: asOperator });
    expect(((await listed.json()) as { tokens: { name: string }[] }).tokens.map((t) => t.name)).toEqual(['bootstrap']);

    const created = await fetch(`${a.url}/v1/tokens`, {
      method: 'POST',
      headers: { ...asOperator, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'deployer', write: ['web'] }),
    });
    expect(created.status).toBe(201);
    const { id, secret } = (await created.json()) as { id: string; secret: string };
    const register = (url: string, n: number): Promise<Response> =>
      fetch(`${url}/v1/services/web/instances/w${n}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ host: '10.0.0.1', port: 8000 + n }),
      });
    expect((await register(a.url, 1)).status).toBe(201);
    let n = 1;
    await until('node b to accept the token', async () => (await register(b.url, ++n)).status === 201);

    expect((await fetch(`${b.url}/v1/tokens/${id}`, { method: 'DELETE', headers: asOperator })).status).toBe(200);
    // Refused on the node that revoked it as soon as the call returned.
    expect((await register(b.url, ++n)).status).toBe(401);
    await until('node a to refuse the token', async () => (await register(a.url, ++n)).status === 401);
  });
});
