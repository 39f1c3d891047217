/**
 * Metrics in the Prometheus text format (version 0.0.4), with no dependency. Components register their metric
 * families on one `Metrics` object that server.ts creates and the API serves at `GET /metrics`:
 *
 *   metrics.gauge('switchboard_instances', 'Registered instances.', () => registry.health().instances);
 *   const proxied = metrics.counter('switchboard_gateway_requests_total', 'Proxied requests.', ['service', 'code']);
 *   proxied.inc({ service: 'web', code: '200' });
 *
 * Invariant: names are unique (registering one twice throws, a bug) and follow the Prometheus naming rules.
 */

export type MetricType = 'gauge' | 'counter' | 'histogram';
export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  labels?: Labels;
  value: number;
}

interface Family {
  name: string;
  help: string;
  type: MetricType;
  collect: () => number | readonly Sample[];
  /** A histogram renders its own lines. */
  lines?: () => string[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The Content-Type of `render()`'s output. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** A monotonically increasing count, optionally split by labels. */
export class Counter {
  readonly #labelNames: readonly string[];
  readonly #values = new Map<string, { labels: Labels; value: number }>();

  constructor(labelNames: readonly string[]) {
    this.#labelNames = labelNames;
  }

  inc(labels: Labels = {}, by = 1): void {
    const key = this.#labelNames.map((n) => labels[n] ?? '').join('\u0000');
    const entry = this.#values.get(key);
    if (entry) entry.value += by;
    else this.#values.set(key, { labels: { ...labels }, value: by });
  }

  samples(): Sample[] {
    return [...this.#values.values()].map(({ labels, value }) => ({ labels, value }));
  }
}

export class Metrics {
  readonly #families = new Map<string, Family>();

  /** A value read when scraped: a number, or one sample per label set. */
  gauge(name: string, help: string, collect: () => number | readonly Sample[]): void {
    this.#add({ name, help, type: 'gauge', collect });
  }

  /** A counter the caller increments; `name` should end in `_total`. */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    for (const label of labelNames)
      if (!LABEL.test(label)) throw new Error(`metric label "${label}" is not a valid name`);
    const counter = new Counter(labelNames);
    this.#add({ name, help, type: 'counter', collect: () => counter.samples() });
    return counter;
  }

  /** A histogram of observations (e.g. seconds) with these bucket upper bounds. */
  histogram(name: string, help: string, bounds: readonly number[]): Histogram {
    const histogram = new Histogram(bounds);
    this.#add({ name, help, type: 'histogram', collect: () => [], lines: () => histogram.lines(name) });
    return histogram;
  }

  /** Every family in the Prometheus text format, in registration order. */
  render(): string {
    const lines: string[] = [];
    for (const family of this.#families.values()) {
      lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
      if (family.lines) {
        lines.push(...family.lines());
        continue;
      }
      const collected = family.collect();
      const samples = typeof collected === 'number' ? [{ value: collected }] : collected;
      for (const sample of samples)
        lines.push(`${family.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}`);
    }
    return `${lines.join('\n')}\n`;
  }

  #add(family: Family): void {
    if (!NAME.test(family.name)) throw new Error(`metric name "${family.name}" is not a valid name`);
    if (this.#families.has(family.name)) throw new Error(`metric ${family.name} is registered twice`);
    this.#families.set(family.name, family);
  }
}

function formatLabels(labels: Labels | undefined): string {
  if (!labels) return '';
  const parts = Object.entries(labels).map(
    ([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`,
  );
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Observations counted into cumulative buckets (upper bounds, ascending), with their sum and count. */
export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = [...bounds].sort((a, b) => a - b);
    this.#counts = this.#bounds.map(() => 0);
  }

  observe(value: number): void {
    this.#sum += value;
    this.#count += 1;
    for (let i = 0; i < this.#bounds.length; i++)
      if (value <= (this.#bounds[i] as number)) this.#counts[i] = (this.#counts[i] as number) + 1;
  }

  /** The `_bucket`, `_sum` and `_count` lines of family `name`. */
  lines(name: string): string[] {
    const lines = this.#bounds.map((le, i) => `${name}_bucket{le="${formatValue(le)}"} ${this.#counts[i] as number}`);
    lines.push(
      `${name}_bucket{le="+Inf"} ${this.#count}`,
      `${name}_sum ${formatValue(this.#sum)}`,
      `${name}_count ${this.#count}`,
    );
    return lines;
  }
}
