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

export type MetricType = 'gauge' | 'counter';
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

  /** Every family in the Prometheus text format, in registration order. */
  render(): string {
    const lines: string[] = [];
    for (const family of this.#families.values()) {
      lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
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
