/**
 * The behaviour every Store backend owes the registry, as one suite: memory and sqlite run it now, etcd later.
 *
 * A backend's test file calls `describeStoreContract(name, open, options)`. `open(place)` opens the backend's
 * store on `place`, a fresh temporary folder per test: calling it again with the same place (after closing)
 * reopens the same data. A backend that cannot support a case lists it under `skip` with the reason.
 *
 * The registry builds on these guarantees (see "One write path" in STYLE.md): every write is conditional, the feed
 * is the only way changes reach memory, and a write settles only once its change has been delivered, so a writer
 * reads its own write and a refused writer already sees what was in its way.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type {
  DeleteCause,
  InstanceRecord,
  Mutation,
  Store,
  StoreChange,
  StoreSnapshot,
  TokenChange,
  TokenRecord,
  WriteOutcome,
} from './store.js';

export type OpenStore = (place: string) => Store | Promise<Store>;

/** The cases of the contract, by the name a backend uses to skip one. */
export const CONTRACT_CASES = [
  'empty',
  'put',
  'delete',
  'increasing indexes',
  'createIndex',
  'conditional put',
  'conditional delete',
  'racing writes',
  'feed',
  'read your write',
  'refused outcome',
  'watch',
  'load while writing',
  'reopen',
  'concurrent writes',
  'close',
  'tokens',
  'token watch',
  'tokens reopen',
] as const;
export type ContractCase = (typeof CONTRACT_CASES)[number];

export interface ContractOptions {
  /**
   * Cases the backend cannot support, each with the reason (shown in the test name). Skipping 'reopen' skips
   * 'tokens reopen' too: a store that keeps nothing once closed keeps no tokens either.
   */
  skip?: Partial<Record<ContractCase, string>>;
}

/** A record as the registry hands it to the store: indexes 0 (not yet written). */
export function recordOf(service: string, id: string, fields: Partial<InstanceRecord> = {}): InstanceRecord {
  return {
    service,
    id,
    host: '10.0.0.1',
    port: 8080,
    endpoints: [],
    status: 'UP',
    tags: [],
    metadata: {},
    weight: 100,
    authorizedRoles: [],
    registeredAt: Date.UTC(2026, 0, 1),
    updatedAt: Date.UTC(2026, 0, 1),
    createIndex: 0,
    modifyIndex: 0,
    ...fields,
  };
}

/** A token as the registry hands it to the store. */
export function tokenOf(id: string, fields: Partial<TokenRecord> = {}): TokenRecord {
  return {
    id,
    name: `token ${id}`,
    secretHash: 'ab'.repeat(32),
    policy: { read: ['web*'], write: ['dev-*'], operator: false },
    createdAt: Date.UTC(2026, 0, 1),
    ...fields,
  };
}

/** Tokens by id, so comparisons ignore the order a backend lists them in. */
const sortedTokens = (tokens: TokenRecord[]): TokenRecord[] => [...tokens].sort((a, b) => a.id.localeCompare(b.id));

interface Key {
  service: string;
  id: string;
}

/** A put built from `ifIndex`: the key's modifyIndex, or 0 when it must not exist yet. */
const put = (record: InstanceRecord, ifIndex = 0): Mutation => ({ op: 'put', record, ifIndex });
const del = (key: Key, ifIndex: number, cause: DeleteCause = 'deregistered'): Mutation => ({
  op: 'delete',
  service: key.service,
  id: key.id,
  ifIndex,
  cause,
});
const keyOf = (key: Key): string => `${key.service}/${key.id}`;

/** Stored records by `service/id`, so comparisons ignore the order a backend loads them in. */
function byKey(records: InstanceRecord[]): Record<string, InstanceRecord> {
  return Object.fromEntries(records.map((r) => [keyOf(r), r]));
}

/** The index of a write that must commit. */
async function committed(write: Promise<WriteOutcome>): Promise<number> {
  const outcome = await write;
  expect(outcome, 'the write should have committed').toMatchObject({ committed: true });
  return outcome.index;
}

/** Every change the feed delivers from now on, in delivery order. */
function changesOf(store: Store): StoreChange[] {
  const changes: StoreChange[] = [];
  store.watch((change) => changes.push(change));
  return changes;
}

/** What a consumer that applied `changes` on top of `snapshot` holds: the registry's way of reading the store. */
function replay(snapshot: StoreSnapshot, changes: readonly StoreChange[]): Record<string, InstanceRecord> {
  const state = new Map(snapshot.instances.map((r) => [keyOf(r), r]));
  for (const change of changes) {
    if (change.index <= snapshot.index) continue;
    if (change.record) state.set(keyOf(change), change.record);
    else state.delete(keyOf(change));
  }
  return Object.fromEntries(state);
}

const increasing = (indexes: readonly number[]): boolean =>
  indexes.every((index, i) => i === 0 || index > (indexes[i - 1] ?? index));

export function describeStoreContract(name: string, open: OpenStore, options: ContractOptions = {}): void {
  describe(`Store contract: ${name}`, () => {
    const places: string[] = [];
    const opened: Store[] = [];

    afterEach(async () => {
      // Close what a test left open before removing its folder (sqlite holds a lock on it).
      await Promise.allSettled(opened.splice(0).map((store) => store.close()));
      for (const place of places.splice(0)) rmSync(place, { recursive: true, force: true });
    });

    const newPlace = (): string => {
      const place = mkdtempSync(join(tmpdir(), 'switchboard-store-'));
      places.push(place);
      return place;
    };
    const openAt = async (place: string): Promise<Store> => {
      const store = await open(place);
      opened.push(store);
      return store;
    };

    const contractCase = (which: ContractCase, title: string, body: () => Promise<void>): void => {
      const reason = options.skip?.[which] ?? (which === 'tokens reopen' ? options.skip?.reopen : undefined);
      if (reason === undefined) it(title, body);
      else it.skip(`${title} (skipped: ${reason})`, body);
    };

    contractCase('empty', 'loads a new store as index 0 with no instances', async () => {
      const store = await openAt(newPlace());
      expect(await store.load()).toEqual({ index: 0, instances: [] });
      expect(store.health()).toMatchObject({ kind: store.kind, ok: true });
    });

    contractCase('put', "stores a put with the write's index as its createIndex and modifyIndex", async () => {
      const store = await openAt(newPlace());
      const record = recordOf('web', 'w1', { tags: ['a', 'b'], metadata: { v: '1' }, url: '/web', ttlMs: 10_000 });
      const outcome = await store.write(put(record));
      expect(outcome.committed).toBe(true);
      expect(outcome.index).toBeGreaterThan(0);
      const snapshot = await store.load();
      expect(snapshot.index).toBe(outcome.index);
      expect(snapshot.instances).toEqual([{ ...record, createIndex: outcome.index, modifyIndex: outcome.index }]);
    });

    contractCase('delete', 'removes a deleted record and gives the delete its own index', async () => {
      const store = await openAt(newPlace());
      const w1 = await committed(store.write(put(recordOf('web', 'w1'))));
      const w2 = await committed(store.write(put(recordOf('web', 'w2'))));
      const deleted = await committed(store.write(del({ service: 'web', id: 'w1' }, w1)));
      expect(deleted).toBeGreaterThan(w2);
      const snapshot = await store.load();
      expect(snapshot.index).toBe(deleted);
      expect(snapshot.instances.map((r) => r.id)).toEqual(['w2']);
    });

    contractCase(
      'increasing indexes',
      'hands out strictly increasing indexes, one per committed write, across refused writes',
      async () => {
        const store = await openAt(newPlace());
        const given: number[] = [];
        const current = new Map<string, number>();
        for (let i = 0; i < 12; i++) {
          const key = { service: 'svc', id: `i${i % 4}` };
          const at = current.get(keyOf(key));
          // Puts create, update and re-create keys; every third write deletes; a refused write (which may leave a gap)
          // follows every committed one.
          const mutation =
            at !== undefined && i % 3 === 2 ? del(key, at) : put(recordOf(key.service, key.id, { port: 1 + i }), at);
          const index = await committed(store.write(mutation));
          given.push(index);
          if (mutation.op === 'put') current.set(keyOf(key), index);
          else current.delete(keyOf(key));
          expect(await store.write(put(recordOf(key.service, key.id), index + 1))).toMatchObject({ committed: false });
        }
        expect(increasing(given)).toBe(true);
        const last = await committed(store.write(put(recordOf('svc', 'last'))));
        expect(last).toBeGreaterThan(given.at(-1) ?? 0);
        expect((await store.load()).index).toBe(last);
      },
    );

    contractCase(
      'createIndex',
      'keeps createIndex across updates while modifyIndex follows the last write, whatever indexes the record carries',
      async () => {
        const store = await openAt(newPlace());
        const created = await committed(store.write(put(recordOf('web', 'w1'))));
        await committed(store.write(put(recordOf('web', 'other'))));
        // The store sets both indexes: those a record is handed over with (0, or stale ones) do not matter.
        const updated = await committed(store.write(put(recordOf('web', 'w1', { host: '10.0.0.2' }), created)));
        const again = await committed(
          store.write(put(recordOf('web', 'w1', { host: '10.0.0.3', createIndex: 999, modifyIndex: 999 }), updated)),
        );
        expect(byKey((await store.load()).instances)['web/w1']).toMatchObject({
          host: '10.0.0.3',
          createIndex: created,
          modifyIndex: again,
        });

        // A key deleted and registered again is a new key: it was created by the second put.
        await committed(store.write(del({ service: 'web', id: 'w1' }, again)));
        const recreated = await committed(store.write(put(recordOf('web', 'w1', { host: '10.0.0.4' }))));
        expect(byKey((await store.load()).instances)['web/w1']).toMatchObject({
          host: '10.0.0.4',
          createIndex: recreated,
          modifyIndex: recreated,
        });
      },
    );

    contractCase(
      'conditional put',
      'refuses a put whose ifIndex is not the key’s modifyIndex (0: must not exist), changing nothing',
      async () => {
        const store = await openAt(newPlace());
        const created = await committed(store.write(put(recordOf('web', 'w1'))));
        const updated = await committed(store.write(put(recordOf('web', 'w1', { port: 2 }), created)));
        const before = await store.load();
        const changes = changesOf(store);

        const refused = [
          put(recordOf('web', 'w1', { port: 3 }), 0), // "must not exist", but it does
          put(recordOf('web', 'w1', { port: 4 }), created), // built from a stale record
          put(recordOf('web', 'w1', { port: 5 }), updated + 1), // from a record the store never wrote
          put(recordOf('web', 'new', { port: 6 }), created), // from a record of a key that does not exist
        ];
        for (const mutation of refused) {
          expect(await store.write(mutation), JSON.stringify(mutation)).toMatchObject({ committed: false });
        }
        // Nothing changed (a store may still have moved its index past a refused write: a gap).
        expect(byKey((await store.load()).instances)).toEqual(byKey(before.instances));
        expect(changes).toEqual([]);

        // Built from the current record, it commits.
        const index = await committed(store.write(put(recordOf('web', 'w1', { port: 7 }), updated)));
        expect(byKey((await store.load()).instances)['web/w1']).toMatchObject({ port: 7, modifyIndex: index });
      },
    );

    contractCase(
      'conditional delete',
      'refuses a delete whose ifIndex is not the key’s modifyIndex, or of a key that does not exist, changing nothing',
      async () => {
        const store = await openAt(newPlace());
        const created = await committed(store.write(put(recordOf('web', 'w1'))));
        const updated = await committed(store.write(put(recordOf('web', 'w1', { port: 2 }), created)));
        const before = await store.load();
        const changes = changesOf(store);

        const w1 = { service: 'web', id: 'w1' };
        const refused = [
          del(w1, created), // built from a stale record
          del(w1, 0),
          del(w1, updated + 1),
          // Nothing to delete: committing would wake every watcher for nothing.
          del({ service: 'web', id: 'nope' }, 0),
          del({ service: 'nope', id: 'w1' }, updated),
        ];
        for (const mutation of refused) {
          expect(await store.write(mutation), JSON.stringify(mutation)).toMatchObject({ committed: false });
        }
        // Nothing changed (a store may still have moved its index past a refused write: a gap).
        expect(byKey((await store.load()).instances)).toEqual(byKey(before.instances));
        expect(changes).toEqual([]);

        const index = await committed(store.write(del(w1, updated, 'expired')));
        expect(await store.load()).toEqual({ index, instances: [] });
        expect(changes).toEqual([{ index, service: 'web', id: 'w1', record: null, cause: 'expired' }]);
      },
    );

    contractCase(
      'racing writes',
      'commits exactly one of the writes issued in one turn from the same modifyIndex of a key',
      async () => {
        const store = await openAt(newPlace());
        const base = await committed(store.write(put(recordOf('web', 'w1'))));
        const changes = changesOf(store);

        // Issued without awaiting, as when many requests for one instance arrive together: each was built from the
        // same record (or, for `fresh`, from its absence), so only one of each group may commit.
        const racers: Mutation[] = [];
        for (let i = 0; i < 20; i++) {
          racers.push(put(recordOf('web', 'w1', { port: 9000 + i }), base));
          racers.push(put(recordOf('web', 'fresh', { port: 9000 + i })));
          if (i === 10) racers.push(del({ service: 'web', id: 'w1' }, base));
        }
        const outcomes = await Promise.all(racers.map((m) => store.write(m)));

        const snapshot = byKey((await store.load()).instances);
        for (const id of ['w1', 'fresh']) {
          const group = racers.flatMap((mutation, i) =>
            (mutation.op === 'put' ? mutation.record.id : mutation.id) === id
              ? [{ mutation, outcome: outcomes[i] }]
              : [],
          );
          const winners = group.filter((g) => g.outcome?.committed);
          expect(winners, `writes to web/${id} that committed`).toHaveLength(1);
          const [{ mutation, outcome }] = winners as [{ mutation: Mutation; outcome: WriteOutcome }];
          const stored =
            mutation.op === 'put'
              ? { ...mutation.record, createIndex: id === 'w1' ? base : outcome.index, modifyIndex: outcome.index }
              : undefined;
          expect(snapshot[`web/${id}`]).toEqual(stored);
          // The losers were refused because of the winner, so they answer an index at or past the winner's.
          for (const loser of group.filter((g) => !g.outcome?.committed)) {
            expect(loser.outcome?.index).toBeGreaterThanOrEqual(outcome.index);
          }
        }
        expect(changes).toHaveLength(2);
      },
    );

    contractCase(
      'feed',
      'delivers each committed change once, in index order, as stored, and nothing for a refused write',
      async () => {
        const store = await openAt(newPlace());
        const changes = changesOf(store);
        const expected: StoreChange[] = [];
        const storedNow = async (key: Key): Promise<InstanceRecord | null> =>
          byKey((await store.load()).instances)[keyOf(key)] ?? null;
        const write = async (mutation: Mutation): Promise<WriteOutcome> => {
          const outcome = await store.write(mutation);
          if (outcome.committed) {
            const key = mutation.op === 'put' ? mutation.record : mutation;
            const record = await storedNow(key);
            const change = { index: outcome.index, service: key.service, id: key.id, record };
            expected.push(mutation.op === 'put' ? change : { ...change, cause: mutation.cause });
          }
          return outcome;
        };

        const a = await committed(write(put(recordOf('web', 'a', { tags: ['x'] }))));
        const b = await committed(write(put(recordOf('web', 'b'))));
        const a2 = await committed(write(put(recordOf('web', 'a', { tags: ['y'], metadata: { k: 'v' } }), a)));
        expect(await write(put(recordOf('web', 'a'), a))).toMatchObject({ committed: false });
        await committed(write(del({ service: 'web', id: 'b' }, b, 'expired')));
        expect(await write(del({ service: 'web', id: 'b' }, b))).toMatchObject({ committed: false });
        // Writes issued together (one batch, for a store that groups them) are delivered one by one too.
        const together = await Promise.all([
          write(put(recordOf('db', 'c'))),
          write(put(recordOf('web', 'a', { port: 1 }), a)),
          write(del({ service: 'web', id: 'a' }, a2, 'deregistered')),
          write(put(recordOf('db', 'd'))),
          write(put(recordOf('db', 'c'))),
        ]);
        expect(together.map((o) => o.committed)).toEqual([true, false, true, true, false]);

        // `expected` was built in the order the writes settled: sort it into index order to compare.
        expected.sort((x, y) => x.index - y.index);
        expect(changes).toEqual(expected);
        expect(increasing(changes.map((c) => c.index))).toBe(true);
        for (const change of changes) {
          if (change.record) {
            expect(change.record).toMatchObject({ service: change.service, id: change.id, modifyIndex: change.index });
          }
        }
      },
    );

    contractCase(
      'read your write',
      "has delivered a write's change to every listener when the write settles",
      async () => {
        const store = await openAt(newPlace());
        const first = new Set<number>();
        const second = new Set<number>();
        store.watch((change) => first.add(change.index));
        store.watch((change) => second.add(change.index));

        const writes: Promise<WriteOutcome>[] = [];
        for (let i = 0; i < 30; i++) writes.push(store.write(put(recordOf(`svc-${i % 3}`, `id-${i}`))));
        // Checked in each write's own continuation, before anything else can run after it settles.
        const delivered = writes.map((write) =>
          write.then((outcome) => ({ outcome, first: first.has(outcome.index), second: second.has(outcome.index) })),
        );
        for (const seen of await Promise.all(delivered)) {
          expect(seen).toEqual({ outcome: { committed: true, index: seen.outcome.index }, first: true, second: true });
        }
        // And one written alone, in a batch of its own.
        const alone = await committed(store.write(put(recordOf('svc-0', 'alone'))));
        expect([first.has(alone), second.has(alone)]).toEqual([true, true]);
      },
    );

    contractCase(
      'refused outcome',
      'answers a refused write with an index at or past the change in its way, which the feed has delivered',
      async () => {
        const store = await openAt(newPlace());
        const delivered: StoreChange[] = [];
        store.watch((change) => delivered.push(change));
        // The furthest index a consumer of the feed has reached. A refused writer waits for the feed to reach the
        // index it was answered, so that index must not be past it: no change may ever carry the index of a gap.
        const reached = (): number => delivered.at(-1)?.index ?? 0;
        /** `inTheWay` is read once the refused write settles; undefined: nothing but the key's absence. */
        const check = async (write: Promise<WriteOutcome>, inTheWay: () => number | undefined): Promise<void> => {
          const outcome = await write;
          expect(outcome.committed).toBe(false);
          const blocker = inTheWay();
          if (blocker !== undefined) {
            expect(delivered.map((c) => c.index)).toContain(blocker);
            expect(outcome.index).toBeGreaterThanOrEqual(blocker);
          }
          expect(outcome.index).toBeLessThanOrEqual(reached());
        };

        // In the way since an earlier write.
        const created = await committed(store.write(put(recordOf('web', 'w1'))));
        const updated = await committed(store.write(put(recordOf('web', 'w1', { port: 2 }), created)));
        await check(store.write(put(recordOf('web', 'w1', { port: 3 }), created)), () => updated);
        await check(store.write(del({ service: 'web', id: 'w1' }, created)), () => updated);

        // In the way since a write issued in the same turn (the same batch, for a store that groups writes): the
        // refused write comes last, and the change in its way is delivered before it settles.
        let winner = Infinity; // until the first write settles: a refused write settling before it fails the check
        const first = store.write(put(recordOf('web', 'w2'))).then((outcome) => (winner = outcome.index));
        const second = store.write(put(recordOf('web', 'w2', { port: 4 })));
        await check(second, () => winner);
        await first;

        // Nothing in the way but the key's absence.
        await check(store.write(del({ service: 'web', id: 'gone' }, 0)), () => undefined);
        await check(store.write(put(recordOf('web', 'gone'), updated)), () => undefined);
      },
    );

    contractCase(
      'watch',
      'delivers to every listener the changes committed after it subscribed, until it stops',
      async () => {
        const store = await openAt(newPlace());
        const before = await committed(store.write(put(recordOf('web', 'w0'))));
        const a: number[] = [];
        const b: number[] = [];
        const once: number[] = [];
        const stopA = store.watch((change) => a.push(change.index));
        store.watch((change) => b.push(change.index));
        const stopOnce = store.watch((change) => {
          once.push(change.index);
          stopOnce(); // from inside its own delivery, as a one-shot waiter does
        });

        const i1 = await committed(store.write(put(recordOf('web', 'w1'))));
        const i2 = await committed(store.write(put(recordOf('web', 'w2'))));
        stopA();
        const late: number[] = [];
        store.watch((change) => late.push(change.index));
        const i3 = await committed(store.write(put(recordOf('web', 'w3'))));
        stopA(); // a second stop is harmless
        const i4 = await committed(store.write(del({ service: 'web', id: 'w0' }, before)));

        expect(a).toEqual([i1, i2]);
        expect(b).toEqual([i1, i2, i3, i4]);
        expect(once).toEqual([i1]);
        expect(late).toEqual([i3, i4]);
      },
    );

    contractCase(
      'load while writing',
      'loads a snapshot whose index says exactly which changes it holds, even while writes are in flight',
      async () => {
        const store = await openAt(newPlace());
        const changes: StoreChange[] = [];
        const loads: Promise<StoreSnapshot>[] = [store.load()];
        const early: Promise<WriteOutcome>[] = [];
        const late: Promise<WriteOutcome>[] = [];
        store.watch((change) => {
          changes.push(change);
          // A load issued while the store is delivering, with more writes queued behind this change.
          loads.push(store.load());
          if (changes.length === 1) {
            for (let i = 0; i < 10; i++) late.push(store.write(put(recordOf('web', `late-${i}`))));
          }
        });
        for (let i = 0; i < 10; i++) {
          early.push(store.write(put(recordOf('web', `early-${i}`))));
          loads.push(store.load());
        }
        await Promise.all(early);
        await Promise.all(late);
        loads.push(store.load());
        const snapshots = await Promise.all(loads);

        // A consumer that loads a snapshot and applies the changes past its index must end up with what is stored;
        // a snapshot that claimed an index whose change it does not hold would lose that change.
        expect(changes).toHaveLength(20);
        const empty: StoreSnapshot = { index: 0, instances: [] };
        for (const snapshot of snapshots) {
          const upTo = changes.filter((c) => c.index <= snapshot.index);
          expect(byKey(snapshot.instances), `snapshot at ${snapshot.index}`).toEqual(replay(empty, upTo));
          expect(replay(snapshot, changes)).toEqual(replay(empty, changes));
        }
        expect(byKey(snapshots.at(-1)?.instances ?? [])).toEqual(replay(empty, changes));
      },
    );

    contractCase(
      'reopen',
      'loads every record and the index after a reopen, keeps conditions, and hands out indexes past all before',
      async () => {
        const place = newPlace();
        const first = await openAt(place);
        const records = Array.from({ length: 20 }, (_, i) =>
          recordOf(`svc-${i % 4}`, `id-${i}`, { port: 9000 + i, metadata: { n: String(i) }, zone: i % 2 ? 'a' : 'b' }),
        );
        const given = new Map<string, number>();
        for (const record of records) given.set(keyOf(record), await committed(first.write(put(record))));
        await committed(first.write(del({ service: 'svc-1', id: 'id-5' }, given.get('svc-1/id-5') ?? 0)));
        const updated = await committed(
          first.write(put(recordOf('svc-2', 'id-6', { port: 1 }), given.get('svc-2/id-6') ?? 0)),
        );
        // The last writes race, so one is refused (in the sqlite store, at an index that becomes a gap).
        const last = await Promise.all([
          first.write(put(recordOf('svc-0', 'raced', { port: 1 }))),
          first.write(put(recordOf('svc-0', 'raced', { port: 2 }))),
        ]);
        expect(last.map((o) => o.committed)).toEqual([true, false]);
        const before = await first.load();
        await first.close();

        const second = await openAt(place);
        const changes = changesOf(second);
        const after = await second.load();
        expect(after.index).toBe(before.index);
        expect(byKey(after.instances)).toEqual(byKey(before.instances));
        expect(after.instances).toHaveLength(20);

        // The stored modifyIndex still guards writes after a reopen.
        expect(await second.write(put(recordOf('svc-2', 'id-6'), 0))).toMatchObject({ committed: false });
        expect(await second.write(put(recordOf('svc-2', 'id-6'), given.get('svc-2/id-6') ?? 0))).toMatchObject({
          committed: false,
        });
        const next = await committed(second.write(put(recordOf('svc-2', 'id-6', { port: 2 }), updated)));
        const fresh = await committed(second.write(put(recordOf('svc-0', 'late'))));
        const highestBefore = Math.max(before.index, ...given.values(), updated, ...last.map((o) => o.index));
        expect(next).toBeGreaterThan(highestBefore);
        expect(fresh).toBeGreaterThan(next);
        expect(changes.map((c) => c.index)).toEqual([next, fresh]);
        expect(byKey((await second.load()).instances)['svc-2/id-6']).toMatchObject({
          port: 2,
          createIndex: given.get('svc-2/id-6'),
          modifyIndex: next,
        });
      },
    );

    contractCase(
      'concurrent writes',
      'gives writes issued in one turn their own indexes, and delivers them in index order',
      async () => {
        const store = await openAt(newPlace());
        const existing = new Map<string, number>();
        for (let i = 0; i < 20; i++) {
          existing.set(`old/o${i}`, await committed(store.write(put(recordOf('old', `o${i}`)))));
        }
        const changes = changesOf(store);

        // New keys, updates and deletes of existing ones, each built from what the writer knew: all commit.
        const mutations: Mutation[] = [];
        for (let i = 0; i < 200; i++) {
          mutations.push(put(recordOf(`svc-${i % 7}`, `id-${i}`, { port: 1 + i })));
          if (i % 10 === 0) {
            const key = { service: 'old', id: `o${i / 10}` };
            const at = existing.get(keyOf(key)) ?? 0;
            mutations.push(i % 20 === 0 ? del(key, at) : put(recordOf(key.service, key.id, { port: 1 + i }), at));
          }
        }
        // Issued without awaiting, as the registry does when many requests arrive together.
        const outcomes = await Promise.all(mutations.map((m) => store.write(m)));
        expect(outcomes.every((o) => o.committed)).toBe(true);
        // A backend may commit concurrent writes in any order (etcd does), but each gets an index of its own.
        const given = outcomes.map((o) => o.index);
        expect(new Set(given).size).toBe(given.length);
        expect(Math.min(...given)).toBeGreaterThan(Math.max(...existing.values()));
        expect(changes.map((c) => c.index)).toEqual([...given].sort((a, b) => a - b));

        // Each key holds its write, with that write's index.
        const expected = new Map<string, { port: number; modifyIndex: number }>();
        for (const [key, modifyIndex] of existing) expected.set(key, { port: 8080, modifyIndex });
        mutations.forEach((m, i) => {
          if (m.op === 'put') expected.set(keyOf(m.record), { port: m.record.port, modifyIndex: given[i] ?? 0 });
          else expected.delete(keyOf(m));
        });
        const loaded = byKey((await store.load()).instances);
        expect(Object.keys(loaded).sort()).toEqual([...expected.keys()].sort());
        for (const [key, want] of expected) expect(loaded[key], key).toMatchObject(want);
      },
    );

    contractCase('close', 'finishes and delivers writes issued before close, and rejects writes after it', async () => {
      const place = newPlace();
      const store = await openAt(place);
      const changes = changesOf(store);
      const pending = [store.write(put(recordOf('web', 'w1'))), store.write(put(recordOf('web', 'w2')))];
      // Two closes at once: either one resolves only once the pending writes are delivered and the store released.
      const closes = [store.close(), store.close()];
      await closes[1];
      expect(changes).toHaveLength(2);
      const outcomes = await Promise.all(pending);
      expect(outcomes.map((o) => o.committed)).toEqual([true, true]);
      expect(changes.map((c) => c.index)).toEqual(outcomes.map((o) => o.index).sort((a, b) => a - b));
      await expect(store.write(put(recordOf('web', 'w3')))).rejects.toThrow();
      expect(store.health().ok).toBe(false);
      await store.close(); // a later close is harmless
      await Promise.all(closes);
      expect(changes).toHaveLength(2);
      if (options.skip?.reopen === undefined) {
        const reopened = await openAt(place);
        expect((await reopened.load()).instances.map((r) => r.id).sort()).toEqual(['w1', 'w2']);
      }
    });

    contractCase(
      'tokens',
      'stores tokens apart from instances, refuses an id that exists, and deletes a token once',
      async () => {
        const store = await openAt(newPlace());
        const changes = changesOf(store);
        expect(await store.listTokens()).toEqual([]);

        const a = tokenOf('a');
        const b = tokenOf('b', { policy: { read: [], write: [], operator: true }, expiresAt: Date.UTC(2027, 0, 1) });
        expect(await store.createToken(a)).toBe(true);
        expect(await store.listTokens()).toEqual([a]);
        expect(await store.createToken(b)).toBe(true);
        expect(sortedTokens(await store.listTokens())).toEqual([a, b]);

        // Two nodes creating the same (bootstrap) token: the second finds the first and writes nothing.
        expect(await store.createToken(tokenOf('a', { name: 'second', secretHash: 'cd'.repeat(32) }))).toBe(false);
        expect(sortedTokens(await store.listTokens())).toEqual([a, b]);

        expect(await store.deleteToken('a')).toBe(true);
        expect(await store.deleteToken('a')).toBe(false);
        expect(await store.deleteToken('nope')).toBe(false);
        expect(await store.listTokens()).toEqual([b]);

        // Tokens are not instances: no instance, no index, no change on the instance feed.
        expect(await store.load()).toEqual({ index: 0, instances: [] });
        expect(changes).toEqual([]);
        expect(store.health()).toMatchObject({ kind: store.kind, ok: true });
      },
    );

    contractCase(
      'token watch',
      'delivers token creates and deletes in order, each before its write settles, and stops when told',
      async () => {
        const store = await openAt(newPlace());
        expect(await store.createToken(tokenOf('before'))).toBe(true);
        const seen: TokenChange[] = [];
        const other: TokenChange[] = [];
        store.watchTokens((change) => seen.push(change));
        const stopOther = store.watchTokens((change) => other.push(change));
        /** What the listener had when the write settled, checked in the write's own continuation. */
        const settled = (write: Promise<boolean>): Promise<{ result: boolean; seen: TokenChange[] }> =>
          write.then((result) => ({ result, seen: [...seen] }));

        const a = tokenOf('a');
        expect(await settled(store.createToken(a))).toEqual({ result: true, seen: [{ id: 'a', record: a }] });
        // Refused writes change nothing, so they deliver nothing.
        expect(await settled(store.createToken(tokenOf('a', { name: 'again' })))).toEqual({
          result: false,
          seen: [{ id: 'a', record: a }],
        });
        expect(await settled(store.deleteToken('nope'))).toEqual({ result: false, seen: [{ id: 'a', record: a }] });
        expect(await settled(store.deleteToken('a'))).toEqual({
          result: true,
          seen: [
            { id: 'a', record: a },
            { id: 'a', record: null },
          ],
        });

        // Writes issued in one turn: each has been delivered when it settles.
        stopOther();
        const [c, d] = [tokenOf('c'), tokenOf('d')];
        const together = await Promise.all([
          settled(store.createToken(c)),
          settled(store.createToken(d)),
          settled(store.deleteToken('before')),
        ]);
        expect(together.map((t) => t.result)).toEqual([true, true, true]);
        const wanted: TokenChange[] = [
          { id: 'c', record: c },
          { id: 'd', record: d },
          { id: 'before', record: null },
        ];
        together.forEach((t, i) => {
          expect(t.seen).toContainEqual(wanted[i]);
        });
        expect(seen.slice(2)).toHaveLength(3);
        expect(seen.slice(2)).toEqual(expect.arrayContaining(wanted));
        expect(other).toEqual([
          { id: 'a', record: a },
          { id: 'a', record: null },
        ]);
      },
    );

    contractCase('tokens reopen', 'keeps tokens, and refuses their ids, after a reopen', async () => {
      const place = newPlace();
      const first = await openAt(place);
      const kept = tokenOf('kept', { expiresAt: Date.UTC(2027, 0, 1) });
      expect(await first.createToken(kept)).toBe(true);
      expect(await first.createToken(tokenOf('gone'))).toBe(true);
      expect(await first.deleteToken('gone')).toBe(true);
      await first.close();

      const second = await openAt(place);
      const seen: TokenChange[] = [];
      second.watchTokens((change) => seen.push(change));
      expect(await second.listTokens()).toEqual([kept]);
      expect(await second.createToken(tokenOf('kept', { name: 'again' }))).toBe(false);
      expect(await second.createToken(tokenOf('gone'))).toBe(true);
      expect(await second.deleteToken('kept')).toBe(true);
      // Only the changes made since it opened, not those it read on opening.
      expect(seen).toEqual([
        { id: 'gone', record: tokenOf('gone') },
        { id: 'kept', record: null },
      ]);
    });
  });
}
