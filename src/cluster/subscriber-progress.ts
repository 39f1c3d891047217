/**
 * How a node's subscribers' progress (issue #19) travels through etcd: spread by a hash of the subscriber over a
 * fixed set of shards, each one etcd value holding the whole of its shard, `[[id, name, watches, transport,
 * connected, applied, agoMs, scope], ...]`.
 *
 * Invariant: a subscriber is always in the same shard, and a shard is always written whole, so a reader that takes
 * each shard as it arrives never misses a subscriber that is still published (a subscriber that moved between two
 * values could be missing from both for a moment, and a drain would answer without it).
 */
import type { SubscriberProgress } from '../subscribers/index.js';
import { SUBSCRIBER_ID_PATTERN, SUBSCRIBER_NAME_MAX, SUBSCRIBER_TRANSPORTS } from '../wire/index.js';
import type { SubscriberTransport } from '../wire/index.js';
import { shardOf } from './shard-of.js';

/** Shards per node: 10,000 subscribers of a few hundred bytes each stay far below one value's limit per shard. */
export const SUBSCRIBER_SHARDS = 64;
/** One shard's value at most; subscribers beyond it are not published (and counted as dropped). */
export const MAX_SUBSCRIBER_VALUE_BYTES = 512 * 1024;
/**
 * A disconnected subscriber's last sighting is republished only when it moved by this much: its readers age it on
 * their own clocks meanwhile, so they see it at most this much older than it is.
 */
export const SEEN_GRAIN_MS = 1_000;

/** One shard as it is written: the value, and what decides whether it changed since it was last written. */
export interface EncodedShard {
  value: Buffer;
  /** The value without the ages that only grow: equal signatures need no new write. */
  signature: string;
}

/** This node's subscribers by shard (shards without any are absent), and how many did not fit. */
export function encodeSubscriberShards(
  progress: readonly SubscriberProgress[],
  now: number,
  maxValueBytes = MAX_SUBSCRIBER_VALUE_BYTES,
): { shards: Map<number, EncodedShard>; dropped: number } {
  const rows = new Map<number, { rows: string[]; signatures: string[]; bytes: number }>();
  let dropped = 0;
  for (const p of progress) {
    const shard = shardOf(`${p.id}\u0000${p.watches ?? ''}`, SUBSCRIBER_SHARDS);
    const row = JSON.stringify([
      p.id,
      p.name,
      p.watches,
      p.transport,
      p.connected,
      p.applied,
      Math.round(p.agoMs),
      p.scope,
    ]);
    const bucket = rows.get(shard) ?? { rows: [], signatures: [], bytes: 2 };
    const bytes = Buffer.byteLength(row) + 1;
    if (bucket.bytes + bytes > maxValueBytes) {
      dropped += 1;
      continue;
    }
    bucket.rows.push(row);
    bucket.bytes += bytes;
    // A connected subscriber's age means nothing (it is live while connected); a disconnected one's, coarsely.
    const seen = p.connected ? 0 : Math.floor((now - p.agoMs) / SEEN_GRAIN_MS);
    bucket.signatures.push(
      JSON.stringify([p.id, p.name, p.watches, p.transport, p.connected, p.applied, seen, p.scope]),
    );
    rows.set(shard, bucket);
  }
  const shards = new Map<number, EncodedShard>();
  for (const [shard, bucket] of rows) {
    shards.set(shard, {
      value: Buffer.from(`[${bucket.rows.join(',')}]`),
      signature: bucket.signatures.sort().join('\n'),
    });
  }
  return { shards, dropped };
}

const TRANSPORTS: readonly string[] = SUBSCRIBER_TRANSPORTS;
const SUBSCRIBER_ID = new RegExp(SUBSCRIBER_ID_PATTERN);

/** What another node published in one shard; rows that are not well formed are skipped. */
export function decodeSubscriberShard(value: Buffer): SubscriberProgress[] {
  let rows: unknown;
  try {
    rows = JSON.parse(value.toString());
  } catch {
    return [];
  }
  if (!Array.isArray(rows)) return [];
  const progress: SubscriberProgress[] = [];
  for (const row of rows as unknown[]) {
    if (!Array.isArray(row)) continue;
    const [id, name, watches, transport, connected, applied, agoMs, scope = null] = row as unknown[];
    if (
      typeof id !== 'string' ||
      !SUBSCRIBER_ID.test(id) ||
      typeof name !== 'string' ||
      name.length > SUBSCRIBER_NAME_MAX ||
      (watches !== null && typeof watches !== 'string') ||
      typeof transport !== 'string' ||
      !TRANSPORTS.includes(transport) ||
      typeof connected !== 'boolean' ||
      (applied !== null && !Number.isSafeInteger(applied)) ||
      typeof agoMs !== 'number' ||
      !(agoMs >= 0) ||
      !(scope === null || (Array.isArray(scope) && scope.every((glob) => typeof glob === 'string')))
    ) {
      continue;
    }
    progress.push({
      id,
      name,
      watches,
      transport: transport as SubscriberTransport,
      connected,
      applied: applied as number | null,
      agoMs,
      ...(scope === null ? {} : { scope }),
    });
  }
  return progress;
}
