/**
 * The embedded default store: one SQLite file in the data directory, in WAL mode with `synchronous=FULL`.
 *
 * Invariant: `write()` resolves only after the transaction holding the mutation has been fsynced. Writes that
 * arrive in the same event-loop turn share one transaction and one fsync (group commit), which is what makes
 * durable registrations fast.
 *
 * The file is opened with `locking_mode=EXCLUSIVE` and an immediate write, so a second registry on the same
 * data directory fails at once, and the kernel drops the lock when the process dies (even by `kill -9`).
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RegistryError } from '../../errors/index.js';
import type { InstanceRecord, Mutation, Store, StoreHealth, StoreSnapshot } from '../store.js';

export interface SqliteStoreOptions {
  /** Folder that holds `registry.db`; created when missing. */
  dataDir: string;
  /** Most mutations in one transaction; the rest wait for the next. */
  maxBatch?: number;
}

interface Pending {
  mutation: Mutation;
  resolve: (index: number) => void;
  reject: (err: unknown) => void;
}

interface Row {
  data: string;
  create_index: number;
  modify_index: number;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
  CREATE TABLE IF NOT EXISTS instances (
    service TEXT NOT NULL,
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    create_index INTEGER NOT NULL,
    modify_index INTEGER NOT NULL,
    PRIMARY KEY (service, id)
  ) STRICT, WITHOUT ROWID;
`;

/** The record without the index fields, which live in their own columns. */
function encode(record: InstanceRecord): string {
  const { createIndex: _c, modifyIndex: _m, ...rest } = record;
  return JSON.stringify(rest);
}

export function createSqliteStore(options: SqliteStoreOptions): Store {
  const dataDir = resolve(options.dataDir);
  const file = join(dataDir, 'registry.db');
  const maxBatch = options.maxBatch ?? 10_000;
  mkdirSync(dataDir, { recursive: true });

  let db: Database.Database;
  try {
    db = new Database(file, { timeout: 0 });
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(SCHEMA);
    // Take the exclusive lock now rather than at the first registration.
    db.exec('BEGIN IMMEDIATE; COMMIT;');
  } catch (err) {
    if (isBusy(err)) {
      throw new RegistryError(
        'UNAVAILABLE',
        `data directory ${dataDir} is locked by another running registry; stop it or choose another --data-dir`,
        { cause: err },
      );
    }
    throw new RegistryError('UNAVAILABLE', `cannot open ${file}: ${(err as Error).message}`, { cause: err });
  }

  const readIndex = db.prepare<[], { value: number }>("SELECT value FROM meta WHERE key = 'index'");
  const writeIndex = db.prepare<[number]>("INSERT INTO meta (key, value) VALUES ('index', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  const upsert = db.prepare<[string, string, string, number, number]>(
    `INSERT INTO instances (service, id, data, create_index, modify_index) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (service, id) DO UPDATE SET data = excluded.data, modify_index = excluded.modify_index`,
  );
  const remove = db.prepare<[string, string]>('DELETE FROM instances WHERE service = ? AND id = ?');
  const selectAll = db.prepare<[], Row>('SELECT data, create_index, modify_index FROM instances');

  let index = readIndex.get()?.value ?? 0;
  let queue: Pending[] = [];
  let flushScheduled = false;
  let closed = false;
  let lastError: string | undefined;

  const commit = db.transaction((batch: Pending[]): number[] => {
    const given: number[] = [];
    let next = index;
    for (const { mutation } of batch) {
      next += 1;
      switch (mutation.op) {
        case 'put': {
          const { record } = mutation;
          upsert.run(record.service, record.id, encode(record), record.createIndex || next, next);
          break;
        }
        case 'delete':
          remove.run(mutation.service, mutation.id);
          break;
      }
      given.push(next);
    }
    writeIndex.run(next);
    return given;
  });

  function flush(): void {
    flushScheduled = false;
    while (queue.length > 0) {
      const batch = queue.length > maxBatch ? queue.splice(0, maxBatch) : queue;
      if (batch === queue) queue = [];
      try {
        const given = commit(batch);
        index = given[given.length - 1] ?? index;
        lastError = undefined;
        batch.forEach((p, i) => {
          p.resolve(given[i] ?? index);
        });
      } catch (err) {
        lastError = (err as Error).message;
        const failure = new RegistryError('UNAVAILABLE', `store write failed: ${lastError}`, { cause: err });
        for (const p of batch) p.reject(failure);
      }
    }
  }

  return {
    kind: 'sqlite',
    load(): Promise<StoreSnapshot> {
      const instances = selectAll.all().map((row) => ({
        ...(JSON.parse(row.data) as Omit<InstanceRecord, 'createIndex' | 'modifyIndex'>),
        createIndex: row.create_index,
        modifyIndex: row.modify_index,
      }));
      return Promise.resolve({ index, instances });
    },
    write(mutation: Mutation): Promise<number> {
      if (closed) return Promise.reject(new RegistryError('UNAVAILABLE', 'the store is closed'));
      return new Promise<number>((resolvePromise, reject) => {
        queue.push({ mutation, resolve: resolvePromise, reject });
        if (!flushScheduled) {
          flushScheduled = true;
          // setImmediate lets every request parsed in this turn join the same transaction.
          setImmediate(flush);
        }
      });
    },
    health(): StoreHealth {
      const health: StoreHealth = { kind: 'sqlite', ok: !closed && lastError === undefined, location: file };
      if (lastError !== undefined) health.error = lastError;
      return health;
    },
    close(): Promise<void> {
      if (closed) return Promise.resolve();
      flush();
      closed = true;
      db.close();
      return Promise.resolve();
    },
  };
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}
