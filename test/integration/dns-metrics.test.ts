/**
 * The DNS interface's Prometheus metrics (issues #17, #20): a real server on port 0 with `--dns-port 0`, queried by
 * node's resolver (c-ares), `dig` (bind9-dnsutils) and raw dgram/TCP sockets, then `GET /metrics` scraped over HTTP
 * and checked, label set by label set, against the queries sent.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import packet from 'dns-packet';
import { describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server.js';
import {
  digOutput,
  ednsQuery,
  framed,
  query,
  rcodeOf,
  register,
  resolverFor,
  startDns,
  tcpExchange,
  twoQuestionQuery,
  withUdp,
} from '../fixtures/dns.js';
import { parseExposition, promtoolFindings, sampleValue, untilExposition } from '../fixtures/exposition.js';
import { startTestServer } from '../fixtures/server.js';

async function scrape(server: RunningServer): Promise<string> {
  const response = await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  expect(response.status).toBe(200);
  return response.text();
}

/** `name`'s samples keyed by their values of `labels` (joined with spaces). */
function byLabels(text: string, name: string, labels: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const sample of parseExposition(text).samples)
    if (sample.name === name) out.set(labels.map((label) => sample.labels[label] ?? '').join(' '), sample.value);
  return out;
}

/** How far each series of `name` moved between two scrapes; series that did not move are left out. */
function moved(
  scrapes: [before: string, after: string],
  name: string,
  labels: readonly string[],
): Record<string, number> {
  const [before, after] = scrapes;
  const start = byLabels(before, name, labels);
  const out: Record<string, number> = {};
  for (const [key, value] of byLabels(after, name, labels)) {
    const delta = value - (start.get(key) ?? 0);
    if (delta !== 0) out[key] = delta;
  }
  return out;
}

/** Scrapes until `check` holds, or fails with the last exposition after 10 s. */
function until(server: RunningServer, check: (text: string) => boolean): Promise<string> {
  return untilExposition(() => scrape(server), check, 10_000);
}

const QUERIES = 'switchboard_dns_queries_total';
const DURATION = 'switchboard_dns_query_duration_seconds';
const QUERY_LABELS = ['transport', 'type', 'rcode'];

describe('DNS metrics', { timeout: 60_000 }, () => {
  it('counts each answer by transport, question type and rcode, with truncations and dropped messages', async () => {
    await using server = await startDns();
    await register(server, { service: 'web', id: 'w1', host: '10.0.0.1', port: 8080 });
    for (let i = 1; i <= 100; i += 1)
      await register(server, { service: 'big', id: `b${i}`, host: `10.9.0.${i}`, port: 8080 });
    const before = await scrape(server);
    const resolver = resolverFor(server);

    // node's resolver, over UDP.
    for (let i = 0; i < 2; i += 1) expect(await resolver.resolve4('web.service.switchboard')).toEqual(['10.0.0.1']);
    expect(await resolver.resolveSrv('_web._tcp.service.switchboard')).toHaveLength(1);
    await expect(resolver.resolve4('nope.service.switchboard')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolve6('web.service.switchboard')).rejects.toMatchObject({ code: 'ENODATA' });
    // dig, over UDP: a name outside the domain, and types the server does not serve (HTTPS is type 65).
    expect(await digOutput(server, 'web.service.example.com', 'A')).toContain('status: REFUSED');
    for (const type of ['TXT', 'TYPE65', 'NAPTR'])
      expect(await digOutput(server, 'web.service.switchboard', type)).toContain('status: NOERROR');
    // dig, over TCP.
    expect(await digOutput(server, '+tcp', 'web.service.switchboard', 'A')).toContain('status: NOERROR');
    expect(await digOutput(server, '+tcp', 'nope.service.switchboard', 'SRV')).toContain('status: NXDOMAIN');
    // 100 A records hold no 512-byte UDP answer: TC set.
    expect(await digOutput(server, '+ignore', '+notcp', '+noedns', 'big.service.switchboard', 'A')).toMatch(
      /flags: [a-z ]*\btc\b/,
    );
    // Left to itself dig asks again over TCP on TC: one truncated UDP answer, one whole TCP answer.
    expect(await digOutput(server, 'big.service.switchboard', 'SRV')).toContain('Truncated, retrying in TCP mode');

    // Raw UDP: messages without an answer first, then malformed ones; each answer proves what came before was read.
    await withUdp(server.dnsPort, async (udp) => {
      udp.send(Buffer.from([7]));
      const response = query('web.service.switchboard');
      response.writeUInt16BE(response.readUInt16BE(2) | 0x8000, 2);
      udp.send(response);
      // A header that promises a question the packet does not hold: unreadable, so no question type.
      const header = Buffer.from([0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
      expect(rcodeOf(await udp.exchange(header))).toBe('FORMERR');
      const two = twoQuestionQuery('web.service.switchboard', 2);
      expect(rcodeOf(await udp.exchange(two))).toBe('FORMERR');
      const notify = query('web.service.switchboard', 'A', 3);
      notify.writeUInt16BE(notify.readUInt16BE(2) | (4 << 11), 2);
      expect(rcodeOf(await udp.exchange(notify))).toBe('NOTIMP');
      const edns1 = ednsQuery('web.service.switchboard', 1, 4);
      const badvers = packet.decode(await udp.exchange(edns1));
      expect(badvers.additionals?.find((record) => record.type === 'OPT')).toMatchObject({ extendedRcode: 1 });
    });
    // Raw TCP: a 1-byte message gets no answer, the query after it does; a zero length closes the connection.
    const pipelined = Buffer.concat([framed(Buffer.from([7])), framed(query('web.service.switchboard', 'A', 5))]);
    const { data } = await tcpExchange(server.dnsPort, pipelined, 5_000);
    expect(packet.streamDecode(data).id).toBe(5);
    expect((await tcpExchange(server.dnsPort, Buffer.alloc(2), 5_000)).closed).toBe(true);

    const after = await scrape(server);
    const scrapes: [string, string] = [before, after];
    expect(moved(scrapes, QUERIES, QUERY_LABELS)).toEqual({
      'udp A NOERROR': 3,
      'udp A NXDOMAIN': 1,
      'udp AAAA NOERROR': 1,
      'udp SRV NOERROR': 2,
      'udp A REFUSED': 1,
      'udp TXT NOERROR': 1,
      'udp HTTPS NOERROR': 1,
      'udp other NOERROR': 1,
      'udp none FORMERR': 1,
      'udp A FORMERR': 1,
      'udp A NOTIMP': 1,
      'udp A BADVERS': 1,
      'tcp A NOERROR': 2,
      'tcp SRV NXDOMAIN': 1,
      'tcp SRV NOERROR': 1,
    });
    // Every answer was timed: the histogram counts what the counter counts, and its +Inf bucket is its count.
    expect(moved(scrapes, `${DURATION}_count`, QUERY_LABELS)).toEqual(moved(scrapes, QUERIES, QUERY_LABELS));
    const infinite = [...byLabels(after, `${DURATION}_bucket`, [...QUERY_LABELS, 'le'])]
      .filter(([key]) => key.endsWith(' +Inf'))
      .map(([key, count]): [string, number] => [key.slice(0, -' +Inf'.length), count]);
    expect(new Map(infinite)).toEqual(byLabels(after, `${DURATION}_count`, QUERY_LABELS));
    expect(moved(scrapes, 'switchboard_dns_truncated_total', ['transport'])).toEqual({ udp: 2 });
    expect(moved(scrapes, 'switchboard_dns_dropped_total', ['transport', 'reason'])).toEqual({
      'udp no_id': 1,
      'udp response': 1,
      'tcp no_id': 1,
      'tcp bad_length': 1,
    });
    // Names asked for never become labels.
    expect(after).not.toMatch(/service\.switchboard|example\.com|UNKNOWN_|NAPTR/);
    expect(await promtoolFindings(after)).toEqual([]);
  });

  it('shows open TCP connections and counts those closed beyond --dns-tcp-max-connections', async () => {
    await using server = await startDns({ dns: { tcpMaxConnections: 1 } });
    const idle = await scrape(server);
    expect(sampleValue(idle, 'switchboard_dns_tcp_connections')).toBe(0);
    expect(sampleValue(idle, 'switchboard_dns_tcp_connections_rejected_total')).toBe(0);
    const held: Socket = connect({ host: '127.0.0.1', port: server.dnsPort });
    try {
      await new Promise((resolve) => held.once('connect', resolve));
      await until(server, (text) => sampleValue(text, 'switchboard_dns_tcp_connections') === 1);
      for (let i = 0; i < 2; i += 1) {
        const extra = await tcpExchange(server.dnsPort, framed(query('web.service.switchboard')), 5_000);
        expect(extra).toEqual({ data: Buffer.alloc(0), closed: true });
      }
      const full = await scrape(server);
      expect(sampleValue(full, 'switchboard_dns_tcp_connections_rejected_total')).toBe(2);
      expect(sampleValue(full, 'switchboard_dns_tcp_connections')).toBe(1);
    } finally {
      held.destroy();
    }
    await until(server, (text) => sampleValue(text, 'switchboard_dns_tcp_connections') === 0);
  });

  it('defines the DNS families on a server that runs no DNS, with no query series', async () => {
    await using server = await startTestServer();
    const { samples, types } = parseExposition(await scrape(server));
    expect(Object.fromEntries([...types].filter(([name]) => name.startsWith('switchboard_dns_')))).toEqual({
      switchboard_dns_dropped_total: 'counter',
      switchboard_dns_queries_total: 'counter',
      switchboard_dns_query_duration_seconds: 'histogram',
      switchboard_dns_tcp_connections: 'gauge',
      switchboard_dns_tcp_connections_rejected_total: 'counter',
      switchboard_dns_truncated_total: 'counter',
    });
    const dnsSamples = samples.filter((sample) => sample.name.startsWith('switchboard_dns_'));
    expect(dnsSamples.filter((sample) => sample.name.startsWith('switchboard_dns_quer'))).toEqual([]);
    // The truncations (2 transports), the drops (5 reasons), the rejected connections and the open connections.
    expect(dnsSamples).toHaveLength(9);
    expect(dnsSamples.every((sample) => sample.value === 0)).toBe(true);
  });
});
