/**
 * The live event log (issue #16, view 4): the last changes seen since the page opened, newest first, bounded so a
 * busy registry cannot grow the page's memory without end.
 */
import type { ChangeEvent, ChangeType, WatchEvent } from '../../src/sdk/client.js';

export interface LoggedEvent {
  /** When the page received it (the registry's events carry an index, not a time). */
  at: number;
  event: ChangeEvent;
}

export const EVENT_LOG_SIZE = 500;

/** Adds the changes of a batch, newest first; a snapshot is not a change and is left out. */
export function appendEvents(
  log: readonly LoggedEvent[],
  events: readonly WatchEvent[],
  options: { at: number; size?: number },
): readonly LoggedEvent[] {
  const added: LoggedEvent[] = [];
  for (const event of events) if (event.type !== 'snapshot') added.push({ at: options.at, event });
  if (added.length === 0) return log;
  return [...added.reverse(), ...log].slice(0, options.size ?? EVENT_LOG_SIZE);
}

export interface EventFilter {
  /** Part of the service name (case-insensitive); empty for every service. */
  service: string;
  type: ChangeType | '';
}

export function filterEvents(log: readonly LoggedEvent[], filter: EventFilter): LoggedEvent[] {
  const service = filter.service.trim().toLowerCase();
  return log.filter(
    ({ event }) =>
      (filter.type === '' || event.type === filter.type) &&
      (service === '' || event.service.toLowerCase().includes(service)),
  );
}

/** One instance's recent changes, for its own view. */
export function changesOf(log: readonly LoggedEvent[], service: string, id: string): LoggedEvent[] {
  return log.filter(({ event }) => event.service === service && event.instance.id === id);
}
