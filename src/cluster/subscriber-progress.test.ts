import { describe, expect, it } from 'vitest';
import type { SubscriberProgress } from '../subscribers/index.js';
import { SEEN_GRAIN_MS, decodeSubscriberShard, encodeSubscriberShards } from './subscriber-progress.js';

const subscriber = (i: number, over: Partial<SubscriberProgress> = {}): SubscriberProgress => ({
  id: `sub-${String(i)}`,
  name: `consumer ${String(i)}`,
  watches: i % 2 === 0 ? 'web' : null,
  transport: i % 3 === 0 ? 'blocking' : 'events',
  connected: true,
  applied: i,
  agoMs: 10,
  ...over,
});

const decodeAll = (shards: ReturnType<typeof encodeSubscriberShards>['shards']): SubscriberProgress[] =>
  [...shards.values()].flatMap((s) => decodeSubscriberShard(s.value)).sort((a, b) => (a.id < b.id ? -1 : 1));

describe('subscriber progress shards', () => {
  it('carries every subscriber through its shards and back, each always in the same shard', () => {
    // Some watchers of every service may read only some services: their scope travels with them.
    const progress = Array.from({ length: 200 }, (_, i) => subscriber(i, i % 10 === 1 ? { scope: ['web*'] } : {}));
    const { shards, dropped } = encodeSubscriberShards(progress, 1_000);
    expect(dropped).toBe(0);
    expect(shards.size).toBeGreaterThan(1);
    expect(decodeAll(shards)).toEqual([...progress].sort((a, b) => (a.id < b.id ? -1 : 1)));
    // The same subscriber, in another company and order, lands in the same shard.
    const alone = encodeSubscriberShards([subscriber(7)], 1_000).shards;
    const [shard] = alone.keys();
    expect(decodeSubscriberShard(shards.get(shard as number)?.value ?? Buffer.from('[]')).map((p) => p.id)).toContain(
      'sub-7',
    );
  });

  it('changes a signature for progress and for a disconnected sighting, not for a connected one ageing', () => {
    const signature = (p: SubscriberProgress, now: number): string | undefined =>
      [...encodeSubscriberShards([p], now).shards.values()][0]?.signature;
    const base = subscriber(1);
    expect(signature({ ...base, agoMs: 5_000 }, 10_000)).toBe(signature(base, 10_000));
    expect(signature({ ...base, applied: 2 }, 10_000)).not.toBe(signature(base, 10_000));
    const away = subscriber(1, { connected: false, agoMs: 0 });
    // Seen at the same moment, asked later: the same; seen again later: different.
    expect(signature({ ...away, agoMs: 3 * SEEN_GRAIN_MS }, 3 * SEEN_GRAIN_MS)).toBe(signature(away, 0));
    expect(signature(away, 3 * SEEN_GRAIN_MS)).not.toBe(signature(away, 0));
  });

  it('keeps each value under its bound, counting what did not fit', () => {
    const progress = Array.from({ length: 4_000 }, (_, i) => subscriber(i, { name: 'n'.repeat(128) }));
    const limit = 4 * 1024;
    const { shards, dropped } = encodeSubscriberShards(progress, 0, limit);
    for (const shard of shards.values()) expect(shard.value.length).toBeLessThanOrEqual(limit);
    expect(dropped).toBeGreaterThan(0);
    expect(decodeAll(shards).length + dropped).toBe(progress.length);
  });

  it('skips rows that are not well formed and values that are not JSON', () => {
    const good = ['ok-1', 'n', 'web', 'events', true, 5, 0];
    const rows = [
      good,
      ['bad id!', 'n', 'web', 'events', true, 5, 0],
      ['ok-2', 'n', 7, 'events', true, 5, 0],
      ['ok-3', 'n', null, 'carrier-pigeon', true, 5, 0],
      ['ok-4', 'n', null, 'events', 'yes', 5, 0],
      ['ok-5', 'n', null, 'events', true, 1.5, 0],
      ['ok-6', 'n', null, 'events', true, null, -1],
      'not a row',
    ];
    expect(decodeSubscriberShard(Buffer.from(JSON.stringify(rows)))).toEqual([
      { id: 'ok-1', name: 'n', watches: 'web', transport: 'events', connected: true, applied: 5, agoMs: 0 },
    ]);
    expect(decodeSubscriberShard(Buffer.from('{not json'))).toEqual([]);
    expect(decodeSubscriberShard(Buffer.from('{"a":1}'))).toEqual([]);
  });
});
