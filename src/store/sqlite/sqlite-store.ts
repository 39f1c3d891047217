/**
 * The embedded default store: one SQLite file in the data directory, in WAL mode with `synchronous=FULL`.
 *
 * Invariant: `write()` resolves only after the transaction holding the mutation has been fsynced and its change
 * delivered to the feed. SQLite runs on a worker thread and one batch is committed at a time: the writes that arrive
 * while a batch is being fsynced form the next batch (group commit). Batches grow with the load instead of the load
 * waiting on fsyncs. Indexes are handed out here, in call order, when a batch is sent (a refused write leaves a gap);
 * a failed batch gives its indexes back. Each write's condition is checked by the worker inside the transaction.
 * A refused write answers the index of the last change delivered, never a gap: a writer waits for the feed to reach
 * that index, and no change will ever carry a gap's.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { RegistryError } from '../../errors/index.js';
import { ChangeFanOut } from '../change-fan-out.js';
import type { InstanceRecord, Mutation, Store, StoreHealth, StoreSnapshot, WriteOutcome } from '../store.js';
import { REFUSED } from './protocol.js';
import type { WorkerOp, WorkerReply, WorkerRequest, WorkerSetup } from './protocol.js';

export interface SqliteStoreOptions {
  /** Folder that holds `registry.db`; created when missing. */
  dataDir: string;
}

/** Most mutations in one transaction (the rest wait for the next): bounds how long one commit holds the worker. */
const MAX_BATCH = 5_000;

interface Pending {
  op: WorkerOp;
  mutation: Mutation;
  resolve: (outcome: WriteOutcome) => void;
  reject: (err: unknown) => void;
}

/** The compiled worker beside this file; under the test runner (TypeScript sources) the built one in dist/. */
function workerUrl(): URL {
  const beside = new URL('./sqlite-worker.js', import.meta.url);
  return existsSync(beside) ? beside : new URL('../../../dist/store/sqlite/sqlite-worker.js', import.meta.url);
}

/**
 * Creates the database file 0600 when missing, and takes group and other access away from it and its companions when
 * present: SQLite gives its -wal, -shm and -journal files the database file's mode, so these follow it.
 */
function ownerOnly(file: string): void {
  closeSync(openSync(file, 'a', 0o600));
  for (const path of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) {
    let mode: number;
    try {
      mode = statSync(path).mode;
    } catch {
      continue;
    }
    if ((mode & 0o077) !== 0) chmodSync(path, mode & 0o700);
  }
}

/** The record without the index fields, which live in their own columns. */
function encode(record: InstanceRecord): string {
  const { createIndex: _c, modifyIndex: _m, ...rest } = record;
  return JSON.stringify(rest);
}

/**
 * Opens (creating if needed) the store in `dataDir`. Fails with UNAVAILABLE when another registry holds the directory.
 * @example
 * const store = await openSqliteStore({ dataDir: 'data' });
 */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  const dataDir = resolve(options.dataDir);
  const file = join(dataDir, 'registry.db');
  try {
    // The registry's records (and, with auth, its token hashes) are for its own user only (issue #13).
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    ownerOnly(file);
  } catch (err) {
    throw new RegistryError('UNAVAILABLE', `cannot create data directory ${dataDir}: ${(err as Error).message}`, {
      cause: err,
    });
  }

  /** The last index handed out (to a batch being committed, too). */
  let index = 0;
  /** The index of the last change delivered to the feed (or the store's index when it opened). */
  let delivered = 0;
  let queue: Pending[] = [];
  let committing = false;
  let pumpScheduled = false;
  let batchNumber = 0;
  let closed = false;
  let lastError: string | undefined;
  let idle: (() => void) | undefined;
  let closing: Promise<void> | undefined;
  const feed = new ChangeFanOut();

  const setup: WorkerSetup = { file };
  const worker = new Worker(workerUrl(), { workerData: setup });
  const replies: ((reply: WorkerReply) => void)[] = [];
  let workerError: Error | undefined;
  worker.on('message', (reply: WorkerReply) => {
    replies.shift()?.(reply);
  });
  worker.on('error', (err) => {
    workerError = err;
    lastError = err.message;
    for (const waiter of replies.splice(0)) waiter({ type: 'commit-failed', batch: -1, message: err.message });
  });
  const ask = (request: WorkerRequest | undefined): Promise<WorkerReply> =>
    new Promise((resolveReply) => {
      if (workerError) {
        resolveReply({ type: 'commit-failed', batch: -1, message: workerError.message });
        return;
      }
      replies.push(resolveReply);
      if (request) worker.postMessage(request);
    });

  const opened = await ask(undefined);
  if (opened.type !== 'opened') {
    await worker.terminate();
    const message = opened.type === 'open-failed' ? opened.message : 'the store worker did not start';
    if (opened.type === 'open-failed' && opened.busy) {
      throw new RegistryError(
        'UNAVAILABLE',
        `data directory ${dataDir} is locked by another running registry; stop it or choose another --data-dir`,
      );
    }
    throw new RegistryError('UNAVAILABLE', `cannot open ${file}: ${message}`);
  }

  index = opened.index;
  delivered = opened.index;

  async function pump(): Promise<void> {
    if (committing) return;
    committing = true;
    while (queue.length > 0) {
      const batch = queue.length > MAX_BATCH ? queue.splice(0, MAX_BATCH) : queue;
      if (batch === queue) queue = [];
      const before = index;
      for (const pending of batch) {
        index += 1;
        pending.op.modifyIndex = index;
      }
      batchNumber += 1;
      const reply = await ask({ type: 'commit', batch: batchNumber, index, ops: batch.map((p) => p.op) });
      if (reply.type === 'committed') {
        lastError = undefined;
        // Every change of the batch reaches the feed before any writer resumes, so a writer that applies the feed
        // reads its own write, and a refused writer already sees what was in its way.
        const committed = batch.map((pending, i) => {
          const createIndex = reply.results[i] ?? REFUSED;
          if (createIndex === REFUSED) return false;
          deliver(pending, createIndex);
          return true;
        });
        batch.forEach((pending, i) => {
          pending.resolve(
            committed[i] ? { committed: true, index: pending.op.modifyIndex } : { committed: false, index: delivered },
          );
        });
      } else {
        index = before;
        lastError = reply.type === 'commit-failed' ? reply.message : 'unexpected reply from the store worker';
        const failure = new RegistryError('UNAVAILABLE', `store write failed: ${lastError}`);
        for (const pending of batch) pending.reject(failure);
      }
    }
    committing = false;
    idle?.();
  }

  function deliver(pending: Pending, createIndex: number): void {
    const { mutation } = pending;
    const modifyIndex = pending.op.modifyIndex;
    delivered = modifyIndex;
    if (mutation.op === 'put') {
      // Object.assign, not a spread: see core/record.ts on hidden classes.
      const record = Object.assign({}, mutation.record, { createIndex, modifyIndex });
      feed.deliver({ index: modifyIndex, service: record.service, id: record.id, record });
    } else {
      feed.deliver({
        index: modifyIndex,
        service: mutation.service,
        id: mutation.id,
        record: null,
        cause: mutation.cause,
      });
    }
  }

  return {
    kind: 'sqlite',
    async load(): Promise<StoreSnapshot> {
      // Once closed the worker is gone, and a request to it would never be answered.
      if (closed) throw new RegistryError('UNAVAILABLE', 'the store is closed');
      const reply = await ask({ type: 'load' });
      if (reply.type !== 'loaded') throw new RegistryError('UNAVAILABLE', `cannot read ${file}`);
      // Object.assign rather than a spread keeps one hidden class for all restored records (V8 gives each object
      // made by an optimized spread-plus-properties its own, ~480 bytes apiece).
      const instances = reply.rows.map((row): InstanceRecord =>
        Object.assign(JSON.parse(row.data) as Omit<InstanceRecord, 'createIndex' | 'modifyIndex'>, {
          createIndex: row.create_index,
          modifyIndex: row.modify_index,
        }),
      );
      // The worker's index, read with the rows: this thread's may already count a batch the rows do not hold yet.
      return { index: reply.index, instances };
    },
    write(mutation: Mutation): Promise<WriteOutcome> {
      if (closed) return Promise.reject(new RegistryError('UNAVAILABLE', 'the store is closed'));
      const op: WorkerOp =
        mutation.op === 'put'
          ? {
              service: mutation.record.service,
              id: mutation.record.id,
              data: encode(mutation.record),
              ifIndex: mutation.ifIndex,
              modifyIndex: 0,
            }
          : { service: mutation.service, id: mutation.id, ifIndex: mutation.ifIndex, modifyIndex: 0 };
      return new Promise<WriteOutcome>((resolveWrite, reject) => {
        queue.push({ op, mutation, resolve: resolveWrite, reject });
        if (!committing && !pumpScheduled) {
          pumpScheduled = true;
          // Wait out this turn so that every request already parsed joins the first batch.
          setImmediate(() => {
            pumpScheduled = false;
            void pump();
          });
        }
      });
    },
    watch: (listener) => feed.add(listener),
    health(): StoreHealth {
      const health: StoreHealth = { kind: 'sqlite', ok: !closed && lastError === undefined, location: file };
      if (lastError !== undefined) health.error = lastError;
      return health;
    },
    close(): Promise<void> {
      // Every caller waits for the same close, so a second one does not resolve while the file is still held.
      closing ??= (async () => {
        closed = true;
        if (committing || queue.length > 0) {
          await new Promise<void>((done) => {
            idle = done;
            void pump();
          });
        }
        if (!workerError) await ask({ type: 'close' });
        await worker.terminate();
      })();
      return closing;
    },
  };
}
