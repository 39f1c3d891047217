/**
 * Blocking queries and ETags for the discovery reads (issue #6).
 *
 * `?index=N&wait=30s` holds a read until the index of what it reads passes N, then answers as usual: a wait that
 * runs out answers the same index, never an error. Every read answers an ETag, and a matching `If-None-Match`
 * gets 304.
 *
 * The ETag is made from this process's boot id, the index the answer is made at and the request's URL without its
 * blocking parameters. That is sound because within one process an answer is a function of its index and its
 * query (the AnswerCache relies on the same), and it costs no hashing of bodies on the fan-out path.
 */
import { randomBytes } from 'node:crypto';
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteGenericInterface } from 'fastify';
import type { Registry } from '../core/index.js';
import type { SubscriberTable } from '../subscribers/index.js';
import { INDEX_HEADER, blockingWaitMs } from '../wire/index.js';
import type { Duration } from '../wire/index.js';
import { subscriberOf } from './subscriber-routes.js';
import { Waiters } from './waiters.js';

/** The query parameters every blocking read accepts. */
export interface BlockingQuery {
  index?: number;
  wait?: Duration;
}

/** A read's answer: its JSON body, made at `index` (its scope's index) for a request of `url`. */
export interface ReadAnswer {
  url: string;
  index: number;
  body: string;
}

/** A read as the route has it: the JSON body of the answer, made (or taken from a cache) synchronously. */
export type ReadHandler<R extends RouteGenericInterface> = (request: FastifyRequest<R>) => string;

const JSON_TYPE = 'application/json; charset=utf-8';

export class BlockingReads {
  readonly #registry: Registry;
  readonly #waiters: Waiters;
  /** Tells this process's ETags from those of a registry that ran before with the same indexes. */
  readonly #boot = randomBytes(6).toString('base64url');
  /** URL → its variant hash: the many reads woken together by one change mostly share one URL. */
  readonly #variants = new Map<string, string>();
  /** Reads that name a subscriber (issue #19) report its progress here: their `?index=` is what it has applied. */
  readonly #subscribers: SubscriberTable | undefined;

  /** Ends every held read when the server starts closing, so closing never waits for a wait to run out. */
  constructor(app: FastifyInstance, registry: Registry, subscribers?: SubscriberTable) {
    this.#registry = registry;
    this.#subscribers = subscribers;
    this.#waiters = new Waiters(registry);
    app.addHook('preClose', (done) => {
      this.#waiters.close();
      done();
    });
  }

  /** How many reads are being held. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /**
   * Wraps a read so that it can block and answers an ETag. `scopeOf` names the service the read is about
   * (undefined: the whole registry); its index must be the one the read puts in X-Switchboard-Index.
   */
  handler<R extends RouteGenericInterface>(
    scopeOf: (request: FastifyRequest<R>) => string | undefined,
    read: ReadHandler<R>,
    viewOf: (request: FastifyRequest<R>) => string = () => '',
  ): (request: FastifyRequest<R>, reply: FastifyReply) => void {
    return (request, reply) => {
      const { index, wait } = request.query as BlockingQuery;
      const service = scopeOf(request);
      const view = viewOf(request);
      const who = this.#subscribers
        ? subscriberOf(request.headers, { watches: service, transport: 'blocking' })
        : undefined;
      // While its read is held the subscriber is connected; an answered read leaves it seen just now.
      const leave = who ? (this.#subscribers as SubscriberTable).connect(who, index) : () => undefined;
      // An index ahead of the whole registry's comes from another history (a registry restarted on an empty
      // store): answer at once so the client starts over from what is there now.
      if (index === undefined || index > this.#registry.index || this.#waiters.indexOf(service) > index) {
        leave();
        this.#answer(request, reply, { service, read, view, woken: false });
        return;
      }
      const cancel = this.#waiters.hold(service, { index, ms: waitMs(wait) }, () => {
        leave();
        try {
          this.#answer(request, reply, { service, read, view, woken: true });
        } catch (err) {
          void reply.send(err);
        }
      });
      reply.raw.once('close', () => {
        leave();
        cancel();
      });
    };
  }

  /** The ETag of a read of `url` answered at `index`. */
  #etagOf(url: string, index: number): string {
    let variant = this.#variants.get(url);
    if (variant === undefined) {
      variant = variantOf(url);
      if (this.#variants.size >= 1_000) this.#variants.clear();
      this.#variants.set(url, variant);
    }
    return `"${this.#boot}-${index}-${variant}"`;
  }

  /**
   * Writes a read's 200 answer straight to its socket: the same bytes Fastify would send, without Fastify's
   * per-reply machinery (the fast path, and reads woken together by one change).
   */
  write(res: ServerResponse, answer: ReadAnswer): void {
    writeAnswer(res, answer, this.#etagOf(answer.url, answer.index));
  }

  #answer<R extends RouteGenericInterface>(
    request: FastifyRequest<R>,
    reply: FastifyReply,
    what: { service: string | undefined; read: ReadHandler<R>; view: string; woken: boolean },
  ): void {
    const index = this.#waiters.indexOf(what.service);
    // Readers who see different answers at one URL (a token that reads some services only) get different ETags.
    const etag = this.#etagOf(what.view === '' ? request.url : `${request.url}#${what.view}`, index);
    if (matches(request.headers['if-none-match'], etag)) {
      void reply.code(304).header('etag', etag).header(INDEX_HEADER, index).send();
      return;
    }
    const body = what.read(request);
    if (what.woken) {
      // One change wakes every held read of its scope at once (1,000 in the fan-out benchmark): write each answer
      // straight to its socket, the same bytes Fastify would send, without Fastify's per-reply machinery.
      reply.hijack();
      writeAnswer(reply.raw, { url: request.url, index, body }, etag);
      return;
    }
    void reply.headers(answerHeaders(index, etag)).send(body);
  }
}

/** The headers of every read's 200 answer, whether Fastify sends it or it is written straight to the socket. */
function answerHeaders(index: number, etag: string): OutgoingHttpHeaders {
  return { [INDEX_HEADER]: index, etag, 'content-type': JSON_TYPE };
}

function writeAnswer(res: ServerResponse, answer: ReadAnswer, etag: string): void {
  const headers = answerHeaders(answer.index, etag);
  headers['content-length'] = Buffer.byteLength(answer.body);
  res.writeHead(200, headers);
  res.end(answer.body);
}

/** The wait asked for, capped at 10 minutes, plus up to 1/16 of it so clients that came together leave apart. */
function waitMs(wait: Duration | undefined): number {
  const ms = blockingWaitMs(wait);
  return Math.round(ms + (Math.random() * ms) / 16);
}

/** A short hash of the URL without its blocking parameters: reads of the same thing share it. */
function variantOf(url: string): string {
  const at = url.indexOf('?');
  let key = url;
  if (at >= 0) {
    const params = new URLSearchParams(url.slice(at + 1));
    params.delete('index');
    params.delete('wait');
    const rest = params.toString();
    key = rest === '' ? url.slice(0, at) : `${url.slice(0, at)}?${rest}`;
  }
  // FNV-1a: cheap and good enough to tell the queries of one path apart.
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(36);
}

function matches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}
