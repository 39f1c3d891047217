import { ChangeFanOut } from '../change-fan-out.js';
import type {
  CommitObserver,
  InstanceRecord,
  Mutation,
  Store,
  StoreHealth,
  StoreSnapshot,
  TokenChange,
  TokenRecord,
  WriteOutcome,
} from '../store.js';

const keyOf = (service: string, id: string): string => `${service}\u0000${id}`;

/** A Store that keeps everything in this process: for tests and `--store memory`. Nothing survives a restart. */
export function createMemoryStore(options: { onCommit?: CommitObserver } = {}): Store {
  const { onCommit } = options;
  const records = new Map<string, InstanceRecord>();
  const feed = new ChangeFanOut();
  let index = 0;
  let closed = false;
  const tokens = new Map<string, TokenRecord>();
  const tokenFeed = new ChangeFanOut<TokenChange>();

  function commit(mutation: Mutation): WriteOutcome {
    const key =
      mutation.op === 'put' ? keyOf(mutation.record.service, mutation.record.id) : keyOf(mutation.service, mutation.id);
    const current = records.get(key);
    // A delete needs a key to delete: committing one for a missing key would wake every watcher for nothing.
    const holds = current ? current.modifyIndex === mutation.ifIndex : mutation.op === 'put' && mutation.ifIndex === 0;
    if (!holds) return { committed: false, index };
    index += 1;
    if (mutation.op === 'put') {
      // The registry never mutates a record it has handed over, so a shallow copy is enough.
      // Object.assign, not a spread: see core/record.ts on hidden classes.
      const record: InstanceRecord = Object.assign({}, mutation.record, {
        createIndex: current?.createIndex ?? index,
        modifyIndex: index,
      });
      records.set(key, record);
      feed.deliver({ index, service: record.service, id: record.id, record });
    } else {
      records.delete(key);
      feed.deliver({ index, service: mutation.service, id: mutation.id, record: null, cause: mutation.cause });
    }
    return { committed: true, index };
  }

  return {
    kind: 'memory',
    load(): Promise<StoreSnapshot> {
      return Promise.resolve({ index, instances: [...records.values()] });
    },
    async write(mutation: Mutation): Promise<WriteOutcome> {
      if (closed) throw new Error('memory store is closed');
      // Commit on a later turn, as a real store does: callers must not rely on a write taking effect synchronously.
      await Promise.resolve();
      if (onCommit === undefined) return commit(mutation);
      const startedAt = performance.now();
      const outcome = commit(mutation);
      if (outcome.committed) onCommit({ mutations: 1, seconds: (performance.now() - startedAt) / 1000 });
      return outcome;
    },
    watch: (listener) => feed.add(listener),
    health(): StoreHealth {
      return { kind: 'memory', ok: !closed };
    },
    listTokens(): Promise<TokenRecord[]> {
      return Promise.resolve([...tokens.values()]);
    },
    async createToken(record: TokenRecord): Promise<boolean> {
      if (closed) throw new Error('memory store is closed');
      await Promise.resolve();
      if (tokens.has(record.id)) return false;
      tokens.set(record.id, record);
      tokenFeed.deliver({ id: record.id, record });
      return true;
    },
    async deleteToken(id: string): Promise<boolean> {
      if (closed) throw new Error('memory store is closed');
      await Promise.resolve();
      if (!tokens.delete(id)) return false;
      tokenFeed.deliver({ id, record: null });
      return true;
    },
    watchTokens: (listener) => tokenFeed.add(listener),
    close(): Promise<void> {
      closed = true;
      return Promise.resolve();
    },
  };
}
