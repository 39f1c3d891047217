/**
 * The SQLite side of the sqlite store, on its own thread, so that an fsync never blocks the event loop: while this
 * thread commits one batch, the main thread keeps parsing requests and the next batch grows (group commit).
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { REFUSED } from './protocol.js';
import type { WorkerOp, WorkerReply, WorkerRequest, WorkerRow, WorkerSetup } from './protocol.js';

// Instances live in a rowid table addressed by rowid, not in a WITHOUT ROWID table keyed by (service, id), nor with
// an index on it: rows of a few hundred bytes fill a WITHOUT ROWID b-tree's pages with few rows each, and a key index
// takes one leaf page per new instance (new instances land all over it), so every write dirtied pages of its own and
// a commit of 20 registrations wrote 60–130 pages to the WAL. A new instance now appends to the table (neighbours
// share pages): a commit writes a few pages (issue #20). This thread is the file's only writer (the lock below), so
// the key → row map it keeps in memory (`rows`) is as good as an index, and checks each write's condition.
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
  DROP INDEX IF EXISTS instances_key;
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
const insert = db.prepare<[string, string, string, number, number]>(
  'INSERT INTO instances (service, id, data, create_index, modify_index) VALUES (?, ?, ?, ?, ?)',
);
const update = db.prepare<[string, number, number]>('UPDATE instances SET data = ?, modify_index = ? WHERE row = ?');
const remove = db.prepare<[number]>('DELETE FROM instances WHERE row = ?');
const selectKeys = db.prepare<
  [],
  { row: number; service: string; id: string; create_index: number; modify_index: number }
>('SELECT row, service, id, create_index, modify_index FROM instances');
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

/** Where an instance's row is, and the indexes its condition is checked against. */
interface RowOf {
  row: number;
  createIndex: number;
  modifyIndex: number;
}

const keyOf = (service: string, id: string): string => `${service}\n${id}`;

/** Every instance's row, read once at open; kept in step with each committed batch. */
const rows = new Map<string, RowOf>();
for (const { row, service, id, create_index, modify_index } of selectKeys.iterate()) {
  rows.set(keyOf(service, id), { row, createIndex: create_index, modifyIndex: modify_index });
}

/** How to put `rows` back as it was before a change of a batch that rolled back. */
type Undo = [key: string, before: RowOf | undefined];

// Conditions are checked in batch order against `rows` as the batch changed it, so two writes in one batch built from
// the same row cannot both pass.
const commit = db.transaction((request: Extract<WorkerRequest, { type: 'commit' }>, undo: Undo[]): number[] => {
  const results: number[] = [];
  for (const op of request.ops) results.push(apply(op, undo));
  writeIndex.run(request.index);
  // In the same transaction: a worker that dies after the commit but before its answer leaves the answer here.
  writeLastBatch.run(request.index, JSON.stringify(results));
  return results;
});

/** One conditional write: the row's create_index after a put, 0 after a delete, REFUSED when its condition failed. */
function apply(op: WorkerOp, undo: Undo[]): number {
  const key = keyOf(op.service, op.id);
  const current = rows.get(key);
  if ((current?.modifyIndex ?? 0) !== op.ifIndex) return REFUSED;
  if (op.data === undefined) {
    // A delete needs a row to delete (no row has modify_index 0): committing one for a missing row would wake every
    // watcher for nothing.
    if (current === undefined) return REFUSED;
    remove.run(current.row);
    undo.push([key, current]);
    rows.delete(key);
    return 0;
  }
  if (current === undefined) {
    const row = Number(insert.run(op.service, op.id, op.data, op.modifyIndex, op.modifyIndex).lastInsertRowid);
    undo.push([key, undefined]);
    rows.set(key, { row, createIndex: op.modifyIndex, modifyIndex: op.modifyIndex });
    return op.modifyIndex;
  }
  update.run(op.data, op.modifyIndex, current.row);
  undo.push([key, current]);
  rows.set(key, { ...current, modifyIndex: op.modifyIndex });
  return current.createIndex;
}

/** Commits a batch; when it rolls back, `rows` goes back to what the file holds. */
function commitBatch(request: Extract<WorkerRequest, { type: 'commit' }>): number[] {
  const undo: Undo[] = [];
  try {
    return commit(request, undo);
  } catch (err) {
    for (let i = undo.length - 1; i >= 0; i--) {
      const [key, before] = undo[i] as Undo;
      if (before === undefined) rows.delete(key);
      else rows.set(key, before);
    }
    throw err;
  }
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
        send({ type: 'committed', batch: request.batch, results: commitBatch(request) });
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
