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
 *
 * Issue #14: a write not durable and delivered within `writeTimeoutMs` is answered STORE_UNAVAILABLE (write-deadline.ts;
 * one still queued is withdrawn and never sent; one in a batch being committed may commit late and reaches the feed).
 * A worker that dies is replaced by a new one on the same file (with backoff if it keeps dying). A batch it left
 * unanswered committed exactly when the file's index is the batch's last one: the transaction stores its results
 * beside the index, so the store then delivers and acknowledges it as usual; otherwise its writes answer
 * STORE_UNAVAILABLE. Either way what the feed delivered is what the file holds.
 *
 * Tokens (issue #13) live in their own table, outside the index: each token write is one transaction of its own,
 * answered once committed, and delivered to the `watchTokens` listeners (this node's only) before it settles.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { RegistryError } from '../../errors/index.js';
import { ChangeFanOut } from '../change-fan-out.js';
import { WriteDeadline } from '../write-deadline.js';
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
import { REFUSED } from './protocol.js';
import type { WorkerOp, WorkerReply, WorkerRequest, WorkerSetup } from './protocol.js';

export interface SqliteStoreOptions {
  /** Folder that holds `registry.db`; created when missing. */
  dataDir: string;
  /** A write not durable and delivered within this long is answered STORE_UNAVAILABLE (default 10 s). */
  writeTimeoutMs?: number;
  /** Where a dead worker and its restart are reported. */
  logger?: Logger;
  /** Told of every committed batch (issue #20). */
  onCommit?: CommitObserver;
}

/** Most mutations in one transaction (the rest wait for the next): bounds how long one commit holds the worker. */
const MAX_BATCH = 5_000;
const DEFAULT_WRITE_TIMEOUT_MS = 10_000;
/** A worker that dies within this long of its start counts as dying again: the next restart waits longer. */
const STABLE_WORKER_MS = 10_000;
const FIRST_RESTART_DELAY_MS = 100;
const MAX_RESTART_DELAY_MS = 5_000;

interface Pending {
  op: WorkerOp;
  mutation: Mutation;
  resolve: (outcome: WriteOutcome) => void;
  reject: (err: unknown) => void;
  /** Handed to the worker: from then on it may commit whatever its writer was told. */
  sent: boolean;
  /** Taken back at its deadline before it was sent: it is never sent. */
  withdrawn: boolean;
}

/** One worker thread and the requests it has not answered, in order. */
interface Channel {
  worker: Worker;
  replies: ((reply: WorkerReply) => void)[];
  /** Why it stopped, once it has. */
  lost: string | undefined;
  /** Its uncaught error, reported just before it exits. */
  error: string | undefined;
  /** It opened the file: from then on its exit is a death, which a new worker repairs. */
  opened: boolean;
  startedAt: number;
}

/** Each open store's way to stop its worker as a crash would; see `killWorkerForTests`. */
const workerKillers = new WeakMap<Store, () => Promise<void>>();

/**
 * For tests only, never for production code: terminates the store's worker thread as a crash would (the store is not
 * told), so a test can watch the store restart it.
 */
export function killWorkerForTests(store: Store): Promise<void> {
  const kill = workerKillers.get(store);
  if (!kill) throw new Error('not an open sqlite store');
  return kill();
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
  const { logger, writeTimeoutMs = DEFAULT_WRITE_TIMEOUT_MS } = options;
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
  const tokenFeed = new ChangeFanOut<TokenChange>();
  /** Token writes under way, which close waits for. */
  const tokenWrites = new Set<Promise<unknown>>();
  const deadline = new WriteDeadline(writeTimeoutMs, 'the sqlite store');

  const setup: WorkerSetup = { file };
  /** The worker requests go to; replaced when it dies (issue #14). */
  let current: Channel;
  /** Set while a dead worker is being replaced: requests wait for it. */
  let restarting: Promise<void> | undefined;
  /** Why the worker is down, while it is being replaced. */
  let down: string | undefined;
  /** What the last worker started found in the file: how a batch left unanswered by a dead worker ended. */
  let reopened: { index: number; lastResults: number[] | null } | undefined;
  /** Set once close() no longer wants the worker: its exit is then no death. */
  let releasing = false;
  let restartDelayMs = 0;

  /** Starts a worker on the file; resolves with its first reply (opened or open-failed). */
  function startWorker(): { channel: Channel; opened: Promise<WorkerReply> } {
    const worker = new Worker(workerUrl(), { workerData: setup });
    const channel: Channel = {
      worker,
      replies: [],
      lost: undefined,
      error: undefined,
      opened: false,
      startedAt: Date.now(),
    };
    const opened = new Promise<WorkerReply>((resolveReply) => channel.replies.push(resolveReply));
    worker.on('message', (reply: WorkerReply) => {
      if (reply.type === 'opened') channel.opened = true;
      channel.replies.shift()?.(reply);
    });
    worker.on('error', (err) => {
      channel.error = err.message;
    });
    worker.on('exit', (code) => {
      channel.lost = channel.error ?? `the store worker exited with code ${String(code)}`;
      // Set before the waiters hear of it, so that what they ask next waits for the new worker.
      if (channel.opened && channel === current && !releasing) workerLost(channel);
      for (const waiter of channel.replies.splice(0)) waiter({ type: 'worker-lost', message: channel.lost });
    });
    return { channel, opened };
  }

  /** The worker died (an uncaught error, out of memory, killed): start another on the same file. */
  function workerLost(channel: Channel): void {
    down = channel.lost;
    logger?.error({ err: channel.lost, file }, 'the sqlite store worker stopped unexpectedly; starting a new one');
    // A worker that keeps dying is restarted less and less often, up to MAX_RESTART_DELAY_MS apart.
    const lived = Date.now() - channel.startedAt;
    restartDelayMs =
      lived >= STABLE_WORKER_MS
        ? 0
        : Math.min(Math.max(restartDelayMs * 2, FIRST_RESTART_DELAY_MS), MAX_RESTART_DELAY_MS);
    restarting = restart().finally(() => {
      restarting = undefined;
    });
  }

  async function restart(): Promise<void> {
    let delayMs = restartDelayMs;
    for (;;) {
      if (delayMs > 0) await new Promise((wake) => setTimeout(wake, delayMs));
      const next = startWorker();
      const reply = await next.opened;
      if (reply.type === 'opened') {
        current = next.channel;
        reopened = { index: reply.index, lastResults: reply.lastResults };
        index = Math.max(index, reply.index);
        down = undefined;
        logger?.warn({ file, index: reply.index }, 'the sqlite store worker was restarted');
        return;
      }
      down = reply.type === 'open-failed' ? reply.message : 'the store worker did not start';
      logger?.error({ err: down, file }, 'the sqlite store worker could not be restarted; trying again');
      await next.channel.worker.terminate();
      // Closed meanwhile: nothing will ask the store again, and close must not wait for ever.
      if (closed) return;
      delayMs = Math.min(Math.max(delayMs * 2, FIRST_RESTART_DELAY_MS), MAX_RESTART_DELAY_MS);
    }
  }

  /** Sends `request` to the worker, once a dead one has been replaced. */
  async function ask(request: WorkerRequest): Promise<WorkerReply> {
    while (restarting) await restarting;
    const channel = current;
    if (channel.lost !== undefined) return { type: 'worker-lost', message: channel.lost };
    return new Promise((resolveReply) => {
      channel.replies.push(resolveReply);
      channel.worker.postMessage(request);
    });
  }

  const first = startWorker();
  current = first.channel;
  const opened = await first.opened;
  if (opened.type !== 'opened') {
    releasing = true;
    await first.channel.worker.terminate();
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

  /**
   * How a batch ended whose worker died before answering: the new worker read the file, and the batch committed
   * (all of it: one transaction) exactly when the file's index is the batch's, with its results beside it.
   */
  async function afterLoss(batch: number, last: number, size: number): Promise<WorkerReply> {
    while (restarting) await restarting;
    const results = reopened?.index === last ? reopened.lastResults : null;
    if (results?.length === size) return { type: 'committed', batch, results };
    return { type: 'worker-lost', message: down ?? current.lost ?? 'the store worker stopped' };
  }

  async function pump(): Promise<void> {
    if (committing) return;
    committing = true;
    while (queue.length > 0) {
      const taken = queue.length > MAX_BATCH ? queue.splice(0, MAX_BATCH) : queue;
      if (taken === queue) queue = [];
      // Writes withdrawn at their deadline are never sent.
      const batch = taken.filter((pending) => !pending.withdrawn);
      if (batch.length === 0) continue;
      const before = index;
      for (const pending of batch) {
        pending.sent = true;
        index += 1;
        pending.op.modifyIndex = index;
      }
      batchNumber += 1;
      const last = index;
      const sentAt = performance.now();
      let reply = await ask({ type: 'commit', batch: batchNumber, index: last, ops: batch.map((p) => p.op) });
      if (reply.type === 'worker-lost') reply = await afterLoss(batchNumber, last, batch.length);
      if (reply.type === 'committed') {
        lastError = undefined;
        options.onCommit?.({ mutations: batch.length, seconds: (performance.now() - sentAt) / 1000 });
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
      } else if (reply.type === 'worker-lost') {
        // Not committed (the new worker's file says so): the indexes go back. Not a store failure: a new worker runs.
        index = Math.max(before, reopened?.index ?? before);
        const failure = new RegistryError(
          'STORE_UNAVAILABLE',
          `the store worker stopped before committing the write (${reply.message}); it was not acknowledged`,
        );
        for (const pending of batch) pending.reject(failure);
      } else {
        index = before;
        const failure = writeFailed(reply);
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

  /**
   * The error a write the worker could not commit answers, remembered for `/health` until a write succeeds. A full
   * disk says so and what to do (issue 21): it is the operator's to fix, and the same write succeeds once there is
   * room, so it stays a retryable UNAVAILABLE rather than a quota's RESOURCE_EXHAUSTED.
   */
  function writeFailed(reply: WorkerReply): RegistryError {
    const failed = reply.type === 'commit-failed' || reply.type === 'token-failed' ? reply : undefined;
    if (failed?.full === true) {
      lastError = `the disk holding ${file} is full (${failed.message})`;
      return new RegistryError(
        'UNAVAILABLE',
        `${lastError}: the write was not stored, and what was stored before is kept; free space there and retry`,
      );
    }
    lastError = failed?.message ?? 'unexpected reply from the store worker';
    return new RegistryError('UNAVAILABLE', `store write failed: ${lastError}`);
  }

  /** One token write; resolves whether it changed a row, after the listeners have the change. */
  async function writeToken(
    request: Extract<WorkerRequest, { type: 'create-token' | 'delete-token' }>,
    change: TokenChange,
  ): Promise<boolean> {
    let reply = await ask(request);
    if (reply.type === 'worker-lost') reply = await tokenAfterLoss(request, change);
    if (reply.type === 'worker-lost') {
      throw new RegistryError(
        'STORE_UNAVAILABLE',
        `the store worker stopped before committing the token write (${reply.message}); it was not acknowledged`,
      );
    }
    if (reply.type !== 'token-written') throw writeFailed(reply);
    lastError = undefined;
    if (reply.changed) tokenFeed.deliver(change);
    return reply.changed;
  }

  /**
   * How a token write ended whose worker died before answering, read from the file through the new worker: a create
   * committed when the token is there as written, a delete when the token is gone.
   */
  async function tokenAfterLoss(
    request: Extract<WorkerRequest, { type: 'create-token' | 'delete-token' }>,
    change: TokenChange,
  ): Promise<WorkerReply> {
    const lost = await ask({ type: 'list-tokens' });
    if (lost.type !== 'tokens') return { type: 'worker-lost', message: down ?? 'the store worker stopped' };
    const stored = lost.rows.find((data) => (JSON.parse(data) as TokenRecord).id === change.id);
    const notCommitted: WorkerReply = { type: 'worker-lost', message: 'the store worker stopped' };
    if (request.type === 'delete-token')
      return stored === undefined ? { type: 'token-written', changed: true } : notCommitted;
    if (stored === undefined) return notCommitted;
    return { type: 'token-written', changed: stored === request.data };
  }

  function trackTokenWrite(write: Promise<boolean>): Promise<boolean> {
    const tracked = write.catch(() => undefined);
    tokenWrites.add(tracked);
    void tracked.then(() => tokenWrites.delete(tracked));
    return write;
  }

  const store: Store = {
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
      let pending: Pending | undefined;
      const written = new Promise<WriteOutcome>((resolveWrite, reject) => {
        pending = { op, mutation, resolve: resolveWrite, reject, sent: false, withdrawn: false };
        queue.push(pending);
        if (!committing && !pumpScheduled) {
          pumpScheduled = true;
          // Wait out this turn so that every request already parsed joins the first batch.
          setImmediate(() => {
            pumpScheduled = false;
            void pump();
          });
        }
      });
      return deadline.guard(written, () => {
        if (!pending || pending.sent) return false;
        pending.withdrawn = true;
        return true;
      });
    },
    watch: (listener) => feed.add(listener),
    health(): StoreHealth {
      const health: StoreHealth = { kind: 'sqlite', ok: !closed, location: file };
      const degraded = deadline.degraded;
      if (down !== undefined) health.error = `the store worker stopped (${down}); starting a new one`;
      else if (lastError !== undefined) health.error = lastError;
      else if (degraded !== undefined) {
        health.error = degraded;
        health.degraded = true;
      }
      if (health.error !== undefined) health.ok = false;
      return health;
    },
    async listTokens(): Promise<TokenRecord[]> {
      if (closed) throw new RegistryError('UNAVAILABLE', 'the store is closed');
      const reply = await ask({ type: 'list-tokens' });
      if (reply.type !== 'tokens') throw new RegistryError('UNAVAILABLE', `cannot read ${file}`);
      return reply.rows.map((data) => JSON.parse(data) as TokenRecord);
    },
    createToken(record: TokenRecord): Promise<boolean> {
      if (closed) return Promise.reject(new RegistryError('UNAVAILABLE', 'the store is closed'));
      return deadline.guard(
        trackTokenWrite(
          writeToken({ type: 'create-token', id: record.id, data: JSON.stringify(record) }, { id: record.id, record }),
        ),
      );
    },
    deleteToken(id: string): Promise<boolean> {
      if (closed) return Promise.reject(new RegistryError('UNAVAILABLE', 'the store is closed'));
      return deadline.guard(trackTokenWrite(writeToken({ type: 'delete-token', id }, { id, record: null })));
    },
    watchTokens: (listener) => tokenFeed.add(listener),
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
        while (tokenWrites.size > 0) await Promise.all(tokenWrites);
        // Before the close request: the worker exits once closed, and that exit is no death.
        releasing = true;
        await ask({ type: 'close' });
        await current.worker.terminate();
      })();
      return closing;
    },
  };
  workerKillers.set(store, async () => {
    await current.worker.terminate();
  });
  return store;
}
