import { basename } from 'node:path';
import type { Logger } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  sharedEtcdEndpoints,
  startEtcd,
  startEtcdProxy,
  type EtcdCluster,
  type EtcdProxy,
} from '../../../test/fixtures/etcd.js';
import { RegistryError } from '../../errors/index.js';
import type { Mutation, Store, StoreChange, TokenChange } from '../store.js';
import { describeStoreContract, recordOf, tokenOf } from '../store.contract.js';
import { connectEtcd, type EtcdConnection } from './etcd-connection.js';
import { openEtcdStore } from './etcd-store.js';

const DIAL_TIMEOUT_MS = 1_000;
const connections: EtcdConnection[] = [];
const connect = (endpoints: string[]): EtcdConnection => {
  const connection = connectEtcd({ endpoints, dialTimeoutMs: DIAL_TIMEOUT_MS });
  connections.push(connection);
  return connection;
};
afterAll(async () => {
  await Promise.all(connections.splice(0).map((c) => c.close()));
});

let shared: EtcdConnection | undefined;
const sharedConnection = (): EtcdConnection => (shared ??= connect(sharedEtcdEndpoints()));
const run = `${String(process.pid)}-${String(Date.now())}`;
let prefixes = 0;
const freshPrefix = (): string => `/switchboard-test/${run}/t${String(++prefixes)}`;

// A place (a fresh temporary folder) names a prefix, so reopening the same place reopens the same data.
describeStoreContract('etcd', (place) =>
  openEtcdStore(sharedConnection(), { prefix: `/switchboard-test/${run}/${basename(place)}` }),
);

const put = (key: `${string}/${string}`, ifIndex = 0, fields = {}): Mutation => ({
  op: 'put',
  record: recordOf(key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1), fields),
  ifIndex,
});

async function committed(write: Promise<{ committed: boolean; index: number }>): Promise<number> {
  const outcome = await write;
  expect(outcome.committed).toBe(true);
  return outcome.index;
}

/** Waits for `predicate` to hold, polling; the test's own timeout bounds it. */
async function until(predicate: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await predicate())) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('etcd store', () => {
  const stores: Store[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });
  const open = async (connection: EtcdConnection, prefix: string): Promise<Store> => {
    const store = await openEtcdStore(connection, { prefix });
    stores.push(store);
    return store;
  };

  it('reads a prefix larger than one gRPC message in pages, all at one revision', async () => {
    const prefix = freshPrefix();
    const writer = await open(sharedConnection(), prefix);
    // 1,300 records of about 6 KB: 8 MB in all, twice gRPC's default message limit, and more than two pages.
    const metadata = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`k${String(i)}`, 'x'.repeat(500)]));
    const indexes: number[] = [];
    for (let from = 0; from < 1_300; from += 100) {
      const batch = Array.from({ length: 100 }, (_, i) => put(`big/i${String(from + i)}`, 0, { metadata }));
      indexes.push(...(await Promise.all(batch.map((m) => committed(writer.write(m))))));
    }
    const reopened = await open(connect(sharedEtcdEndpoints()), prefix);
    const loaded = await reopened.load();
    expect(loaded.instances).toHaveLength(1_300);
    expect(loaded.index).toBe(Math.max(...indexes));
    expect(new Set(loaded.instances.map((r) => r.id)).size).toBe(1_300);
  }, 60_000);

  it("tells another node's feed why a key was deleted, from the tombstone the delete wrote", async () => {
    const prefix = freshPrefix();
    const writer = await open(sharedConnection(), prefix);
    const reader = await open(connect(sharedEtcdEndpoints()), prefix);
    const seen: StoreChange[] = [];
    reader.watch((change) => seen.push(change));
    const a = await committed(writer.write(put('web/a')));
    const b = await committed(writer.write(put('web/b')));
    const expired = await committed(
      writer.write({ op: 'delete', service: 'web', id: 'a', ifIndex: a, cause: 'expired' }),
    );
    const gone = await committed(
      writer.write({ op: 'delete', service: 'web', id: 'b', ifIndex: b, cause: 'deregistered' }),
    );
    await until(() => seen.length === 4);
    expect(seen.slice(2)).toEqual([
      { index: expired, service: 'web', id: 'a', record: null, cause: 'expired' },
      { index: gone, service: 'web', id: 'b', record: null, cause: 'deregistered' },
    ]);
    // etcd removes the tombstones itself: they are on a lease.
    const tombstone = await sharedConnection().client.get(`${prefix}/tombstones/web/a`).exec();
    expect(tombstone.kvs[0]?.lease).not.toBe('0');
  });

  it("delivers tokens created and deleted through another node to this node's token listeners", async () => {
    const prefix = freshPrefix();
    const a = await open(sharedConnection(), prefix);
    const b = await open(connect(sharedEtcdEndpoints()), prefix);
    const seen: TokenChange[] = [];
    b.watchTokens((change) => seen.push(change));
    const instances: StoreChange[] = [];
    b.watch((change) => instances.push(change));

    const token = tokenOf('t1');
    expect(await a.createToken(token)).toBe(true);
    await until(() => seen.length === 1);
    expect(seen).toEqual([{ id: 't1', record: token }]);
    expect(await b.listTokens()).toEqual([token]);
    // The other node finds it: its create is refused, and settles once its own listeners have the token.
    expect(await b.createToken(tokenOf('t1', { name: 'b' }))).toBe(false);

    expect(await a.deleteToken('t1')).toBe(true);
    await until(() => seen.length === 2);
    expect(seen[1]).toEqual({ id: 't1', record: null });
    expect(await b.deleteToken('t1')).toBe(false);
    // Token keys never reach the instance feed or a load.
    expect(instances).toEqual([]);
    expect(await b.load()).toEqual({ index: 0, instances: [] });
  });

  it('skips a malformed token value with a warning, and goes on delivering the tokens after it', async () => {
    const prefix = freshPrefix();
    const warnings: unknown[] = [];
    const logger = { warn: (fields: unknown) => warnings.push(fields) } as unknown as Logger;
    const store = await openEtcdStore(sharedConnection(), { prefix, logger });
    stores.push(store);
    const seen: TokenChange[] = [];
    store.watchTokens((change) => seen.push(change));
    const { client } = sharedConnection();
    await client.put(`${prefix}/tokens/bad`).value('{not json').exec();
    await client
      .put(`${prefix}/tokens/wrong`)
      .value(JSON.stringify({ ...tokenOf('wrong'), policy: 'all' }))
      .exec();
    await client
      .put(`${prefix}/tokens/other`)
      .value(JSON.stringify(tokenOf('elsewhere')))
      .exec();
    const good = tokenOf('good');
    expect(await store.createToken(good)).toBe(true);
    expect(seen).toEqual([{ id: 'good', record: good }]);
    expect(await store.listTokens()).toEqual([good]);
    expect(warnings.length).toBeGreaterThanOrEqual(3);
    // A malformed key can still be deleted (there was something to delete), but no listener had it.
    expect(await store.deleteToken('bad')).toBe(true);
    expect(seen).toEqual([{ id: 'good', record: good }]);
  });

  it('refuses a record too large to store, without writing anything', async () => {
    const store = await open(sharedConnection(), freshPrefix());
    const attempt = store.write(put('web/big', 0, { metadata: { blob: 'x'.repeat(600 * 1024) } }));
    await expect(attempt).rejects.toBeInstanceOf(RegistryError);
    await expect(attempt).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect(await store.load()).toEqual({ index: 0, instances: [] });
  });

  describe('on a dedicated etcd', () => {
    let etcd: EtcdCluster;
    let proxy: EtcdProxy;
    // What beforeAll started, stopped in reverse (beforeAll may have failed half-way).
    const started: (() => Promise<void>)[] = [];
    beforeAll(async () => {
      etcd = await startEtcd({ members: 1 });
      started.push(() => etcd.close());
      proxy = await startEtcdProxy(etcd.endpoints[0] ?? '');
      started.push(() => proxy.close());
    });
    afterAll(async () => {
      for (const stop of started.splice(0).reverse()) await stop();
    });

    it('resumes a lost watch from the last delivered change, with no gap and no repeat', async () => {
      const prefix = freshPrefix();
      const behind = await open(connect([proxy.url]), prefix);
      const writer = await open(connect(etcd.endpoints), prefix);
      const seen: number[] = [];
      behind.watch((change) => seen.push(change.index));
      const first = await committed(writer.write(put('web/w0')));
      await until(() => seen.length === 1);

      proxy.cut();
      await until(() => !behind.health().ok);
      expect(behind.health()).toMatchObject({ kind: 'etcd', ok: false, location: proxy.url });
      const later: number[] = [];
      for (let i = 1; i <= 5; i++) later.push(await committed(writer.write(put(`web/w${String(i)}`))));
      proxy.restore();

      await until(() => seen.length >= 6 && behind.health().ok);
      expect(seen).toEqual([first, ...later]);
      // It is whole again: its own writes are read back.
      const own = await committed(behind.write(put('web/own')));
      expect(seen).toEqual([first, ...later, own]);
    });

    it('reads everything again after a compaction outran its watch, and delivers the differences', async () => {
      const prefix = freshPrefix();
      const behind = await open(connect([proxy.url]), prefix);
      const direct = connect(etcd.endpoints);
      const writer = await open(direct, prefix);
      const seen: StoreChange[] = [];
      behind.watch((change) => seen.push(change));
      const kept = await committed(writer.write(put('web/kept')));
      const changed = await committed(writer.write(put('web/changed')));
      const expired = await committed(writer.write(put('web/expired')));
      const vanished = await committed(writer.write(put('web/vanished')));
      // Its own write settles once its feed has delivered it, so everything before it too: the watch has caught up.
      const marker = await committed(behind.write(put('web/marker')));
      expect(seen.map((c) => c.index)).toEqual([kept, changed, expired, vanished, marker]);
      seen.splice(0, 4);

      proxy.cut();
      await until(() => !behind.health().ok);
      const updated = await committed(writer.write(put('web/changed', changed, { port: 2 })));
      const deleted = await committed(
        writer.write({ op: 'delete', service: 'web', id: 'expired', ifIndex: expired, cause: 'expired' }),
      );
      const removed = await committed(
        writer.write({ op: 'delete', service: 'web', id: 'vanished', ifIndex: vanished, cause: 'expired' }),
      );
      // As if etcd had already dropped this delete's tombstone (its lease ran out).
      await direct.client.delete().key(`${prefix}/tombstones/web/vanished`).exec();
      const added = await committed(writer.write(put('web/added')));
      const { header } = await direct.client.get(`${prefix}/head`).exec();
      await direct.client.kv.compact({ revision: header.revision, physical: true });
      proxy.restore();

      await until(() => seen.length >= 5 && behind.health().ok);
      const readAt = seen.find((c) => c.id === 'vanished')?.index ?? 0;
      expect(readAt).toBeGreaterThanOrEqual(removed);
      expect(seen.slice(1)).toEqual([
        { index: updated, service: 'web', id: 'changed', record: expect.objectContaining({ port: 2 }) as unknown },
        { index: deleted, service: 'web', id: 'expired', record: null, cause: 'expired' },
        {
          index: added,
          service: 'web',
          id: 'added',
          record: expect.objectContaining({ createIndex: added }) as unknown,
        },
        // Its tombstone gone, the delete is dated by the read that found the key missing.
        { index: readAt, service: 'web', id: 'vanished', record: null, cause: 'deregistered' },
      ]);
      expect(seen.some((c) => c.id === 'kept' && c.index === kept)).toBe(false);
      // And the watch goes on from the read.
      const next = await committed(writer.write(put('web/next')));
      await until(() => seen.length === 6);
      expect(seen.at(-1)?.index).toBe(next);
    });

    it('brings token listeners up to date after a compaction outran the watch', async () => {
      const prefix = freshPrefix();
      const behind = await open(connect([proxy.url]), prefix);
      const direct = connect(etcd.endpoints);
      const writer = await open(direct, prefix);
      const seen: TokenChange[] = [];
      behind.watchTokens((change) => seen.push(change));
      const [kept, removed, replaced] = [tokenOf('kept'), tokenOf('removed'), tokenOf('replaced')];
      for (const token of [kept, removed, replaced]) expect(await writer.createToken(token)).toBe(true);
      // Its own write settles once its watch has delivered it, so everything before it too.
      const marker = tokenOf('marker');
      expect(await behind.createToken(marker)).toBe(true);
      expect(seen).toHaveLength(4);
      seen.splice(0);

      proxy.cut();
      await until(() => !behind.health().ok);
      expect(await writer.deleteToken('removed')).toBe(true);
      expect(await writer.deleteToken('replaced')).toBe(true);
      const again = tokenOf('replaced', { name: 'again' });
      expect(await writer.createToken(again)).toBe(true);
      const added = tokenOf('added');
      expect(await writer.createToken(added)).toBe(true);
      const { header } = await direct.client.get(`${prefix}/head`).exec();
      await direct.client.kv.compact({ revision: header.revision, physical: true });
      proxy.restore();

      await until(() => seen.length >= 4 && behind.health().ok);
      // Creates in revision order, then the delete the read found (its revision is lost).
      expect(seen).toEqual([
        { id: 'replaced', record: null },
        { id: 'replaced', record: again },
        { id: 'added', record: added },
        { id: 'removed', record: null },
      ]);
      expect((await behind.listTokens()).map((t) => t.id).sort()).toEqual(['added', 'kept', 'marker', 'replaced']);
      // And the watch goes on from the read.
      expect(await writer.deleteToken('kept')).toBe(true);
      await until(() => seen.length === 5);
      expect(seen.at(-1)).toEqual({ id: 'kept', record: null });
    });

    it('reports etcd unreachable and fails writes within the dial timeout, then recovers when etcd returns', async () => {
      const member = etcd.members[0];
      if (!member) throw new Error('no member');
      const store = await open(connect(etcd.endpoints), freshPrefix());
      const seen: number[] = [];
      store.watch((change) => seen.push(change.index));
      const before = await committed(store.write(put('web/before')));

      // A paused etcd answers nothing: the write gives up at its deadline instead of hanging.
      await member.kill('SIGSTOP');
      try {
        const stalled = store.write(put('web/stalled'));
        await expect(stalled).rejects.toMatchObject({ code: 'UNAVAILABLE' });
        await expect(stalled).rejects.toThrow(/etcd cannot be reached/);
        expect(store.health()).toMatchObject({ kind: 'etcd', ok: false, location: etcd.endpoints[0] });
      } finally {
        await member.kill('SIGCONT');
      }

      await member.kill('SIGKILL');
      await until(() => !store.health().ok);
      await expect(store.write(put('web/down'))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      await member.restart();

      // A write may still fail while the client reconnects; each attempt uses a key of its own.
      let attempt = 0;
      let after = 0;
      await until(async () => {
        const outcome = await store.write(put(`web/after-${String(++attempt)}`)).catch(() => undefined);
        if (outcome?.committed) after = outcome.index;
        return store.health().ok && after > 0;
      });
      expect(seen[0]).toBe(before);
      expect(seen).toContain(after);
      // Every change once, in order (the stalled write may have committed before its deadline passed).
      expect(seen).toEqual([...new Set(seen)].sort((a, b) => a - b));
    });

    it('answers a write past its deadline STORE_UNAVAILABLE and reports degraded until writes complete again (issue #14)', async () => {
      const member = etcd.members[0];
      if (!member) throw new Error('no member');
      // A deadline shorter than the dial timeout: the store gives up before the etcd call does.
      const store = await openEtcdStore(connect(etcd.endpoints), { prefix: freshPrefix(), writeTimeoutMs: 300 });
      stores.push(store);
      const seen: number[] = [];
      store.watch((change) => seen.push(change.index));
      await committed(store.write(put('web/before')));

      await member.kill('SIGSTOP');
      try {
        const stalled = store.write(put('web/stalled'));
        await expect(stalled).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
        expect(store.health()).toMatchObject({ kind: 'etcd', ok: false, degraded: true });
      } finally {
        await member.kill('SIGCONT');
      }

      // Each attempt uses a key of its own: one may still fail while etcd catches up.
      let attempt = 0;
      await until(async () => {
        const outcome = await store.write(put(`web/after-${String(++attempt)}`)).catch(() => undefined);
        return outcome?.committed === true && store.health().ok;
      });
      expect(store.health()).toEqual({ kind: 'etcd', ok: true, location: etcd.endpoints[0] });
      // The stalled write may have committed late: then the feed delivered it, once, in order.
      expect(seen).toEqual([...new Set(seen)].sort((a, b) => a - b));
    });
  });
});
