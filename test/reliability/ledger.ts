/**
 * A model of what the registry must hold, fed by clients that register, update, set status and maintenance,
 * heartbeat and deregister without pause (after etcd's robustness tests: every acknowledged write is checked
 * against a model once the faults are over).
 *
 * Invariant: an acknowledged operation fixes its key's state (its answer says what was stored); an operation
 * whose answer never came (the server died under it, or answered a retryable 5xx) is in doubt: it may or may not
 * have happened, so both outcomes are allowed for that key until the next acknowledged operation on it. Each
 * client works on its own keys one operation at a time, so a key's operations never overlap.
 */
import { Agent, request } from 'undici';
import type { Instance, InstancePage } from '../../src/wire/index.js';

/** The durable part of an instance the model follows. */
export interface Held {
  port: number;
  version: string;
  status: string;
  maintenance: boolean;
}

/** A state an in-doubt operation may have left: a field left out may be anything; null means absent. */
type Possible = Partial<Held> | null;

interface KeyModel {
  acked: Held | null;
  doubt: Possible[];
}

const SERVICES = ['alpha', 'beta', 'gamma', 'delta'];
const STATUSES = ['UP', 'DOWN', 'OUT_OF_SERVICE', 'STARTING'];

export function heldOf(instance: Instance): Held {
  return {
    port: instance.port,
    version: instance.metadata['version'] ?? '',
    status: instance.status,
    maintenance: instance.maintenance?.enabled === true,
  };
}

const matches = (served: Held | null, allowed: Possible): boolean => {
  if (served === null || allowed === null) return served === allowed;
  return (Object.keys(allowed) as (keyof Held)[]).every((field) => allowed[field] === served[field]);
};

export interface LedgerCounts {
  acknowledged: number;
  inDoubt: number;
  byOperation: Record<string, number>;
}

export class Ledger {
  readonly #keys = new Map<string, KeyModel>();
  readonly counts: LedgerCounts = { acknowledged: 0, inDoubt: 0, byOperation: {} };

  model(key: string): KeyModel {
    let model = this.#keys.get(key);
    if (!model) {
      model = { acked: null, doubt: [] };
      this.#keys.set(key, model);
    }
    return model;
  }

  acknowledge(key: string, operation: string, state: Held | null): void {
    const model = this.model(key);
    model.acked = state;
    model.doubt = [];
    this.counts.acknowledged += 1;
    this.counts.byOperation[operation] = (this.counts.byOperation[operation] ?? 0) + 1;
  }

  /** An acknowledged operation that changed nothing durable. */
  count(operation: string): void {
    this.counts.acknowledged += 1;
    this.counts.byOperation[operation] = (this.counts.byOperation[operation] ?? 0) + 1;
  }

  doubt(key: string, possible: Possible): void {
    this.model(key).doubt.push(possible);
    this.counts.inDoubt += 1;
  }

  get size(): number {
    return this.#keys.size;
  }

  /**
   * What `served` (every instance the registry serves, by `service/id`) breaks of the model: an acknowledged key
   * missing or with other fields (lost), an acknowledged-absent key present (resurrected), or a key nobody wrote.
   */
  violations(served: Map<string, Held>): string[] {
    const found: string[] = [];
    for (const [key, model] of this.#keys) {
      const state = served.get(key) ?? null;
      const allowed: Possible[] = [model.acked, ...model.doubt];
      if (allowed.some((possible) => matches(state, possible))) continue;
      const kind = state === null ? 'lost' : model.acked === null ? 'resurrected' : 'changed';
      found.push(`${kind} ${key}: served ${JSON.stringify(state)}, acknowledged ${JSON.stringify(model.acked)}`);
    }
    for (const key of served.keys()) if (!this.#keys.has(key)) found.push(`unknown ${key} served`);
    return found;
  }

  /** After a check passed, what the restarted registry serves is durable: it settles every doubt. */
  settle(served: Map<string, Held>): void {
    for (const [key, model] of this.#keys) {
      model.acked = served.get(key) ?? null;
      model.doubt = [];
    }
  }
}

const dispatcher = new Agent({ connections: 64, keepAliveTimeout: 1_000 });

/** Every instance a registry serves, through the paginated traversal. */
export async function readServed(url: string): Promise<Map<string, Held>> {
  const served = new Map<string, Held>();
  let cursor: string | null = null;
  do {
    const query = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
    const response = await request(`${url}/v1/instances?limit=1000${query}`, {
      dispatcher,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    if (response.statusCode !== 200) {
      throw new Error(`GET /v1/instances answered ${String(response.statusCode)}: ${await response.body.text()}`);
    }
    const page = (await response.body.json()) as InstancePage;
    for (const instance of page.instances) served.set(`${instance.service}/${instance.id}`, heldOf(instance));
    cursor = page.nextCursor;
  } while (cursor !== null);
  return served;
}

type Operation = 'register' | 'status' | 'maintenance' | 'heartbeat' | 'deregister';

interface Outcome {
  /** 2xx or a definite 404; undefined when in doubt. */
  status?: number;
  instance?: Instance;
}

async function send(method: 'PUT' | 'DELETE', target: string, body?: unknown): Promise<Outcome> {
  try {
    const response = await request(target, {
      method,
      dispatcher,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const text = await response.body.text();
    if (response.statusCode < 300) return { status: response.statusCode, instance: JSON.parse(text) as Instance };
    if (response.statusCode === 404) return { status: 404 };
    if (response.statusCode >= 500) return {};
    throw new Error(`${method} ${target} answered ${String(response.statusCode)}: ${text}`);
  } catch (err) {
    if (err instanceof Error && err.message.includes(' answered ')) throw err;
    return {};
  }
}

export interface WorkloadOptions {
  ledger: Ledger;
  writers: number;
  keysPerWriter: number;
  /** The URL to send the next operation to (it changes as servers restart; in a cluster, any running node). */
  target: () => string | undefined;
}

/** Clients that change their keys without pause, writing what each answer says into the ledger. */
export class Workload {
  readonly #options: WorkloadOptions;
  #paused = false;
  #stopped = false;
  #running: Promise<void>[] = [];
  readonly #idle = new Set<number>();
  /** Unexpected answers (a 4xx other than 404): a bug in the registry or the model; the test fails on any. */
  readonly failures: string[] = [];

  constructor(options: WorkloadOptions) {
    this.#options = options;
  }

  start(): void {
    this.#running = Array.from({ length: this.#options.writers }, (_, writer) => this.#run(writer));
  }

  /** Resolves once every client has finished its operation under way and waits. */
  async pause(): Promise<void> {
    this.#paused = true;
    while (this.#idle.size < this.#options.writers) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  resume(): void {
    this.#idle.clear();
    this.#paused = false;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.resume();
    await Promise.all(this.#running);
  }

  async #run(writer: number): Promise<void> {
    const { keysPerWriter, target } = this.#options;
    let sequence = 0;
    while (!this.#stopped) {
      if (this.#paused) {
        this.#idle.add(writer);
        await new Promise((resolve) => setTimeout(resolve, 10));
        continue;
      }
      this.#idle.delete(writer);
      const url = target();
      if (url === undefined) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        continue;
      }
      const k = Math.floor(Math.random() * keysPerWriter);
      const service = SERVICES[(writer + k) % SERVICES.length] ?? 'alpha';
      const id = `w${String(writer)}-k${String(k)}`;
      const key = `${service}/${id}`;
      sequence += 1;
      const decided = await this.#step({ url, key, path: `/v1/services/${service}/instances/${id}`, sequence });
      if (!decided) await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** One operation on `key`; resolves false when it ended in doubt. */
  async #step(at: { url: string; key: string; path: string; sequence: number }): Promise<boolean> {
    const { ledger } = this.#options;
    const model = ledger.model(at.key);
    const known = model.doubt.length === 0 ? model.acked : undefined;
    const operation = pickOperation(known);
    let outcome: Outcome;
    let possible: Possible;
    let expect: Partial<Held> | null;
    switch (operation) {
      case 'register': {
        const body = {
          host: '127.0.0.1',
          port: 1_000 + (at.sequence % 50_000),
          status: 'UP',
          ttl: '1h',
          metadata: { version: String(at.sequence) },
        };
        expect = { port: body.port, version: String(at.sequence), status: 'UP' };
        // Re-registering keeps maintenance; a new instance starts without.
        if (known !== undefined) expect.maintenance = known?.maintenance ?? false;
        possible = expect;
        outcome = await send('PUT', `${at.url}${at.path}`, body);
        break;
      }
      case 'status': {
        const status = STATUSES[at.sequence % STATUSES.length] ?? 'UP';
        expect = known ? { ...known, status } : { status };
        possible = expect;
        outcome = await send('PUT', `${at.url}${at.path}/status`, { status });
        break;
      }
      case 'maintenance': {
        const enable = !(known?.maintenance ?? false);
        expect = known ? { ...known, maintenance: enable } : { maintenance: enable };
        possible = expect;
        outcome = await send('PUT', `${at.url}${at.path}/maintenance`, { enable, reason: 'reliability' });
        break;
      }
      case 'heartbeat':
        // A heartbeat changes nothing durable: in doubt, the key keeps what it had.
        expect = {};
        possible = known ?? {};
        outcome = await send('PUT', `${at.url}${at.path}/heartbeat`);
        break;
      case 'deregister':
        expect = null;
        possible = null;
        outcome = await send('DELETE', `${at.url}${at.path}`);
        break;
    }
    if (outcome.status === undefined) {
      ledger.doubt(at.key, possible);
      return false;
    }
    if (outcome.status === 404) {
      // Not proof of absence: in a cluster, a node that has not applied a registration made on another node yet
      // answers 404 for it. The key keeps what it had, doubts included.
      if (operation === 'register') this.failures.push(`register ${at.key} answered 404`);
      // Nor proof that nothing was written, for a deregistration: when the etcd member that committed its delete dies
      // before answering, the etcd client sends the transaction again to another member, where its condition no
      // longer holds, and the registry, finding the instance gone, answers 404 for its own delete. Either is possible.
      if (operation === 'deregister') ledger.doubt(at.key, null);
      return true;
    }
    if (operation === 'deregister') {
      ledger.acknowledge(at.key, operation, null);
      return true;
    }
    if (operation === 'heartbeat') {
      // It wrote nothing durable, and in a cluster it may answer from a node a moment behind the last write: its
      // answer is neither a new state nor a read of the latest one.
      ledger.count(operation);
      return true;
    }
    const held = outcome.instance ? heldOf(outcome.instance) : null;
    if (held === null || (expect !== null && !matches(held, expect))) {
      this.failures.push(`${operation} ${at.key} answered ${JSON.stringify(held)}, expected ${JSON.stringify(expect)}`);
    }
    ledger.acknowledge(at.key, operation, held);
    return true;
  }
}

/** Registers an absent or unknown key; changes a present one (deregistering now and then, so keys come and go). */
function pickOperation(known: Held | null | undefined): Operation {
  if (known === null || known === undefined) return 'register';
  const roll = Math.random();
  if (roll < 0.3) return 'register';
  if (roll < 0.5) return 'status';
  if (roll < 0.62) return 'maintenance';
  if (roll < 0.85) return 'heartbeat';
  return 'deregister';
}

export async function closeLedgerClients(): Promise<void> {
  await dispatcher.close();
}
