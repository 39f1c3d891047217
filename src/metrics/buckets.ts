/**
 * The bucket sets, one per kind of figure, so that every histogram of a kind can be compared and summed in one
 * dashboard panel.
 */

/** Request and probe durations, in seconds: from a cached lookup (well under a millisecond) to a slow upstream. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Store commits, in seconds: a memory write, an fsynced SQLite transaction, an etcd round trip. */
export const STORE_LATENCY_BUCKETS: readonly number[] = [
  0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Mutations per store commit: one at a time when idle, thousands under a registration storm (group commit). */
export const BATCH_SIZE_BUCKETS: readonly number[] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

/** Lag behind the registry, in seconds: from a local cache applying at once to a consumer minutes behind. */
export const LAG_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
