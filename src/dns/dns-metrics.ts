/**
 * The DNS interface's figures on the registry's `/metrics` (issues #17, #20): queries answered by transport, question
 * type and response code with their time to answer, truncated answers, packets dropped unanswered, TCP connections.
 *
 * Invariants: every label value comes from a closed set (the question type is one of `QUESTION_TYPES`, `other` or
 * `none`, never the name asked for), so clients cannot grow the number of series. server.ts defines the families
 * whether or not DNS runs, so a dashboard finds them on every node: without DNS, the query families have no series and
 * the others read 0.
 */
import { LATENCY_BUCKETS } from '../metrics/index.js';
import type { FastHistogram, HistogramSeries, Metrics } from '../metrics/index.js';
import type { DnsRcode, DnsTransport } from './dns-answerer.js';

/** Why a message got no answer at all. */
export type DnsDropReason =
  /** Shorter than the 2 bytes of an id: nothing to address an answer to. */
  | 'no_id'
  /** QR set: an answer, not a query (answering answers could loop between two servers). */
  | 'response'
  /** TCP only: a length prefix of 0 or beyond `--dns-tcp-max-message-bytes`; the connection is closed. */
  | 'bad_length';

/**
 * Question types with a label value of their own: those this server answers, and those resolvers commonly ask. dns-packet
 * names types it does not know `UNKNOWN_<n>`: HTTPS (65) is one that stub resolvers send beside A and AAAA.
 */
const QUESTION_TYPES: ReadonlyMap<string, string> = new Map([
  ...['A', 'AAAA', 'SRV', 'ANY', 'SOA', 'NS', 'CNAME', 'PTR', 'MX', 'TXT'].map((type) => [type, type] as const),
  ['UNKNOWN_65', 'HTTPS'],
]);

const TRANSPORTS: readonly DnsTransport[] = ['udp', 'tcp'];
const DROPS: Readonly<Record<DnsTransport, readonly DnsDropReason[]>> = {
  udp: ['no_id', 'response'],
  tcp: ['no_id', 'response', 'bad_length'],
};

export class DnsMetrics {
  readonly #duration: FastHistogram;
  /** transport → type label → rcode → its series: bound on first use, then found without building a key. */
  readonly #series: Record<DnsTransport, Map<string, Map<DnsRcode, HistogramSeries>>> = {
    udp: new Map(),
    tcp: new Map(),
  };
  readonly #truncated: Record<DnsTransport, number> = { udp: 0, tcp: 0 };
  readonly #dropped: Record<DnsTransport, Partial<Record<DnsDropReason, number>>> = { udp: {}, tcp: {} };
  #rejectedConnections = 0;
  /** The DNS server's open TCP connections, once it listens. */
  #connections: ReadonlySet<unknown> | undefined;

  constructor(metrics: Metrics) {
    const labels = ['transport', 'type', 'rcode'];
    const duration = metrics.requestHistogram({
      name: 'switchboard_dns_query_duration_seconds',
      help:
        'Time from reading a DNS query to its answer being ready to send, by transport, question type and ' +
        'response code.',
      labels,
      buckets: LATENCY_BUCKETS,
    });
    this.#duration = duration;
    metrics.counterFrom(
      {
        name: 'switchboard_dns_queries_total',
        help: 'DNS queries answered, by transport (udp, tcp), question type and response code.',
        labels,
      },
      () => [...duration.all()].map((series) => ({ labels: series.labels, value: series.count })),
    );
    // The fixed label sets are all there from the start, at 0: a series that first appears at 1 hides that increase
    // from rate().
    metrics.counterFrom(
      {
        name: 'switchboard_dns_truncated_total',
        help: 'DNS answers sent with TC set (the records did not all fit), by transport.',
        labels: ['transport'],
      },
      () => TRANSPORTS.map((transport) => ({ labels: { transport }, value: this.#truncated[transport] })),
    );
    metrics.counterFrom(
      {
        name: 'switchboard_dns_dropped_total',
        help: 'DNS messages dropped without an answer, by transport and reason (no_id, response, bad_length).',
        labels: ['transport', 'reason'],
      },
      () =>
        TRANSPORTS.flatMap((transport) =>
          DROPS[transport].map((reason) => ({
            labels: { transport, reason },
            value: this.#dropped[transport][reason] ?? 0,
          })),
        ),
    );
    metrics.counterFrom(
      'switchboard_dns_tcp_connections_rejected_total',
      'DNS TCP connections closed as they arrived, beyond --dns-tcp-max-connections.',
      () => this.#rejectedConnections,
    );
    metrics.gauge('switchboard_dns_tcp_connections', 'Open DNS TCP connections.', () => this.#connections?.size ?? 0);
  }

  /**
   * The series of one answer; `questionType` is dns-packet's name of the question's type, undefined when the query
   * could not be read.
   */
  series(transport: DnsTransport, questionType: string | undefined, rcode: DnsRcode): HistogramSeries {
    const type = questionType === undefined ? 'none' : (QUESTION_TYPES.get(questionType) ?? 'other');
    const byType = this.#series[transport];
    let byRcode = byType.get(type);
    if (byRcode === undefined) {
      byRcode = new Map();
      byType.set(type, byRcode);
    }
    let series = byRcode.get(rcode);
    if (series === undefined) {
      series = this.#duration.series(transport, type, rcode);
      byRcode.set(rcode, series);
    }
    return series;
  }

  truncated(transport: DnsTransport): void {
    this.#truncated[transport] += 1;
  }

  dropped(transport: DnsTransport, reason: DnsDropReason): void {
    const counts = this.#dropped[transport];
    counts[reason] = (counts[reason] ?? 0) + 1;
  }

  connectionRejected(): void {
    this.#rejectedConnections += 1;
  }

  /** The DNS server's set of open TCP connections, which the gauge reads when scraped. */
  countConnections(connections: ReadonlySet<unknown>): void {
    this.#connections = connections;
  }
}
