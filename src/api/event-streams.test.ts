import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createRegistry } from '../core/index.js';
import type { Registry } from '../core/index.js';
import { CORE_OPTIONS } from '../../test/fixtures/core-options.js';
import { heldStore } from '../../test/fixtures/held-store.js';
import { EventStreams } from './event-streams.js';

/** A response whose client reads only when told: bytes written stay in `writableLength` until `read`. */
class SlowResponse extends EventEmitter {
  writableLength = 0;
  destroyed = false;
  writableEnded = false;
  writeHead(): this {
    return this;
  }
  write(chunk: string | Buffer): boolean {
    this.writableLength += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    return this.writableLength <= 16 * 1024;
  }
  read(bytes: number): void {
    this.writableLength = Math.max(0, this.writableLength - bytes);
  }
  end(): void {
    this.writableEnded = true;
    this.emit('close');
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

const BOUND = 64 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function setUp(snapshotTimeoutMs = 60_000): Promise<{ registry: Registry; streams: EventStreams }> {
  const registry = await createRegistry({ ...CORE_OPTIONS, store: heldStore(), autoSweep: false });
  // A snapshot of about 650 KiB: far above the bound, so only its excuse keeps a new stream open.
  const metadata = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`k${i}`, 'v'.repeat(500)]));
  for (let i = 0; i < 150; i++) await registry.register({ service: 'web', id: `i${i}`, host: 'h', port: 1, metadata });
  const options = { keepAliveIntervalMs: 60_000, streamBufferBytes: BOUND, snapshotTimeoutMs };
  return { registry, streams: new EventStreams(registry, options, pino({ level: 'silent' })) };
}

/** Changes enough bytes of events to pass the bound, then lets them reach the streams. */
async function churn(registry: Registry, updates: number): Promise<void> {
  for (let i = 0; i < updates; i++) {
    await registry.register({
      service: 'web',
      id: 'i0',
      host: 'h',
      port: 1 + i,
      metadata: { a: 'v'.repeat(500), b: 'w'.repeat(500) },
    });
  }
  await sleep(10);
}

describe('event stream bounds', () => {
  it('drops a client that never reads once changes pile up past the bound, whatever its snapshot', async () => {
    const { registry, streams } = await setUp();
    const res = new SlowResponse();
    streams.open(res as unknown as ServerResponse, { service: undefined, since: undefined });
    expect(res.writableLength).toBeGreaterThan(8 * BOUND);
    await churn(registry, 20);
    expect(res.destroyed).toBe(false);
    await churn(registry, 60);
    expect(res.destroyed).toBe(true);
    expect(streams.size).toBe(0);
    streams.close();
  });

  it('keeps a client that has read its snapshot and keeps up', async () => {
    const { registry, streams } = await setUp();
    const res = new SlowResponse();
    streams.open(res as unknown as ServerResponse, { service: undefined, since: undefined });
    for (let round = 0; round < 8; round++) {
      res.read(Infinity);
      await churn(registry, 20);
    }
    expect(res.destroyed).toBe(false);
    expect(streams.size).toBe(1);
    streams.close();
  });

  it('drops a client that has not read its opening snapshot in time', async () => {
    const { streams } = await setUp(50);
    const reader = new SlowResponse();
    const idle = new SlowResponse();
    streams.open(idle as unknown as ServerResponse, { service: undefined, since: undefined });
    streams.open(reader as unknown as ServerResponse, { service: undefined, since: undefined });
    reader.read(Infinity);
    await sleep(150);
    expect(idle.destroyed).toBe(true);
    expect(reader.destroyed).toBe(false);
    streams.close();
  });
});
