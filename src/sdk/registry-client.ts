/**
 * The registry's HTTP client. It speaks REST v1 only and imports no server code.
 *
 * With several registry URLs it keeps using the last one that answered and moves to the next when a node
 * cannot be reached or answers an error whose code is retryable (errors/codes.ts), so one node going down costs a
 * caller nothing but a retry.
 *
 * Invariant: a request that is not idempotent (a POST sent through `request`) is sent to one node at most once,
 * and to another node only when it provably never left for the first (the connection was never made). A connection
 * lost after the request was written may have registered the instance already; sending it again would register it
 * twice (issue #11). The client's own registrations are all PUTs with an id, made up when the caller gives none.
 */
import { InvalidArgumentError, RegistryError, UnavailableError, errorFromBody, isRetryable } from '../errors/index.js';
import type {
  CreatedToken,
  Duration,
  Health,
  Instance,
  InstancePage,
  InstanceRegistration,
  InstanceStatus,
  MaintenanceBody,
  ServiceAnswer,
  ServiceList,
  TokenCreateBody,
  TokenInfo,
  TokenList,
  TokenSelf,
  DrainAnswer,
  SubscriberList,
} from '../wire/index.js';
import { INDEX_HEADER, blockingWaitMs } from '../wire/index.js';
import { tlsFetch } from './tls-fetch.js';
import type { FetchFunction, Pem } from './tls-fetch.js';
import { watchEvents } from './watch.js';
import type { WatchEvent, WatchOptions } from './watch.js';

export interface RegistryClientOptions {
  /** One registry node, e.g. `http://127.0.0.1:8900`. */
  url?: string;
  /** Several registry nodes, tried in turn. */
  urls?: string[];
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Per-request timeout (blocking queries add their wait to it). Default 10 s. */
  timeoutMs?: number;
  /**
   * CA certificate(s), PEM, to trust for an `https://` registry instead of the system's (a self-signed registry's own
   * certificate works too). Node only: import from `switchboard` or `switchboard/agent`.
   */
  ca?: Pem | readonly Pem[];
  /** Client certificate and its key, PEM, for a registry that requires one (mutual TLS). Node only, like `ca`. */
  cert?: Pem;
  key?: Pem;
  /** Called instead of the global `fetch` (for a proxy, or your own TLS agent); `ca`, `cert` and `key` are then unused. */
  fetch?: FetchFunction;
}

/** An instance to register: the REST body plus its service and, optionally, its id. */
export interface InstanceInput extends InstanceRegistration {
  service: string;
  id?: string;
}

/**
 * Options of {@link RegistryClient.register}.
 * @example
 * await client.register({ service: 'tickets', id: 'tickets-1', host: '127.0.0.1', port: 3001 }, { exclusive: true });
 */
export interface RegisterOptions {
  /** Refuse, with ExistingServiceError, to update an instance whose id is already registered. */
  exclusive?: boolean;
  signal?: AbortSignal;
}

export interface GetServiceOptions {
  /** Statuses to include (default UP); `'any'` for all. */
  status?: InstanceStatus | InstanceStatus[] | 'any';
  /** Tags the instances must all carry. */
  tag?: string | string[];
  /** Health states to include (default passing and warning); `'any'` for all. */
  health?: Health | Health[] | 'any';
  zone?: string;
  /** Blocking query: answer once the service's index passes this one (or `wait` ends). */
  index?: number;
  /** How long a blocking query may wait, e.g. `'30s'`. */
  wait?: Duration;
  signal?: AbortSignal;
}

export interface RequestOptions {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string | number | readonly string[] | undefined>;
  body?: unknown;
  signal?: AbortSignal;
  /** Added to the client's timeout (for blocking queries). */
  extraTimeoutMs?: number;
  /** Extra request headers (e.g. a watch's subscriber identity). */
  headers?: Readonly<Record<string, string>>;
}

export interface Answer<T> {
  status: number;
  /** X-Switchboard-Index of the answer (0 when absent). */
  index: number;
  body: T;
  headers: Headers;
}

/**
 * A client of the registry's REST API v1.
 * @example
 * const client = new RegistryClient({ url: 'http://127.0.0.1:8900' });
 * const web = await client.register({ service: 'web', host: '10.0.0.5', port: 8080, ttl: '10s' });
 * const { instances } = await client.getService('web');
 * // An https:// registry with a private CA, which requires client certificates (Node: fs reads the PEM files):
 * const secure = new RegistryClient({
 *   url: 'https://registry.internal:8900',
 *   ca: readFileSync('ca.crt'),
 *   cert: readFileSync('me.crt'),
 *   key: readFileSync('me.key'),
 * });
 */
export class RegistryClient {
  readonly #urls: string[];
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  readonly #fetch: FetchFunction;
  #current = 0;

  constructor(options: RegistryClientOptions) {
    const urls = [...(options.urls ?? []), ...(options.url === undefined ? [] : [options.url])];
    if (urls.length === 0) throw new InvalidArgumentError('RegistryClient needs a url or urls');
    this.#urls = urls.map(checkUrl);
    // A token read from a file keeps its trailing newline, which no HTTP header may carry.
    this.#token = options.token?.trim();
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    const { ca, cert, key } = options;
    if ((cert === undefined) !== (key === undefined)) {
      throw new InvalidArgumentError('RegistryClient: cert and key go together (a client certificate and its key)');
    }
    // Looked up when called, so a fetch replaced later (a test's mock) is the one used.
    this.#fetch =
      options.fetch ??
      (ca === undefined && cert === undefined
        ? (url, init) => fetch(url, init)
        : tlsFetch({ ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert, key }) }));
  }

  /** The registry node the client is using now. */
  get url(): string {
    return this.#urls[this.#current] as string;
  }

  /**
   * Registers an instance (or updates it when its id exists) and resolves to the stored instance. With
   * `exclusive`, an id that is already registered is refused with ExistingServiceError (the registry checks and
   * writes in one step, so of two racing exclusive registrations exactly one wins). Without an id the client makes
   * up a random one (a UUID) and registers with PUT like any other: if the answer is lost and the registration is
   * retried on another node, it updates the one instance instead of registering a second (issue #12).
   * @example
   * const instance = await client.register({ service: 'tickets', id: 'tickets-1', host: '127.0.0.1', port: 3001 });
   * try {
   *   await client.register({ service: 'tickets', id: 'tickets-1', host: '127.0.0.1', port: 3001 }, { exclusive: true });
   * } catch (err) {
   *   if (err instanceof ExistingServiceError) console.log('tickets-1 is taken');
   * }
   */
  async register(instance: InstanceInput, options: RegisterOptions = {}): Promise<Instance> {
    const { service, id = globalThis.crypto.randomUUID(), ...body } = instance;
    const request: RequestOptions = { method: 'PUT', path: instancePath(service, id), body };
    if (options.exclusive) request.query = { exclusive: 'true' };
    if (options.signal) request.signal = options.signal;
    return (await this.request<Instance>(request)).body;
  }

  /**
   * Removes an instance; NotFoundError when it is not registered.
   * @example
   * await client.deregister('tickets', 'tickets-1');
   */
  async deregister(service: string, id: string): Promise<Instance> {
    return (await this.request<Instance>({ method: 'DELETE', path: instancePath(service, id) })).body;
  }

  /**
   * Renews an instance's lease; NotFoundError means the registry lost it and it must register again.
   * @example
   * await client.heartbeat('tickets', 'tickets-1');
   */
  async heartbeat(service: string, id: string): Promise<Instance> {
    return (await this.request<Instance>({ method: 'PUT', path: `${instancePath(service, id)}/heartbeat` })).body;
  }

  /**
   * Sets an instance's status.
   * @example
   * await client.setStatus('tickets', 'tickets-1', 'OUT_OF_SERVICE');
   */
  async setStatus(service: string, id: string, status: InstanceStatus): Promise<Instance> {
    return (
      await this.request<Instance>({ method: 'PUT', path: `${instancePath(service, id)}/status`, body: { status } })
    ).body;
  }

  /**
   * Takes an instance out of discovery without deregistering it (drain), or puts it back. While in maintenance it
   * answers `health: "critical"` and `maintenance: { enabled: true, reason }`.
   * @example
   * await client.setMaintenance('tickets', 'tickets-1', { enable: true, reason: 'deploying v2' });
   * await client.setMaintenance('tickets', 'tickets-1', { enable: false });
   */
  async setMaintenance(service: string, id: string, maintenance: MaintenanceBody): Promise<Instance> {
    const path = `${instancePath(service, id)}/maintenance`;
    return (await this.request<Instance>({ method: 'PUT', path, body: maintenance })).body;
  }

  /**
   * Drains an instance (issue #19): takes it out of discovery (maintenance "draining") and resolves once every live
   * subscriber of its service has applied that, or when `wait` runs out; the answer says who had and who had not.
   * @example
   * const { complete, behind } = await client.drain('tickets', 'tickets-1', { wait: '30s' });
   * if (!complete) console.warn('still routing to tickets-1:', behind.map((s) => s.name));
   */
  async drain(
    service: string,
    id: string,
    options: { wait?: Duration; signal?: AbortSignal } = {},
  ): Promise<DrainAnswer> {
    const waitMs = options.wait === undefined ? 30_000 : blockingWaitMs(options.wait);
    const answer = await this.request<DrainAnswer>({
      method: 'PUT',
      path: `${instancePath(service, id)}/drain`,
      query: { wait: options.wait },
      extraTimeoutMs: waitMs,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return answer.body;
  }

  /**
   * Every subscriber of the services this client may read: what it watches, the index it applied, its lag.
   * @example
   * for (const s of (await client.subscribers()).subscribers) console.log(s.name, s.lagChanges, s.lagMs);
   */
  async subscribers(): Promise<SubscriberList> {
    return (await this.request<SubscriberList>({ method: 'GET', path: '/v1/subscribers' })).body;
  }

  /**
   * One instance by id.
   * @example
   * const instance = await client.getInstance('tickets', 'tickets-1');
   */
  async getInstance(service: string, id: string): Promise<Instance> {
    return (await this.request<Instance>({ method: 'GET', path: instancePath(service, id) })).body;
  }

  /**
   * A service's instances (by default those to call: UP and not critical). With `index`, a blocking query.
   * @example
   * const { index, instances } = await client.getService('tickets', { tag: 'v2' });
   */
  async getService(name: string, options: GetServiceOptions = {}): Promise<ServiceAnswer> {
    const query: RequestOptions['query'] = {
      status: list(options.status),
      tag: list(options.tag),
      health: list(options.health),
      zone: options.zone,
      index: options.index,
      wait: options.wait === undefined ? undefined : String(options.wait),
    };
    const request: RequestOptions = { method: 'GET', path: `/v1/services/${enc(name)}`, query };
    if (options.signal) request.signal = options.signal;
    // The registry may add up to 1/16 of the wait as jitter (issue #6).
    if (options.index !== undefined) request.extraTimeoutMs = (blockingWaitMs(options.wait) * 17) / 16;
    const answer = await this.request<ServiceAnswer>(request);
    return answer.body;
  }

  /**
   * Every service that has instances, with counts by status.
   * @example
   * const { services } = await client.listServices();
   */
  async listServices(): Promise<ServiceList> {
    return (await this.request<ServiceList>({ method: 'GET', path: '/v1/services' })).body;
  }

  /**
   * Creates an access token (operator only) and resolves to it with its secret, which the registry shows this once
   * and keeps only hashed: store it now. `read` and `write` take service globs (`pay*`, `*`); write implies read.
   * Without `ttl` the token lasts until revoked.
   * @example
   * const operator = new RegistryClient({ url: 'http://127.0.0.1:8900', token: readFileSync('bootstrap-token', 'utf8') });
   * const { id, secret } = await operator.createToken({ name: 'payments-deploy', write: ['payments'], ttl: '24h' });
   * const payments = new RegistryClient({ url: 'http://127.0.0.1:8900', token: secret });
   */
  async createToken(body: TokenCreateBody): Promise<CreatedToken> {
    return (await this.request<CreatedToken>({ method: 'POST', path: '/v1/tokens', body })).body;
  }

  /**
   * Every token the registry accepts, oldest first, without secrets (operator only).
   * @example
   * for (const token of await client.listTokens()) console.log(token.id, token.name, token.expiresAt ?? 'never');
   */
  async listTokens(): Promise<TokenInfo[]> {
    return (await this.request<TokenList>({ method: 'GET', path: '/v1/tokens' })).body.tokens;
  }

  /**
   * Revokes a token (operator only) and resolves to what it was; NotFoundError when no token has that id. From then
   * on every registry node refuses the token with UnauthenticatedError.
   * @example
   * const revoked = await client.revokeToken('3f2a9c1d8e7b6a50');
   */
  async revokeToken(id: string): Promise<TokenInfo> {
    return (await this.request<TokenInfo>({ method: 'DELETE', path: `/v1/tokens/${enc(id)}` })).body;
  }

  /**
   * Who the registry takes this client for: its token's id, name and policy (`id: null, name: 'anonymous'` without a
   * token). UnauthenticatedError when the token is unknown, revoked or expired.
   * @example
   * const { name, policy } = await client.whoami();
   * if (!policy.operator) console.log(`${name} may write ${policy.write.join(', ')}`);
   */
  async whoami(): Promise<TokenSelf> {
    return (await this.request<TokenSelf>({ method: 'GET', path: '/v1/tokens/self' })).body;
  }

  /**
   * Every instance of every service, fetched page by page; each instance that exists throughout is seen once.
   * @example
   * for await (const instance of client.instances()) console.log(instance.service, instance.id);
   */
  async *instances(options: { pageSize?: number } = {}): AsyncGenerator<Instance, void, undefined> {
    let cursor: string | undefined;
    do {
      const query: RequestOptions['query'] = { limit: options.pageSize ?? 500, cursor };
      const page: InstancePage = (await this.request<InstancePage>({ method: 'GET', path: '/v1/instances', query }))
        .body;
      yield* page.instances;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }

  /**
   * Every change to `service` (to every service when undefined) as it happens, over Server-Sent Events. Without
   * `since` the first event is a snapshot of all its instances, whatever their status; after a dropped connection
   * the watch resumes after the last index it yielded (or yields a new snapshot when the registry cannot replay
   * that far back), and it falls back to blocking queries when the event stream is unavailable. End it with
   * `signal` or by leaving the loop.
   * @example
   * for await (const event of client.watch('tickets', { signal })) {
   *   if (event.type === 'snapshot') console.log('tickets has', event.instances.length, 'instances');
   *   else console.log(event.type, event.instance.id, 'at', event.index);
   * }
   */
  watch(service?: string, options: WatchOptions = {}): AsyncGenerator<WatchEvent, void, undefined> {
    return watchEvents(
      { urls: this.#urls, token: this.#token, timeoutMs: this.#timeoutMs, client: this, fetch: this.#fetch },
      service,
      options,
    );
  }

  /**
   * Sends one request to the registry, failing over between nodes. Errors are typed by the server's code.
   * @example
   * const { index } = await client.request({ method: 'GET', path: '/v1/services' });
   */
  async request<T>(options: RequestOptions): Promise<Answer<T>> {
    const url = this.#path(options);
    const headers: Record<string, string> = { ...options.headers, accept: 'application/json' };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (this.#token !== undefined) headers['authorization'] = `Bearer ${this.#token}`;
    const body = options.body === undefined ? null : JSON.stringify(options.body);
    const idempotent = options.method !== 'POST';
    let lastError: unknown;
    // One try per node, starting with the one that answered last.
    for (const _node of this.#urls) {
      const node = this.#urls[this.#current] as string;
      const timeout = AbortSignal.timeout(this.#timeoutMs + (options.extraTimeoutMs ?? 0));
      const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
      let response: Response;
      try {
        response = await this.#fetch(node + url, { method: options.method, headers, body, signal });
      } catch (err) {
        if (options.signal?.aborted) throw err;
        lastError = err;
        this.#current = (this.#current + 1) % this.#urls.length;
        if (idempotent || neverSent(err)) continue;
        throw new UnavailableError(
          `the connection to ${node} failed after the ${options.method} may have been sent (${describe(err)}); ` +
            'it is not sent again, since the registry may have carried it out',
          { cause: err },
        );
      }
      const text = await response.text();
      const index = Number(response.headers.get(INDEX_HEADER) ?? 0);
      if (response.ok) {
        return {
          status: response.status,
          index,
          body: (text === '' ? undefined : JSON.parse(text)) as T,
          headers: response.headers,
        };
      }
      const error = errorFromBody(response.status, text);
      // The node answered, so the request was sent: only an idempotent one may go to the next node.
      if (idempotent && isRetryable(error) && this.#urls.length > 1) {
        lastError = error;
        this.#current = (this.#current + 1) % this.#urls.length;
        continue;
      }
      throw error;
    }
    if (lastError instanceof RegistryError) throw lastError;
    throw new UnavailableError(`no registry node answered (${this.#urls.join(', ')}): ${describe(lastError)}`, {
      cause: lastError,
    });
  }

  #path(options: RequestOptions): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const v of value as readonly string[]) params.append(key, v);
      else params.append(key, String(value));
    }
    const qs = params.toString();
    return qs === '' ? options.path : `${options.path}?${qs}`;
  }
}

/** Failures of making the connection: nothing of the request was written (undici's and Node's codes). */
const NOT_CONNECTED = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * Whether a failed fetch provably never sent the request: its cause is a failure to connect (every attempt's, when
 * several addresses were tried). A reset, a timeout or a cause that cannot be read (a browser's fetch) proves nothing.
 */
function neverSent(err: unknown): boolean {
  const cause = (err as { cause?: unknown } | null | undefined)?.cause;
  if (typeof cause !== 'object' || cause === null) return false;
  const { code, errors } = cause as { code?: unknown; errors?: unknown };
  if (Array.isArray(errors) && errors.length > 0) return errors.every((e: unknown) => neverSent({ cause: e }));
  return typeof code === 'string' && NOT_CONNECTED.has(code);
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? err.message;
  }
  return String(err);
}

/** A registry URL must be absolute http(s); otherwise fetch would fail later with a misleading "unavailable". */
function checkUrl(url: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed?.protocol !== 'http:' && parsed?.protocol !== 'https:') {
    throw new InvalidArgumentError(`registry url "${url}" is not an http(s) URL such as http://127.0.0.1:8900`);
  }
  return url.replace(/\/+$/, '');
}

function enc(part: string): string {
  return encodeURIComponent(part);
}

function instancePath(service: string, id: string): string {
  return `/v1/services/${enc(service)}/instances/${enc(id)}`;
}

function list<T extends string>(value: T | T[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value : [value];
}
