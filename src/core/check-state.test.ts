import { describe, expect, it } from 'vitest';
import type { CheckSpec } from '../store/index.js';
import { CheckState, worst } from './check-state.js';
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

/** Feeds results, committing every proposed change as the registry would, and returns the statuses seen. */
function run(check: CheckState, results: CheckResult[]): string[] {
  return results.map((result, i) => {
    const next = check.observe(result, i);
    if (next !== undefined) check.commit(next, i);
    return check.status;
  });
}

describe('CheckState', () => {
  it('starts critical ("not checked yet") and takes its first result at once', () => {
    const check = new CheckState(spec, { now: 0, restored: false });
    expect(check.status).toBe('critical');
    expect(check.committed().output).toBe('not checked yet');
    expect(run(check, [pass])).toEqual(['passing']);
  });

  it('starts passing when restored at start-up, so a registry restart hides nothing', () => {
    const check = new CheckState(spec, { now: 0, restored: true });
    expect(check.status).toBe('passing');
    expect(run(check, [fail, fail])).toEqual(['passing', 'passing']);
  });

  it('turns critical only after failuresBefore consecutive failures', () => {
    const check = new CheckState(spec, { now: 0, restored: false });
    run(check, [pass]);
    expect(run(check, [fail, fail, fail, fail])).toEqual(['passing', 'passing', 'critical', 'critical']);
  });

  it('does not flap on alternating answers with the default thresholds', () => {
    const check = new CheckState(spec, { now: 0, restored: false });
    run(check, [pass]);
    const seen = run(check, [fail, pass, fail, pass, fail, fail, pass, fail, pass]);
    expect(new Set(seen)).toEqual(new Set(['passing']));
  });

  it('returns to passing after successBefore consecutive passes', () => {
    const check = new CheckState({ ...spec, successBefore: 2 }, { now: 0, restored: false });
    run(check, [pass, fail, fail, fail]);
    expect(check.status).toBe('critical');
    expect(run(check, [pass, fail, pass, pass])).toEqual(['critical', 'critical', 'critical', 'passing']);
  });

  it('turns warning on consecutive 429-like results, and moves between failing states only on a streak of the new kind', () => {
    const check = new CheckState(spec, { now: 0, restored: false });
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
    const check = new CheckState(spec, { now: 0, restored: false });
    run(check, [pass]);
    expect(run(check, [fail, busy, fail])).toEqual(['passing', 'passing', 'critical']);
  });

  it('proposes an uncommitted change again on the next result', () => {
    const check = new CheckState(spec, { now: 0, restored: false });
    run(check, [pass]);
    check.observe(fail, 1);
    check.observe(fail, 2);
    expect(check.observe(fail, 3)).toBe('critical');
    // The registry could not write it; the next failure proposes it again.
    expect(check.observe(fail, 4)).toBe('critical');
  });

  it('shows the output as of the last change in the cached shape and the latest output live', () => {
    const check = new CheckState(spec, { now: 0, restored: false });
    run(check, [pass]);
    check.observe({ status: 'passing', output: 'still ok' }, 5);
    expect(check.committed().output).toBe('ok');
    expect(check.current().output).toBe('still ok');
    expect(check.current().updatedAt).toBe(new Date(0).toISOString());
  });

  it('keeps at most 4 KiB of output', () => {
    const check = new CheckState(spec, { now: 0, restored: false });
    check.observe({ status: 'passing', output: 'x'.repeat(10_000) }, 1);
    expect(check.output).toHaveLength(4_096);
  });
});

describe('worst', () => {
  it('orders passing < warning < critical', () => {
    expect(worst('passing', 'warning')).toBe('warning');
    expect(worst('critical', 'warning')).toBe('critical');
    expect(worst('passing', 'passing')).toBe('passing');
  });
});
