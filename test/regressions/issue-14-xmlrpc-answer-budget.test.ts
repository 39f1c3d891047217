/**
 * Issue 14, reproduction 1: one XML-RPC `system.multicall` of 1,000 `registry.instances("", 1000)` calls (5 instances
 * registered) built a 283.6 MB answer, blocked the event loop for 29.5 s and peaked at 2.5 GB RSS, so heartbeats
 * stalled and leases lapsed. Each answer now has a byte budget (`--xmlrpc-max-answer-bytes`, 16 MiB by default),
 * counted as it is encoded and shared by the calls of a multicall, and a multicall yields between its calls.
 * The server runs as a real process, so that its peak RSS can be read from /proc.
 */
import { readFileSync } from 'node:fs';
import { Deserializer, serializeMethodCall } from '@foxglove/xmlrpc';
import type { XmlRpcValue } from '@foxglove/xmlrpc';
import { describe, expect, it } from 'vitest';
import { spawnRegistry } from '../fixtures/process.js';
import { xmlRpcCall } from '../fixtures/xmlrpc.js';

const DEFAULT_BUDGET = 16 * 1024 * 1024;
const CALLS = 1_000;

/** Posts a call and answers the raw methodResponse text. */
async function post(url: string, method: string, params: XmlRpcValue[]): Promise<string> {
  const response = await fetch(`${url}/RPC2`, {
    method: 'POST',
    headers: { 'content-type': 'text/xml' },
    body: serializeMethodCall(method, params),
  });
  expect(response.status).toBe(200);
  return response.text();
}

/** A fault's code and string, read from a methodResponse. */
async function faultOf(xml: string): Promise<{ faultCode: number; faultString: string }> {
  try {
    await new Deserializer().deserializeMethodResponse(xml);
  } catch (err) {
    return err as { faultCode: number; faultString: string };
  }
  throw new Error(`not a fault: ${xml.slice(0, 200)}`);
}

/** Registers `count` instances, each with about 12 kB of metadata (under the record size cap); answers their ids. */
async function registerInstances(url: string, count: number): Promise<{ service: string; id: string }[]> {
  const metadata = Object.fromEntries(Array.from({ length: 24 }, (_, k) => [`key-${k}`, 'v'.repeat(500)]));
  const registered = [];
  for (let i = 0; i < count; i++) {
    const service = `svc-${i}`;
    const instance = await xmlRpcCall(url, 'registry.register', [
      { service, host: `10.0.0.${i + 1}`, port: 8000, ttl: '60s', tags: ['a', 'b'], metadata },
    ]);
    registered.push({ service, id: (instance as { id: string }).id });
  }
  return registered;
}

/** The highest resident set size of process `pid` so far, in bytes (Linux). */
function peakRssOf(pid: number): number {
  const kb = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

const pages = Array.from({ length: CALLS }, () => ({ methodName: 'registry.instances', params: ['', 1_000] }));

describe('the XML-RPC answer budget (issue #14)', () => {
  it.skipIf(process.platform !== 'linux')(
    'bounds a 1,000-call multicall of whole pages in bytes and memory, and keeps serving heartbeats meanwhile',
    { timeout: 120_000 },
    async () => {
      await using server = await spawnRegistry(['--store', 'memory']);
      const pid = server.child.pid ?? 0;
      const [first] = await registerInstances(server.url, 5);

      const progress = { done: false };
      const multicall = post(server.url, 'system.multicall', [pages]).finally(() => {
        progress.done = true;
      });
      // Heartbeat as an agent would while the multicall runs: each must be answered in time.
      const heartbeatMs: number[] = [];
      do {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const started = performance.now();
        await xmlRpcCall(server.url, 'registry.heartbeat', [first?.service ?? '', first?.id ?? '']);
        heartbeatMs.push(performance.now() - started);
      } while (!progress.done);
      const xml = await multicall;

      expect(Buffer.byteLength(xml)).toBeLessThanOrEqual(DEFAULT_BUDGET);
      // Before: 2.5 GB with larger records. The budget, its copies and the process itself take well under this.
      expect(peakRssOf(pid)).toBeLessThan(400 * 1024 * 1024);
      // Before: every heartbeat waited for the whole multicall (29.5 s). Between two calls it waits for one.
      expect(Math.max(...heartbeatMs)).toBeLessThan(5_000);

      const entries = (await new Deserializer().deserializeMethodResponse(xml)) as XmlRpcValue[];
      expect(entries).toHaveLength(CALLS);
      const answered = entries.findIndex((entry) => !Array.isArray(entry));
      // Some pages fit, each whole; the budget ran out long before 1,000 did (each is about 70 kB).
      expect(answered).toBeGreaterThan(10);
      expect(answered).toBeLessThan(CALLS);
      for (const entry of entries.slice(0, answered)) {
        expect((entry as [{ instances: unknown[] }])[0].instances).toHaveLength(5);
      }
      const [made, ...notMade] = entries.slice(answered) as { faultCode: number; faultString: string }[];
      expect(made?.faultCode).toBe(1429);
      expect(made?.faultString).toMatch(/^RESOURCE_EXHAUSTED: this call was made, but .*--xmlrpc-max-answer-bytes/);
      for (const fault of notMade) {
        expect(fault.faultCode).toBe(1429);
        expect(fault.faultString).toContain('this call was not made');
      }

      // The server is still whole: every instance is still there.
      const page = (await xmlRpcCall(server.url, 'registry.instances', ['', 1_000])) as { instances: unknown[] };
      expect(page.instances).toHaveLength(5);
    },
  );

  it('takes its budget from the environment, and answers one fault for what cannot fit', async () => {
    const budget = 64 * 1024;
    await using server = await spawnRegistry(['--store', 'memory'], {
      SWITCHBOARD_XMLRPC_MAX_ANSWER_BYTES: String(budget),
    });
    await registerInstances(server.url, 5);

    // One page of five 12 kB instances is larger than 64 KiB: a fault naming the limit and its flag.
    const single = await post(server.url, 'registry.instances', ['', 1_000]);
    expect(Buffer.byteLength(single)).toBeLessThan(1_000);
    const fault = await faultOf(single);
    expect(fault.faultCode).toBe(1429);
    expect(fault.faultString).toMatch(
      /^RESOURCE_EXHAUSTED: .*65536 bytes: xmlrpc\.maxAnswerBytes, --xmlrpc-max-answer-bytes/,
    );

    // A budget that cannot hold a fault entry for each of 1,000 calls refuses the multicall before any call is made.
    const whole = await faultOf(await post(server.url, 'system.multicall', [pages]));
    expect(whole.faultCode).toBe(1429);
    expect(whole.faultString).toMatch(/a multicall of 1000 calls needs a budget of at least \d+ bytes/);

    // Small calls still fit, the first page with them until the budget runs out.
    const mixed = [
      { methodName: 'get_reg_count', params: [] },
      { methodName: 'registry.instances', params: ['', 3] },
      { methodName: 'registry.instances', params: ['', 3] },
      { methodName: 'get_reg_count', params: [] },
    ];
    const xml = await post(server.url, 'system.multicall', [mixed]);
    expect(Buffer.byteLength(xml)).toBeLessThanOrEqual(budget);
    const entries = (await new Deserializer().deserializeMethodResponse(xml)) as unknown[];
    expect(entries[0]).toEqual([5]);
    expect((entries[1] as [{ instances: unknown[] }])[0].instances).toHaveLength(3);
    const [made, notMade] = entries.slice(2) as { faultCode: number; faultString: string }[];
    expect(made?.faultCode).toBe(1429);
    expect(made?.faultString).toContain('this call was made');
    expect(notMade?.faultCode).toBe(1429);
    expect(notMade?.faultString).toContain('this call was not made');
  });
});
