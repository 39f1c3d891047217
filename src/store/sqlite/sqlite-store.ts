/**
 * The embedded default store: one SQLite file in the data directory, in WAL mode with `synchronous=FULL`.
 *
 * Invariant: `write()` resolves only after the transaction holding the mutation has been fsynced.
 * SQLite runs on a worker thread and one batch is committed at a time: the writes that arrive while a batch is being
 * fsynced form the next batch (group commit). Batches grow with the load instead of the load waiting on fsyncs.
 * Indexes are handed out here, in call order, when a batch is sent; a failed batch gives its indexes back.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { RegistryError } from '../../errors/index.js';
import type { InstanceRecord, Mutation, Store, StoreHealth, StoreSnapshot } from '../store.js';
import type { WorkerOp, WorkerReply, WorkerRequest, WorkerSetup } from './protocol.js';

export interface SqliteStoreOptions {
  /** Folder that holds `registry.db`; created when missing. */
  dataDir: string;
  /** Most mutations in one transaction; the rest wait for the next. */
  maxBatch?: number;
}

interface Pending {
  op: WorkerOp;
  resolve: (index: number) => void;
  reject: (err: unknown) => void;
}

/** The compiled worker beside this file; under the test runner (TypeScript sources) the built one in dist/. */
function workerUrl(): URL {
  const beside = new URL('./sqlite-worker.js', import.meta.url);
  return existsSync(beside) ? beside : new URL('../../../dist/store/sqlite/sqlite-worker.js', import.meta.url);
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
  const maxBatch = options.maxBatch ?? 5_000;
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (err) {
    throw new RegistryError('UNAVAILABLE', `cannot create data directory ${dataDir}: ${(err as Error).message}`, {
      cause: err,
    });
  }

  let index = 0;
  let queue: Pending[] = [];
  let committing = false;
  let pumpScheduled = false;
  let batchNumber = 0;
  let closed = false;
  let lastError: string | undefined;
  let idle: (() => void) | undefined;

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

  async function pump(): Promise<void> {
    if (committing) return;
    committing = true;
    while (queue.length > 0) {
      const batch = queue.length > maxBatch ? queue.splice(0, maxBatch) : queue;
      if (batch === queue) queue = [];
      const before = index;
      for (const pending of batch) {
        index += 1;
        pending.op.modifyIndex = index;
        pending.op.createIndex ||= index;
      }
      batchNumber += 1;
      const reply = await ask({ type: 'commit', batch: batchNumber, index, ops: batch.map((p) => p.op) });
      if (reply.type === 'committed') {
        lastError = undefined;
        for (const pending of batch) pending.resolve(pending.op.modifyIndex);
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

  return {
    kind: 'sqlite',
    async load(): Promise<StoreSnapshot> {
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
      return { index, instances };
    },
    write(mutation: Mutation): Promise<number> {
      if (closed) return Promise.reject(new RegistryError('UNAVAILABLE', 'the store is closed'));
      const op: WorkerOp =
        mutation.op === 'put'
          ? {
              service: mutation.record.service,
              id: mutation.record.id,
              data: encode(mutation.record),
              createIndex: mutation.record.createIndex,
              modifyIndex: 0,
            }
          : { service: mutation.service, id: mutation.id, createIndex: 0, modifyIndex: 0 };
      return new Promise<number>((resolveWrite, reject) => {
        queue.push({ op, resolve: resolveWrite, reject });
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
    health(): StoreHealth {
      const health: StoreHealth = { kind: 'sqlite', ok: !closed && lastError === undefined, location: file };
      if (lastError !== undefined) health.error = lastError;
      return health;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (committing || queue.length > 0) {
        await new Promise<void>((done) => {
          idle = done;
          void pump();
        });
      }
      if (!workerError) await ask({ type: 'close' });
      await worker.terminate();
    },
  };
}
