/**
 * One registry node's membership of a cluster on etcd (issue #12): presence, leadership, shared heartbeats.
 *
 * Keys under `prefix/cluster/` (outside the store's range, so the store and the node may share a prefix), all on
 * this node's one lease, so that a dead node's keys vanish with it:
 * - `nodes/<name>`: `{url, applied, seenAt}`, what `view()` lists.
 * - `leader`: the leading node's name, created only where it does not exist (create_revision == 0).
 * - `renewals/<name>/<shard>`: the heartbeats of one sweep, `[[service, id, ageMs], ...]`, by shard.
 * - `subscribers/<name>/<shard>`: this node's subscribers and how far each has applied (issue #19), each shard whole
 *   (see subscriber-progress.ts), rewritten at most once per `publishIntervalMs` and only when it changed. Other nodes
 *   count them for drains until the keys vanish with the lease: a dead node's subscribers stop counting once etcd
 *   expires its lease, a quiet live node's keep counting.
 *
 * Invariant: this node says it leads only while its lease is surely alive at etcd. It steps down once a third of the
 * TTL is left since the last keepalive etcd acknowledged (counted from when that keepalive was sent), so before the
 * lease can expire and another node can take the leader key.
 */
import type { IKeyValue, IRequestOp, IWatchResponse, Lease, Watcher } from 'etcd3';
import { Range } from 'etcd3';
import type { Logger } from 'pino';
import type { Renewal } from '../core/index.js';
import type { EtcdConnection } from '../store/etcd/index.js';
import type { SubscriberProgress, SubscriberTable } from '../subscribers/index.js';
import type { ClusterView } from '../wire/index.js';
import { shardOf } from './shard-of.js';
import { decodeSubscriberShard, encodeSubscriberShards } from './subscriber-progress.js';

export interface ClusterNodeOptions {
  /** The registry's etcd prefix; the node's keys live under `prefix/cluster/`. */
  prefix: string;
  /** Unique in the cluster. */
  name: string;
  /** Where clients and other nodes reach this node. */
  advertiseUrl: string;
  /** The presence and election lease: how long a dead node keeps its place (and a dead leader the lead). */
  leaseTtlMs: number;
  /** How often the node considers rewriting its presence (it does when `applied` changed, or once per TTL/3). */
  reportIntervalMs: number;
  /** This node's subscribers (issue #19), published to the others every `publishIntervalMs` when they changed. */
  subscribers?: { source: Pick<SubscriberTable, 'version' | 'progress'>; publishIntervalMs: number };
  logger?: Logger;
}

export interface ClusterNode {
  readonly name: string;
  leading(): boolean;
  /** Calls `listener` on every change of this node's leadership. Returns the function that stops it. */
  onLeadership(listener: (leading: boolean) => void): () => void;
  /** Shares a sweep's heartbeats with the other nodes; never throws (a failure is logged). */
  publishRenewals(renewals: readonly Renewal[]): void;
  /** Calls `listener` with other nodes' batches (never this node's own). Returns the function that stops it. */
  onRenewals(listener: (renewals: readonly Renewal[], from: string) => void): () => void;
  /**
   * Calls `listener` with all that node `from` publishes of its subscribers, each time it changes (never this node's
   * own), and at once with what is known now; an empty list: it has none, or it is gone. Returns the function that
   * stops it.
   */
  onSubscribers(listener: (progress: readonly SubscriberProgress[], from: string) => void): () => void;
  /** The change index this node has applied, reported in its presence. */
  reportApplied(index: number): void;
  view(): ClusterView;
  /** Resigns the lead and revokes the lease (removing the node's keys), and stops watching. */
  close(): Promise<void>;
}

/** Heartbeats spread over this many keys per node, by a hash of service/id. */
const SHARDS = 16;
/** A renewals value stays well under etcd's 1.5 MiB request limit; a larger shard is split over several writes. */
const MAX_VALUE_BYTES = 256 * 1024;
/** One renewals transaction carries at most this much, and at most etcd's default of 128 operations. */
const MAX_TXN_BYTES = 1024 * 1024;
const MAX_TXN_OPS = 128;

interface Presence {
  url: string;
  applied: number;
  seenAt: string;
}

/** Subscriber keys read per request when following: a page stays under gRPC's default 4 MiB message. */
const SUBSCRIBER_PAGE_KEYS = 8;

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function parsePresence(kv: IKeyValue): Presence | undefined {
  try {
    const value = JSON.parse(kv.value.toString()) as Partial<Presence>;
    if (typeof value.url !== 'string' || typeof value.applied !== 'number' || typeof value.seenAt !== 'string') {
      return undefined;
    }
    return { url: value.url, applied: value.applied, seenAt: value.seenAt };
  } catch {
    return undefined;
  }
}

function parseRenewals(value: Buffer): Renewal[] {
  try {
    const rows = JSON.parse(value.toString()) as unknown;
    if (!Array.isArray(rows)) return [];
    const renewals: Renewal[] = [];
    for (const row of rows as unknown[]) {
      if (!Array.isArray(row)) continue;
      const [service, id, ageMs] = row as unknown[];
      if (typeof service === 'string' && typeof id === 'string' && typeof ageMs === 'number') {
        renewals.push({ service, id, ageMs });
      }
    }
    return renewals;
  } catch {
    return [];
  }
}

/** Joins the cluster: grants the node's lease, writes its presence, reads the others and campaigns for the lead. */
export async function createClusterNode(connection: EtcdConnection, options: ClusterNodeOptions): Promise<ClusterNode> {
  const { client } = connection;
  const { name, advertiseUrl, leaseTtlMs, reportIntervalMs, logger } = options;
  const root = `${options.prefix}/cluster/`;
  const nodesPrefix = `${root}nodes/`;
  const renewalsPrefix = `${root}renewals/`;
  const subscribersPrefix = `${root}subscribers/`;
  const leaderKey = Buffer.from(`${root}leader`);
  const presenceKey = Buffer.from(`${nodesPrefix}${name}`);
  // etcd counts leases in whole seconds (and raises a TTL below its minimum).
  const ttlSeconds = Math.max(1, Math.ceil(leaseTtlMs / 1000));
  const ttlMs = ttlSeconds * 1000;
  const callOptions = (): { deadline: Date } => ({ deadline: connection.deadline() });

  const leadershipListeners = new Set<(leading: boolean) => void>();
  const renewalListeners = new Set<(renewals: readonly Renewal[], from: string) => void>();
  const subscriberListeners = new Set<(progress: readonly SubscriberProgress[], from: string) => void>();
  /** Other nodes' published subscribers: node → shard key → its rows, and when they arrived here. */
  const remoteSubscribers = new Map<string, Map<string, { at: number; rows: SubscriberProgress[] }>>();
  const nodes = new Map<string, Presence>();
  let leaderName: string | null = null;
  let isLeading = false;
  let closed = false;
  let applied = 0;
  let reported: { applied: number; at: number } | undefined;

  // The lease, and until when it is surely alive at etcd.
  let lease: Lease | undefined;
  let leaseId: string | undefined;
  let aliveUntil = 0;
  let fired: number[] = [];
  let stepDownTimer: NodeJS.Timeout | undefined;

  const notify = (leading: boolean): void => {
    for (const listener of [...leadershipListeners]) {
      try {
        listener(leading);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  };

  function setLeading(leading: boolean): void {
    // A node that is closing never leads again (a campaign may settle after close()).
    if (leading === isLeading || (leading && closed)) return;
    isLeading = leading;
    logger?.info({ node: name, leading }, leading ? 'cluster: leading' : 'cluster: stepped down');
    notify(leading);
  }

  /** Steps down once the lease may be near its end: a third of the TTL before it could expire at etcd. */
  function scheduleStepDown(): void {
    clearTimeout(stepDownTimer);
    const wait = aliveUntil - ttlMs / 3 - Date.now();
    if (wait <= 0) {
      setLeading(false);
      return;
    }
    // Checked again when it fires: a timer may fire a little early.
    stepDownTimer = setTimeout(scheduleStepDown, wait);
    stepDownTimer.unref();
  }

  async function grantLease(): Promise<void> {
    const askedAt = Date.now();
    const granted = client.lease(ttlSeconds, callOptions());
    granted.on('keepaliveEstablished', () => {
      fired = [];
    });
    granted.on('keepaliveFired', () => {
      fired.push(Date.now());
    });
    granted.on('keepaliveSucceeded', () => {
      if (granted !== lease) return;
      const sentAt = fired.shift() ?? Date.now();
      aliveUntil = Math.max(aliveUntil, sentAt + ttlMs);
      scheduleStepDown();
      // Back in touch before the lease ran out: the leader key may still be ours.
      if (!isLeading && leaderName === name) campaignLogged();
    });
    granted.on('lost', (err) => {
      if (granted !== lease || closed) return;
      logger?.warn({ node: name, err: err.message }, 'cluster: lease lost; joining again');
      setLeading(false);
      lease = undefined;
      leaseId = undefined;
      void rejoin();
    });
    const id = await granted.grant();
    lease = granted;
    leaseId = id;
    fired = [];
    aliveUntil = askedAt + ttlMs;
    scheduleStepDown();
  }

  async function writePresence(): Promise<void> {
    if (leaseId === undefined) return;
    const now = Date.now();
    const presence: Presence = { url: advertiseUrl, applied, seenAt: new Date(now).toISOString() };
    await client.kv.txn(
      {
        success: [{ request_put: { key: presenceKey, value: Buffer.from(JSON.stringify(presence)), lease: leaseId } }],
      },
      callOptions(),
    );
    reported = { applied: presence.applied, at: now };
    nodes.set(name, presence);
  }

  /** Takes the leader key if no one holds it; leads if it holds it with the current lease. */
  async function campaign(): Promise<void> {
    if (closed || leaseId === undefined) return;
    const id = leaseId;
    const res = await client.kv.txn(
      {
        compare: [{ key: leaderKey, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key: leaderKey, value: Buffer.from(name), lease: id } }],
        failure: [{ request_range: { key: leaderKey } }],
      },
      callOptions(),
    );
    const holder = res.succeeded ? undefined : res.responses[0]?.response_range.kvs[0];
    const ours = res.succeeded || holder?.lease === id;
    if (holder) leaderName = holder.value.toString();
    if (ours) leaderName = name;
    // Lead only on the lease we campaigned with, and only while it is surely alive.
    setLeading(ours && leaseId === id && Date.now() < aliveUntil - ttlMs / 3);
  }

  let campaignFailing = false;
  let campaignRetry: NodeJS.Timeout | undefined;
  const retryMs = Math.max(100, ttlMs / 6);
  /** Campaigns, and on failure tries again (one retry pending at a time), warning once per streak of failures. */
  const campaignLogged = (): void => {
    campaign().then(
      () => {
        campaignFailing = false;
      },
      (err: unknown) => {
        if (!campaignFailing) logger?.warn({ node: name, err: messageOf(err) }, 'cluster: campaign failed; retrying');
        campaignFailing = true;
        if (closed || campaignRetry !== undefined) return;
        campaignRetry = setTimeout(() => {
          campaignRetry = undefined;
          campaignLogged();
        }, retryMs);
        campaignRetry.unref();
      },
    );
  };

  /** A new lease after the last one was lost; the next report rewrites the presence on it. */
  async function rejoin(): Promise<void> {
    let failing = false;
    while (!closed && leaseId === undefined) {
      try {
        await grantLease();
      } catch (err) {
        if (!failing) logger?.warn({ node: name, err: messageOf(err) }, 'cluster: cannot join yet; retrying');
        failing = true;
        await new Promise((resolve) => setTimeout(resolve, retryMs));
      }
    }
    if (closed) return;
    reported = undefined;
    campaignLogged();
  }

  // --- The watch on prefix/cluster/: presence, leader and renewals of every node.

  let watcher: Watcher | undefined;
  let generation = 0;

  /** All of node `from`'s subscribers as published, aged by the time since each shard arrived. */
  function subscribersOf(from: string): SubscriberProgress[] {
    const now = Date.now();
    const progress: SubscriberProgress[] = [];
    for (const shard of remoteSubscribers.get(from)?.values() ?? []) {
      for (const row of shard.rows) progress.push({ ...row, agoMs: row.agoMs + Math.max(0, now - shard.at) });
    }
    return progress;
  }

  function emitSubscribers(changed: Iterable<string>): void {
    for (const from of changed) {
      const progress = subscribersOf(from);
      for (const listener of [...subscriberListeners]) {
        try {
          listener(progress, from);
        } catch (err) {
          queueMicrotask(() => {
            throw err;
          });
        }
      }
    }
  }

  /** Takes in one subscribers key as put (value) or deleted (undefined); returns the node it belongs to. */
  function takeSubscribers(key: string, value: Buffer | undefined): string | undefined {
    const rest = key.slice(subscribersPrefix.length);
    const from = rest.slice(0, rest.lastIndexOf('/'));
    if (from === name || from === '') return undefined;
    const shards = remoteSubscribers.get(from) ?? new Map<string, { at: number; rows: SubscriberProgress[] }>();
    if (value === undefined) shards.delete(rest);
    else shards.set(rest, { at: Date.now(), rows: decodeSubscriberShard(value) });
    if (shards.size === 0) remoteSubscribers.delete(from);
    else remoteSubscribers.set(from, shards);
    return from;
  }

  function onEvents(res: IWatchResponse): void {
    const batches = new Map<string, Renewal[]>();
    const subscribersChanged = new Set<string>();
    for (const event of res.events) {
      const key = event.kv.key.toString();
      const put = event.type === 'Put';
      if (key === leaderKey.toString()) {
        leaderName = put ? event.kv.value.toString() : null;
        if (isLeading && (!put || event.kv.lease !== leaseId)) setLeading(false);
        if (!put) campaignLogged();
      } else if (key.startsWith(nodesPrefix)) {
        const node = key.slice(nodesPrefix.length);
        const presence = put ? parsePresence(event.kv) : undefined;
        if (presence) nodes.set(node, presence);
        else if (!put && node !== name) nodes.delete(node);
      } else if (key.startsWith(subscribersPrefix)) {
        const from = takeSubscribers(key, put ? event.kv.value : undefined);
        if (from !== undefined) subscribersChanged.add(from);
      } else if (put && key.startsWith(renewalsPrefix)) {
        const rest = key.slice(renewalsPrefix.length);
        const from = rest.slice(0, rest.lastIndexOf('/'));
        if (from === name) continue;
        const batch = batches.get(from) ?? [];
        batch.push(...parseRenewals(event.kv.value));
        batches.set(from, batch);
      }
    }
    emitSubscribers(subscribersChanged);
    for (const [from, renewals] of batches) {
      if (renewals.length === 0) continue;
      for (const listener of [...renewalListeners]) {
        try {
          listener(renewals, from);
        } catch (err) {
          queueMicrotask(() => {
            throw err;
          });
        }
      }
    }
  }

  /** Reads the nodes and the leader, then watches everything of the cluster from that read on. */
  async function follow(): Promise<void> {
    const nodesRange = Range.prefix(nodesPrefix);
    const reads: IRequestOp[] = [
      { request_range: { key: nodesRange.start, range_end: nodesRange.end } },
      { request_range: { key: leaderKey } },
    ];
    const res = await client.kv.txn({ success: reads }, callOptions());
    for (const kv of res.responses[0]?.response_range.kvs ?? []) {
      const presence = parsePresence(kv);
      if (presence) nodes.set(kv.key.toString().slice(nodesPrefix.length), presence);
    }
    const leader = res.responses[1]?.response_range.kvs[0];
    leaderName = leader ? leader.value.toString() : null;
    await readSubscribers(res.header.revision);
    const mine = ++generation;
    const current = client
      .watch()
      .prefix(root)
      .startRevision(String(Number(res.header.revision) + 1))
      .watcher();
    watcher = current;
    current.on('data', (data: IWatchResponse) => {
      if (mine === generation) onEvents(data);
    });
    // Cancelled by etcd (a compaction outran it): read again and watch from there.
    current.on('error', (err: Error) => {
      if (mine !== generation) return;
      logger?.warn({ node: name, err: err.message }, 'cluster: watch cancelled; reading again');
      const refollow = (): void => {
        follow()
          .then(() => {
            if (leaderName === null) campaignLogged();
          })
          .catch(() => {
            if (!closed) setTimeout(refollow, retryMs).unref();
          });
      };
      refollow();
    });
  }

  /** Reads every node's published subscribers as of `revision`, page by page, in place of what was known. */
  async function readSubscribers(revision: string): Promise<void> {
    const range = Range.prefix(subscribersPrefix);
    const before = new Set(remoteSubscribers.keys());
    const read = new Map<string, Buffer>();
    let from: Buffer = range.start;
    for (;;) {
      const page = await client.kv.range(
        { key: from, range_end: range.end, revision, limit: SUBSCRIBER_PAGE_KEYS },
        callOptions(),
      );
      for (const kv of page.kvs) read.set(kv.key.toString(), kv.value);
      const last = page.kvs[page.kvs.length - 1];
      if (!page.more || last === undefined) break;
      from = Buffer.concat([last.key, Buffer.from([0])]);
    }
    remoteSubscribers.clear();
    for (const [key, value] of read) takeSubscribers(key, value);
    emitSubscribers(new Set([...before, ...remoteSubscribers.keys()]));
  }

  function stopWatch(): void {
    generation++;
    const current = watcher;
    watcher = undefined;
    current?.cancel().catch(() => undefined);
  }

  // --- Presence reports.

  let presenceFailing = false;
  const reporting = setInterval(() => {
    if (closed || leaseId === undefined) return;
    const due = reported?.applied !== applied || Date.now() - reported.at >= ttlMs / 3;
    if (!due) return;
    writePresence().then(
      () => {
        presenceFailing = false;
      },
      (err: unknown) => {
        // Once per outage, not once per interval.
        if (!presenceFailing) logger?.warn({ node: name, err: messageOf(err) }, 'cluster: cannot report presence');
        presenceFailing = true;
      },
    );
  }, reportIntervalMs);
  reporting.unref();

  // --- Renewals.

  /** The puts of one batch, each value under MAX_VALUE_BYTES, as few per shard as that allows. */
  function renewalPuts(renewals: readonly Renewal[], id: string): { op: IRequestOp; bytes: number; key: string }[] {
    const shards = new Map<number, string[]>();
    for (const r of renewals) {
      const shard = shardOf(`${r.service}/${r.id}`, SHARDS);
      const rows = shards.get(shard) ?? [];
      rows.push(JSON.stringify([r.service, r.id, Math.round(r.ageMs)]));
      shards.set(shard, rows);
    }
    const puts: { op: IRequestOp; bytes: number; key: string }[] = [];
    for (const [shard, rows] of shards) {
      const key = `${renewalsPrefix}${name}/${String(shard)}`;
      let chunk: string[] = [];
      let size = 2;
      const flush = (): void => {
        if (chunk.length === 0) return;
        const value = Buffer.from(`[${chunk.join(',')}]`);
        puts.push({ op: { request_put: { key: Buffer.from(key), value, lease: id } }, bytes: value.length, key });
        chunk = [];
        size = 2;
      };
      for (const row of rows) {
        if (size + row.length + 1 > MAX_VALUE_BYTES) flush();
        chunk.push(row);
        size += row.length + 1;
      }
      flush();
    }
    return puts;
  }

  async function sendRenewals(renewals: readonly Renewal[]): Promise<void> {
    const id = leaseId;
    if (id === undefined) throw new Error('the node has no lease (etcd unreachable)');
    // One transaction when it fits; etcd refuses two puts of one key in one transaction, so a split shard's parts
    // go in separate ones.
    const txns: { ops: IRequestOp[]; bytes: number; keys: Set<string> }[] = [];
    for (const put of renewalPuts(renewals, id)) {
      let txn = txns.find(
        (t) => !t.keys.has(put.key) && t.ops.length < MAX_TXN_OPS && t.bytes + put.bytes <= MAX_TXN_BYTES,
      );
      if (!txn) {
        txn = { ops: [], bytes: 0, keys: new Set() };
        txns.push(txn);
      }
      txn.ops.push(put.op);
      txn.bytes += put.bytes;
      txn.keys.add(put.key);
    }
    for (const txn of txns) await client.kv.txn({ success: txn.ops }, callOptions());
  }

  // --- Subscribers (issue #19).

  /** What this node last wrote of its subscribers: the shards' signatures, on which lease, from which version. */
  const published = {
    lease: undefined as string | undefined,
    version: -1,
    shards: new Map<number, string>(),
    overflowing: false,
  };

  /** Writes the shards that changed since the last publication (all of them on a new lease), and deletes emptied ones. */
  async function publishSubscribers(source: Pick<SubscriberTable, 'version' | 'progress'>): Promise<void> {
    const id = leaseId;
    if (id === undefined) return;
    if (published.lease !== id) {
      // The keys written on a lost lease are gone: write everything again.
      published.lease = id;
      published.version = -1;
      published.shards.clear();
    }
    const version = source.version;
    if (version === published.version) return;
    const { shards, dropped } = encodeSubscriberShards(source.progress(), Date.now());
    // Once per streak of overflowing publications, not once per interval.
    if (dropped > 0 && !published.overflowing) {
      logger?.warn({ node: name, dropped }, 'cluster: subscribers beyond a shard limit are not published');
    }
    published.overflowing = dropped > 0;
    const writes: { shard: number; signature: string | undefined; op: IRequestOp; bytes: number }[] = [];
    const keyOf = (shard: number): Buffer => Buffer.from(`${subscribersPrefix}${name}/${String(shard)}`);
    for (const [shard, encoded] of shards) {
      if (published.shards.get(shard) === encoded.signature) continue;
      const op: IRequestOp = { request_put: { key: keyOf(shard), value: encoded.value, lease: id } };
      writes.push({ shard, signature: encoded.signature, op, bytes: encoded.value.length });
    }
    for (const shard of published.shards.keys()) {
      if (!shards.has(shard)) {
        writes.push({ shard, signature: undefined, op: { request_delete_range: { key: keyOf(shard) } }, bytes: 0 });
      }
    }
    // Each key once per publication, so transactions only need to respect etcd's size and operation limits.
    while (writes.length > 0) {
      let bytes = 0;
      let count = 0;
      while (
        count < writes.length &&
        count < MAX_TXN_OPS &&
        (count === 0 || bytes + (writes[count]?.bytes ?? 0) <= MAX_TXN_BYTES)
      ) {
        bytes += writes[count]?.bytes ?? 0;
        count += 1;
      }
      const txn = writes.splice(0, count);
      await client.kv.txn({ success: txn.map((w) => w.op) }, callOptions());
      if (leaseId !== id) return;
      for (const w of txn) {
        if (w.signature === undefined) published.shards.delete(w.shard);
        else published.shards.set(w.shard, w.signature);
      }
    }
    published.version = version;
  }

  let subscribersPublishing: NodeJS.Timeout | undefined;
  if (options.subscribers) {
    const { source, publishIntervalMs } = options.subscribers;
    let busy = false;
    let failing = false;
    subscribersPublishing = setInterval(() => {
      // One publication at a time: each writes the whole of what changed, so a skipped tick loses nothing.
      if (busy || closed) return;
      busy = true;
      publishSubscribers(source)
        .then(
          () => {
            failing = false;
          },
          (err: unknown) => {
            if (!failing) logger?.warn({ node: name, err: messageOf(err) }, 'cluster: cannot publish subscribers');
            failing = true;
          },
        )
        .finally(() => {
          busy = false;
        });
    }, publishIntervalMs);
    subscribersPublishing.unref();
  }

  // --- Join.

  await grantLease();
  try {
    await writePresence();
    await follow();
    await campaign();
  } catch (err) {
    clearInterval(reporting);
    clearInterval(subscribersPublishing);
    clearTimeout(stepDownTimer);
    stopWatch();
    await lease?.revoke().catch(() => undefined);
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    name,
    leading: () => isLeading,
    onLeadership(listener) {
      // A wrapper per subscription, so the same function subscribed twice stops independently.
      const entry = (leading: boolean): void => {
        listener(leading);
      };
      leadershipListeners.add(entry);
      return () => leadershipListeners.delete(entry);
    },
    publishRenewals(renewals) {
      if (closed || renewals.length === 0) return;
      sendRenewals(renewals).catch((err: unknown) => {
        logger?.warn({ node: name, err: messageOf(err), count: renewals.length }, 'cluster: cannot share renewals');
      });
    },
    onRenewals(listener) {
      const entry = (renewals: readonly Renewal[], from: string): void => {
        listener(renewals, from);
      };
      renewalListeners.add(entry);
      return () => renewalListeners.delete(entry);
    },
    onSubscribers(listener) {
      const entry = (progress: readonly SubscriberProgress[], from: string): void => {
        listener(progress, from);
      };
      subscriberListeners.add(entry);
      // What was read before it subscribed (as the node joined) reaches it too.
      for (const from of remoteSubscribers.keys()) listener(subscribersOf(from), from);
      return () => subscriberListeners.delete(entry);
    },
    reportApplied(index) {
      applied = Math.max(applied, index);
    },
    view(): ClusterView {
      const listed = new Map(nodes);
      const own = listed.get(name);
      listed.set(name, {
        url: advertiseUrl,
        applied,
        seenAt: own?.seenAt ?? new Date().toISOString(),
      });
      const highest = Math.max(...[...listed.values()].map((n) => n.applied));
      return {
        self: name,
        leader: leaderName,
        nodes: [...listed]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([node, p]) => ({
            name: node,
            url: p.url,
            lastSeen: p.seenAt,
            applied: p.applied,
            lag: highest - p.applied,
            leader: node === leaderName,
          })),
      };
    },
    close() {
      closing ??= (async () => {
        closed = true;
        clearInterval(reporting);
        clearInterval(subscribersPublishing);
        clearTimeout(stepDownTimer);
        clearTimeout(campaignRetry);
        const id = leaseId;
        setLeading(false);
        stopWatch();
        if (id !== undefined) {
          try {
            // Resigns too: the leader key is on the lease, so another node can lead at once.
            await lease?.revoke(callOptions());
          } catch (err) {
            logger?.warn({ node: name, err: messageOf(err) }, 'cluster: cannot revoke the lease; it will expire');
            lease?.release();
          }
        }
      })();
      return closing;
    },
  };
}
