/** Messages between the sqlite store (main thread) and its worker thread. */

export interface WorkerSetup {
  file: string;
}

/** One conditional row change; `data` undefined means delete. */
export interface WorkerOp {
  service: string;
  id: string;
  data?: string;
  /** The row's modify_index the writer built from; 0: the row must not exist. */
  ifIndex: number;
  modifyIndex: number;
}

export type WorkerRequest =
  { type: 'load' } | { type: 'commit'; batch: number; index: number; ops: WorkerOp[] } | { type: 'close' };

export interface WorkerRow {
  data: string;
  create_index: number;
  modify_index: number;
}

/** Per op of a committed batch: the row's create_index after a put, 0 after a delete, REFUSED when its condition failed. */
export const REFUSED = -1;

export type WorkerReply =
  | { type: 'opened'; index: number }
  | { type: 'open-failed'; busy: boolean; message: string }
  | { type: 'loaded'; index: number; rows: WorkerRow[] }
  | { type: 'committed'; batch: number; results: number[] }
  | { type: 'commit-failed'; batch: number; message: string }
  | { type: 'closed' };
