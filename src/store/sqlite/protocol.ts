/** Messages between the sqlite store (main thread) and its worker thread. */

export interface WorkerSetup {
  file: string;
}

/** One row change; `data` undefined means delete. */
export interface WorkerOp {
  service: string;
  id: string;
  data?: string;
  createIndex: number;
  modifyIndex: number;
}

export type WorkerRequest =
  { type: 'load' } | { type: 'commit'; batch: number; index: number; ops: WorkerOp[] } | { type: 'close' };

export interface WorkerRow {
  data: string;
  create_index: number;
  modify_index: number;
}

export type WorkerReply =
  | { type: 'opened'; index: number }
  | { type: 'open-failed'; busy: boolean; message: string }
  | { type: 'loaded'; rows: WorkerRow[] }
  | { type: 'committed'; batch: number }
  | { type: 'commit-failed'; batch: number; message: string }
  | { type: 'closed' };
