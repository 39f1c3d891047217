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
  | { type: 'load' }
  | { type: 'commit'; batch: number; index: number; ops: WorkerOp[] }
  | { type: 'list-tokens' }
  /** Inserts the token unless a token with its id exists; `data` is the record's JSON. */
  | { type: 'create-token'; id: string; data: string }
  | { type: 'delete-token'; id: string }
  | { type: 'close' };

export interface WorkerRow {
  data: string;
  create_index: number;
  modify_index: number;
}

/** Per op of a committed batch: the row's create_index after a put, 0 after a delete, REFUSED when its condition failed. */
export const REFUSED = -1;

export type WorkerReply =
  /**
   * `lastResults`: the results of the batch that wrote `index`, as `committed` would have answered them, so that after
   * a worker died with a batch unanswered the store learns whether (and how) it committed; null when not recorded.
   */
  | { type: 'opened'; index: number; lastResults: number[] | null }
  | { type: 'open-failed'; busy: boolean; message: string }
  | { type: 'loaded'; index: number; rows: WorkerRow[] }
  | { type: 'committed'; batch: number; results: number[] }
  /** `full`: SQLite answered SQLITE_FULL (the disk or its quota is full): nothing of the batch was written. */
  | { type: 'commit-failed'; batch: number; message: string; full: boolean }
  /** Every token's JSON. */
  | { type: 'tokens'; rows: string[] }
  /** A token write, committed (`changed`) or refused (it would have changed nothing), either way settled. */
  | { type: 'token-written'; changed: boolean }
  | { type: 'token-failed'; message: string; full: boolean }
  | { type: 'closed' }
  /** Made by the main thread, not the worker: the worker stopped with this request unanswered. */
  | { type: 'worker-lost'; message: string };
