import { describe, expect, it } from 'vitest';
import type { CheckSpec, StoredCheck } from '../store/index.js';
import { CheckState, NOT_CHECKED_OUTPUT, newCheck, worst } from './check-state.js';
import type { CheckResult } from './check-state.js';

const spec: CheckSpec = {
  id: 'http:http://127.0.0.1:9/health',
  kind: 'http',
  target: 'http://127.0.0.1:9/health',
  intervalMs: 1_000,
  timeoutMs: 500,
  successBefore: 1,
  failuresBefore: 3,
};

const pass: CheckResult = { status: 'passing', output: 'ok' };
const fail: CheckResult = { status: 'critical', output: 'connect ECONNREFUSED' };
const busy: CheckResult = { status: 'warning', output: 'too many requests' };

/** A check and its stored state, which the registry would write on every proposed change. */
class Tracked {
  readonly check: CheckState;
  stored: StoredCheck;
  constructor(s: CheckSpec, stored: StoredCheck = newCheck(0)) {
    this.check = new CheckState(s, stored);
    this.stored = stored;
  }
  get status(): string {
    return this.stored.status;
  }
  observe(result: CheckResult, now: number): string | undefined {
    return this.check.observe(result, now, this.stored);
  }
}

/** Feeds results, committing every proposed change as the registry would, and returns the statuses seen. */
function run(tracked: Tracked, results: CheckResult[]): string[] {
  return results.map((result, i) => {
    const next = tracked.check.observe(result, i, tracked.stored);
    if (next !== undefined) tracked.stored = { status: next, output: tracked.check.output, updatedAt: i };
    return tracked.status;
  });
}

describe('CheckState', () => {
  it('starts critical ("not checked yet") and takes its first result at once', () => {
    const check = new Tracked(spec);
    expect(check.status).toBe('critical');
    expect(check.stored.output).toBe(NOT_CHECKED_OUTPUT);
    expect(run(check, [pass])).toEqual(['passing']);
  });

  it('keeps a stored passing state against a single failure, as after a restart', () => {
    const check = new Tracked(spec, { status: 'passing', output: 'ok', updatedAt: 0 });
    expect(run(check, [fail, fail])).toEqual(['passing', 'passing']);
  });

  it('turns critical only after failuresBefore consecutive failures', () => {
    const check = new Tracked(spec);
    run(check, [pass]);
    expect(run(check, [fail, fail, fail, fail])).toEqual(['passing', 'passing', 'critical', 'critical']);
  });

  it('does not flap on alternating answers with the default thresholds', () => {
    const check = new Tracked(spec);
    run(check, [pass]);
    const seen = run(check, [fail, pass, fail, pass, fail, fail, pass, fail, pass]);
    expect(new Set(seen)).toEqual(new Set(['passing']));
  });

  it('returns to passing after successBefore consecutive passes', () => {
    const check = new Tracked({ ...spec, successBefore: 2 });
    run(check, [pass, fail, fail, fail]);
    expect(check.status).toBe('critical');
    expect(run(check, [pass, fail, pass, pass])).toEqual(['critical', 'critical', 'critical', 'passing']);
  });

  it('turns warning on consecutive 429-like results, and moves between failing states only on a streak of the new kind', () => {
    const check = new Tracked(spec);
    run(check, [pass]);
    expect(run(check, [busy, busy, busy])).toEqual(['passing', 'passing', 'warning']);
    expect(run(check, [fail, fail, busy, fail, fail, fail])).toEqual([
      'warning',
      'warning',
      'warning',
      'warning',
      'warning',
      'critical',
    ]);
  });

  it('counts failures of either kind together when leaving passing, and the last one wins', () => {
    const check = new Tracked(spec);
    run(check, [pass]);
    expect(run(check, [fail, busy, fail])).toEqual(['passing', 'passing', 'critical']);
  });

  it('proposes an uncommitted change again on the next result', () => {
    const check = new Tracked(spec);
    run(check, [pass]);
    check.observe(fail, 1);
    check.observe(fail, 2);
    expect(check.observe(fail, 3)).toBe('critical');
    // The registry could not write it; the next failure proposes it again.
    expect(check.observe(fail, 4)).toBe('critical');
  });

  it('keeps the latest output while the stored state keeps the output of the last change', () => {
    const check = new Tracked(spec);
    run(check, [pass]);
    check.observe({ status: 'passing', output: 'still ok' }, 5);
    expect(check.stored.output).toBe('ok');
    expect(check.check.output).toBe('still ok');
  });

  it('keeps at most 4 KiB of output', () => {
    const check = new Tracked(spec);
    check.observe({ status: 'passing', output: 'x'.repeat(10_000) }, 1);
    expect(check.check.output).toHaveLength(4_096);
  });
});

describe('worst', () => {
  it('orders passing < warning < critical', () => {
    expect(worst('passing', 'warning')).toBe('warning');
    expect(worst('critical', 'warning')).toBe('critical');
    expect(worst('passing', 'passing')).toBe('passing');
  });
});
