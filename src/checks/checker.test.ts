import { describe, expect, it } from 'vitest';
import type { ChangeListener, CheckResult, ScheduledCheck } from '../core/index.js';
import { Metrics } from '../metrics/index.js';
import type { CheckSpec } from '../store/index.js';
import type { ChangeEvent, Instance } from '../wire/index.js';
import { createChecker } from './checker.js';
import type { CheckHost } from './checker.js';
import type { Probe } from './probe.js';

function spec(id: string, intervalMs = 100): CheckSpec {
  return {
    id,
    kind: 'tcp',
    target: `127.0.0.1:${id}`,
    intervalMs,
    timeoutMs: intervalMs,
    successBefore: 1,
    failuresBefore: 3,
  };
}

/** A registry stand-in: instances with checks, a change feed, and the results it was given. */
class FakeHost implements CheckHost {
  readonly checks = new Map<string, ScheduledCheck[]>();
  readonly results: { check: Omit<ScheduledCheck, 'spec'>; result: CheckResult }[] = [];
  readonly #listeners = new Set<ChangeListener>();

  put(id: string, specs: CheckSpec[]): void {
    const existed = this.checks.has(id);
    this.checks.set(
      id,
      specs.map((s) => ({ service: 'svc', id, key: `${s.id}/${s.intervalMs}`, spec: s })),
    );
    this.#emit(existed ? 'updated' : 'registered', id);
  }

  remove(id: string): void {
    this.checks.delete(id);
    this.#emit('deregistered', id);
  }

  watch(_service: string | undefined, listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  listChecks(): ScheduledCheck[] {
    return [...this.checks.values()].flat();
  }

  checksOf(_service: string, id: string): ScheduledCheck[] {
    return this.checks.get(id) ?? [];
  }

  recordCheckResult(check: Omit<ScheduledCheck, 'spec'>, result: CheckResult): Promise<void> {
    this.results.push({ check, result });
    return Promise.resolve();
  }

  #emit(type: ChangeEvent['type'], id: string): void {
    const change: ChangeEvent = { type, index: 0, service: 'svc', instance: { id } as Instance };
    for (const listener of this.#listeners) listener(change);
  }
}

/** A probe that answers after `delayMs`, counting probes in flight overall and per check. */
function countingProbe(delayMs: number): Probe & { peak: number; peakPerCheck: number; runs: Map<string, number> } {
  let inFlight = 0;
  const perCheck = new Map<string, number>();
  const probe = Object.assign(
    async (s: CheckSpec, signal: AbortSignal): Promise<CheckResult> => {
      inFlight += 1;
      perCheck.set(s.id, (perCheck.get(s.id) ?? 0) + 1);
      probe.peak = Math.max(probe.peak, inFlight);
      probe.peakPerCheck = Math.max(probe.peakPerCheck, perCheck.get(s.id) ?? 0);
      probe.runs.set(s.id, (probe.runs.get(s.id) ?? 0) + 1);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      inFlight -= 1;
      perCheck.set(s.id, (perCheck.get(s.id) ?? 0) - 1);
      return { status: 'passing', output: 'ok' };
    },
    { peak: 0, peakPerCheck: 0, runs: new Map<string, number>() },
  );
  return probe;
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('Checker', () => {
  it('loads existing checks, probes them repeatedly and reports every result', async () => {
    const host = new FakeHost();
    host.put('a', [spec('1')]);
    const probe = countingProbe(1);
    const checker = createChecker({ registry: host, probe, concurrency: 256 });
    checker.start();
    await until(() => host.results.length >= 3);
    await checker.close();
    expect(probe.runs.get('1')).toBeGreaterThanOrEqual(3);
    expect(host.results[0]).toMatchObject({ check: { service: 'svc', id: 'a' }, result: { status: 'passing' } });
  });

  it('never runs more probes at once than its concurrency, nor two of one check', async () => {
    const host = new FakeHost();
    for (let i = 0; i < 40; i++) host.put(`i${i}`, [spec(String(i), 100)]);
    // Probes as slow as the interval: a check would overlap itself if it were rescheduled before settling.
    const probe = countingProbe(100);
    const checker = createChecker({ registry: host, probe, concurrency: 8 });
    checker.start();
    await until(() => checker.stats().runs >= 80);
    await checker.close();
    expect(probe.peak).toBe(8);
    expect(probe.peakPerCheck).toBe(1);
  });

  it('runs nothing while stopped (another node leads) and takes every check up again on start', async () => {
    const host = new FakeHost();
    host.put('a', [spec('1')]);
    const probe = countingProbe(1);
    const checker = createChecker({ registry: host, probe, concurrency: 256 });
    checker.start();
    await until(() => host.results.length >= 1);
    checker.stop();
    expect(checker.stats().checks).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const recorded = host.results.length;
    const runs = checker.stats().runs;
    host.put('b', [spec('2')]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(checker.stats().runs).toBe(runs);
    expect(host.results.length).toBe(recorded);
    checker.start();
    await until(() => (probe.runs.get('2') ?? 0) >= 1 && checker.stats().checks === 2);
    await checker.close();
  });

  it('follows registrations, changed definitions and removals', async () => {
    const host = new FakeHost();
    const probe = countingProbe(1);
    const checker = createChecker({ registry: host, probe, concurrency: 256 });
    checker.start();
    host.put('a', [spec('1')]);
    await until(() => (probe.runs.get('1') ?? 0) >= 1);
    host.put('a', [spec('2')]);
    expect(checker.stats().checks).toBe(1);
    await until(() => (probe.runs.get('2') ?? 0) >= 1);
    const before = probe.runs.get('2') ?? 0;
    host.remove('a');
    expect(checker.stats().checks).toBe(0);
    // A probe started before the removal counts already; none may start after it.
    await new Promise((resolve) => setTimeout(resolve, 250));
    await checker.close();
    expect(probe.runs.get('2')).toBe(before);
  });

  it('aborts the probes in flight when closed', async () => {
    const host = new FakeHost();
    host.put('a', [spec('1', 60_000)]);
    const probe = countingProbe(60_000);
    const checker = createChecker({ registry: host, probe, concurrency: 256 });
    checker.start();
    await until(() => checker.stats().running === 1);
    await checker.close();
    expect(checker.stats().running).toBe(0);
  });

  it('registers its metrics', async () => {
    const host = new FakeHost();
    host.put('a', [spec('1')]);
    const metrics = new Metrics();
    const checker = createChecker({ registry: host, probe: countingProbe(1), metrics, concurrency: 256 });
    checker.start();
    await until(() => checker.stats().runs >= 1);
    await checker.close();
    const text = await metrics.render();
    expect(text).toContain('\nswitchboard_checks 1\n');
    expect(text).toMatch(/^switchboard_check_runs_total\{status="passing"\} [1-9]\d*$/m);
  });
});
