/**
 * Metrics in the Prometheus text format, with prom-client (issue #20). server.ts makes one `Metrics` per running
 * server — never prom-client's global registry: tests run several servers in one process — and hands it to every
 * component, which defines its families here and the API serves them all at `GET /metrics`:
 *
 *   metrics.gauge('switchboard_instances', 'Registered instances.', () => registry.health().instances);
 *   const runs = metrics.counter('switchboard_check_runs_total', 'Probes run, by result.', ['status']);
 *   runs.inc({ status: 'passing' });
 *
 * Hot paths (a lookup, a proxied request) use `requestHistogram`: a pre-bound series costs a bucket search and two
 * additions per observation, where prom-client's own histogram hashes its labels on every call.
 *
 * Invariant: names are unique (defining one twice throws, a bug) and follow the Prometheus naming rules; this folder
 * is the only one that imports prom-client.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Metric } from 'prom-client';

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  labels?: Labels;
  value: number;
}

/** The Content-Type of `render()`'s output (the Prometheus text format 0.0.4). */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

export interface MetricsOptions {
  /**
   * prom-client's default process metrics under their standard names (`process_*`, `nodejs_*`: memory, CPU, file
   * descriptors, event-loop lag, GC), which Grafana's Node.js dashboards expect. Default true.
   */
  processMetrics?: boolean;
}

/** A family's name, help text and label names. */
export interface MetricSpec<L extends string = string> {
  name: string;
  help: string;
  labels?: readonly L[];
}

export interface HistogramSpec<L extends string = string> extends MetricSpec<L> {
  /** Upper bounds, ascending (see buckets.ts). */
  buckets: readonly number[];
}

/** What a read-when-scraped family collects: a number, or one sample per label set. */
export type Collect = () => number | readonly Sample[];

/** A counter the caller increments, split by labels. */
export type CounterFamily<L extends string = string> = Counter<L>;
/** A histogram the caller observes into, split by labels. */
export type HistogramFamily<L extends string = string> = Histogram<L>;

export class Metrics {
  readonly #registry = new Registry();

  constructor(options: MetricsOptions = {}) {
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.#registry });
  }

  /** A value read when scraped: a number, or one sample per label set (labels among `spec.labels`). */
  gauge(name: string, help: string, collect: Collect): void;
  gauge(spec: MetricSpec, collect: Collect): void;
  gauge(nameOrSpec: string | MetricSpec, helpOrCollect: string | Collect, collect?: Collect): void {
    const { spec, read } = specOf(nameOrSpec, helpOrCollect, collect);
    new Gauge({
      name: spec.name,
      help: spec.help,
      labelNames: spec.labels ?? [],
      registers: [this.#registry],
      collect() {
        const collected = read();
        this.reset();
        if (typeof collected === 'number') this.set(collected);
        else for (const { labels = {}, value } of collected) this.set(labels, value);
      },
    });
  }

  /**
   * A counter kept as plain numbers by its component (cheapest on a hot path) and read when scraped. The numbers
   * must only grow; the name ends in `_total`.
   */
  counterFrom(name: string, help: string, collect: Collect): void;
  counterFrom(spec: MetricSpec, collect: Collect): void;
  counterFrom(nameOrSpec: string | MetricSpec, helpOrCollect: string | Collect, collect?: Collect): void {
    const { spec, read } = specOf(nameOrSpec, helpOrCollect, collect);
    new Counter({
      name: spec.name,
      help: spec.help,
      labelNames: spec.labels ?? [],
      registers: [this.#registry],
      collect() {
        const collected = read();
        this.reset();
        if (typeof collected === 'number') this.inc(collected);
        else for (const { labels = {}, value } of collected) this.inc(labels, value);
      },
    });
  }

  /** A counter the caller increments; `name` ends in `_total`. */
  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): CounterFamily<L> {
    return new Counter({ name, help, labelNames, registers: [this.#registry] });
  }

  /** A histogram of observations (seconds, sizes) into `spec.buckets` (see buckets.ts). */
  histogram<L extends string>(spec: HistogramSpec<L>): HistogramFamily<L> {
    const { name, help, labels = [], buckets } = spec;
    return new Histogram({ name, help, labelNames: labels, buckets: [...buckets], registers: [this.#registry] });
  }

  /**
   * A histogram for hot paths: `series(...values)` returns a handle bound to one label set (kept: bind once per
   * route or service, not per request), whose `observe` allocates nothing.
   */
  requestHistogram(spec: HistogramSpec): FastHistogram {
    const histogram = new FastHistogram(spec);
    // prom-client formats any family whose get() answers its shape; its own Histogram hashes labels per observe.
    this.#registry.registerMetric(histogram as unknown as Metric);
    return histogram;
  }

  /** Every family in the Prometheus text format. Collectors run synchronously, in one pass, before it resolves. */
  render(): Promise<string> {
    return this.#registry.metrics();
  }
}

function specOf(
  nameOrSpec: string | MetricSpec,
  helpOrCollect: string | Collect,
  collect: Collect | undefined,
): { spec: MetricSpec; read: Collect } {
  if (typeof nameOrSpec === 'string' && typeof helpOrCollect === 'string' && collect)
    return { spec: { name: nameOrSpec, help: helpOrCollect }, read: collect };
  if (typeof nameOrSpec !== 'string' && typeof helpOrCollect === 'function')
    return { spec: nameOrSpec, read: helpOrCollect };
  throw new Error('a metric takes (name, help, collect) or (spec, collect)');
}

/** One label set of a `FastHistogram`: per-bucket counts (not cumulative), their sum and count. */
export class HistogramSeries {
  readonly labels: Labels;
  readonly #bounds: readonly number[];
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(labels: Labels, bounds: readonly number[]) {
    this.labels = labels;
    this.#bounds = bounds;
    // One slot per bound, and the last for +Inf.
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count += 1;
  }
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

interface PromValue {
  labels: Record<string, string>;
  value: number;
  metricName: string;
}

/** A histogram whose series are bound ahead of the hot path; see `Metrics.requestHistogram`. */
export class FastHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #bounds: readonly number[];
  readonly #labelNames: readonly string[];
  readonly #series = new Map<string, HistogramSeries>();

  constructor(spec: HistogramSpec) {
    const { name, help, buckets, labels: labelNames = [] } = spec;
    if (!NAME.test(name)) throw new Error(`metric name "${name}" is not a valid name`);
    for (const label of labelNames)
      if (!LABEL.test(label) || label === 'le') throw new Error(`metric label "${label}" is not a valid name`);
    this.name = name;
    this.help = help;
    this.#bounds = [...buckets].sort((a, b) => a - b);
    this.#labelNames = labelNames;
  }

  /** The series of these label values (in `labelNames` order), made on first use. */
  series(...values: string[]): HistogramSeries {
    const key = values.join('\u0000');
    let series = this.#series.get(key);
    if (series === undefined) {
      if (values.length !== this.#labelNames.length)
        throw new Error(`${this.name} takes labels ${this.#labelNames.join(', ')}`);
      const labels: Record<string, string> = {};
      this.#labelNames.forEach((name, i) => {
        labels[name] = values[i] as string;
      });
      series = new HistogramSeries(labels, this.#bounds);
      this.#series.set(key, series);
    }
    return series;
  }

  /** Every series made so far. */
  all(): IterableIterator<HistogramSeries> {
    return this.#series.values();
  }

  /** Forgets the series of these label values (a service that left). */
  remove(...values: string[]): void {
    this.#series.delete(values.join('\u0000'));
  }

  /** What prom-client's registry formats: `_bucket` (cumulative, with `le`), `_sum` and `_count` per series. */
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: PromValue[] }> {
    const values: PromValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const series of this.#series.values()) {
      let cumulative = 0;
      this.#bounds.forEach((bound, i) => {
        cumulative += series.counts[i] as number;
        values.push({ labels: { ...series.labels, le: String(bound) }, value: cumulative, metricName: bucket });
      });
      values.push({ labels: { ...series.labels, le: '+Inf' }, value: series.count, metricName: bucket });
      values.push({ labels: { ...series.labels }, value: series.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...series.labels }, value: series.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** Zeroes every series; bound handles stay valid. */
  reset(): void {
    for (const series of this.#series.values()) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}
