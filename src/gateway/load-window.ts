/**
 * Recent load per instance, for operators and for the registrar's scaling (issue #15): how many requests an instance
 * answered in the last 10 s (sliding, in one-second slots) and how long they took to their response headers, in a
 * small log-scale histogram per slot. A service's figures are the sum (requests, in flight) and the merge
 * (histograms) of its instances', so its p90 is over every request it answered, not an average of percentiles.
 *
 * The hot path pays one `record` per answered request: a slot check, a bucket from the latency's bits and two
 * increments, no allocation (the slots are allocated on an instance's first answer). Reads (`/_gateway/routes`,
 * metrics) do the sums. Time is `performance.now()` milliseconds, passed in, so tests choose it.
 *
 * Latency is measured to the response headers, not to the end of the body: a streamed answer (events, downloads)
 * would otherwise read as a slow instance.
 */
import type { Upstream } from './upstream.js';

/** The window the figures cover. */
export const LOAD_WINDOW_MS = 10_000;

const SLOTS = 10;
const SLOT_MS = LOAD_WINDOW_MS / SLOTS;
/**
 * Latency buckets: 0 holds below 64 µs; then four per power of two (each 20–25 % wide) from 64 µs up to 2^29 µs
 * (about 9 min), where the last bucket holds the rest.
 */
const BUCKETS = 96;
const FIRST_OCTAVE = 6;

/** The figures of one instance, or of a service (its instances together), over the last window. */
export interface LoadFigures {
  /** Requests under way (including those waiting for a connection). */
  inflight: number;
  /** Requests answered per second over the window. */
  rps: number;
  /** 90th percentile of the time to response headers over the window, ms; null when none was answered in it. */
  p90Ms: number | null;
}

/** A service's figures as `/_gateway/routes` shows them. */
export interface RouteLoadView extends LoadFigures {
  /** What `rps` and `p90Ms` cover, ms. */
  windowMs: number;
}

export class LoadWindow {
  /** Answers per slot. Allocated on the first answer: most instances of a large table may never see a request. */
  #totals: Uint32Array | undefined;
  /** SLOTS × BUCKETS latency counts. */
  #buckets: Uint32Array | undefined;
  /** The second (clock ms / 1000) the newest slot holds. */
  #second = 0;

  /** One answered request: its latency and the clock now, in ms. */
  record(latencyMs: number, now: number): void {
    const second = Math.floor(now / SLOT_MS);
    let totals = this.#totals;
    let buckets = this.#buckets;
    if (totals === undefined || buckets === undefined) {
      totals = this.#totals = new Uint32Array(SLOTS);
      buckets = this.#buckets = new Uint32Array(SLOTS * BUCKETS);
      this.#second = second;
    } else if (second > this.#second) this.#advance(second, totals, buckets);
    // A clock that went back (performance.now() cannot) counts in the newest slot.
    const slot = (second < this.#second ? this.#second : second) % SLOTS;
    totals[slot] = (totals[slot] as number) + 1;
    const index = slot * BUCKETS + bucketOf(latencyMs);
    buckets[index] = (buckets[index] as number) + 1;
  }

  /** Answers in the window ending `now`, with their latencies added into `histogram` (BUCKETS long) when given. */
  count(now: number, histogram?: Float64Array): number {
    const totals = this.#totals;
    const buckets = this.#buckets;
    if (totals === undefined || buckets === undefined) return 0;
    const second = Math.floor(now / SLOT_MS);
    let count = 0;
    // Slots from the second now is in back to SLOTS − 1 before it, those the ring still holds (none before 0).
    const from = Math.max(second - SLOTS + 1, this.#second - SLOTS + 1, 0);
    for (let s = from; s <= Math.min(second, this.#second); s++) {
      const slot = s % SLOTS;
      count += totals[slot] as number;
      if (histogram === undefined) continue;
      const base = slot * BUCKETS;
      for (let b = 0; b < BUCKETS; b++) histogram[b] = (histogram[b] as number) + (buckets[base + b] as number);
    }
    return count;
  }

  /** Empties the slots between the newest one and `second`, which becomes the newest. */
  #advance(second: number, totals: Uint32Array, buckets: Uint32Array): void {
    const from = Math.max(this.#second + 1, second - SLOTS + 1);
    for (let s = from; s <= second; s++) {
      const slot = s % SLOTS;
      totals[slot] = 0;
      buckets.fill(0, slot * BUCKETS, (slot + 1) * BUCKETS);
    }
    this.#second = second;
  }
}

/** The figures of a set of instances (one instance, or a service's) over the window ending `now`. */
export function loadFigures(upstreams: readonly Upstream[], now: number): LoadFigures {
  const histogram = new Float64Array(BUCKETS);
  let inflight = 0;
  let count = 0;
  for (const upstream of upstreams) {
    inflight += upstream.outstanding;
    count += upstream.load.count(now, histogram);
  }
  // The window ends now, part way through its newest second: it spans SLOTS − 1 whole seconds and that part.
  // In a process's first seconds (performance.now() starts at 0) the window is as long as the process is old.
  const spanS = Math.min((SLOTS - 1) * (SLOT_MS / 1000) + (now % SLOT_MS) / 1000, Math.max(now / 1000, 1));
  return { inflight, rps: round(count / spanS, 100), p90Ms: quantile(histogram, count, 0.9) };
}

/** What `/_gateway/routes` shows of a route's instances together. */
export function routeLoadView(upstreams: readonly Upstream[], now: number): RouteLoadView {
  return { ...loadFigures(upstreams, now), windowMs: LOAD_WINDOW_MS };
}

/** The latency bucket of `ms`: a power of two and which quarter of it, from the bits of the microseconds. */
export function bucketOf(ms: number): number {
  // Above 2^32 µs (71 min), or not a number: the top bucket. `>>> 0` truncates the rest to an unsigned integer.
  if (!(ms < 4_294_967)) return BUCKETS - 1;
  const us = ms > 0 ? (ms * 1000) >>> 0 : 0;
  if (us < 1 << FIRST_OCTAVE) return 0;
  const octave = 31 - Math.clz32(us);
  const bucket = (octave - FIRST_OCTAVE) * 4 + ((us >>> (octave - 2)) & 3) + 1;
  return bucket < BUCKETS ? bucket : BUCKETS - 1;
}

/** A bucket's range, ms: [lower, upper). */
export function bucketRange(bucket: number): [number, number] {
  if (bucket <= 0) return [0, (1 << FIRST_OCTAVE) / 1000];
  const octave = FIRST_OCTAVE + ((bucket - 1) >> 2);
  const quarter = (bucket - 1) & 3;
  const unit = 2 ** (octave - 2) / 1000;
  return [(4 + quarter) * unit, (5 + quarter) * unit];
}

/** The q-quantile of a histogram of `count` values, interpolated inside its bucket; null when empty. */
function quantile(histogram: Float64Array, count: number, q: number): number | null {
  if (count === 0) return null;
  const rank = q * count;
  let seen = 0;
  for (let b = 0; b < BUCKETS; b++) {
    const n = histogram[b] as number;
    if (n === 0 || seen + n < rank) {
      seen += n;
      continue;
    }
    const [lower, upper] = bucketRange(b);
    return round(lower + ((upper - lower) * (rank - seen)) / n, 1000);
  }
  return round(bucketRange(BUCKETS - 1)[1], 1000);
}

function round(value: number, per: number): number {
  return Math.round(value * per) / per;
}

/** One service's figures, for the metrics endpoint. */
export interface ServiceLoad extends LoadFigures {
  service: string;
}

/** Every service's figures over the window ending `now`, from all the gateway's upstreams. */
export function serviceLoads(upstreams: readonly Upstream[], now: number): ServiceLoad[] {
  const byService = new Map<string, Upstream[]>();
  for (const upstream of upstreams) {
    const service = upstream.instance.service;
    const list = byService.get(service);
    if (list === undefined) byService.set(service, [upstream]);
    else list.push(upstream);
  }
  return [...byService].map(([service, list]) => ({ service, ...loadFigures(list, now) }));
}
