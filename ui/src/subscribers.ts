/**
 * The subscribers view's model (issue #19): who follows the registry (`GET /v1/subscribers`) and how far behind, as
 * plain functions over the wire's `Subscriber`, so ordering and wording are unit-tested without a browser.
 */
import type { DrainAnswer, Subscriber } from '../../src/sdk/client.js';
import { compareText } from './model.js';

/**
 * The subscribers a drain of `service` waits for: those of the service and those of every service. Without a service,
 * all of them.
 */
export function subscribersOf(subscribers: readonly Subscriber[], service: string | undefined): Subscriber[] {
  if (service === undefined) return [...subscribers];
  return subscribers.filter((subscriber) => subscriber.watches === null || subscriber.watches === service);
}

/**
 * Worst lag first: the longest wait, then the most changes behind; a subscriber that has not reported an index yet
 * comes before those that have (its progress is unknown); then live before gone, then by name and id so the order
 * does not jump between refreshes.
 */
export function sortByLag(subscribers: readonly Subscriber[]): Subscriber[] {
  return [...subscribers].sort(
    (a, b) =>
      b.lagMs - a.lagMs ||
      b.lagChanges - a.lagChanges ||
      Number(a.applied !== null) - Number(b.applied !== null) ||
      Number(b.live) - Number(a.live) ||
      compareText(a.name, b.name) ||
      compareText(a.id, b.id) ||
      compareText(a.watches ?? '', b.watches ?? ''),
  );
}

/** One subscriber's identity in a list: an id follows each service separately, and on each node. */
export function subscriberKey(subscriber: Pick<Subscriber, 'node' | 'id' | 'watches'>): string {
  return `${subscriber.node}\u0000${subscriber.id}\u0000${subscriber.watches ?? ''}`;
}

/** What it watches, as a person reads it. */
export function watchesLabel(watches: string | null): string {
  return watches ?? 'every service';
}

/** Behind: changes of what it watches are waiting for it (the server counts them; a bound in time it does not send). */
export function isBehind(subscriber: Subscriber): boolean {
  return subscriber.lagChanges > 0;
}

/** Its lag in changes: "caught up", "1 change", "12 changes". */
export function lagChangesLabel(subscriber: Subscriber): string {
  if (subscriber.lagChanges === 0) return 'caught up';
  return subscriber.lagChanges === 1 ? '1 change' : `${subscriber.lagChanges} changes`;
}

/** A lag in time: "0 ms", "850 ms", "1.2 s", "45 s", "3 min", "2 h". */
export function durationLabel(ms: number): string {
  if (ms < 1_000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 10_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)} s`;
  if (ms < 120_000) return `${Math.floor(ms / 1_000)} s`;
  if (ms < 7_200_000) return `${Math.floor(ms / 60_000)} min`;
  return `${Math.floor(ms / 3_600_000)} h`;
}

/** Whether it counts for drains now, and why. */
export function livenessLabel(subscriber: Pick<Subscriber, 'connected' | 'live'>): string {
  if (subscriber.connected) return 'live: connected';
  return subscriber.live ? 'live: seen recently' : 'gone';
}

/** "3 subscribers" etc. */
export function countLabel(count: number): string {
  return count === 1 ? '1 subscriber' : `${count} subscribers`;
}

/** The waits a drain from the page offers (the registry caps them at `--subscribers-max-drain-wait`). */
export const DRAIN_WAITS = ['1s', '5s', '30s', '1m', '5m'] as const;

/** A drain's answer in one sentence: whether every live subscriber applied it, and how long that took. */
export function drainSummary(answer: DrainAnswer): string {
  const waited = durationLabel(answer.waitedMs);
  if (answer.complete) {
    return answer.caughtUp.length === 0
      ? `No live subscriber follows ${answer.service}: nothing to wait for.`
      : `Every live subscriber of ${answer.service} applied index ${answer.index} (${countLabel(answer.caughtUp.length)}, after ${waited}).`;
  }
  return `The wait ran out after ${waited}: ${countLabel(answer.behind.length)} had not applied index ${answer.index}, and may still send requests to ${answer.id}.`;
}
