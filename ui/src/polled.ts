/**
 * Answers that have no event stream of their own (the registry's health, the cluster, the gateway's routes, the
 * subscribers), asked for again every few seconds while a view shows them. An answer that arrives after a newer
 * one is dropped, so a slow reply never shows older figures over fresher ones; a refusal (401, 403) replaces what was
 * shown, so figures read with another token do not stay on the page.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { messageOf } from './session.js';

export interface Polled<T> {
  value?: T;
  error?: string;
}

interface PollOptions {
  /** How often to ask again (default 3 s). */
  everyMs?: number;
  /**
   * Ask again soon (at most once per `MIN_REFRESH_MS`) whenever this changes, e.g. the registry's index: a
   * change is when the answer moves.
   */
  refreshOn?: unknown;
}

/** Event-driven refreshes are spaced by at least this: a burst of changes is one request, not one per change. */
const MIN_REFRESH_MS = 250;

export function usePolled<T>(load: () => Promise<T>, deps: readonly unknown[], options: PollOptions = {}): Polled<T> {
  const [state, setState] = useState<Polled<T>>({});
  const refresh = useRef<() => void>(() => undefined);
  const everyMs = options.everyMs ?? 3_000;
  useEffect(() => {
    let stopped = false;
    let asked = 0;
    let shown = 0;
    let soon: ReturnType<typeof setTimeout> | undefined;
    const run = () => {
      const ask = ++asked;
      load().then(
        (value) => {
          if (stopped || ask < shown) return;
          shown = ask;
          setState({ value });
        },
        (err: unknown) => {
          if (stopped || ask < shown) return;
          shown = ask;
          setState({ error: messageOf(err) });
        },
      );
    };
    run();
    const timer = setInterval(run, everyMs);
    refresh.current = () => {
      soon ??= setTimeout(() => {
        soon = undefined;
        run();
      }, MIN_REFRESH_MS);
    };
    return () => {
      stopped = true;
      clearInterval(timer);
      clearTimeout(soon);
      refresh.current = () => undefined;
    };
  }, [...deps, everyMs]);
  const first = useRef(true);
  useEffect(() => {
    // The effect above has just asked: only later changes call for another answer.
    if (first.current) {
      first.current = false;
      return;
    }
    refresh.current();
  }, [options.refreshOn]);
  return state;
}
