import type { InstanceRecord, Mutation, Store, StoreHealth, StoreSnapshot } from '../store.js';

const keyOf = (service: string, id: string): string => `${service}\u0000${id}`;

/** A Store that keeps everything in this process: for tests and `--store memory`. Nothing survives a restart. */
export function createMemoryStore(): Store {
  const records = new Map<string, InstanceRecord>();
  let index = 0;
  let closed = false;
  return {
    kind: 'memory',
    load(): Promise<StoreSnapshot> {
      return Promise.resolve({ index, instances: [...records.values()] });
    },
    write(mutation: Mutation): Promise<number> {
      if (closed) return Promise.reject(new Error('memory store is closed'));
      index += 1;
      switch (mutation.op) {
        case 'put': {
          const { record } = mutation;
          const key = keyOf(record.service, record.id);
          // The registry never mutates a record it has handed over, so a shallow copy is enough. A key keeps the
          // index of the write that created it, even when a racing writer sends 0 (as the sqlite store does).
          // Object.assign, not a spread: see core/record.ts on hidden classes.
          records.set(
            key,
            Object.assign({}, record, {
              createIndex: records.get(key)?.createIndex ?? (record.createIndex || index),
              modifyIndex: index,
            }),
          );
          break;
        }
        case 'delete':
          records.delete(keyOf(mutation.service, mutation.id));
          break;
      }
      return Promise.resolve(index);
    },
    health(): StoreHealth {
      return { kind: 'memory', ok: !closed };
    },
    close(): Promise<void> {
      closed = true;
      return Promise.resolve();
    },
  };
}
