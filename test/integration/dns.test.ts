/**
 * Issue #17's DNS interface over real sockets: a real server on port 0 with `--dns-port 0`, instances registered over
 * REST v1, and queries from `dig` (bind9-dnsutils) and node's own resolver (c-ares), over UDP and TCP.
 */
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import packet from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startServer } from '../../src/server.js';
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
  udpExchange,
} from '../fixtures/dns.js';
import { startTestServer, tempDir } from '../fixtures/server.js';

/** `route` is the method and path: `DELETE /v1/services/web/instances/w1`. */
async function send(server: RunningServer, route: string, body?: unknown): Promise<void> {
  const [method = '', path = ''] = route.split(' ');
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  expect(response.status, await response.text()).toBeLessThan(300);
}

/** What dig printed, read back: the header's status and flags, and each section's records as text lines. */
interface DigAnswer {
  text: string;
  status: string;
  flags: string[];
  answer: string[];
  authority: string[];
  additional: string[];
}

/** dig's answer to `args`, read back as a DigAnswer. */
async function dig(server: { dnsPort: number }, ...args: string[]): Promise<DigAnswer> {
  const text = await digOutput(server, ...args);
  // The last header wins: after a truncated UDP answer dig prints the TCP one that followed.
  const statuses = [...text.matchAll(/status: ([A-Z]+)/g)].map((m) => m[1] ?? '');
  const flagLines = [...text.matchAll(/;; flags: ([a-z ]*);/g)].map((m) => m[1] ?? '');
  const section = (title: string): string[] => {
    const start = text.lastIndexOf(`;; ${title} SECTION:`);
    if (start < 0) return [];
    const lines = text.slice(start).split('\n').slice(1);
    const end = lines.findIndex((line) => line.trim() === '');
    return (end < 0 ? lines : lines.slice(0, end)).map((line) => line.trim().split(/\s+/).join(' '));
  };
  return {
    text,
    status: statuses[statuses.length - 1] ?? '',
    flags: (flagLines[flagLines.length - 1] ?? '').split(' ').filter((f) => f !== ''),
    answer: section('ANSWER'),
    authority: section('AUTHORITY'),
    additional: section('ADDITIONAL'),
  };
}

/** `dig +short`: one answer per line, sorted. */
async function short(server: { dnsPort: number }, ...args: string[]): Promise<string[]> {
  return (await digOutput(server, '+short', ...args))
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith(';'))
    .sort();
}

/** Polls `read` until it returns what `done` accepts, or fails at the deadline. */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, deadlineMs = 10_000): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > until) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('DNS interface', { timeout: 60_000 }, () => {
  it('answers A and SRV for healthy instances over UDP and TCP, with the SRV targets resolvable', async () => {
    await using server = await startDns();
    await register(server, { service: 'web', id: 'w1', host: '10.0.0.1', port: 8080, weight: 5 });
    await register(server, { service: 'web', id: 'w2', host: '10.0.0.2', port: 8081 });
    for (const transport of ['+notcp', '+tcp']) {
      expect(await short(server, transport, 'web.service.switchboard', 'A')).toEqual(['10.0.0.1', '10.0.0.2']);
      expect(await short(server, transport, 'web.service.switchboard', 'SRV')).toEqual([
        '1 100 8081 0a000002.addr.switchboard.',
        '1 5 8080 0a000001.addr.switchboard.',
      ]);
      const srv = await dig(server, transport, 'web.service.switchboard', 'SRV');
      expect(srv.status).toBe('NOERROR');
      expect(srv.flags).toEqual(expect.arrayContaining(['qr', 'aa']));
      expect(srv.answer).toHaveLength(2);
      expect(srv.answer).toContain('web.service.switchboard. 5 IN SRV 1 5 8080 0a000001.addr.switchboard.');
      // The targets' addresses come along, so a client needs no second query.
      expect(srv.additional).toEqual(
        expect.arrayContaining([
          '0a000001.addr.switchboard. 5 IN A 10.0.0.1',
          '0a000002.addr.switchboard. 5 IN A 10.0.0.2',
        ]),
      );
    }
    // A target asked for on its own answers too.
    expect(await short(server, '0a000001.addr.switchboard', 'A')).toEqual(['10.0.0.1']);
    // Names are not case-sensitive (RFC 4343).
    expect(await short(server, 'WeB.SERVICE.Switchboard', 'A')).toEqual(['10.0.0.1', '10.0.0.2']);
  });

  it('answers AAAA for IPv6 hosts and names a host-name instance as its SRV target', async () => {
    await using server = await startDns();
    await register(server, { service: 'api', id: 'v6', host: '2001:db8::7', port: 9000 });
    await register(server, { service: 'api', id: 'named', host: 'api-1.example.internal', port: 9001 });
    await register(server, { service: 'api', id: 'v4', host: '192.168.1.9', port: 9002 });
    expect(await short(server, 'api.service.switchboard', 'AAAA')).toEqual(['2001:db8::7']);
    // Host names are left out of address answers while an instance has an address: a CNAME stands alone.
    expect(await short(server, 'api.service.switchboard', 'A')).toEqual(['192.168.1.9']);
    const target = '20010db8000000000000000000000007.addr.switchboard.';
    expect(await short(server, 'api.service.switchboard', 'SRV')).toEqual([
      `1 100 9000 ${target}`,
      '1 100 9001 api-1.example.internal.',
      '1 100 9002 c0a80109.addr.switchboard.',
    ]);
    expect(await short(server, target, 'AAAA')).toEqual(['2001:db8::7']);
    const srv = await dig(server, 'api.service.switchboard', 'SRV');
    expect(srv.additional).toContain(`${target} 5 IN AAAA 2001:db8::7`);
  });

  it('answers a service whose instances all have host names with a CNAME to one of them per answer', async () => {
    await using server = await startDns();
    await register(server, { service: 'ext', id: 'a', host: 'db-a.example.internal', port: 5432 });
    await register(server, { service: 'ext', id: 'b', host: 'db-b.example.internal', port: 5432 });
    const names = ['db-a.example.internal.', 'db-b.example.internal.'];
    for (const type of ['A', 'AAAA', 'ANY']) {
      const answer = await dig(server, 'ext.service.switchboard', type);
      expect(answer.status).toBe('NOERROR');
      // One CNAME and nothing else (RFC 1034 §3.6.2), not one per instance.
      expect(answer.answer).toHaveLength(1);
      expect(answer.answer[0]).toMatch(/^ext\.service\.switchboard\. 5 IN CNAME db-[ab]\.example\.internal\.$/);
    }
    // Each answer picks one of the names, so clients that cache one spread over both.
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      for (const line of await short(server, 'ext.service.switchboard', 'A')) seen.add(line);
    }
    expect([...seen].sort()).toEqual(names);
    // Once an instance has an address, the name answers with addresses only.
    await register(server, { service: 'ext', id: 'c', host: '10.9.0.3', port: 5432 });
    expect(await short(server, 'ext.service.switchboard', 'A')).toEqual(['10.9.0.3']);
    expect((await dig(server, 'ext.service.switchboard', 'AAAA')).answer).toEqual([]);
  });

  it('filters by tag, in the plain and the RFC 2782 forms', async () => {
    await using server = await startDns();
    await register(server, { service: 'db', id: 'p', host: '10.1.0.1', port: 5432, tags: ['Primary'] });
    await register(server, { service: 'db', id: 'r', host: '10.1.0.2', port: 5432, tags: ['replica'] });
    expect(await short(server, 'primary.db.service.switchboard', 'A')).toEqual(['10.1.0.1']);
    expect(await short(server, 'replica.db.service.switchboard', 'A')).toEqual(['10.1.0.2']);
    expect(await short(server, '_db._primary.service.switchboard', 'SRV')).toEqual([
      '1 100 5432 0a010001.addr.switchboard.',
    ]);
    // `_tcp` is RFC 2782's protocol, not a tag: every instance.
    expect(await short(server, '_db._tcp.service.switchboard', 'SRV')).toHaveLength(2);
    expect((await dig(server, 'missing.db.service.switchboard', 'A')).status).toBe('NXDOMAIN');
  });

  it('answers NXDOMAIN with the SOA for unknown names, REFUSED outside the domain and NODATA for other types', async () => {
    await using server = await startDns({ dns: { ttlMs: 30_000 } });
    await register(server, { service: 'web', id: 'w1', host: '10.0.0.1', port: 80 });
    for (const name of ['nope.service.switchboard', 'web.nodes.switchboard', 'zz.addr.switchboard']) {
      const answer = await dig(server, name, 'A');
      expect(answer.status).toBe('NXDOMAIN');
      expect(answer.answer).toEqual([]);
      // The SOA tells resolvers how long to remember the denial: its minimum is the TTL.
      expect(answer.authority).toHaveLength(1);
      expect(answer.authority[0]).toMatch(
        /^switchboard\. 30 IN SOA ns\.switchboard\. hostmaster\.switchboard\. \d+ 3600 600 86400 30$/,
      );
    }
    expect((await dig(server, 'web.service.example.com', 'A')).status).toBe('REFUSED');
    const txt = await dig(server, 'web.service.switchboard', 'TXT');
    expect(txt.status).toBe('NOERROR');
    expect(txt.answer).toEqual([]);
    expect(txt.authority).toHaveLength(1);
    const soa = await dig(server, 'switchboard', 'SOA');
    expect(soa.status).toBe('NOERROR');
    expect(soa.answer[0]).toMatch(/^switchboard\. 30 IN SOA /);
    expect((await dig(server, 'web.service.switchboard', 'A')).answer).toEqual([
      'web.service.switchboard. 30 IN A 10.0.0.1',
    ]);
  });

  it('leaves out instances that are deregistered, in maintenance, down or critical', async () => {
    await using server = await startDns({ leases: { sweepIntervalMs: 100 } });
    await register(server, { service: 'web', id: 'keep', host: '10.0.0.1', port: 80 });
    await register(server, { service: 'web', id: 'gone', host: '10.0.0.2', port: 80 });
    await register(server, { service: 'web', id: 'maint', host: '10.0.0.3', port: 80 });
    await register(server, { service: 'web', id: 'down', host: '10.0.0.4', port: 80 });
    await register(server, { service: 'web', id: 'lapses', host: '10.0.0.5', port: 80, ttl: '1s' });
    const all = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'];
    // Asked once before the changes, so an answer cached for the old index would show.
    expect(await short(server, 'web.service.switchboard', 'A')).toEqual(all);
    await send(server, 'DELETE /v1/services/web/instances/gone');
    await send(server, 'PUT /v1/services/web/instances/maint/maintenance', { enable: true, reason: 'test' });
    await send(server, 'PUT /v1/services/web/instances/down/status', { status: 'DOWN' });
    const left = await eventually(
      () => short(server, 'web.service.switchboard', 'A'),
      (ips) => ips.length === 1,
    );
    expect(left).toEqual(['10.0.0.1']);
    expect(await short(server, 'web.service.switchboard', 'SRV')).toEqual(['1 100 80 0a000001.addr.switchboard.']);
    // A service with no healthy instance left is unknown to DNS, as in Consul.
    await send(server, 'DELETE /v1/services/web/instances/keep');
    expect((await dig(server, 'web.service.switchboard', 'A')).status).toBe('NXDOMAIN');
  });

  it('truncates a large UDP answer to whole records with TC set, and answers all of it over TCP', async () => {
    await using server = await startDns();
    for (let i = 1; i <= 100; i += 1) {
      await register(server, {
        service: 'big',
        id: `b${i}`,
        host: `10.9.${Math.floor(i / 256)}.${i % 256}`,
        port: 7000 + i,
      });
    }
    // Without EDNS0 a UDP answer holds 512 bytes.
    const plain = await dig(server, '+ignore', '+notcp', '+noedns', 'big.service.switchboard', 'A');
    expect(plain.flags).toContain('tc');
    expect(plain.answer.length).toBeGreaterThan(0);
    expect(plain.answer.length).toBeLessThan(100);
    expect(plain.text).toMatch(/MSG SIZE {2}rcvd: (\d+)/);
    expect(Number(/MSG SIZE {2}rcvd: (\d+)/.exec(plain.text)?.[1])).toBeLessThanOrEqual(512);
    // dig's default EDNS0 offer (1232 bytes) holds more, still not all.
    const edns = await dig(server, '+ignore', '+notcp', 'big.service.switchboard', 'A');
    expect(edns.flags).toContain('tc');
    expect(edns.answer.length).toBeGreaterThan(plain.answer.length);
    // A 4096-byte offer holds all 100 A records.
    const large = await dig(server, '+notcp', '+bufsize=4096', 'big.service.switchboard', 'A');
    expect(large.flags).not.toContain('tc');
    expect(large.answer).toHaveLength(100);
    // Left to itself dig retries over TCP on TC, and gets everything.
    const retried = await dig(server, 'big.service.switchboard', 'SRV');
    expect(retried.text).toContain('Truncated, retrying in TCP mode');
    expect(retried.flags).not.toContain('tc');
    expect(retried.answer).toHaveLength(100);
    expect(retried.additional.filter((line) => line.includes(' IN A '))).toHaveLength(100);
    expect(await short(server, '+tcp', 'big.service.switchboard', 'A')).toHaveLength(100);
    // node's resolver (c-ares) does the same.
    expect(await resolverFor(server).resolve4('big.service.switchboard')).toHaveLength(100);
  });

  it('caps what EDNS0 may ask for at --dns-udp-max-bytes', async () => {
    await using server = await startDns({ dns: { udpMaxBytes: 1_024 } });
    for (let i = 1; i <= 60; i += 1)
      await register(server, { service: 'big', id: `b${i}`, host: `10.9.0.${i}`, port: 80 });
    const answer = await dig(server, '+ignore', '+notcp', '+bufsize=4096', 'big.service.switchboard', 'A');
    expect(answer.flags).toContain('tc');
    expect(Number(/MSG SIZE {2}rcvd: (\d+)/.exec(answer.text)?.[1])).toBeLessThanOrEqual(1_024);
    expect(answer.text).toContain('udp: 1024');
  });

  it('serves an existing Consul configuration with --dns-domain consul.', async () => {
    // The flag as an operator would type it: the config normalises the case and the final dot.
    const flags = { host: '127.0.0.1', port: '0', store: 'memory', 'log-level': 'silent', 'dns-port': '0' };
    const config = loadConfig({ env: {}, flags: { ...flags, 'dns-domain': 'Consul' } });
    expect(config.dns.domain).toBe('consul.');
    await using server = (await startServer(config)) as RunningServer & { dnsPort: number };
    await register(server, { service: 'redis', id: 'r1', host: '10.2.0.1', port: 6379, tags: ['primary'] });
    expect(await short(server, 'redis.service.consul', 'A')).toEqual(['10.2.0.1']);
    expect(await short(server, 'primary.redis.service.consul', 'SRV')).toEqual(['1 100 6379 0a020001.addr.consul.']);
    expect(await short(server, '0a020001.addr.consul', 'A')).toEqual(['10.2.0.1']);
    expect((await dig(server, 'redis.service.switchboard', 'A')).status).toBe('REFUSED');
  });

  it("answers node's dns.promises.Resolver: resolve4, resolveSrv and ENOTFOUND", async () => {
    await using server = await startDns();
    await register(server, { service: 'web', id: 'w1', host: '10.0.0.1', port: 8080, weight: 3 });
    await register(server, { service: 'web', id: 'w2', host: '10.0.0.2', port: 8081 });
    const resolver = resolverFor(server);
    expect((await resolver.resolve4('web.service.switchboard')).sort()).toEqual(['10.0.0.1', '10.0.0.2']);
    const withTtl = await resolver.resolve4('web.service.switchboard', { ttl: true });
    expect(withTtl.map((record) => record.ttl)).toEqual([5, 5]);
    const srv = await resolver.resolveSrv('_web._tcp.service.switchboard');
    expect(srv.sort((a, b) => a.port - b.port)).toEqual([
      { name: '0a000001.addr.switchboard', port: 8080, priority: 1, weight: 3 },
      { name: '0a000002.addr.switchboard', port: 8081, priority: 1, weight: 100 },
    ]);
    await expect(resolver.resolve4('nope.service.switchboard')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolveSrv('nope.service.switchboard')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('answers what an anonymous caller may read when auth is on, and hides the rest as unknown', async () => {
    using dir = tempDir();
    await using server = await startDns({
      auth: { mode: 'on', anonymousPolicy: { read: ['web*'], write: [], operator: false } },
      store: { kind: 'memory', dataDir: dir.path },
    });
    const operator = readFileSync(join(dir.path, 'bootstrap-token'), 'utf8').trim();
    await register(server, { service: 'web', id: 'w1', host: '10.0.0.1', port: 80 }, operator);
    await register(server, { service: 'webhooks', id: 'h1', host: '10.0.0.2', port: 80 }, operator);
    await register(server, { service: 'payments', id: 'p1', host: '10.0.0.3', port: 80 }, operator);
    expect(await short(server, 'web.service.switchboard', 'A')).toEqual(['10.0.0.1']);
    expect(await short(server, 'webhooks.service.switchboard', 'SRV')).toEqual(['1 100 80 0a000002.addr.switchboard.']);
    // Not REFUSED: that would tell who asks that the service exists.
    const hidden = await dig(server, 'payments.service.switchboard', 'A');
    expect(hidden.status).toBe('NXDOMAIN');
    expect(hidden.status).toBe((await dig(server, 'no-such.service.switchboard', 'A')).status);
    await expect(resolverFor(server).resolve4('payments.service.switchboard')).rejects.toMatchObject({
      code: 'ENOTFOUND',
    });
  });

  it('answers FORMERR to a packet it cannot read, drops what has no id, and survives random bytes', async () => {
    await using server = await startDns();
    await register(server, { service: 'web', id: 'w1', host: '10.0.0.1', port: 80 });
    const { dnsPort } = server;
    // A header that promises a question the packet does not hold: FORMERR, with the id.
    const header = Buffer.from([0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
    const formerr = await udpExchange(dnsPort, header);
    expect(formerr).toBeDefined();
    expect(packet.decode(formerr as Buffer).id).toBe(0xabcd);
    expect(rcodeOf(formerr)).toBe('FORMERR');
    // One byte carries no id: nothing to answer.
    expect(await udpExchange(dnsPort, Buffer.from([7]), 300)).toBeUndefined();
    // Two questions in one query: FORMERR.
    const two = twoQuestionQuery('web.service.switchboard', 9);
    expect(rcodeOf(await udpExchange(dnsPort, two))).toBe('FORMERR');
    // An opcode other than QUERY (here NOTIFY, 4): NOTIMP.
    const notify = query('web.service.switchboard');
    notify.writeUInt16BE(notify.readUInt16BE(2) | (4 << 11), 2);
    expect(rcodeOf(await udpExchange(dnsPort, notify))).toBe('NOTIMP');
    // An EDNS version this server does not speak: BADVERS, the extended rcode 16 (RFC 6891 §6.1.3).
    const edns1 = ednsQuery('web.service.switchboard', 1, 10);
    const badvers = packet.decode((await udpExchange(dnsPort, edns1)) as Buffer);
    expect(badvers.answers).toEqual([]);
    expect(badvers.additionals?.find((record) => record.type === 'OPT')).toMatchObject({ extendedRcode: 1 });
    // Random packets over UDP and TCP, then a real query must still be answered.
    let seed = 17;
    const random = (n: number): Buffer => {
      const bytes = Buffer.alloc(n);
      for (let i = 0; i < n; i += 1) {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        bytes[i] = seed & 0xff;
      }
      return bytes;
    };
    const sender = createSocket('udp4');
    for (let i = 0; i < 300; i += 1) sender.send(random(1 + (i % 600)), dnsPort, '127.0.0.1');
    // Valid headers with random bodies reach the decoder's deeper paths.
    for (let i = 0; i < 300; i += 1) {
      const body = random(12 + (i % 200));
      body.writeUInt16BE(0x0100, 2);
      body.writeUInt16BE(1, 4);
      sender.send(body, dnsPort, '127.0.0.1');
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    sender.close();
    for (let i = 0; i < 20; i += 1) await tcpExchange(dnsPort, random(1 + i * 37), 200);
    const frames = Buffer.concat(Array.from({ length: 20 }, (_, i) => framed(random(12 + i * 11))));
    await tcpExchange(dnsPort, frames, 300);
    expect(await short(server, 'web.service.switchboard', 'A')).toEqual(['10.0.0.1']);
    expect(await short(server, '+tcp', 'web.service.switchboard', 'A')).toEqual(['10.0.0.1']);
  });

  it('answers queries pipelined on one TCP connection and closes one that announces a too-long query', async () => {
    await using server = await startDns({ dns: { tcpMaxMessageBytes: 512 } });
    await register(server, { service: 'web', id: 'w1', host: '10.0.0.1', port: 80 });
    const pipelined = Buffer.concat([
      framed(query('web.service.switchboard', 'A', 1)),
      framed(query('web.service.switchboard', 'SRV', 2)),
    ]);
    const { data } = await tcpExchange(server.dnsPort, pipelined, 1_000);
    const first = packet.streamDecode(data);
    const second = packet.streamDecode(data.subarray(2 + data.readUInt16BE(0)));
    expect([first.id, second.id]).toEqual([1, 2]);
    expect(first.answers?.map((a) => (a.type === 'A' ? a.data : a.type))).toEqual(['10.0.0.1']);
    expect(second.answers?.[0]?.type).toBe('SRV');
    const tooLong = Buffer.alloc(2);
    tooLong.writeUInt16BE(513);
    const refused = await tcpExchange(server.dnsPort, tooLong, 5_000);
    expect(refused.closed).toBe(true);
    expect(refused.data.length).toBe(0);
  });

  it('shuffles the records of each answer', async () => {
    await using server = await startDns();
    for (let i = 1; i <= 8; i += 1)
      await register(server, { service: 'web', id: `w${i}`, host: `10.0.0.${i}`, port: 80 });
    const resolver = resolverFor(server);
    const orders = new Set<string>();
    // 8! orders: twenty answers all in one order would mean no shuffle (a chance of 1 in 40320^19 otherwise).
    for (let i = 0; i < 20; i += 1) orders.add((await resolver.resolve4('web.service.switchboard')).join(','));
    expect(orders.size).toBeGreaterThan(1);
  });

  it('closes TCP connections beyond --dns-tcp-max-connections', async () => {
    await using server = await startDns({ dns: { tcpMaxConnections: 1 } });
    await register(server, { service: 'web', id: 'w1', host: '10.0.0.1', port: 80 });
    const held = connect({ host: '127.0.0.1', port: server.dnsPort });
    try {
      await new Promise((resolve) => held.once('connect', resolve));
      const extra = await tcpExchange(server.dnsPort, framed(query('web.service.switchboard')), 5_000);
      expect(extra.closed).toBe(true);
      expect(extra.data.length).toBe(0);
    } finally {
      held.destroy();
    }
    // UDP is not affected, and the slot frees once the connection goes.
    expect(await short(server, 'web.service.switchboard', 'A')).toEqual(['10.0.0.1']);
    const again = await eventually(
      () => tcpExchange(server.dnsPort, framed(query('web.service.switchboard')), 1_000),
      (reply) => reply.data.length > 0,
    );
    expect(packet.streamDecode(again.data).answers).toHaveLength(1);
  });

  it('closes an idle TCP connection after --dns-tcp-idle-timeout', async () => {
    await using server = await startDns({ dns: { tcpIdleTimeoutMs: 200 } });
    const idle = await tcpExchange(server.dnsPort, Buffer.alloc(0), 5_000);
    expect(idle.closed).toBe(true);
  });

  it('runs no DNS unless asked, and frees its port on close', async () => {
    await using plain = await startTestServer();
    expect(plain.dnsPort).toBeUndefined();
    const server = await startDns();
    const port = server.dnsPort;
    await server.close();
    // Both sockets are free again: a new server can take the same port.
    await using again = await startTestServer({ dns: { port } });
    expect(again.dnsPort).toBe(port);
  });
});
