/**
 * Issue #14, reproduction 4: nothing was bounded. A registration that would create an instance past
 * `--max-instances` or `--max-instances-per-service`, or whose record is larger than `--max-record-bytes`, is refused
 * with RESOURCE_EXHAUSTED on every transport, and concurrent registrations never overshoot a limit.
 */
import { describe, expect, it } from 'vitest';
import { RegistryClient, RegistryError } from '../../src/sdk/index.js';
import { startTestServer } from '../fixtures/server.js';
import { xmlRpcCall } from '../fixtures/xmlrpc.js';

const LIMITS = { maxInstances: 20, maxInstancesPerService: 5, maxRecordBytes: 4_096, emptyServiceGraceMs: 600_000 };

async function put(
  url: string,
  path: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}${path}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('issue #14: quotas', () => {
  it('refuses over REST a create past the per-service limit with 429, and lets updates through', async () => {
    await using server = await startTestServer({ limits: LIMITS });
    for (let i = 0; i < 5; i++) {
      expect((await put(server.url, `/v1/services/web/instances/w${i}`, { host: 'h', port: 80 })).status).toBe(201);
    }
    const refused = await put(server.url, '/v1/services/web/instances/w5', { host: 'h', port: 80 });
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    expect(String(refused.body['message'])).toContain('--max-instances-per-service');
    expect((await put(server.url, '/v1/services/web/instances/w0', { host: 'h', port: 81 })).status).toBe(200);
    // The SDK sees the code.
    const client = new RegistryClient({ url: server.url });
    const err = await client.register({ service: 'web', id: 'w6', host: 'h', port: 80 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).code).toBe('RESOURCE_EXHAUSTED');
  });

  it('never overshoots the registry-wide limit when many registrations race', async () => {
    await using server = await startTestServer({ limits: LIMITS });
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        put(server.url, `/v1/services/s${i % 12}/instances/i${i}`, { host: 'h', port: 80 }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(20);
    expect(statuses.filter((s) => s === 429)).toHaveLength(40);
    expect(server.registry.health().instances).toBe(20);
  });

  it('answers XML-RPC with fault 1429 naming the limit', async () => {
    await using server = await startTestServer({ limits: { ...LIMITS, maxInstances: 2 } });
    await xmlRpcCall(server.url, 'registry.register', [{ service: 'a', id: '1', host: 'h', port: 80 }]);
    await xmlRpcCall(server.url, 'registry.register', [{ service: 'b', id: '1', host: 'h', port: 80 }]);
    const fault = await xmlRpcCall(server.url, 'registry.register', [{ service: 'c', id: '1', host: 'h', port: 80 }])
      .then(() => undefined)
      .catch((e: unknown) => e as { faultCode: number; faultString: string });
    expect(fault).toMatchObject({ faultCode: 1429 });
    expect(fault?.faultString).toMatch(/^RESOURCE_EXHAUSTED: .*--max-instances/);
  });

  it('refuses a registration whose record is over the size cap, on REST and XML-RPC', async () => {
    await using server = await startTestServer({ limits: LIMITS });
    const metadata = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`key${i}`, 'v'.repeat(500)]));
    const refused = await put(server.url, '/v1/services/web/instances/big', { host: 'h', port: 80, metadata });
    expect(refused.status).toBe(429);
    expect(String(refused.body['message'])).toContain('--max-record-bytes');
    const fault = await xmlRpcCall(server.url, 'registry.register', [
      { service: 'web', id: 'big', host: 'h', port: 80, metadata },
    ])
      .then(() => undefined)
      .catch((e: unknown) => e as { faultCode: number });
    expect(fault).toMatchObject({ faultCode: 1429 });
    expect(server.registry.health().instances).toBe(0);
  });

  it('has defaults that a normal registration never reaches', async () => {
    await using server = await startTestServer();
    const metadata = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`key${i}`, 'v'.repeat(200)]));
    expect((await put(server.url, '/v1/services/web/instances/w', { host: 'h', port: 80, metadata })).status).toBe(201);
  });
});
