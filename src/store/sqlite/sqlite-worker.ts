/**
 * The SQLite side of the sqlite store, on its own thread, so that an fsync never blocks the event loop: while this
 * thread commits one batch, the main thread keeps parsing requests and the next batch grows (group commit).
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import type { WorkerReply, WorkerRequest, WorkerRow, WorkerSetup } from './protocol.js';

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
const upsert = db.prepare<[string, string, string, number, number]>(
  `INSERT INTO instances (service, id, data, create_index, modify_index) VALUES (?, ?, ?, ?, ?)
   ON CONFLICT (service, id) DO UPDATE SET data = excluded.data, modify_index = excluded.modify_index`,
);
const remove = db.prepare<[string, string]>('DELETE FROM instances WHERE service = ? AND id = ?');
const selectAll = db.prepare<[], WorkerRow>('SELECT data, create_index, modify_index FROM instances');

const commit = db.transaction((request: Extract<WorkerRequest, { type: 'commit' }>) => {
  for (const op of request.ops) {
    if (op.data === undefined) remove.run(op.service, op.id);
    else upsert.run(op.service, op.id, op.data, op.createIndex, op.modifyIndex);
  }
  writeIndex.run(request.index);
});

send({ type: 'opened', index: readIndex.get()?.value ?? 0 });

port.on('message', (request: WorkerRequest) => {
  switch (request.type) {
    case 'load':
      send({ type: 'loaded', rows: selectAll.all() });
      return;
    case 'commit':
      try {
        commit(request);
        send({ type: 'committed', batch: request.batch });
      } catch (err) {
        send({ type: 'commit-failed', batch: request.batch, message: (err as Error).message });
      }
      return;
    case 'close':
      db.close();
      send({ type: 'closed' });
      port.close();
      return;
  }
});
