/**
 * Answers one DNS query (issue #17): the registry's healthy instances as A, AAAA and SRV records. Never throws: a
 * packet it cannot read gets FORMERR when its id can be read and no answer otherwise, and a fault of its own SERVFAIL.
 *
 * Invariant: what a name answers depends only on the service's index (and the fixed anonymous policy), so the records
 * are built once per (name, type) and index, and each answer only shuffles them and cuts them to the size bound.
 */
import packet from 'dns-packet';
import type { Answer, DecodedPacket, OptAnswer, Question } from 'dns-packet';
import { isEligible } from '../balancing/index.js';
import type { Registry } from '../core/index.js';
import type { Instance } from '../wire/index.js';
import type { DnsMetrics } from './dns-metrics.js';
import { addressName, hostKind, parseDnsName } from './dns-names.js';

/** The registry reads DNS makes. */
export type DnsRegistry = Pick<Registry, 'list' | 'listServices' | 'serviceIndex' | 'index'>;

/** Who DNS answers as: it carries no credentials, so the anonymous caller (everyone with auth off). */
export interface DnsReader {
  can(right: 'read', service: string): boolean;
}

export interface DnsLogger {
  error(obj: object, msg: string): void;
}

export interface DnsAnswerSettings {
  /** Lower case, ending with a dot (`switchboard.`). */
  domain: string;
  /** Also served as a label after `service`/`addr`, as Consul's names carry it (lower case). */
  datacenter?: string;
  ttlMs: number;
  /** The largest UDP answer, whatever larger size a client's EDNS0 record offers. */
  udpMaxBytes: number;
}

export type DnsTransport = 'udp' | 'tcp';

/** An answer record and the records that help resolve it (an SRV target's address), kept together when cut. */
interface Entry {
  record: Answer;
  extra: Answer[];
}

/** What a name and type answer at one service index. */
interface RecordSet {
  service: string;
  index: number;
  rcode: 'NOERROR' | 'NXDOMAIN';
  entries: Entry[];
  /** The entries are alternatives, of which each answer carries one (CNAMEs: a name may hold only one). */
  oneOf: boolean;
}

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
type Rcode = keyof typeof RCODE;
/** An answer's response code, BADVERS (RFC 6891's extended code 16) included. */
export type DnsRcode = Rcode | 'BADVERS';
/** A UDP answer's size without EDNS0 (RFC 1035 §4.2.1); a TCP message's length field caps it at 64 KiB. */
const UDP_MIN_BYTES = 512;
const TCP_MAX_BYTES = 65_535;
const HEADER_BYTES = 12;
const QR = 1 << 15;
/** (name, type) record sets remembered at most: a resolver that randomises case (DNS 0x20) varies the name. */
const REMEMBERED_SETS = 4_096;

export class DnsAnswerer {
  readonly #registry: DnsRegistry;
  readonly #reader: DnsReader;
  readonly #settings: DnsAnswerSettings;
  readonly #ttl: number;
  readonly #logger: DnsLogger | undefined;
  readonly #metrics: DnsMetrics | undefined;
  readonly #sets = new Map<string, RecordSet>();
  /** Lower-cased service name → the registered name, rebuilt when the registry's index moves (DNS ignores case). */
  #serviceNames: { index: number; names: Map<string, string> } | undefined;

  constructor(options: {
    registry: DnsRegistry;
    reader: DnsReader;
    settings: DnsAnswerSettings;
    logger?: DnsLogger;
    metrics?: DnsMetrics;
  }) {
    this.#registry = options.registry;
    this.#reader = options.reader;
    this.#settings = options.settings;
    this.#ttl = Math.max(1, Math.round(options.settings.ttlMs / 1000));
    this.#logger = options.logger;
    this.#metrics = options.metrics;
  }

  /** The answer to `query` as it goes on the wire (without TCP's length prefix), or undefined to drop it. */
  answer(query: Buffer, transport: DnsTransport): Buffer | undefined {
    const started = performance.now();
    // Too short to carry an id, or itself an answer (answering answers could loop between two servers): drop it.
    if (query.length < 2 || (query.length >= 4 && (query.readUInt16BE(2) & QR) !== 0)) {
      this.#metrics?.dropped(transport, query.length < 2 ? 'no_id' : 'response');
      return undefined;
    }
    let request: DecodedPacket | undefined;
    try {
      if (query.length < HEADER_BYTES) throw new Error('shorter than a DNS header');
      request = packet.decode(query);
    } catch {
      request = undefined;
    }
    let answer: Buffer;
    let rcode: DnsRcode;
    let truncated = false;
    if (request === undefined) {
      answer = bareAnswer(query, 'FORMERR');
      rcode = 'FORMERR';
    } else {
      try {
        const reply = new Reply(request, this.#settings.udpMaxBytes);
        answer = this.#answer(request, reply, transport);
        ({ rcode, truncated } = reply);
      } catch (err) {
        this.#logger?.error({ err }, 'dns: could not answer a query');
        answer = bareAnswer(query, 'SERVFAIL');
        rcode = 'SERVFAIL';
      }
    }
    const metrics = this.#metrics;
    if (metrics !== undefined) {
      metrics.series(transport, request?.questions?.[0]?.type, rcode).observe((performance.now() - started) / 1000);
      if (truncated) metrics.truncated(transport);
    }
    return answer;
  }

  #answer(request: DecodedPacket, reply: Reply, transport: DnsTransport): Buffer {
    const { opt } = reply;
    const opcode = ((request.flags ?? 0) >> 11) & 0xf;
    if (opcode !== 0) return reply.encode('NOTIMP');
    const question = request.questions?.[0];
    if (question === undefined || request.questions?.length !== 1) return reply.encode('FORMERR');
    // RFC 6891 §6.1.3: a version this server does not speak gets BADVERS (extended rcode 16).
    if (opt !== undefined && opt.ednsVersion !== 0) return reply.encode('NOERROR', { badVersion: true });
    if (question.class !== 'IN' && question.class !== 'ANY') return reply.encode('REFUSED');
    const bound =
      transport === 'tcp'
        ? TCP_MAX_BYTES
        : Math.min(this.#settings.udpMaxBytes, Math.max(UDP_MIN_BYTES, opt?.udpPayloadSize ?? UDP_MIN_BYTES));
    // dns-packet's types leave out ANY (255), which its decoder names.
    const qtype: string = question.type;
    const name = parseDnsName(question.name, this.#settings.domain, this.#settings.datacenter);
    switch (name.kind) {
      case 'outside':
        return reply.encode('REFUSED');
      case 'unknown':
        return reply.encode('NXDOMAIN', { soa: this.#soa() });
      case 'apex':
        return qtype === 'SOA'
          ? reply.encode('NOERROR', { entries: [{ record: this.#soa(), extra: [] }], bound })
          : reply.encode('NOERROR', { soa: this.#soa() });
      case 'address': {
        const type = name.family === 4 ? 'A' : 'AAAA';
        if (qtype !== type && qtype !== 'ANY') return reply.encode('NOERROR', { soa: this.#soa() });
        const record: Answer = { name: question.name.toLowerCase(), type, ttl: this.#ttl, data: name.address };
        return reply.encode('NOERROR', { entries: [{ record, extra: [] }], bound });
      }
      case 'service': {
        const set = this.#recordSet(question, name.service, name.tag);
        if (set === undefined || set.rcode === 'NXDOMAIN') return reply.encode('NXDOMAIN', { soa: this.#soa() });
        if (set.entries.length === 0) return reply.encode('NOERROR', { soa: this.#soa() });
        const entries = set.oneOf
          ? [set.entries[Math.floor(Math.random() * set.entries.length)] as Entry]
          : shuffled(set.entries);
        return reply.encode('NOERROR', { entries, bound });
      }
    }
  }

  /**
   * The records `question` answers for a service, from the cache while the service's index holds; undefined when
   * there is no such service the anonymous caller may read (which answers as if it did not exist, so names do not
   * leak).
   */
  #recordSet(question: Question, label: string, tag: string | undefined): RecordSet | undefined {
    const owner = question.name.toLowerCase();
    const key = `${question.type} ${owner}`;
    const cached = this.#sets.get(key);
    if (cached !== undefined) {
      if (cached.index === this.#registry.serviceIndex(cached.service)) return cached;
      this.#sets.delete(key);
    }
    const service = this.#serviceNamed(label);
    if (service === undefined || !this.#reader.can('read', service)) return undefined;
    const { index, instances } = this.#registry.list(service);
    const eligible = instances.filter(
      (instance) => isEligible(instance) && (tag === undefined || instance.tags.some((t) => t.toLowerCase() === tag)),
    );
    const entries = this.#entries(question.type, owner, eligible);
    const set: RecordSet = {
      service,
      index,
      rcode: eligible.length === 0 ? 'NXDOMAIN' : 'NOERROR',
      entries,
      oneOf: entries[0]?.record.type === 'CNAME',
    };
    if (this.#sets.size >= REMEMBERED_SETS) this.#sets.clear();
    this.#sets.set(key, set);
    return set;
  }

  #entries(type: string, owner: string, instances: Instance[]): Entry[] {
    const ttl = this.#ttl;
    switch (type) {
      case 'A':
      case 'AAAA':
      case 'ANY': {
        // One record per address: instances that share a host differ by port, which only SRV can say. Instances
        // registered by host name answer only when no instance has an address, as a CNAME to one of those names,
        // a different one per answer: a name that holds a CNAME may hold nothing else (RFC 1034 §3.6.2).
        const seen = new Set<string>();
        const entries: Entry[] = [];
        const aliases: Entry[] = [];
        let addressed = false;
        for (const { host } of instances) {
          if (seen.has(host)) continue;
          seen.add(host);
          const kind = hostKind(host);
          if (kind === 'name') {
            aliases.push({ record: { name: owner, type: 'CNAME', ttl, data: host }, extra: [] });
            continue;
          }
          addressed = true;
          const recordType = kind === 'ipv4' ? 'A' : kind === 'ipv6' ? 'AAAA' : undefined;
          if (recordType === undefined || (type !== 'ANY' && type !== recordType)) continue;
          entries.push({ record: { name: owner, type: recordType, ttl, data: host }, extra: [] });
        }
        return addressed ? entries : aliases;
      }
      case 'SRV':
        return instances.flatMap((instance): Entry[] => {
          const kind = hostKind(instance.host);
          if (kind === undefined) return [];
          const target = kind === 'name' ? instance.host : addressName(instance.host, this.#settings.domain);
          const data = { priority: 1, weight: instance.weight, port: instance.port, target };
          const record: Answer = { name: owner, type: 'SRV', ttl, data };
          if (kind === 'name') return [{ record, extra: [] }];
          const extra: Answer = { name: target, type: kind === 'ipv4' ? 'A' : 'AAAA', ttl, data: instance.host };
          return [{ record, extra: [extra] }];
        });
      default:
        // A type this server does not serve, on a name it does: NODATA.
        return [];
    }
  }

  /** The registered service a (lower-cased) label names: the same name in lower case first, else one in any case. */
  #serviceNamed(label: string): string | undefined {
    if (this.#registry.list(label, { status: 'any', health: 'any' }).instances.length > 0) return label;
    const index = this.#registry.index;
    if (this.#serviceNames?.index !== index) {
      const names = new Map<string, string>();
      for (const { name } of this.#registry.listServices().services) {
        if (!names.has(name.toLowerCase())) names.set(name.toLowerCase(), name);
      }
      this.#serviceNames = { index, names };
    }
    return this.#serviceNames.names.get(label);
  }

  /** The zone's SOA, sent with every negative answer; its minimum (RFC 2308's negative TTL) is the TTL. */
  #soa(): Answer {
    const { domain } = this.#settings;
    const ttl = this.#ttl;
    const data = {
      mname: `ns.${domain}`,
      rname: `hostmaster.${domain}`,
      serial: this.#registry.index % 2 ** 32,
      refresh: 3_600,
      retry: 600,
      expire: 86_400,
      minimum: ttl,
    };
    return { name: domain, type: 'SOA', ttl, data };
  }
}

/**
 * Builds an answer to one decoded request: its id, question and RD flag, and an OPT record when it sent one. Once
 * encoded, it tells the response code and whether TC was set (for the metrics).
 */
class Reply {
  /** The request's EDNS0 record, if it sent one. */
  readonly opt: OptAnswer | undefined;
  rcode: DnsRcode = 'NOERROR';
  truncated = false;
  readonly #request: DecodedPacket;
  readonly #optPayloadSize: number | undefined;

  /** `udpMaxBytes` is the payload size the answer's own OPT record offers, when the request sent one. */
  constructor(request: DecodedPacket, udpMaxBytes: number) {
    this.#request = request;
    this.opt = request.additionals?.find((record): record is OptAnswer => record.type === 'OPT');
    this.#optPayloadSize = this.opt === undefined ? undefined : udpMaxBytes;
  }

  /**
   * Whole entries in order while they fit in `bound`, with TC set when one does not (RFC 2181 §9); then the
   * extra records of those sent, as many as fit (they are optional: leaving some out needs no TC).
   */
  encode(rcode: Rcode, body: { entries?: Entry[]; soa?: Answer; bound?: number; badVersion?: boolean } = {}): Buffer {
    const { entries = [], soa, bound = TCP_MAX_BYTES, badVersion = false } = body;
    const request = this.#request;
    const opt: OptAnswer[] =
      this.#optPayloadSize === undefined
        ? []
        : [
            {
              name: '.',
              type: 'OPT',
              udpPayloadSize: this.#optPayloadSize,
              extendedRcode: badVersion ? 1 : 0,
              ednsVersion: 0,
              flags: 0,
              flag_do: false,
              options: [],
            },
          ];
    const questions = request.questions?.slice(0, 1) ?? [];
    const authorities = soa === undefined ? [] : [soa];
    let size = packet.encodingLength({ questions, authorities, additionals: opt });
    const answers: Answer[] = [];
    let truncated = false;
    for (const entry of entries) {
      const length = recordLength(entry.record);
      if (size + length > bound) {
        truncated = true;
        break;
      }
      size += length;
      answers.push(entry.record);
    }
    const additionals: Answer[] = [];
    for (const entry of entries.slice(0, answers.length)) {
      for (const record of entry.extra) {
        const length = recordLength(record);
        if (size + length > bound) continue;
        size += length;
        additionals.push(record);
      }
    }
    this.rcode = badVersion ? 'BADVERS' : rcode;
    this.truncated = truncated;
    const flags =
      packet.AUTHORITATIVE_ANSWER |
      ((request.flags ?? 0) & packet.RECURSION_DESIRED) |
      (truncated ? packet.TRUNCATED_RESPONSE : 0) |
      RCODE[rcode];
    return packet.encode({
      type: 'response',
      id: request.id ?? 0,
      flags,
      questions,
      answers,
      authorities,
      additionals: [...additionals, ...opt],
    });
  }
}

/** Encoded sizes of records, measured once: cached record sets are cut to a size bound on every answer. */
const recordLengths = new WeakMap<Answer, number>();

function recordLength(record: Answer): number {
  let length = recordLengths.get(record);
  if (length === undefined) {
    length = packet.encodingLength({ answers: [record] }) - HEADER_BYTES;
    recordLengths.set(record, length);
  }
  return length;
}

/** A header-only answer to a packet that could not be read (or answered): its id, QR, its opcode and `rcode`. */
function bareAnswer(query: Buffer, rcode: Rcode): Buffer {
  const out = Buffer.alloc(HEADER_BYTES);
  out.writeUInt16BE(query.readUInt16BE(0), 0);
  const opcodeAndRd = query.length >= 4 ? query.readUInt16BE(2) & 0x7900 : 0;
  out.writeUInt16BE(QR | opcodeAndRd | RCODE[rcode], 2);
  return out;
}

/** A fresh order per answer, so clients that take the first record spread over the instances (Fisher–Yates). */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
