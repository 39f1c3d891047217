/**
 * One active check's state machine (issue #5): the prober reports raw results, and the check changes state only
 * after enough consecutive results of the new kind, so one slow answer does not flap an instance.
 *
 * Invariants:
 * - The committed status lives in the instance's record (`StoredHealth.checks`), so it is what the store holds;
 *   `observe` only counts and proposes, and the registry writes a proposal through the store. A proposal that could
 *   not be written is proposed again by the next result.
 * - Leaving `passing` takes `failuresBefore` consecutive failures (warning or critical, the last one wins);
 *   returning to `passing` takes `successBefore` consecutive passes; moving between warning and critical takes
 *   `failuresBefore` consecutive results of the new kind.
 * - The first result of a check nobody has probed yet applies at once (and is written, even when it keeps the
 *   status): there is no earlier state to protect.
 */
import type { CheckSpec, StoredCheck } from '../store/index.js';
import { formatDuration } from '../wire/index.js';
import type { Health, InstanceCheck } from '../wire/index.js';

/** What one probe saw. */
export interface CheckResult {
  status: Health;
  /** Truncated by the registry to OUTPUT_LIMIT characters. */
  output: string;
}

/** How much probe output an instance keeps per check (the first 4 KiB of an HTTP body). */
export const OUTPUT_LIMIT = 4_096;

/** The state a check starts in: an instance is not discovered before its checks answer. */
export const NOT_CHECKED_OUTPUT = 'not checked yet';

const RANK: Record<Health, number> = { passing: 0, warning: 1, critical: 2 };

/** The worse of two health states. */
export function worst(a: Health, b: Health): Health {
  return RANK[a] >= RANK[b] ? a : b;
}

/** The stored state of a check that was just defined. */
export function newCheck(now: number): StoredCheck {
  return { status: 'critical', output: NOT_CHECKED_OUTPUT, updatedAt: now };
}

/**
 * A check whose record holds no state for it (written before check states were stored): it counts as passing, so an
 * upgrade hides nothing.
 */
const UNDECIDED: StoredCheck = Object.freeze({
  status: 'passing',
  output: 'restored; not checked since',
  updatedAt: 0,
});

/** The run-time side of one check: result counters and the latest output, which are not stored. */
export class CheckState {
  readonly spec: CheckSpec;
  /** Identifies the definition: a result for an older definition of the same check is ignored. */
  readonly key: string;
  /** The output of the last result (the stored one until a result comes). */
  output: string;
  /** Epoch ms of the last result, or undefined before the first. */
  checkedAt: number | undefined;
  #passes = 0;
  #failures = 0;
  #last: Health | undefined;
  #sameInRow = 0;
  /** A proposed change is being written; further proposals wait for it. */
  writing = false;

  constructor(spec: CheckSpec, stored: StoredCheck | undefined) {
    this.spec = spec;
    this.key = checkKey(spec);
    this.output = (stored ?? UNDECIDED).output;
    this.checkedAt = undefined;
  }

  /** Counts a result and returns the state the check should move to from `stored`, or undefined when it stays. */
  observe(result: CheckResult, now: number, stored: StoredCheck): Health | undefined {
    const committed = stored.status;
    this.output = result.output.length > OUTPUT_LIMIT ? result.output.slice(0, OUTPUT_LIMIT) : result.output;
    this.checkedAt = now;
    const next = result.status;
    if (next === 'passing') {
      this.#passes += 1;
      this.#failures = 0;
    } else {
      this.#failures += 1;
      this.#passes = 0;
    }
    this.#sameInRow = this.#last === next ? this.#sameInRow + 1 : 1;
    this.#last = next;
    // The first result is written even when it keeps the status, so the stored state says the check has run.
    if (stored.output === NOT_CHECKED_OUTPUT) return next;
    if (next === committed) return undefined;
    if (next === 'passing') return this.#passes >= this.spec.successBefore ? next : undefined;
    if (committed === 'passing') return this.#failures >= this.spec.failuresBefore ? next : undefined;
    return this.#sameInRow >= this.spec.failuresBefore ? next : undefined;
  }
}

/** A stored check's state, or the state of a check with none stored. */
export function storedCheck(stored: StoredCheck | undefined): StoredCheck {
  return stored ?? UNDECIDED;
}

/**
 * A check as answers show it: its definition and `stored` state, with `output` when given (the latest).
 *
 * Seam for access control (issue #13): `output` is what the probed target answered, so it must be readable only with
 * read on the instance's service. It reaches clients only inside instances (this shape, in every answer and change
 * event), never in logs at info: the auth module must filter per service every route that serves instances of
 * several services at once (`GET /v1/instances`, XML-RPC `registry.instances`, `/v1/events` and watches without a
 * service), and the routes of one service by read on it.
 */
export function checkToWire(spec: CheckSpec, stored: StoredCheck, output = stored.output): InstanceCheck {
  return {
    id: spec.id,
    kind: spec.kind,
    target: spec.target,
    interval: formatDuration(spec.intervalMs),
    timeout: formatDuration(spec.timeoutMs),
    successBefore: spec.successBefore,
    failuresBefore: spec.failuresBefore,
    status: stored.status,
    output,
    updatedAt: new Date(stored.updatedAt).toISOString(),
  };
}

/** A string naming a check's whole definition. */
export function checkKey(spec: CheckSpec): string {
  return `${spec.id}\u0000${spec.kind}\u0000${spec.target}\u0000${spec.intervalMs}\u0000${spec.timeoutMs}\u0000${spec.successBefore}\u0000${spec.failuresBefore}`;
}
