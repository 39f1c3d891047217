/**
 * The processes of one `run` definition: the registrar starts them, registers each once it is ready, restarts a
 * crashed one with backoff and stops them with a drain.
 *
 * Invariants:
 * - An instance is registered only while its process lives: a process's registration is withdrawn the moment it
 *   exits (before any restart), and no registration starts for a process that has already exited.
 * - Slot n always registers as `<service>-<n>`, so a restarted process replaces its predecessor's record.
 * - Stopping deregisters first (drain), then sends SIGTERM, then SIGKILL after the grace period: no process outlives
 *   `stop()`. `killNow()` is the last resort for when the agent itself is exiting.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { registerSelf } from '../sdk/index.js';
import type { AgentLogger, RegistrationAgent, RegistryClient } from '../sdk/index.js';
import type { RunSpec, SharedFields } from './definition.js';
import { pickPort, probeOnce, resolveCheck } from './readiness.js';

/** Backoff of restarts: 250 ms, doubling up to 30 s; a process that stayed up this long resets it. */
const FIRST_RESTART_MS = 250;
const MAX_RESTART_MS = 30_000;
const STABLE_MS = 10_000;
const READY_POLL_MS = 100;

export interface RestartRecord {
  /** Epoch ms of the exit. */
  at: number;
  instance: string;
  reason: string;
  /** When the process is started again. */
  restartInMs: number;
}

export interface GroupStatus {
  desired: number;
  running: number;
  registered: number;
  instances: { id: string; pid?: number; port?: number; registered: boolean }[];
  lastRestart?: RestartRecord;
}

interface Slot {
  index: number;
  id: string;
  child: ChildProcess | undefined;
  exited: Promise<void> | undefined;
  port: number | undefined;
  agent: RegistrationAgent | undefined;
  startedAt: number;
  crashes: number;
  timer: NodeJS.Timeout | undefined;
  /** Being stopped on purpose: its exit is not a crash. */
  retiring: boolean;
}

export interface ProcessGroupOptions {
  service: string;
  spec: RunSpec;
  registration: SharedFields;
  client: RegistryClient;
  logger: AgentLogger;
}

export class ProcessGroup {
  readonly service: string;
  #spec: RunSpec;
  #registration: SharedFields;
  readonly #client: RegistryClient;
  readonly #logger: AgentLogger;
  readonly #slots = new Map<number, Slot>();
  #desired: number;
  #stopped = false;
  #lastRestart: RestartRecord | undefined;

  constructor(options: ProcessGroupOptions) {
    this.service = options.service;
    this.#spec = options.spec;
    this.#registration = options.registration;
    this.#client = options.client;
    this.#logger = options.logger;
    this.#desired = options.spec.min;
    this.#reconcile();
  }

  get desired(): number {
    return this.#desired;
  }

  get spec(): RunSpec {
    return this.#spec;
  }

  /** Sets the number of processes, within the definition's bounds, and starts or stops processes to match. */
  setDesired(count: number): void {
    this.#desired = Math.min(this.#spec.max, Math.max(this.#spec.min, count));
    this.#reconcile();
  }

  /**
   * Takes a new version of the definition whose process (command, args, env, port, check) is unchanged: new bounds
   * apply at once, and new registration fields re-register every running process under the same id.
   */
  async update(spec: RunSpec, registration: SharedFields): Promise<void> {
    const reregister = JSON.stringify(registration) !== JSON.stringify(this.#registration);
    this.#spec = spec;
    this.#registration = registration;
    this.setDesired(this.#desired);
    if (!reregister) return;
    await Promise.all(
      [...this.#slots.values()].map(async (slot) => {
        const agent = slot.agent;
        if (!agent) return;
        slot.agent = undefined;
        await agent.stop();
        if (slot.child && slot.port !== undefined && !slot.retiring) this.#register(slot, slot.port);
      }),
    );
  }

  status(): GroupStatus {
    const slots = [...this.#slots.values()].sort((a, b) => a.index - b.index);
    const instances = slots.map((slot) => ({
      id: slot.id,
      ...(slot.child?.pid === undefined ? {} : { pid: slot.child.pid }),
      ...(slot.port === undefined || !slot.child ? {} : { port: slot.port }),
      registered: slot.agent?.registered ?? false,
    }));
    return {
      desired: this.#desired,
      running: slots.filter((slot) => slot.child && !slot.retiring).length,
      registered: instances.filter((instance) => instance.registered).length,
      instances,
      ...(this.#lastRestart ? { lastRestart: this.#lastRestart } : {}),
    };
  }

  /** Deregisters every process, then stops them all (SIGTERM, SIGKILL after the grace period). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all([...this.#slots.values()].map((slot) => this.#retire(slot)));
  }

  /** SIGKILLs every process now, for when the agent is exiting and cannot wait. */
  killNow(): void {
    this.#stopped = true;
    for (const slot of this.#slots.values()) {
      clearTimeout(slot.timer);
      slot.child?.kill('SIGKILL');
    }
  }

  /** Starts slots up to the desired count and retires the highest ones beyond it, newest first. */
  #reconcile(): void {
    if (this.#stopped) return;
    const live = [...this.#slots.values()].filter((slot) => !slot.retiring);
    for (let index = 1; live.length < this.#desired; index++) {
      if (this.#slots.has(index)) continue;
      const slot: Slot = {
        index,
        id: `${this.service}-${index}`,
        child: undefined,
        exited: undefined,
        port: undefined,
        agent: undefined,
        startedAt: 0,
        crashes: 0,
        timer: undefined,
        retiring: false,
      };
      this.#slots.set(index, slot);
      live.push(slot);
      void this.#launch(slot);
    }
    const extra = live.sort((a, b) => b.index - a.index).slice(0, Math.max(0, live.length - this.#desired));
    for (const slot of extra) void this.#retire(slot);
  }

  async #launch(slot: Slot): Promise<void> {
    slot.timer = undefined;
    if (!this.#wanted(slot)) return;
    const spec = this.#spec;
    const taken = new Set([...this.#slots.values()].flatMap((other) => (other.port === undefined ? [] : [other.port])));
    let port: number;
    try {
      port = await pickPort(spec.port, spec.host, taken);
    } catch (err) {
      this.#crashed(slot, err instanceof Error ? err.message : String(err));
      return;
    }
    if (!this.#wanted(slot)) return;
    slot.port = port;
    slot.startedAt = Date.now();
    const child = spawn(spec.command, spec.args, {
      ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
      env: { ...process.env, ...spec.env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    slot.child = child;
    forward(child, slot.id);
    // Read through a function: the exit handlers change it while the loop below awaits.
    const live = (): boolean => slot.child === child && this.#wanted(slot);
    let gone = false;
    slot.exited = new Promise<void>((resolve) => {
      const onGone = (reason: string): void => {
        if (gone) return;
        gone = true;
        resolve();
        this.#exited(slot, child, reason);
      };
      child.once('exit', (code, signal) => {
        onGone(signal ? `killed by ${signal}` : `exited with code ${code ?? '?'}`);
      });
      child.once('error', (err) => {
        // A process that could not be started (no such command) emits only 'error'.
        if (child.pid === undefined) onGone(`could not start: ${err.message}`);
      });
    });
    this.#logger.info(`${slot.id}: started pid ${child.pid ?? '?'} on port ${port}`);
    const check = resolveCheck(spec.check ?? { tcp: `${spec.host}:${port}`, interval: '10s' }, spec.host, port);
    const deadline = Date.now() + spec.startTimeoutMs;
    while (live()) {
      if (await probeOnce(check)) {
        if (live()) this.#register(slot, port);
        return;
      }
      if (Date.now() >= deadline) {
        this.#logger.warn(`${slot.id}: not ready within ${spec.startTimeoutMs} ms; killing it`);
        child.kill('SIGKILL');
        return;
      }
      await sleep(READY_POLL_MS);
    }
  }

  /** Whether the slot should still have a process (neither it nor the group is being stopped). */
  #wanted(slot: Slot): boolean {
    return !slot.retiring && !this.#stopped;
  }

  #register(slot: Slot, port: number): void {
    const spec = this.#spec;
    slot.agent = registerSelf({
      ...this.#registration,
      registry: this.#client,
      service: this.service,
      id: slot.id,
      host: spec.host,
      port,
      ...(spec.check ? { checks: [resolveCheck(spec.check, spec.host, port)] } : {}),
      handleSignals: false,
      logger: this.#logger,
    });
  }

  #exited(slot: Slot, child: ChildProcess, reason: string): void {
    if (slot.child !== child) return;
    slot.child = undefined;
    const agent = slot.agent;
    slot.agent = undefined;
    // Withdraw it at once: discovery must not offer a process that is gone.
    void agent?.stop();
    if (slot.retiring || this.#stopped) {
      this.#logger.info(`${slot.id}: stopped (${reason})`);
      return;
    }
    this.#crashed(slot, reason);
  }

  #crashed(slot: Slot, reason: string): void {
    if (Date.now() - slot.startedAt >= STABLE_MS) slot.crashes = 0;
    slot.crashes += 1;
    const delay = Math.min(MAX_RESTART_MS, FIRST_RESTART_MS * 2 ** Math.min(slot.crashes - 1, 20));
    this.#lastRestart = { at: Date.now(), instance: slot.id, reason, restartInMs: delay };
    this.#logger.warn(`${slot.id}: ${reason}; restarting in ${delay} ms`);
    slot.timer = setTimeout(() => void this.#launch(slot), delay);
  }

  async #retire(slot: Slot): Promise<void> {
    if (slot.retiring) {
      await slot.exited;
      return;
    }
    slot.retiring = true;
    clearTimeout(slot.timer);
    const agent = slot.agent;
    slot.agent = undefined;
    if (agent) {
      await agent.stop();
      // Let clients that still hold the old list finish with it before the process goes away.
      if (slot.child && this.#spec.drainMs > 0) await sleep(this.#spec.drainMs);
    }
    const child = slot.child;
    if (child) {
      child.kill('SIGTERM');
      const killed = await Promise.race([slot.exited?.then(() => false), sleep(this.#spec.graceMs).then(() => true)]);
      if (killed) {
        this.#logger.warn(`${slot.id}: still running ${this.#spec.graceMs} ms after SIGTERM; sending SIGKILL`);
        child.kill('SIGKILL');
        await slot.exited;
      }
    }
    this.#slots.delete(slot.index);
  }
}

/** Copies a process's output to the agent's, each line prefixed with the instance id. */
function forward(child: ChildProcess, id: string): void {
  for (const [stream, sink] of [
    [child.stdout, process.stdout],
    [child.stderr, process.stderr],
  ] as const) {
    let partial = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) sink.write(`[${id}] ${line}\n`);
    });
    stream?.on('end', () => {
      if (partial !== '') sink.write(`[${id}] ${partial}\n`);
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
