/**
 * One active check's state machine (issue #5): the prober reports raw results, and the check changes state only
 * after enough consecutive results of the new kind, so one slow answer does not flap an instance.
 *
 * Invariants:
 * - `status` changes only through `commit`, which the registry calls once the change has an index; `observe`
 *   only counts and proposes, so answers never show a change that has no index. A proposal that could not be written is proposed again by the next result.
 * - Leaving `passing` takes `failuresBefore` consecutive failures (warning or critical, the last one wins);
 *   returning to `passing` takes `successBefore` consecutive passes; moving between warning and critical takes
 *   `failuresBefore` consecutive results of the new kind.
 * - The first result of a check the registry has never probed applies at once: there is no earlier state to
 *   protect from a flap.
 */
import type { CheckSpec } from '../store/index.js';
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

const RANK: Record<Health, number> = { passing: 0, warning: 1, critical: 2 };

/** The worse of two health states. */
export function worst(a: Health, b: Health): Health {
  return RANK[a] >= RANK[b] ? a : b;
}

export class CheckState {
  readonly spec: CheckSpec;
  /** Identifies the definition: a result for an older definition of the same check is ignored. */
  readonly key: string;
  /** The committed status: what the instance's health is built from. */
  status: Health;
  /** Epoch ms of the last status change, or of when the check was added. */
  updatedAt: number;
  /** The output of the last result; the cached wire shape shows the output as of the last change instead. */
  output: string;
  #committedOutput: string;
  /** Epoch ms of the last result, or undefined before the first. */
  checkedAt: number | undefined;
  #pristine: boolean;
  #passes = 0;
  #failures = 0;
  #last: Health | undefined;
  #sameInRow = 0;
  /** A proposed change is being written; further proposals wait for it. */
  writing = false;

  /**
   * A check starts `critical` ("not checked yet") so that a new instance is not discovered before it answers;
   * a check restored when the registry starts begins `passing`, so a registry restart hides nothing.
   */
  constructor(spec: CheckSpec, options: { now: number; restored: boolean }) {
    this.spec = spec;
    this.key = checkKey(spec);
    this.status = options.restored ? 'passing' : 'critical';
    this.output = options.restored ? 'restored when the registry started; not checked since' : 'not checked yet';
    this.updatedAt = options.now;
    this.checkedAt = undefined;
    this.#committedOutput = this.output;
    this.#pristine = !options.restored;
  }

  /** Counts a result and returns the status the check should move to, or undefined when it stays. */
  observe(result: CheckResult, now: number): Health | undefined {
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
    if (next === this.status) return undefined;
    if (this.#pristine) return next;
    if (next === 'passing') return this.#passes >= this.spec.successBefore ? next : undefined;
    if (this.status === 'passing') return this.#failures >= this.spec.failuresBefore ? next : undefined;
    return this.#sameInRow >= this.spec.failuresBefore ? next : undefined;
  }

  /** Applies a proposed change (the registry has written it and holds its index). */
  commit(status: Health, now: number): void {
    this.status = status;
    this.updatedAt = now;
    this.#committedOutput = this.output;
    this.#pristine = false;
  }

  /** The check as the cached wire shape shows it: its state as of the last change. */
  committed(): InstanceCheck {
    return this.#wire(this.#committedOutput);
  }

  /** The check with its latest output, for a single-instance read. */
  current(): InstanceCheck {
    return this.#wire(this.output);
  }

  #wire(output: string): InstanceCheck {
    const s = this.spec;
    return {
      id: s.id,
      kind: s.kind,
      target: s.target,
      interval: formatDuration(s.intervalMs),
      timeout: formatDuration(s.timeoutMs),
      successBefore: s.successBefore,
      failuresBefore: s.failuresBefore,
      status: this.status,
      output,
      updatedAt: new Date(this.updatedAt).toISOString(),
    };
  }
}

/** A string naming a check's whole definition. */
export function checkKey(spec: CheckSpec): string {
  return `${spec.id}\u0000${spec.kind}\u0000${spec.target}\u0000${spec.intervalMs}\u0000${spec.timeoutMs}\u0000${spec.successBefore}\u0000${spec.failuresBefore}`;
}
