/**
 * A model-based test of the core (issue 10): random command sequences over two services × three ids, with store
 * writes held and released one at a time in random order, checked against a small model at every quiescent point
 * (every command settled, no write waiting).
 *
 * How the model follows the registry: each store write is attributed to the command that made it (an
 * AsyncLocalStorage context survives the registry's awaits), so the store's commit order linearizes the commands.
 * The model replays what each command means (a registration sets the fields, keeps maintenance and unchanged checks'
 * states and clears a lapse; a status change sets the status; a check result sets its check's state; a sweep lapses
 * or removes; …) in that order, never the record the registry built: a write built from a stale record shows up as a
 * difference at the write that made it. Health follows from the model by the documented rule.
 *
 * Checked:
 * (a) at every quiescent point the served view (`page`, `get`, `list`) equals the store's contents, the model's state
 *     and the view of a registry newly opened over the same store;
 * (b) every answer shows the model's state at the index it carries, and includes the command's own write; NOT_FOUND
 *     comes only when the model had the instance absent at some point during the call; a command that failed wrote
 *     nothing; a sweep lapses only leases silent for their ttl, and removes only instances silent for their
 *     `deregisterAfter` whose checks do not answer;
 * (c) change events come one per committed store change, with strictly increasing indexes, each showing the stored
 *     state at its index;
 * (d) a restart serves what was served before it (`lastHeartbeat` aside).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RegistryError } from '../errors/index.js';
import type { InstanceRecord, Mutation, Store, StoreChange, WriteOutcome } from '../store/index.js';
import { parseDuration } from '../wire/index.js';
import type { ChangeEvent, Health, Instance, InstanceStatus } from '../wire/index.js';
import { heldStore } from '../../test/fixtures/held-store.js';
import type { HeldStore } from '../../test/fixtures/held-store.js';
import { ManualClock } from './clock.js';
import { createRegistry } from './registry.js';
import type { RegisterRequest, Registry } from './registry.js';
import { CORE_OPTIONS } from '../../test/fixtures/core-options.js';

const NUM_RUNS = 150;

interface Key {
  service: string;
  id: string;
  name: string;
  /** Only some keys take a ttl, so that others live through every clock advance. */
  leased: boolean;
}

const KEYS: Key[] = ['web', 'api'].flatMap((service) =>
  ['a', 'b', 'c'].map((id) => ({ service, id, name: `${service}/${id}`, leased: id !== 'c' })),
);
const keyAt = (i: number): Key => KEYS[i % KEYS.length] as Key;

type CheckDefinitions = NonNullable<RegisterRequest['checks']>;
/** Instances sit on 10.0.0.1 and 10.0.0.2 and probe 10.0.0.1: the registry allows their subnet (issue #13). */
const CHECKS = { ...CORE_OPTIONS.checks, allowHosts: ['10.0.0.0/24'] };
const LIVE = { id: 'live', http: 'http://10.0.0.1:8080/health', interval: '10s', failuresBefore: 1 };
/** No checks; one; two; the first one redefined (same id, another interval: its state starts over). */
const CHECK_SETS: CheckDefinitions[] = [
  [],
  [LIVE],
  [LIVE, { id: 'ready', tcp: '10.0.0.1:9000', interval: '5s', successBefore: 2, failuresBefore: 2 }],
  [{ ...LIVE, interval: '20s' }],
];
/** With no deregisterAfter, a lapsed lease is removed this many ttls after the last sign of life. */
const DEREGISTER_AFTER_TTLS = 3;

// ---- commands ---------------------------------------------------------------------------------------------------

type Command =
  | {
      kind: 'register';
      key: number;
      host: string;
      port: number;
      tags: string[];
      ttlMs: number | null;
      checks: number;
      status: InstanceStatus | null;
      wait: boolean;
    }
  | { kind: 'status'; key: number; status: InstanceStatus; wait: boolean }
  | { kind: 'maintenance'; key: number; enable: boolean; reason: string; wait: boolean }
  | { kind: 'renew'; key: number; wait: boolean }
  | { kind: 'check'; key: number; check: number; status: Health; wait: boolean }
  | { kind: 'deregister'; key: number; wait: boolean }
  /** Moves the clock, then sweeps. */
  | { kind: 'advance'; ms: number; wait: boolean }
  /** Lets one waiting write through. */
  | { kind: 'release'; pick: number }
  /** Releases waiting writes in the order `picks` gives until every command has settled, then checks. */
  | { kind: 'settle'; picks: number[] }
  /** Settles, checks, closes the registry and opens a new one over the same store. */
  | { kind: 'restart'; picks: number[] };

const key = fc.nat({ max: KEYS.length - 1 });
/** Most commands are left pending: interleavings need company. */
const wait = fc.nat({ max: 2 }).map((n) => n === 0);
const picks = fc.array(fc.nat({ max: 7 }), { minLength: 1, maxLength: 4 });
const registerArb = fc.record({
  kind: fc.constant('register' as const),
  key,
  host: fc.constantFrom('10.0.0.1', '10.0.0.2'),
  port: fc.constantFrom(1000, 2000),
  tags: fc.subarray(['blue', 'canary']),
  ttlMs: fc.constantFrom(null, 10_000, 30_000),
  checks: fc.nat({ max: CHECK_SETS.length - 1 }),
  status: fc.constantFrom<InstanceStatus | null>(null, 'UP', 'STARTING'),
  wait,
});
/** Some keys registered before the sequence starts, so that commands find instances to race on. */
const initialArb: fc.Arbitrary<Command[]> = fc
  .tuple(
    ...KEYS.map((_, i) =>
      fc.option(
        registerArb.map((c) => ({ ...c, key: i, wait: true })),
        { nil: null },
      ),
    ),
  )
  .map((registrations) => registrations.filter((c) => c !== null));
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 5, arbitrary: registerArb },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('status' as const),
      key,
      status: fc.constantFrom<InstanceStatus>('UP', 'DOWN', 'OUT_OF_SERVICE'),
      wait,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('maintenance' as const),
      key,
      enable: fc.boolean(),
      reason: fc.constantFrom('', 'upgrade'),
      wait,
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('renew' as const), key, wait }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('check' as const),
      key,
      check: fc.nat({ max: 1 }),
      status: fc.constantFrom<Health>('passing', 'passing', 'warning', 'critical'),
      wait,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('deregister' as const), key, wait }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.constantFrom(1_000, 5_000, 11_000, 31_000, 95_000),
      wait,
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat({ max: 7 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('settle' as const), picks }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const), picks }) },
);

// ---- the model --------------------------------------------------------------------------------------------------

/** What the model knows of an instance: what commands set, and the health they decide. */
interface ModelInstance {
  host: string;
  port: number;
  tags: string;
  ttlMs: number | null;
  /** Each check's definition (`id:intervalMs` names one here) and committed state, in order. */
  checks: { def: string; state: Health }[];
  status: InstanceStatus;
  maintenance: string | null;
  /** The lease lapsed and no sign of life has revived it since. */
  lapsed: boolean;
}

type ModelState = ModelInstance | undefined;

/** What an answer shows of a model instance: the lease's lapse only through health. */
type ModelView = Omit<ModelInstance, 'lapsed'> & { health: Health };

const RANK: Record<Health, number> = { passing: 0, warning: 1, critical: 2 };
const worse = (a: Health, b: Health): Health => (RANK[a] >= RANK[b] ? a : b);

/**
 * The documented rule: the worst of the checks and the lease, where a lapsed lease counts as warning when checks
 * still answer; maintenance answers critical.
 */
function healthOf(m: ModelInstance): Health {
  if (m.maintenance !== null) return 'critical';
  let health: Health = 'passing';
  for (const check of m.checks) health = worse(health, check.state);
  if (m.lapsed) health = worse(health, m.checks.length > 0 ? 'warning' : 'critical');
  return health;
}

function viewOf(m: ModelState): ModelView | undefined {
  if (!m) return undefined;
  const { lapsed: _, ...rest } = m;
  return { ...rest, health: healthOf(m) };
}

/**
 * A registration sets the fields, clears a lapsed lease (it is a sign of life), keeps maintenance and the state of
 * every check whose definition is unchanged; a new check starts critical ("not checked yet").
 */
function registered(command: Extract<Command, { kind: 'register' }>, k: Key, before: ModelState): ModelInstance {
  const kept = new Map((before?.checks ?? []).map((c) => [c.def, c.state]));
  return {
    host: command.host,
    port: command.port,
    tags: command.tags.join(','),
    ttlMs: k.leased ? command.ttlMs : null,
    checks: (CHECK_SETS[command.checks] ?? []).map((c) => {
      const def = `${c.id ?? ''}:${parseDuration(c.interval, 'interval')}`;
      return { def, state: kept.get(def) ?? 'critical' };
    }),
    status: command.status ?? 'UP',
    maintenance: before?.maintenance ?? null,
    lapsed: false,
  };
}

function modelOfRecord(r: InstanceRecord): ModelInstance {
  return {
    host: r.host,
    port: r.port,
    tags: r.tags.join(','),
    ttlMs: r.ttlMs ?? null,
    checks: (r.checks ?? []).map((c) => ({
      def: `${c.id}:${c.intervalMs}`,
      state: r.health?.checks?.[c.id]?.status ?? 'passing',
    })),
    status: r.status,
    maintenance: r.maintenance?.reason ?? null,
    lapsed: r.health?.lapsed === true,
  };
}

function viewOfWire(w: Instance): ModelView {
  return {
    host: w.host,
    port: w.port,
    tags: w.tags.join(','),
    ttlMs: w.ttl === undefined ? null : parseDuration(w.ttl, 'ttl'),
    checks: (w.checks ?? []).map((c) => ({ def: `${c.id}:${parseDuration(c.interval, 'interval')}`, state: c.status })),
    status: w.status,
    maintenance: w.maintenance?.enabled ? w.maintenance.reason : null,
    health: w.health,
  };
}

/** What an answer must show of a stored record. */
function projectRecord(r: InstanceRecord): object {
  return { ...viewOf(modelOfRecord(r)), createIndex: r.createIndex, modifyIndex: r.modifyIndex };
}

function projectWire(w: Instance): object {
  return { ...viewOfWire(w), createIndex: w.createIndex, modifyIndex: w.modifyIndex };
}

/** An answer without what only this process knows and a restart resets. */
function withoutHeartbeat(w: Instance): Omit<Instance, 'lastHeartbeat'> {
  const { lastHeartbeat: _, ...rest } = w;
  return rest;
}

// ---- the world: registry, held store, attribution ---------------------------------------------------------------

interface Op {
  seq: number;
  command: Command;
  /** Undefined for a sweep. */
  key: Key | undefined;
  /** The registry's index and the clock when the command was called. */
  startIndex: number;
  startTime: number;
  done: boolean;
  endIndex: number;
  value: unknown;
  error: unknown;
  failed: boolean;
  writes: { mutation: Mutation; outcome: WriteOutcome }[];
  /** For a check result: the definition it was for. */
  target?: string;
  checked: boolean;
}

interface Commit {
  index: number;
  op: Op;
  mutation: Mutation;
}

/** Which command a store write comes from. One for the file: every instance slows every await while it lives. */
const commandContext = new AsyncLocalStorage<Op>();

const flush = (): Promise<void> =>
  new Promise((resolve) => {
    setImmediate(resolve);
  });

class World {
  readonly clock = new ManualClock();
  readonly held: HeldStore = heldStore();
  /** The store as the registry sees it: the held store, with every write attributed to the command that made it. */
  readonly store: Store;
  readonly ops: Op[] = [];
  readonly commits: Commit[] = [];
  /** The store's feed, as an independent follower sees it. */
  readonly changes: StoreChange[] = [];
  /** Change events of every registry opened, in the order published. */
  readonly events: ChangeEvent[] = [];
  /** When each registry was opened (and how many commands had started): a restart gives every lease a fresh ttl. */
  readonly opened: { time: number; seq: number }[] = [];
  readonly problems: string[] = [];
  registry!: Registry;

  constructor() {
    const { held } = this;
    held.watch((change) => this.changes.push(change));
    this.store = {
      kind: held.kind,
      load: () => held.load(),
      watch: (listener) => held.watch(listener),
      health: () => held.health(),
      listTokens: () => held.listTokens(),
      createToken: (record) => held.createToken(record),
      deleteToken: (id) => held.deleteToken(id),
      watchTokens: (listener) => held.watchTokens(listener),
      close: () => held.close(),
      write: async (mutation) => {
        const op = commandContext.getStore();
        const outcome = await held.write(mutation);
        if (!op) this.problems.push(`a write outside any command: ${JSON.stringify(mutation)}`);
        else {
          op.writes.push({ mutation, outcome });
          if (outcome.committed) this.commits.push({ index: outcome.index, op, mutation });
        }
        return outcome;
      },
    };
    held.hold();
  }

  async open(): Promise<void> {
    this.registry = await createRegistry({
      ...CORE_OPTIONS,
      checks: CHECKS,
      store: this.store,
      clock: this.clock,
      autoSweep: false,
      // Self-preservation needs ten leases: it stays out of a six-key world.
      leases: { ...CORE_OPTIONS.leases, sweepIntervalMs: 1_000, selfPreservationMinimum: 100 },
    });
    this.opened.push({ time: this.clock.now(), seq: this.ops.length });
    this.registry.watch(undefined, (event) => this.events.push(event));
  }

  start(command: Command, k: Key | undefined, run: (registry: Registry) => Promise<unknown>): Op {
    const op: Op = {
      seq: this.ops.length,
      command,
      key: k,
      startIndex: this.registry.index,
      startTime: this.clock.now(),
      done: false,
      endIndex: 0,
      value: undefined,
      error: undefined,
      failed: false,
      writes: [],
      checked: false,
    };
    this.ops.push(op);
    const registry = this.registry;
    const settled = (): void => {
      op.done = true;
      op.endIndex = registry.index;
    };
    commandContext
      .run(op, () => run(registry))
      .then(
        (value: unknown) => {
          op.value = value;
          settled();
        },
        (err: unknown) => {
          op.error = err;
          op.failed = true;
          settled();
        },
      );
    return op;
  }

  /** Releases waiting writes (`pick` chooses which of n) until `done`; fails when nothing can move. */
  async drive(done: () => boolean, pick: (n: number) => number): Promise<void> {
    let idle = 0;
    for (;;) {
      await flush();
      if (done()) return;
      const n = this.held.pending;
      if (n > 0) {
        await this.held.release(pick(n));
        idle = 0;
      } else if (++idle > 20) {
        const stuck = this.ops.filter((op) => !op.done).map((op) => JSON.stringify(op.command));
        throw new Error(`stuck: commands neither write nor settle: ${stuck.join('; ')}`);
      }
    }
  }

  async settle(order: number[]): Promise<void> {
    let j = 0;
    await this.drive(
      () => this.held.pending === 0 && this.ops.every((op) => op.done),
      (n) => (order[j++ % order.length] ?? 0) % n,
    );
  }

  async run(command: Command): Promise<void> {
    switch (command.kind) {
      case 'release':
        if (this.held.pending > 0) await this.held.release(command.pick % this.held.pending);
        await flush();
        return;
      case 'settle':
        await this.settle(command.picks);
        await this.check();
        return;
      case 'restart':
        await this.settle(command.picks);
        await this.check();
        await this.restart();
        return;
      case 'advance':
        this.clock.advance(command.ms);
        await this.proceed(
          this.start(command, undefined, (r) => r.sweep()),
          command.wait,
        );
        return;
      case 'check': {
        const k = keyAt(command.key);
        const checks = this.registry.checksOf(k.service, k.id);
        const check = checks[command.check % Math.max(1, checks.length)];
        if (!check) return;
        const { service, id, key: checkKey } = check;
        const op = this.start(command, k, (r) =>
          r.recordCheckResult(
            { service, id, key: checkKey },
            { status: command.status, output: `probe ${this.ops.length}` },
          ),
        );
        op.target = `${check.spec.id}:${check.spec.intervalMs}`;
        await this.proceed(op, command.wait);
        return;
      }
      case 'register':
      case 'status':
      case 'maintenance':
      case 'renew':
      case 'deregister': {
        const k = keyAt(command.key);
        await this.proceed(
          this.start(command, k, (r) => call(r, command, k)),
          command.wait,
        );
        return;
      }
    }
  }

  /** An awaited command runs to its answer, newest writes (its own) first; the others stay pending. */
  async proceed(op: Op, waitForIt: boolean): Promise<void> {
    if (waitForIt)
      await this.drive(
        () => op.done,
        (n) => n - 1,
      );
    else await flush();
  }

  /** (d): close and reopen over the same store; the new registry serves what the old one did. */
  async restart(): Promise<void> {
    const before = allPages(this.registry).map(withoutHeartbeat);
    const index = this.registry.index;
    await this.registry.close();
    await this.open();
    expect(this.registry.index, 'index after a restart').toBe(index);
    expect(allPages(this.registry).map(withoutHeartbeat), 'served view after a restart').toEqual(before);
  }

  // ---- the checks at a quiescent point --------------------------------------------------------------------------

  async check(): Promise<void> {
    expect(this.problems).toEqual([]);
    const history = this.replay();
    this.checkEvents(history);
    for (const op of this.ops) {
      if (!op.checked) this.checkAnswer(op, history);
      op.checked = true;
    }
    await this.checkView(history);
  }

  /**
   * Replays the commands' meanings in the store's commit order, checking each stored record against it (a lost update
   * shows at the write that lost it) and each expiry against the leases.
   */
  replay(): History {
    const history = new History();
    const commits = [...this.commits].sort((a, b) => a.index - b.index);
    expect(
      commits.map((c) => c.index),
      'every committed write is in the feed once, and nothing else',
    ).toEqual(this.changes.map((c) => c.index));
    commits.forEach((commit, i) => {
      const change = this.changes[i] as StoreChange;
      const { op, mutation, index } = commit;
      const where = `write ${index} by ${JSON.stringify(op.command)}`;
      const k = KEYS.find((candidate) => candidate.service === change.service && candidate.id === change.id) as Key;
      if (op.key) expect(k.name, where).toBe(op.key.name);
      const before = history.at(k.name, index - 1);
      const after = this.step(op, mutation, { k, before, index, where });
      if (change.record) expect(modelOfRecord(change.record), `${where}: the stored record`).toEqual(after);
      else expect(after, `${where}: a delete`).toBeUndefined();
      history.set(k.name, index, after);
    });
    return history;
  }

  step(op: Op, mutation: Mutation, at: { k: Key; before: ModelState; index: number; where: string }): ModelState {
    const { k, before, index, where } = at;
    const { command } = op;
    if (mutation.op === 'delete') {
      expect(before, `${where}: deletes what exists`).toBeDefined();
      if (command.kind === 'deregister') {
        expect(mutation.cause, where).toBe('deregistered');
      } else {
        expect(command.kind, `${where}: only deregister and expiry delete`).toBe('advance');
        expect(mutation.cause, where).toBe('expired');
        this.checkExpiry(op, { k, before: before as ModelInstance, index, where });
      }
      return undefined;
    }
    if (command.kind === 'register') return registered(command, k, before);
    // Anything but a registration changes an instance that exists: a create from it brings back a deleted one.
    expect(before, `${where}: changes an instance that exists`).toBeDefined();
    const current = before as ModelInstance;
    switch (command.kind) {
      case 'status':
        return { ...current, status: command.status };
      case 'maintenance':
        return { ...current, maintenance: command.enable ? command.reason : null };
      case 'renew':
        // A heartbeat writes only to revive a lapsed lease.
        expect(current.lapsed, `${where}: revives a lapsed lease`).toBe(true);
        return { ...current, lapsed: false };
      case 'check': {
        const { target } = op;
        expect(
          current.checks.map((c) => c.def),
          `${where}: a result for a check that exists`,
        ).toContain(target);
        return {
          ...current,
          checks: current.checks.map((c) => (c.def === target ? { ...c, state: command.status } : c)),
        };
      }
      case 'advance':
        // A sweep puts only to mark a lapsed lease.
        expect(current.lapsed, `${where}: lapses a live lease`).toBe(false);
        expect(current.ttlMs, `${where}: lapses only a lease`).not.toBeNull();
        expect(this.silence(op, { k, index, lapse: true }), `${where}: lapsed before its ttl`).toBeGreaterThanOrEqual(
          current.ttlMs ?? 0,
        );
        return { ...current, lapsed: true };
      case 'deregister':
      case 'release':
      case 'settle':
      case 'restart':
        throw new Error(`${where}: a put from a command that never puts`);
    }
  }

  /**
   * An expiry needs a lease silent for its deregisterAfter at the sweep's time, and no check that still answers:
   * a lapsed lease alone does not remove an instance whose checks pass.
   */
  checkExpiry(sweep: Op, at: { k: Key; before: ModelInstance; index: number; where: string }): void {
    const { k, before, index, where } = at;
    expect(before.ttlMs, `${where}: expires only a leased instance`).not.toBeNull();
    const answersProbes = before.checks.length > 0 && before.checks.every((c) => c.state !== 'critical');
    expect(answersProbes, `${where}: expires an instance whose checks answer`).toBe(false);
    const silent = this.silence(sweep, { k, index, lapse: false });
    expect(
      silent,
      `${where}: expired after ${silent} ms of silence, ttl ${before.ttlMs ?? 0} ms`,
    ).toBeGreaterThanOrEqual(DEREGISTER_AFTER_TTLS * (before.ttlMs ?? 0));
  }

  /**
   * How long, at most, the instance had been silent when the sweep that wrote `index` looked: since the last sign of
   * life the store or an answer had taken before that write (a registration, a heartbeat, or a restart, which gives
   * every lease a fresh ttl). Commands are dated by their start: a lower bound of when they touched the lease.
   */
  silence(sweep: Op, write: { k: Key; index: number; lapse: boolean }): number {
    const { k, index } = write;
    let life = Math.max(...this.opened.filter((o) => o.seq <= sweep.seq).map((o) => o.time));
    for (const op of this.ops) {
      if (op.key?.name !== k.name || (op.command.kind !== 'register' && op.command.kind !== 'renew')) continue;
      const wroteBefore = op.writes.some((w) => w.outcome.committed && w.outcome.index < index);
      const answeredBefore = op.done && !op.failed && answerOf(op).modifyIndex < index;
      if (wroteBefore || answeredBefore) life = Math.max(life, op.startTime);
    }
    return sweep.startTime - life;
  }

  /** (c) One event per committed change, in index order, each showing the stored state at its index. */
  checkEvents(history: History): void {
    const indexes = this.events.map((e) => e.index);
    indexes.forEach((index, i) => {
      if (i > 0) expect(index, 'event indexes strictly increase').toBeGreaterThan(indexes[i - 1] as number);
    });
    expect(indexes, 'one event per committed change').toEqual(this.changes.map((c) => c.index));
    this.events.forEach((event, i) => {
      const change = this.changes[i] as StoreChange;
      const where = `event ${event.index} (${event.type})`;
      expect([event.service, event.instance.service, event.instance.id], where).toEqual([
        change.service,
        change.service,
        change.id,
      ]);
      const name = `${change.service}/${change.id}`;
      if (change.record) {
        expect(projectWire(event.instance), where).toEqual(projectRecord(change.record));
        expect(event.type === 'registered', `${where}: registered iff new`).toBe(
          history.at(name, event.index - 1) === undefined,
        );
      } else {
        expect(event.type, where).toBe(change.cause ?? 'deregistered');
        expect(event.instance.modifyIndex, where).toBe(event.index);
        expect(viewOfWire(event.instance), `${where}: shows what was removed`).toEqual(
          viewOf(history.at(name, event.index - 1)),
        );
      }
    });
  }

  /** (b) An answer agrees with the model at the index it shows, and includes the command's own write. */
  checkAnswer(op: Op, history: History): void {
    const where = `answer to #${op.seq} ${JSON.stringify(op.command)}`;
    const k = op.key;
    if (op.command.kind === 'advance' || !k) {
      expect(op.error, `${where}: never fails`).toBeUndefined();
      return;
    }
    const committed = op.writes.filter((w) => w.outcome.committed);
    expect(committed.length, `${where}: commits at most once`).toBeLessThanOrEqual(1);
    const own = committed[0]?.outcome.index;
    if (op.command.kind === 'check') {
      expect(op.error, `${where}: never fails`).toBeUndefined();
      return;
    }
    if (op.failed) {
      expect(op.error, where).toBeInstanceOf(RegistryError);
      expect((op.error as RegistryError).code, `${where}: ${String(op.error)}`).toBe('NOT_FOUND');
      expect(own, `${where}: a failed command wrote nothing`).toBeUndefined();
      expect(
        history.absentDuring(k.name, op.startIndex, op.endIndex),
        `${where}: NOT_FOUND while the model had it present throughout [${op.startIndex}, ${op.endIndex}]`,
      ).toBe(true);
      return;
    }
    const answer = answerOf(op);
    const shown = answer.modifyIndex;
    expect([answer.service, answer.id], where).toEqual([k.service, k.id]);
    if (op.command.kind === 'deregister') {
      expect(own, `${where}: index of its delete`).toBe(shown);
      expect(viewOfWire(answer), `${where}: shows what was removed`).toEqual(viewOf(history.at(k.name, shown - 1)));
      return;
    }
    expect(shown, `${where}: no index from the future`).toBeLessThanOrEqual(op.endIndex);
    if (own !== undefined) expect(shown, `${where}: reads its own write`).toBeGreaterThanOrEqual(own);
    const model = history.at(k.name, shown);
    expect(model, `${where}: present at ${shown}`).toBeDefined();
    expect(viewOfWire(answer), `${where}: the model at ${shown}`).toEqual(viewOf(model));
    if (op.command.kind === 'register') {
      const { created } = op.value as { created: boolean };
      expect(created, `${where}: created`).toBe(own !== undefined && history.at(k.name, own - 1) === undefined);
    }
    if (own === undefined) {
      // Nothing to write: what it asked for already held when it looked.
      const effect = effectOf(op.command, k);
      expect(
        history.holdsDuring(k.name, { from: op.startIndex, to: shown }, effect),
        `${where}: wrote nothing, yet its effect never held in [${op.startIndex}, ${shown}]`,
      ).toBe(true);
    }
  }

  /** (a) Memory, store, model and a fresh registry over the store all agree. */
  async checkView(history: History): Promise<void> {
    const records = await this.held.records();
    const view = allPages(this.registry);
    expect(
      view.map((w) => `${w.service}/${w.id}`),
      'served keys are the stored keys',
    ).toEqual([...records.keys()].sort(byServiceThenId));
    for (const record of records.values()) {
      // What is served is what is stored: criticalSince is kept exactly while the instance is critical.
      expect(record.health?.criticalSince !== undefined, `${record.service}/${record.id}: criticalSince`).toBe(
        healthOf({ ...modelOfRecord(record), maintenance: null }) === 'critical',
      );
    }
    for (const wire of view) {
      const record = records.get(`${wire.service}/${wire.id}`) as InstanceRecord;
      expect(projectWire(wire), `page: ${wire.service}/${wire.id}`).toEqual(projectRecord(record));
    }
    for (const k of KEYS) {
      const record = records.get(k.name);
      const model = history.at(k.name, Infinity);
      if (record) {
        expect(projectWire(this.registry.get(k.service, k.id)), `get ${k.name}`).toEqual(projectRecord(record));
        expect(modelOfRecord(record), `the model of ${k.name}`).toEqual(model);
        expect(record.modifyIndex, `${k.name}: modifyIndex is its last write`).toBe(history.lastIndex(k.name));
      } else {
        expect(model, `the model of ${k.name}`).toBeUndefined();
        expect(() => this.registry.get(k.service, k.id), `get ${k.name}`).toThrow(
          expect.objectContaining({ code: 'NOT_FOUND' }),
        );
      }
    }
    for (const service of ['web', 'api']) {
      const listed = this.registry.list(service, { status: 'any', health: 'any' }).instances.map((w) => w.id);
      const stored = [...records.values()].filter((r) => r.service === service).map((r) => r.id);
      expect(listed, `list ${service}`).toEqual(stored.sort());
    }
    const probe = await createRegistry({
      ...CORE_OPTIONS,
      checks: CHECKS,
      store: this.store,
      clock: this.clock,
      autoSweep: false,
    });
    try {
      expect(allPages(probe).map(withoutHeartbeat), 'a registry opened over the store serves the same').toEqual(
        view.map(withoutHeartbeat),
      );
    } finally {
      await probe.close();
    }
  }

  async dispose(): Promise<void> {
    await this.held.releaseAll();
    await flush();
    await this.registry.close();
  }
}

/** Each key's model state by index: what the replay of commits says. */
class History {
  readonly #byKey = new Map<string, { index: number; state: ModelState }[]>();

  set(name: string, index: number, state: ModelState): void {
    const entries = this.#byKey.get(name) ?? [];
    entries.push({ index, state });
    this.#byKey.set(name, entries);
  }

  at(name: string, index: number): ModelState {
    let state: ModelState;
    for (const entry of this.#byKey.get(name) ?? []) {
      if (entry.index > index) break;
      state = entry.state;
    }
    return state;
  }

  lastIndex(name: string): number | undefined {
    return this.#byKey.get(name)?.at(-1)?.index;
  }

  absentDuring(name: string, from: number, to: number): boolean {
    return this.holdsDuring(name, { from, to }, (s) => s === undefined);
  }

  /** Whether `holds` held of the state at some index in [from, to]. */
  holdsDuring(name: string, span: { from: number; to: number }, holds: (s: ModelState) => boolean): boolean {
    if (holds(this.at(name, span.from))) return true;
    return (this.#byKey.get(name) ?? []).some((e) => e.index > span.from && e.index <= span.to && holds(e.state));
  }
}

/** What a command that wrote nothing found already true. */
function effectOf(command: Command, k: Key): (s: ModelState) => boolean {
  switch (command.kind) {
    case 'register':
      return (s) => s !== undefined && JSON.stringify(registered(command, k, s)) === JSON.stringify(s);
    case 'status':
      return (s) => s?.status === command.status;
    case 'maintenance':
      return (s) => s?.maintenance === (command.enable ? command.reason : null);
    case 'renew':
      return (s) => s !== undefined && !s.lapsed;
    case 'check':
    case 'deregister':
    case 'advance':
    case 'release':
    case 'settle':
    case 'restart':
      return () => false;
  }
}

function call(registry: Registry, command: Command, k: Key): Promise<unknown> {
  const { service, id } = k;
  switch (command.kind) {
    case 'register': {
      const request: RegisterRequest = { service, id, host: command.host, port: command.port, tags: command.tags };
      if (k.leased && command.ttlMs !== null) request.ttl = `${command.ttlMs / 1000}s`;
      const checks = CHECK_SETS[command.checks] ?? [];
      if (checks.length > 0) request.checks = checks;
      if (command.status !== null) request.status = command.status;
      return registry.register(request);
    }
    case 'status':
      return registry.setStatus(service, id, command.status);
    case 'maintenance':
      return registry.setMaintenance(service, id, { enable: command.enable, reason: command.reason });
    case 'renew':
      return registry.renew(service, id);
    case 'deregister':
      return registry.deregister(service, id);
    case 'check':
    case 'advance':
    case 'release':
    case 'settle':
    case 'restart':
      throw new Error(`not a registry command: ${command.kind}`);
  }
}

function answerOf(op: Op): Instance {
  return op.command.kind === 'register' ? (op.value as { instance: Instance }).instance : (op.value as Instance);
}

function byServiceThenId(a: string, b: string): number {
  const [as = '', ai = ''] = a.split('/');
  const [bs = '', bi = ''] = b.split('/');
  return as === bs ? (ai < bi ? -1 : ai > bi ? 1 : 0) : as < bs ? -1 : 1;
}

/** Every instance, through the paginated traversal (two at a time, so cursors are exercised). */
function allPages(registry: Registry): Instance[] {
  const out: Instance[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = registry.page(cursor, 2);
    out.push(...page.instances);
    if (page.nextCursor === null) return out;
    cursor = page.nextCursor;
  }
}

describe('Registry model', () => {
  it('agrees with a model of its commands under random interleavings of pending writes, expiry and restarts', async () => {
    await fc.assert(
      fc.asyncProperty(
        initialArb,
        fc.array(commandArb, { minLength: 1, maxLength: 40, size: 'max' }),
        picks,
        async (initial, commands, finalPicks) => {
          const world = new World();
          await world.open();
          try {
            for (const command of [...initial, ...commands]) await world.run(command);
            await world.settle(finalPicks);
            await world.check();
            await world.restart();
            await world.check();
          } finally {
            await world.dispose();
          }
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });
});
