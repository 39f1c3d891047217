/**
 * The behaviour every Store backend owes the registry, as one suite: memory and sqlite run it now, etcd later.
 *
 * A backend's test file calls `describeStoreContract(name, open, options)`. `open(place)` opens the backend's
 * store on `place`, a fresh temporary folder per test: calling it again with the same place (after closing)
 * reopens the same data. A backend that cannot support a case lists it under `skip` with the reason.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { InstanceRecord, Mutation, Store } from './store.js';

export type OpenStore = (place: string) => Store | Promise<Store>;

/** The cases of the contract, by the name a backend uses to skip one. */
export const CONTRACT_CASES = [
  'empty',
  'put',
  'delete',
  'dense indexes',
  'createIndex',
  'reopen',
  'concurrent writes',
  'delete missing',
  'close',
] as const;
export type ContractCase = (typeof CONTRACT_CASES)[number];

export interface ContractOptions {
  /** Cases the backend cannot support, each with the reason (shown in the test name). */
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

const put = (record: InstanceRecord): Mutation => ({ op: 'put', record });
const del = (service: string, id: string): Mutation => ({ op: 'delete', service, id });

/** Stored records by `service/id`, so comparisons ignore the order a backend loads them in. */
function byKey(records: InstanceRecord[]): Record<string, InstanceRecord> {
  return Object.fromEntries(records.map((r) => [`${r.service}/${r.id}`, r]));
}

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
      const reason = options.skip?.[which];
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
      const index = await store.write(put(record));
      expect(index).toBe(1);
      const snapshot = await store.load();
      expect(snapshot.index).toBe(1);
      expect(snapshot.instances).toEqual([{ ...record, createIndex: 1, modifyIndex: 1 }]);
    });

    contractCase('delete', 'removes a deleted record and gives the delete its own index', async () => {
      const store = await openAt(newPlace());
      await store.write(put(recordOf('web', 'w1')));
      await store.write(put(recordOf('web', 'w2')));
      const index = await store.write(del('web', 'w1'));
      expect(index).toBe(3);
      const snapshot = await store.load();
      expect(snapshot.index).toBe(3);
      expect(snapshot.instances.map((r) => r.id)).toEqual(['w2']);
    });

    contractCase('dense indexes', 'hands out strictly increasing, dense indexes, one per write', async () => {
      const store = await openAt(newPlace());
      const given: number[] = [];
      for (let i = 0; i < 12; i++) {
        const mutation = i % 3 === 2 ? del('svc', `i${i - 1}`) : put(recordOf('svc', `i${i}`));
        given.push(await store.write(mutation));
      }
      expect(given).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      expect((await store.load()).index).toBe(12);
    });

    contractCase(
      'createIndex',
      'keeps createIndex across updates while modifyIndex follows the last write',
      async () => {
        const store = await openAt(newPlace());
        const created = await store.write(put(recordOf('web', 'w1')));
        await store.write(put(recordOf('web', 'other')));
        const updated = await store.write(
          put(recordOf('web', 'w1', { host: '10.0.0.2', createIndex: created, modifyIndex: created })),
        );
        // A writer that does not know the key exists (two registrations of one new id racing) sends createIndex 0:
        // the key was still created by the first write.
        const raced = await store.write(put(recordOf('web', 'w1', { host: '10.0.0.3' })));
        const w1 = byKey((await store.load()).instances)['web/w1'];
        expect(updated).toBe(3);
        expect(w1).toMatchObject({ host: '10.0.0.3', createIndex: created, modifyIndex: raced });
      },
    );

    contractCase(
      'reopen',
      'loads every record and the index after a reopen, and continues the index upward',
      async () => {
        const place = newPlace();
        const first = await openAt(place);
        const records = Array.from({ length: 20 }, (_, i) =>
          recordOf(`svc-${i % 4}`, `id-${i}`, { port: 9000 + i, metadata: { n: String(i) }, zone: i % 2 ? 'a' : 'b' }),
        );
        for (const record of records) await first.write(put(record));
        await first.write(del('svc-1', 'id-5'));
        const before = await first.load();
        await first.close();

        const second = await openAt(place);
        const after = await second.load();
        expect(after.index).toBe(21);
        expect(byKey(after.instances)).toEqual(byKey(before.instances));
        expect(after.instances).toHaveLength(19);
        expect(await second.write(put(recordOf('svc-0', 'late')))).toBe(22);
      },
    );

    contractCase('concurrent writes', 'gives writes issued in one turn their own indexes in call order', async () => {
      const store = await openAt(newPlace());
      const mutations: Mutation[] = [];
      for (let i = 0; i < 200; i++) mutations.push(put(recordOf(`svc-${i % 7}`, `id-${i % 50}`, { port: 1 + i })));
      mutations.push(del('svc-0', 'id-0'), del('svc-1', 'id-1'));
      // Issued without awaiting, as the registry does when many requests arrive together.
      const pending = mutations.map((m) => store.write(m));
      const given = await Promise.all(pending);
      expect(given).toEqual(mutations.map((_, i) => i + 1));

      // Each key holds its last put, with that put's index.
      const expected = new Map<string, { port: number; modifyIndex: number }>();
      mutations.forEach((m, i) => {
        if (m.op === 'put')
          expected.set(`${m.record.service}/${m.record.id}`, { port: m.record.port, modifyIndex: i + 1 });
        else expected.delete(`${m.service}/${m.id}`);
      });
      const loaded = byKey((await store.load()).instances);
      expect(Object.keys(loaded).sort()).toEqual([...expected.keys()].sort());
      for (const [key, want] of expected) expect(loaded[key]).toMatchObject(want);
    });

    contractCase('delete missing', 'gives a delete of a missing key an index and changes nothing else', async () => {
      const store = await openAt(newPlace());
      await store.write(put(recordOf('web', 'w1')));
      expect(await store.write(del('web', 'nope'))).toBe(2);
      expect(await store.write(del('nope', 'w1'))).toBe(3);
      const snapshot = await store.load();
      expect(snapshot.index).toBe(3);
      expect(snapshot.instances.map((r) => `${r.service}/${r.id}`)).toEqual(['web/w1']);
    });

    contractCase('close', 'finishes writes issued before close and rejects writes after it', async () => {
      const place = newPlace();
      const store = await openAt(place);
      const pending = [store.write(put(recordOf('web', 'w1'))), store.write(put(recordOf('web', 'w2')))];
      await store.close();
      expect(await Promise.all(pending)).toEqual([1, 2]);
      await expect(store.write(put(recordOf('web', 'w3')))).rejects.toThrow();
      expect(store.health().ok).toBe(false);
      await store.close(); // a second close is harmless
      if (options.skip?.reopen === undefined) {
        const reopened = await openAt(place);
        expect((await reopened.load()).instances.map((r) => r.id).sort()).toEqual(['w1', 'w2']);
      }
    });
  });
}
