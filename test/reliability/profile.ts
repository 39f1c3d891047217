/**
 * The reliability suite's two profiles (issue 21). `npm test` runs the short one, small enough for CI; `npm run
 * reliability` (bench/reliability.mjs) runs the long one with RELIABILITY_PROFILE=long and collects what each test
 * records into RELIABILITY_RESULTS, from which it writes the section of bench/RESULTS.md and its chart.
 *
 * Timing figures (event-loop delay, RSS growth) are the acceptance bounds for the long profile only: the
 * team's rule is no timing thresholds in the test suite, so the short profile records them and asserts only
 * errors and correctness.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export type ProfileName = 'short' | 'medium' | 'long';

export interface Profile {
  name: ProfileName;
  /** SIGKILLs of the single registry, each after `loadBetweenKillsMs` of load. */
  kills: number;
  /** SIGKILLs in cluster mode (registry nodes and etcd members in turn). */
  clusterKills: number;
  loadBetweenKillsMs: number;
  /** Clients writing at once in the kill tests, each on its own keys. */
  writers: number;
  partitionMs: number;
  soakMs: number;
  /** The soak's first share of time, excluded from the RSS growth (caches and pools filling). */
  warmUpMs: number;
  leases: number;
  eventStreams: number;
  blockingQueries: number;
  /** Whether the soak asserts the timing bounds (RSS growth, event-loop p99). */
  assertTiming: boolean;
}

const PROFILES: Record<ProfileName, Profile> = {
  short: {
    name: 'short',
    kills: 10,
    clusterKills: 6,
    loadBetweenKillsMs: 1_000,
    writers: 8,
    partitionMs: 3_000,
    soakMs: 30_000,
    warmUpMs: 10_000,
    leases: 500,
    eventStreams: 50,
    blockingQueries: 20,
    assertTiming: false,
  },
  medium: {
    name: 'medium',
    kills: 20,
    clusterKills: 10,
    loadBetweenKillsMs: 2_000,
    writers: 16,
    partitionMs: 8_000,
    soakMs: 180_000,
    warmUpMs: 60_000,
    leases: 10_000,
    eventStreams: 1_000,
    blockingQueries: 100,
    assertTiming: true,
  },
  long: {
    name: 'long',
    kills: 30,
    clusterKills: 12,
    loadBetweenKillsMs: 3_000,
    writers: 16,
    partitionMs: 15_000,
    soakMs: 600_000,
    warmUpMs: 120_000,
    leases: 10_000,
    eventStreams: 1_000,
    blockingQueries: 100,
    assertTiming: true,
  },
};

const asked = process.env['RELIABILITY_PROFILE'] ?? 'short';
if (!Object.hasOwn(PROFILES, asked)) throw new Error(`RELIABILITY_PROFILE must be short, medium or long, not ${asked}`);

export const PROFILE: Profile = PROFILES[asked as ProfileName];

/** A generous vitest timeout for a test whose own work takes about `ms`. */
export const timeoutFor = (ms: number): number => ms * 2 + 60_000;

const resultsDir = process.env['RELIABILITY_RESULTS'];

/** Appends one test's figures to the run's results (a JSON line), when bench/reliability.mjs collects them. */
export function record(test: string, figures: Record<string, unknown>): void {
  if (resultsDir === undefined || resultsDir === '') return;
  mkdirSync(resultsDir, { recursive: true });
  appendFileSync(join(resultsDir, 'results.jsonl'), `${JSON.stringify({ test, profile: PROFILE.name, ...figures })}\n`);
}
