import { parseDuration } from './duration.js';
import type { Duration } from './duration.js';

/** A blocking query that names no `wait` waits this long; none waits longer than the maximum (Consul's 5 and 10 min). */
export const BLOCKING_WAIT = { default: '5m', defaultMs: 5 * 60_000, maxMs: 10 * 60_000 } as const;

/** How long a blocking query with this `wait` is held at most: what the server does, and what a client allows for. */
export function blockingWaitMs(wait: Duration | undefined): number {
  return Math.min(wait === undefined ? BLOCKING_WAIT.defaultMs : parseDuration(wait, 'wait'), BLOCKING_WAIT.maxMs);
}
