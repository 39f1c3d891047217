import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runPython as runScript } from '../fixtures/python.js';
import { startTestServer } from '../fixtures/server.js';

const SCRIPT = fileURLToPath(new URL('../python/microreg_client_test.py', import.meta.url));

/** Runs the stdlib-only Python client tests (all, or the named TestCases) against `url`. */
function runPython(url: string, cases: string[] = []): Promise<{ code: number | null; output: string }> {
  return runScript(SCRIPT, { env: { SWITCHBOARD_URL: url }, args: cases });
}

describe('MicroReg clients (Python xmlrpc.client)', () => {
  it('pass every method, status form, introspection, multicall and fault test', async () => {
    await using server = await startTestServer();
    const { code, output } = await runPython(server.url);
    expect(code, output).toBe(0);
    expect(Number(/^Ran (\d+) tests?/m.exec(output)?.[1]), output).toBeGreaterThanOrEqual(25);
    expect(output).toMatch(/^OK$/m);
  });

  it('refuses entity bombs without the server growing', async () => {
    await using server = await startTestServer();
    // Warm up, so the first request's one-time allocations are not counted.
    await runPython(server.url, ['Faults.test_unknown_method']);
    const before = process.memoryUsage().heapUsed;
    const { code, output } = await runPython(server.url, ['BillionLaughs']);
    expect(code, output).toBe(0);
    const grownMiB = (process.memoryUsage().heapUsed - before) / 2 ** 20;
    // One expanded body would be gigabytes; 200 refused ones leave garbage of a few MiB at most.
    expect(grownMiB).toBeLessThan(64);
  });
});
