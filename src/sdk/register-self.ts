/**
 * The self-registration agent: a running service registers itself, keeps its lease alive, and leaves the
 * registry when it shuts down (the seed's "registration library", issue #4).
 *
 * Invariants:
 * - The agent never stops or crashes the service. Registry failures are retried with capped, jittered backoff and
 *   reported to the logger, never thrown; only a registration the registry refuses outright (a bad field, a bad
 *   token) makes the agent give up.
 * - At most one request of an agent is in flight at a time, and stopping waits for it, so a registration can never
 *   land after the deregistration that follows it.
 * - Nothing here keeps the process alive: timers are unref'd. On SIGINT or SIGTERM the agent deregisters within
 *   `stopTimeout`, removes its listeners and, when nobody else listened, raises the signal again, so the process
 *   ends exactly as it would have without the agent.
 */
import { networkInterfaces } from 'node:os';
import { InvalidArgumentError, NotFoundError, RegistryError, isRetryable } from '../errors/index.js';
import type { Duration, Instance, InstanceRegistration, InstanceStatus } from '../wire/index.js';
import { INSTANCE_ID_PATTERN, SERVICE_NAME_PATTERN, parseDuration } from '../wire/index.js';
import { RegistryClient } from './registry-client.js';
import type { RegistryClientOptions, RequestOptions } from './registry-client.js';

/**
 * Where the agent reports what happens to the registration; the default prints warnings on stderr.
 * @example
 * const logger: AgentLogger = { info: (m) => log.info(m), warn: (m) => log.warn(m) };
 * registerSelf({ registry: 'http://127.0.0.1:8900', service: 'tickets', port: 3001, logger });
 */
export interface AgentLogger {
  info(message: string): void;
  warn(message: string): void;
}

/**
 * Options of {@link registerSelf}: the instance fields of the REST body plus how the agent behaves.
 * @example
 * const options: RegisterSelfOptions = {
 *   registry: new RegistryClient({ urls: ['http://10.0.0.1:8900', 'http://10.0.0.2:8900'], token }),
 *   service: 'tickets',
 *   port: 3001,
 *   tags: ['v2'],
 *   ttl: '10s',
 * };
 * const agent = registerSelf(options);
 */
export interface RegisterSelfOptions extends Omit<InstanceRegistration, 'host' | 'port' | 'status' | 'ttl'> {
  /** The registry: its URL (e.g. `http://127.0.0.1:8900`) or a client (for several URLs or a token). */
  registry: string | RegistryClient;
  /** With a registry URL: CA(s) to trust for `https://` and a client certificate (mutual TLS), as RegistryClient takes them. */
  ca?: RegistryClientOptions['ca'];
  cert?: RegistryClientOptions['cert'];
  key?: RegistryClientOptions['key'];
  service: string;
  /** The port the service listens on. */
  port: number;
  /** The address others reach the service at. Default: the first non-internal IPv4 address, else 127.0.0.1. */
  host?: string;
  /** The instance id. Default: `<host>:<port>`, so a restarted service replaces its old registration. */
  id?: string;
  /** The lease; the agent heartbeats every third of it. Default `'10s'`. */
  ttl?: Duration;
  /** Register `UP` at once (default), or `STARTING` until `agent.ready()` when false. */
  ready?: boolean;
  /** How long stopping may take (drain, then deregister) before giving up. Default `'2s'`. */
  stopTimeout?: Duration;
  /**
   * Drain before deregistering (issue #19, default true): the instance leaves discovery first, and stopping waits
   * (within three quarters of `stopTimeout`) until every live subscriber of the service, the gateway among them, has
   * stopped routing to it; then it deregisters. Requests already sent to it still reach it meanwhile.
   */
  drainOnStop?: boolean;
  /** Longest wait between retries while the registry cannot be reached (never more than a heartbeat interval). Default `'30s'`. */
  maxBackoff?: Duration;
  /** Deregister on SIGINT, SIGTERM and `beforeExit` (default true). When false, call `agent.stop()` yourself. */
  handleSignals?: boolean;
  logger?: AgentLogger;
}

/**
 * A running self-registration, as {@link registerSelf} returns it.
 * @example
 * const agent: RegistrationAgent = registerSelf({ registry: url, service: 'tickets', port: 3001, ready: false });
 * const instance = await agent.whenRegistered(); // STARTING
 * await agent.ready();                           // UP
 * await agent.stop();                            // deregistered
 */
export interface RegistrationAgent extends AsyncDisposable {
  /** The instance id the agent registers under. */
  readonly id: string;
  readonly service: string;
  /** Whether the registry holds the instance, as far as the agent knows. */
  readonly registered: boolean;
  /**
   * Resolves with the stored instance once the first registration succeeded (at once if it already did). Rejects
   * if the agent stops or gives up first.
   */
  whenRegistered(): Promise<Instance>;
  /**
   * Marks the instance `UP` (after `ready: false`). Resolves once the registry has been told, or when the agent
   * stops; it never rejects, and the service need not wait for it.
   */
  ready(): Promise<void>;
  /** Stops heartbeating and deregisters, within `stopTimeout`. Never rejects; calling it again is harmless. */
  stop(): Promise<void>;
}

const DEFAULT_TTL = '10s';
const DEFAULT_STOP_TIMEOUT = '2s';
const DEFAULT_MAX_BACKOFF = '30s';
const FIRST_RETRY_MS = 250;

const defaultLogger: AgentLogger = {
  info: () => undefined,
  warn: (message) => {
    console.warn(`switchboard agent: ${message}`);
  },
};

/**
 * Registers the running service and keeps it registered until the process stops. It returns at once: the
 * service keeps running whether or not the registry can be reached, and the agent registers as soon as it can.
 * Throws InvalidArgumentError only for options that can never work (a bad service name, port or ttl).
 * @example
 * import { registerSelf } from 'switchboard/client';
 *
 * const agent = registerSelf({
 *   registry: 'http://127.0.0.1:8900',
 *   service: 'tickets',
 *   host: '127.0.0.1',
 *   port: 3001,
 *   url: '/tickets',
 *   endpoints: [{ type: 'http', url: 'http://127.0.0.1:3001/tickets' }],
 *   authorizedRoles: ['tickets-query'],
 *   ttl: '10s',
 *   ready: false,
 * });
 * await warmUpCaches();
 * void agent.ready(); // STARTING → UP
 * // SIGTERM, SIGINT or the event loop emptying deregisters it; or: await agent.stop();
 */
export function registerSelf(options: RegisterSelfOptions): RegistrationAgent {
  return new Agent(options);
}

class Agent implements RegistrationAgent {
  readonly id: string;
  readonly service: string;
  readonly #client: RegistryClient;
  readonly #body: InstanceRegistration;
  readonly #intervalMs: number;
  readonly #maxBackoffMs: number;
  readonly #stopTimeoutMs: number;
  readonly #drainOnStop: boolean;
  readonly #logger: AgentLogger;
  readonly #handleSignals: boolean;
  /** Aborts the request in flight once stopping runs out of time. */
  readonly #abort = new AbortController();
  readonly #registration = deferred<Instance>();
  #readyWaiters: (() => void)[] = [];
  #desired: InstanceStatus;
  /** The status the registry holds, as the agent last set it. */
  #acked: InstanceStatus | undefined;
  #registered = false;
  /** A registration was sent at least once, so the instance may exist even when no answer came back. */
  #attempted = false;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  /** Run the next step as soon as the one in flight ends (ready() was called meanwhile). */
  #again = false;
  #stopping: Promise<void> | undefined;

  constructor(options: RegisterSelfOptions) {
    const {
      registry,
      service,
      port,
      host,
      id,
      ttl,
      ready,
      stopTimeout,
      drainOnStop,
      maxBackoff,
      handleSignals,
      logger,
      ...rest
    } = options;
    const { ca, cert, key, ...fields } = rest;
    if (typeof service !== 'string' || !new RegExp(SERVICE_NAME_PATTERN).test(service)) {
      throw new InvalidArgumentError(`registerSelf: service ${JSON.stringify(service)} is not a valid service name`);
    }
    if (!Number.isInteger(port) || port < 1 || port > 65_535) {
      throw new InvalidArgumentError(`registerSelf: port ${JSON.stringify(port)} must be an integer from 1 to 65535`);
    }
    const ttlMs = durationOption(ttl ?? DEFAULT_TTL, 'ttl');
    if (ttlMs < 1_000) throw new InvalidArgumentError('registerSelf: ttl must be at least 1s');
    this.service = service;
    const address = host ?? defaultHost();
    this.id = id ?? defaultId(address, port);
    if (!new RegExp(INSTANCE_ID_PATTERN).test(this.id)) {
      throw new InvalidArgumentError(`registerSelf: id ${JSON.stringify(this.id)} is not a valid instance id`);
    }
    this.#intervalMs = Math.max(1, Math.floor(ttlMs / 3));
    this.#maxBackoffMs = Math.min(this.#intervalMs, durationOption(maxBackoff ?? DEFAULT_MAX_BACKOFF, 'maxBackoff'));
    this.#stopTimeoutMs = durationOption(stopTimeout ?? DEFAULT_STOP_TIMEOUT, 'stopTimeout');
    this.#drainOnStop = drainOnStop ?? true;
    this.#logger = logger ?? defaultLogger;
    this.#handleSignals = handleSignals ?? true;
    // A request must not outlast a heartbeat interval by much, or one hung registry node would let the lease lapse.
    this.#client =
      typeof registry === 'string'
        ? new RegistryClient({
            url: registry,
            timeoutMs: Math.min(10_000, Math.max(1_000, this.#intervalMs)),
            ...(ca === undefined ? {} : { ca }),
            ...(cert === undefined ? {} : { cert }),
            ...(key === undefined ? {} : { key }),
          })
        : registry;
    this.#desired = (ready ?? true) ? 'UP' : 'STARTING';
    this.#body = { ...fields, host: address, port, ttl: ttl ?? DEFAULT_TTL };
    // Nobody may be waiting for the first registration; its failure must not become an unhandled rejection.
    this.#registration.promise.catch(() => undefined);
    if (this.#handleSignals) track(this);
    this.#run();
  }

  get registered(): boolean {
    return this.#registered;
  }

  whenRegistered(): Promise<Instance> {
    return this.#registration.promise;
  }

  ready(): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    this.#desired = 'UP';
    if (this.#registered && this.#acked === 'UP') return Promise.resolve();
    const done = new Promise<void>((resolve) => this.#readyWaiters.push(resolve));
    this.#poke();
    return done;
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /** Runs one step now, or right after the one in flight. */
  #poke(): void {
    if (this.#stopping) return;
    if (this.#inFlight) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#run();
  }

  #run(): void {
    this.#timer = undefined;
    this.#inFlight = this.#step().then((delay) => {
      this.#inFlight = undefined;
      if (this.#stopping) return;
      const next = this.#again ? 0 : delay;
      this.#again = false;
      this.#timer = setTimeout(() => {
        this.#run();
      }, next);
      // The agent must never be what keeps the process running.
      this.#timer.unref();
    });
  }

  /** One exchange with the registry; resolves with the delay until the next one. Never rejects. */
  async #step(): Promise<number> {
    try {
      if (!this.#registered) {
        await this.#register();
      } else if (this.#acked !== this.#desired) {
        const status = this.#desired;
        await this.#send({ method: 'PUT', path: `${this.#path()}/status`, body: { status } });
        this.#acked = status;
      } else {
        await this.#send({ method: 'PUT', path: `${this.#path()}/heartbeat` });
      }
      if (this.#failures > 0) this.#logger.info(`the registry answers again after ${this.#failures} failed attempt(s)`);
      this.#failures = 0;
      if (this.#acked === 'UP') this.#releaseReadyWaiters();
      return this.#intervalMs;
    } catch (err) {
      if (this.#stopping) return 0;
      if (err instanceof NotFoundError && this.#registered) {
        // The registry lost the instance (its lease expired, an operator removed it, or it restarted without
        // its data): register again straight away.
        this.#registered = false;
        this.#logger.info(`the registry no longer knows ${this.service}/${this.id}; registering again`);
        return 0;
      }
      if (!this.#registered && err instanceof RegistryError && !isRetryable(err)) {
        this.#giveUp(err);
        return 0;
      }
      this.#failures += 1;
      if (this.#failures === 1) {
        this.#logger.warn(
          `cannot reach the registry (${describe(err)}); the service keeps running and the agent retries`,
        );
      }
      return this.#backoff();
    }
  }

  async #register(): Promise<void> {
    const status = this.#desired;
    this.#attempted = true;
    const instance = await this.#client.register(
      { ...this.#body, status, service: this.service, id: this.id },
      { signal: this.#abort.signal },
    );
    this.#registered = true;
    this.#acked = status;
    this.#registration.resolve(instance);
    this.#logger.info(`registered ${this.service}/${this.id} as ${status}`);
  }

  async #send(request: Omit<RequestOptions, 'signal'>): Promise<void> {
    await this.#client.request({ ...request, signal: this.#abort.signal });
  }

  #path(): string {
    return `/v1/services/${encodeURIComponent(this.service)}/instances/${encodeURIComponent(this.id)}`;
  }

  /** Equal jitter over an exponential delay capped by maxBackoff and the heartbeat interval. */
  #backoff(): number {
    // After an outage the registry restores leases with a fresh full ttl; retrying at least once per heartbeat
    // interval reaches it well within that ttl, so the instance never turns critical.
    const ceiling = Math.min(this.#maxBackoffMs, FIRST_RETRY_MS * 2 ** Math.min(this.#failures - 1, 20));
    // Jitter so that services cut off together do not all come back at the same instant.
    return ceiling / 2 + (Math.random() * ceiling) / 2;
  }

  #giveUp(err: RegistryError): void {
    this.#logger.warn(
      `the registry refused ${this.service}/${this.id} (${err.code}: ${err.message}); the agent gives up`,
    );
    this.#registration.reject(err);
    this.#attempted = false;
    void this.stop();
  }

  async #stop(): Promise<void> {
    clearTimeout(this.#timer);
    untrack(this);
    const deadline = AbortSignal.timeout(this.#stopTimeoutMs);
    try {
      // Let the request in flight end first, so a registration cannot land after the deregistration.
      if (this.#inFlight) await Promise.race([this.#inFlight, aborted(deadline)]);
      if (this.#attempted && !deadline.aborted && this.#drainOnStop) await this.#drain(deadline);
      if (this.#attempted && !deadline.aborted) {
        const signal = AbortSignal.any([deadline, this.#abort.signal]);
        await this.#client.request({ method: 'DELETE', path: this.#path(), signal });
        this.#logger.info(`deregistered ${this.service}/${this.id}`);
      }
    } catch (err) {
      if (!(err instanceof NotFoundError)) {
        this.#logger.warn(`could not deregister ${this.service}/${this.id} (${describe(err)}); its lease will expire`);
      }
    } finally {
      this.#abort.abort();
      this.#registered = false;
      this.#registration.reject(new RegistryError('UNAVAILABLE', 'the agent stopped before it could register'));
      this.#releaseReadyWaiters();
    }
  }

  /** Drains within three quarters of the stop timeout, leaving the rest for the deregistration. */
  async #drain(deadline: AbortSignal): Promise<void> {
    const waitMs = Math.max(0, Math.floor((this.#stopTimeoutMs * 3) / 4) - 100);
    try {
      const signal = AbortSignal.any([deadline, this.#abort.signal]);
      const answer = await this.#client.drain(this.service, this.id, { wait: `${waitMs}ms`, signal });
      if (answer.complete) this.#logger.info(`drained ${this.service}/${this.id}: no subscriber routes to it any more`);
      else {
        const behind = answer.behind.map((s) => s.name).join(', ');
        this.#logger.warn(`drain of ${this.service}/${this.id} ran out of time; still behind: ${behind}`);
      }
    } catch (err) {
      // A registry without drains, or one that cannot be reached: deregistering is still the right next step.
      if (!(err instanceof NotFoundError))
        this.#logger.warn(`could not drain ${this.service}/${this.id} (${describe(err)})`);
    }
  }

  #releaseReadyWaiters(): void {
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/* ---- process signals: one listener per signal for all agents, so several agents still re-raise once ---- */

const agents = new Set<Agent>();
let listening = false;

function track(agent: Agent): void {
  agents.add(agent);
  if (listening) return;
  listening = true;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('beforeExit', onBeforeExit);
}

function untrack(agent: Agent): void {
  agents.delete(agent);
  if (agents.size === 0) unlisten();
}

function unlisten(): void {
  if (!listening) return;
  listening = false;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('beforeExit', onBeforeExit);
}

function onSignal(signal: NodeJS.Signals): void {
  // Listening at all disables the signal's default action (ending the process), so when the agents are the
  // only listeners they must end the process themselves once they have deregistered.
  const alone = process.listenerCount(signal) === 1;
  const stopping = [...agents].map((agent) => agent.stop());
  // From now on a second signal takes the default action at once (an impatient second Ctrl-C ends the process).
  unlisten();
  void Promise.allSettled(stopping).then(() => {
    if (alone && process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  });
}

function onBeforeExit(): void {
  // The event loop emptied: the service is done. Deregistering keeps it alive just long enough, and once the
  // listener is gone the next beforeExit lets the process exit.
  for (const agent of agents) void agent.stop();
}

/* ---- helpers ---- */

function durationOption(value: Duration, field: string): number {
  try {
    return parseDuration(value, field);
  } catch (err) {
    throw new InvalidArgumentError(`registerSelf: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function defaultHost(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  return '127.0.0.1';
}

/** `<host>:<port>`, made to fit INSTANCE_ID_PATTERN (IPv6 colons become dashes). */
function defaultId(host: string, port: number): string {
  const safe = (host.includes(':') ? `ip6-${host.replaceAll(':', '-')}` : host).replace(/[^A-Za-z0-9._@-]/g, '-');
  return `${/^[A-Za-z0-9]/.test(safe) ? safe : `h${safe}`}:${port}`.slice(0, 128);
}

function describe(err: unknown): string {
  if (err instanceof RegistryError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else
      signal.addEventListener(
        'abort',
        () => {
          resolve();
        },
        { once: true },
      );
  });
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
