/**
 * The live indicator (issue #16): live while the event stream is connected; reconnecting for a short while after it
 * drops; then stale since the moment it dropped, so the user knows how old the page's figures may be.
 */

export type Liveness = { state: 'connecting' } | { state: 'live' } | { state: 'down'; since: number };

/** How long a dropped stream is shown as reconnecting before the page calls its data stale. */
export const RECONNECT_GRACE_MS = 5_000;

export function liveLabel(liveness: Liveness, now: number): string {
  switch (liveness.state) {
    case 'connecting':
      return 'Reconnecting…';
    case 'live':
      return 'Live';
    case 'down':
      return now - liveness.since < RECONNECT_GRACE_MS
        ? 'Reconnecting…'
        : `Stale since ${new Date(liveness.since).toLocaleTimeString()}`;
  }
}

/** The next state when the watch reports its connection. A drop keeps the time of the first drop. */
export function nextLiveness(current: Liveness, connected: boolean, at: number): Liveness {
  if (connected) return { state: 'live' };
  return current.state === 'down' ? current : { state: 'down', since: at };
}

/** "4 s", "3 min", "2 h" ago: how long since an ISO time. */
export function ago(iso: string, now: number): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}
