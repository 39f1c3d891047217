/**
 * The checker: runs every instance's active checks (issue #5) and reports each result to the registry, whose
 * state machine decides what the result means. One scheduler for all checks: a deadline heap, one timer armed at
 * the earliest deadline, a FIFO of due probes and at most `concurrency` probes in flight.
 *
 * Invariants:
 * - A check has at most one probe in flight: it goes back into the heap only when its probe settles, and a
 *   probe's hard timeout never exceeds the check's interval (core/validate.ts).
 * - Start times are spread: a check's first probe runs within min(interval, 1 s) of its registration, the
 *   second after a random part of the interval, then every interval on that phase. So instances registered
 *   together (or restored together at start-up) do not probe in lock-step.
 * - A check that falls more than an interval behind skips the missed runs instead of firing them back to back.
 */
import { setMaxListeners } from 'node:events';
import type { CheckResult, ScheduledCheck } from '../core/index.js';
import { LeaseTable } from '../core/index.js';
import type { ChangeSource, CheckSink } from '../core/index.js';
import { LATENCY_BUCKETS } from '../metrics/index.js';
import type { Metrics } from '../metrics/index.js';
import type { ChangeEvent } from '../wire/index.js';
import { probe as networkProbe } from './probe.js';
import type { Probe } from './probe.js';

/** What the checker needs of the registry. */
export type CheckHost = Pick<ChangeSource, 'watch'> & CheckSink;

export interface CheckerLogger {
  warn(obj: object, msg: string): void;
}

export interface CheckerOptions {
  registry: CheckHost;
  /** Probes in flight at most: the configuration's `checks.concurrency`. */
  concurrency: number;
  logger?: CheckerLogger;
  /** Where to register the checker's metrics (`switchboard_checks`, `switchboard_check_runs_total`, …). */
  metrics?: Metrics;
  /** Replaces the network probe (tests). */
  probe?: Probe;
  /** Called after every probe, for benchmarks. */
  onRun?: (run: CheckRun) => void;
}

/** One probe as it happened. Times are `performance.now()` milliseconds. */
export interface CheckRun {
  check: ScheduledCheck;
  dueAt: number;
  startedAt: number;
  finishedAt: number;
  result: CheckResult;
}

export interface CheckerStats {
  /** Checks scheduled. */
  checks: number;
  running: number;
  /** Due probes waiting for a free slot. */
  waiting: number;
  runs: number;
  /** Runs skipped because a check fell more than an interval behind. */
  skipped: number;
}

interface Entry {
  check: ScheduledCheck;
  dueAt: number;
  runs: number;
  removed: boolean;
}

const FIRST_RUN_SPREAD_MS = 1_000;

/**
 * Creates a checker for the registry's active checks; call `start()` to load them and begin.
 * @example
 * const checker = createChecker({ registry, concurrency: 256, logger });
 * checker.start();
 * await checker.close();
 */
export function createChecker(options: CheckerOptions): Checker {
  return new Checker(options);
}

export class Checker {
  readonly #host: CheckHost;
  readonly #concurrency: number;
  readonly #logger: CheckerLogger | undefined;
  readonly #probe: Probe;
  readonly #onRun: ((run: CheckRun) => void) | undefined;
  /** Instance key → check key → entry. */
  readonly #entries = new Map<string, Map<string, Entry>>();
  readonly #heap = new LeaseTable<Entry>();
  readonly #ready: Entry[] = [];
  #readyHead = 0;
  #running = 0;
  #count = 0;
  #runs = 0;
  #skipped = 0;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #unwatch: (() => void) | undefined;
  readonly #abort = new AbortController();
  readonly #inFlight = new Set<Promise<void>>();
  #started = false;
  #closed = false;
  readonly #results: ((run: { status: string; kind: string; seconds: number }) => void) | undefined;

  constructor(options: CheckerOptions) {
    this.#host = options.registry;
    this.#concurrency = Math.max(1, options.concurrency);
    this.#logger = options.logger;
    this.#probe = options.probe ?? networkProbe;
    this.#onRun = options.onRun;
    // Every probe in flight listens on the one shutdown signal; their number is bounded by the concurrency.
    setMaxListeners(0, this.#abort.signal);
    const metrics = options.metrics;
    if (metrics) {
      metrics.gauge('switchboard_checks', 'Active checks scheduled.', () => this.#count);
      metrics.gauge('switchboard_checks_running', 'Probes in flight.', () => this.#running);
      metrics.gauge(
        'switchboard_checks_waiting',
        'Due probes waiting for a free slot.',
        () => this.#ready.length - this.#readyHead,
      );
      const runs = metrics.counter('switchboard_check_runs_total', 'Probes run, by result.', ['status']);
      const duration = metrics.histogram({
        name: 'switchboard_check_duration_seconds',
        help: 'How long a probe took, by kind of check (timeouts included).',
        labels: ['kind'],
        buckets: LATENCY_BUCKETS,
      });
      this.#results = (run) => {
        runs.inc({ status: run.status });
        duration.observe({ kind: run.kind }, run.seconds);
      };
      metrics.counterFrom(
        'switchboard_check_runs_skipped_total',
        'Probes skipped because a check fell an interval behind.',
        () => this.#skipped,
      );
    }
  }

  /** Loads every check from the registry and follows its changes. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#unwatch = this.#host.watch(undefined, (change) => {
      this.#onChange(change);
    });
    for (const check of this.#host.listChecks()) this.#add(check);
    this.#pump();
  }

  /**
   * Stops running checks but stays usable: in cluster mode another node leads and runs them now (issue #12). Probes
   * in flight finish without recording their results; `start()` takes every check up again.
   */
  stop(): void {
    if (!this.#started || this.#closed) return;
    this.#started = false;
    this.#unwatch?.();
    this.#unwatch = undefined;
    for (const entries of [...this.#entries.values()]) {
      for (const [key, entry] of [...entries]) this.#remove(entries, key, entry);
    }
    this.#ready.length = 0;
    this.#readyHead = 0;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  stats(): CheckerStats {
    return {
      checks: this.#count,
      running: this.#running,
      waiting: this.#ready.length - this.#readyHead,
      runs: this.#runs,
      skipped: this.#skipped,
    };
  }

  /** Stops scheduling, aborts the probes in flight and waits for them to settle. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unwatch?.();
    if (this.#timer) clearTimeout(this.#timer);
    this.#abort.abort();
    await Promise.allSettled([...this.#inFlight]);
  }

  #onChange(change: ChangeEvent): void {
    switch (change.type) {
      case 'registered':
      case 'updated':
        this.#sync(change.service, change.instance.id);
        break;
      case 'deregistered':
      case 'expired':
        this.#drop(change.service, change.instance.id);
        break;
      case 'status':
      case 'health':
        break;
    }
  }

  /** Brings one instance's entries in line with its current checks. */
  #sync(service: string, id: string): void {
    const wanted = this.#host.checksOf(service, id);
    const entries = this.#entries.get(instanceKey(service, id));
    if (entries) {
      const keys = new Set(wanted.map((c) => c.key));
      for (const [key, entry] of entries) if (!keys.has(key)) this.#remove(entries, key, entry);
    }
    for (const check of wanted) if (!entries?.has(check.key)) this.#add(check);
    this.#pump();
  }

  #drop(service: string, id: string): void {
    const entries = this.#entries.get(instanceKey(service, id));
    if (!entries) return;
    for (const [key, entry] of entries) this.#remove(entries, key, entry);
  }

  #add(check: ScheduledCheck): void {
    const key = instanceKey(check.service, check.id);
    let entries = this.#entries.get(key);
    if (!entries) {
      entries = new Map();
      this.#entries.set(key, entries);
    }
    const spread = Math.min(check.spec.intervalMs, FIRST_RUN_SPREAD_MS);
    const entry: Entry = { check, dueAt: now() + Math.random() * spread, runs: 0, removed: false };
    entries.set(check.key, entry);
    this.#count += 1;
    this.#heap.add(entry, entry.dueAt);
  }

  #remove(entries: Map<string, Entry>, key: string, entry: Entry): void {
    entry.removed = true;
    this.#heap.delete(entry);
    entries.delete(key);
    this.#count -= 1;
    if (entries.size === 0) this.#entries.delete(instanceKey(entry.check.service, entry.check.id));
  }

  /** Moves due checks to the run queue and starts probes while slots are free; then re-arms the timer. */
  #pump(): void {
    if (this.#closed || !this.#started) return;
    const at = now();
    for (const entry of this.#heap.popDue(at)) this.#ready.push(entry);
    while (this.#running < this.#concurrency && this.#readyHead < this.#ready.length) {
      const entry = this.#ready[this.#readyHead] as Entry;
      this.#readyHead += 1;
      if (!entry.removed) this.#run(entry, at);
    }
    if (this.#readyHead === this.#ready.length) {
      this.#ready.length = 0;
      this.#readyHead = 0;
    } else if (this.#readyHead > 4_096) {
      this.#ready.splice(0, this.#readyHead);
      this.#readyHead = 0;
    }
    this.#arm(at);
  }

  /** One timer, at the earliest deadline. While probes wait for slots, their completions pump instead. */
  #arm(at: number): void {
    const next = this.#heap.peek();
    if (next === undefined || this.#readyHead < this.#ready.length) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Infinity;
      return;
    }
    if (this.#timer && this.#timerAt <= next) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = next;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = Infinity;
        this.#pump();
      },
      Math.max(0, Math.ceil(next - at)),
    );
    this.#timer.unref();
  }

  #run(entry: Entry, startedAt: number): void {
    this.#running += 1;
    const running = this.#probe(entry.check.spec, this.#abort.signal)
      .catch((err: unknown): CheckResult => ({
        status: 'critical',
        output: err instanceof Error ? err.message : String(err),
      }))
      .then((result) => {
        this.#finish(entry, { startedAt, result });
      });
    this.#inFlight.add(running);
    void running.finally(() => this.#inFlight.delete(running));
  }

  #finish(entry: Entry, run: { startedAt: number; result: CheckResult }): void {
    this.#running -= 1;
    this.#runs += 1;
    const finishedAt = now();
    this.#results?.({
      status: run.result.status,
      kind: entry.check.spec.kind,
      seconds: (finishedAt - run.startedAt) / 1000,
    });
    this.#onRun?.({ check: entry.check, dueAt: entry.dueAt, startedAt: run.startedAt, finishedAt, result: run.result });
    if (this.#closed) return;
    if (!entry.removed) {
      this.#host.recordCheckResult(entry.check, run.result).catch((err: unknown) => {
        this.#logger?.warn(
          { err, service: entry.check.service, id: entry.check.id },
          'could not record a check result',
        );
      });
      this.#reschedule(entry, finishedAt);
    }
    this.#pump();
  }

  #reschedule(entry: Entry, finishedAt: number): void {
    const interval = entry.check.spec.intervalMs;
    entry.runs += 1;
    let next = entry.dueAt + (entry.runs === 1 ? Math.random() * interval : interval);
    if (next < finishedAt) {
      const behind = Math.ceil((finishedAt - next) / interval);
      if (entry.runs > 1) this.#skipped += behind;
      next += behind * interval;
    }
    entry.dueAt = next;
    this.#heap.add(entry, next);
  }
}

function now(): number {
  return performance.now();
}

function instanceKey(service: string, id: string): string {
  return `${service}\u0000${id}`;
}
