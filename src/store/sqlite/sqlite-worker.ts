/**
 * The SQLite side of the sqlite store, on its own thread, so that an fsync never blocks the event loop: while this
 * thread commits one batch, the main thread keeps parsing requests and the next batch grows (group commit).
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { REFUSED } from './protocol.js';
import type { WorkerOp, WorkerReply, WorkerRequest, WorkerRow, WorkerSetup } from './protocol.js';

// Instances live in a rowid table with a unique index on (service, id), not in a WITHOUT ROWID table keyed by it:
// rows of a few hundred bytes fill a WITHOUT ROWID b-tree's pages with few rows each, so every write dirtied pages
// of its own and a commit of 20 registrations wrote about 130 pages to the WAL. A new instance now appends to the
// table (neighbours share pages) and adds a small index entry: 3–4× less written per commit (issue #20).
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
  CREATE TABLE IF NOT EXISTS instances (
    row INTEGER PRIMARY KEY,
    service TEXT NOT NULL,
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    create_index INTEGER NOT NULL,
    modify_index INTEGER NOT NULL
  ) STRICT;
  CREATE UNIQUE INDEX IF NOT EXISTS instances_key ON instances (service, id);
  CREATE TABLE IF NOT EXISTS tokens (id TEXT PRIMARY KEY, data TEXT NOT NULL) STRICT, WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS last_batch (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    batch_index INTEGER NOT NULL,
    results TEXT NOT NULL
  ) STRICT;
`;

/** Files written before issue #20 keep their instances in a WITHOUT ROWID table: moved over in one transaction. */
function migrateInstances(db: Database.Database): void {
  const table = db
    .prepare<[], { sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'instances'")
    .get();
  if (table === undefined || !/WITHOUT\s+ROWID/i.test(table.sql)) return;
  db.transaction(() => {
    db.exec('ALTER TABLE instances RENAME TO instances_before_rowid');
    db.exec(SCHEMA);
    db.exec(`INSERT INTO instances (service, id, data, create_index, modify_index)
      SELECT service, id, data, create_index, modify_index FROM instances_before_rowid`);
    db.exec('DROP TABLE instances_before_rowid');
  }).immediate();
}

/** SQLite's own code for a write that found no room; it rolls the transaction back, so the file stays whole. */
const isFull = (err: unknown): boolean => (err as { code?: unknown }).code === 'SQLITE_FULL';

const port = parentPort;
if (!port) throw new Error('sqlite-worker must run in a worker thread');
const { file } = workerData as WorkerSetup;
const send = (reply: WorkerReply): void => {
  port.postMessage(reply);
};

let db: Database.Database;
try {
  db = new Database(file, { timeout: 0 });
  // An exclusive lock held by this connection for its lifetime: a second registry on the same file fails at once,
  // and the kernel releases the lock when the process dies, even by SIGKILL.
  db.pragma('locking_mode = EXCLUSIVE');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  migrateInstances(db);
  db.exec(SCHEMA);
  db.exec('BEGIN IMMEDIATE; COMMIT;');
} catch (err) {
  const code = (err as { code?: unknown }).code;
  send({
    type: 'open-failed',
    busy: code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED',
    message: (err as Error).message,
  });
  process.exit(0);
}

const readIndex = db.prepare<[], { value: number }>("SELECT value FROM meta WHERE key = 'index'");
const writeIndex = db.prepare<[number]>(
  "INSERT INTO meta (key, value) VALUES ('index', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
);
// Each write's condition is part of its statement (no read first): a statement that changes no row was refused.
const insert = db.prepare<[string, string, string, number, number]>(
  `INSERT INTO instances (service, id, data, create_index, modify_index) VALUES (?, ?, ?, ?, ?)
   ON CONFLICT (service, id) DO NOTHING`,
);
const update = db.prepare<[string, number, string, string, number], { create_index: number }>(
  `UPDATE instances SET data = ?, modify_index = ? WHERE service = ? AND id = ? AND modify_index = ?
   RETURNING create_index`,
);
// A delete needs a row to delete (no row has modify_index 0): committing one for a missing row would wake every
// watcher for nothing.
const remove = db.prepare<[string, string, number]>(
  'DELETE FROM instances WHERE service = ? AND id = ? AND modify_index = ?',
);
const writeLastBatch = db.prepare<[number, string]>(
  `INSERT INTO last_batch (id, batch_index, results) VALUES (0, ?, ?)
   ON CONFLICT (id) DO UPDATE SET batch_index = excluded.batch_index, results = excluded.results`,
);
const readLastBatch = db.prepare<[], { batch_index: number; results: string }>(
  'SELECT batch_index, results FROM last_batch WHERE id = 0',
);
const selectAll = db.prepare<[], WorkerRow>('SELECT data, create_index, modify_index FROM instances');
// Tokens have no index: nothing but their listeners follows them, and each write is its own (autocommit) transaction.
const insertToken = db.prepare<[string, string]>(
  'INSERT INTO tokens (id, data) VALUES (?, ?) ON CONFLICT (id) DO NOTHING',
);
const removeToken = db.prepare<[string]>('DELETE FROM tokens WHERE id = ?');
const selectTokens = db.prepare<[], { data: string }>('SELECT data FROM tokens');

// Conditions are checked inside the transaction, in batch order, so two writes in one batch built from the same row
// cannot both pass.
const commit = db.transaction((request: Extract<WorkerRequest, { type: 'commit' }>): number[] => {
  const results: number[] = [];
  for (const op of request.ops) results.push(apply(op));
  writeIndex.run(request.index);
  // In the same transaction: a worker that dies after the commit but before its answer leaves the answer here.
  writeLastBatch.run(request.index, JSON.stringify(results));
  return results;
});

/** One conditional write: the row's create_index after a put, 0 after a delete, REFUSED when its condition failed. */
function apply(op: WorkerOp): number {
  if (op.data === undefined) return remove.run(op.service, op.id, op.ifIndex).changes === 1 ? 0 : REFUSED;
  if (op.ifIndex === 0) {
    return insert.run(op.service, op.id, op.data, op.modifyIndex, op.modifyIndex).changes === 1
      ? op.modifyIndex
      : REFUSED;
  }
  return update.get(op.data, op.modifyIndex, op.service, op.id, op.ifIndex)?.create_index ?? REFUSED;
}

const openedAt = readIndex.get()?.value ?? 0;
const lastBatch = readLastBatch.get();
send({
  type: 'opened',
  index: openedAt,
  lastResults: lastBatch?.batch_index === openedAt ? (JSON.parse(lastBatch.results) as number[]) : null,
});

port.on('message', (request: WorkerRequest) => {
  switch (request.type) {
    case 'load':
      // The index is read with the rows, so a snapshot never claims a batch the main thread has sent but that is
      // not committed yet.
      send({ type: 'loaded', index: readIndex.get()?.value ?? 0, rows: selectAll.all() });
      return;
    case 'commit':
      try {
        send({ type: 'committed', batch: request.batch, results: commit(request) });
      } catch (err) {
        send({ type: 'commit-failed', batch: request.batch, message: (err as Error).message, full: isFull(err) });
      }
      return;
    case 'list-tokens':
      try {
        send({ type: 'tokens', rows: selectTokens.all().map((row) => row.data) });
      } catch (err) {
        send({ type: 'token-failed', message: (err as Error).message, full: isFull(err) });
      }
      return;
    case 'create-token':
    case 'delete-token':
      try {
        const result =
          request.type === 'create-token' ? insertToken.run(request.id, request.data) : removeToken.run(request.id);
        send({ type: 'token-written', changed: result.changes === 1 });
      } catch (err) {
        send({ type: 'token-failed', message: (err as Error).message, full: isFull(err) });
      }
      return;
    case 'close':
      db.close();
      send({ type: 'closed' });
      port.close();
      return;
  }
});
