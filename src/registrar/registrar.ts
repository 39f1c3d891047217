/**
 * `switchboard agent`'s core (issue #15): the third-party registrar. It reads one definition per file from a
 * directory, and for each service either keeps existing instances registered (StaticGroup) or runs, registers and
 * supervises processes (ProcessGroup), scaling them when the definition has a `scale` rule.
 *
 * Invariants:
 * - A file's problem stays that file's: a file that becomes invalid keeps its last good version running (and is
 *   reported in the log and the status until fixed); a file that was never valid runs nothing. Removing a file
 *   deregisters its instances and stops its processes.
 * - Reloads run one at a time; a change seen during a reload causes one more.
 * - The registrar reaches the registry through the SDK only, as any other client would.
 */
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentLogger, RegistryClient } from '../sdk/index.js';
import { DEFINITION_FILE, DefinitionError, parseDefinitionText } from './definition.js';
import type { Definition, RunSpec } from './definition.js';
import { ProcessGroup } from './process-group.js';
import type { GroupStatus } from './process-group.js';
import { gatewayLoadSource } from './load-source.js';
import type { GatewayLoadSourceOptions, LoadSource } from './load-source.js';
import { Scaler } from './scaling.js';
import type { LoadSample } from './scaling.js';
import { StaticGroup } from './static-group.js';

export interface ScalingRecord {
  at: number;
  from: number;
  to: number;
  reason: string;
}

export interface ServiceStatus extends GroupStatus {
  service: string;
  file: string;
  kind: 'run' | 'instances';
  lastScaling?: ScalingRecord;
  /** Why this service does not scale although its definition has a rule (no gateway, no policy yet). */
  scaling?: string;
  /** The file's current problem; the service runs its last good version meanwhile. */
  fileError?: string;
}

export interface AgentStatus {
  configDir: string;
  pid: number;
  startedAt: number;
  services: ServiceStatus[];
  /** Every file with a problem, including files that never had a good version (and so run nothing). */
  errors: { file: string; error: string }[];
}

export interface RegistrarOptions {
  configDir: string;
  client: RegistryClient;
  logger: AgentLogger;
  /** The gateway's load figures for `scale` rules, or why there are none (then nothing scales). */
  loadSource?: LoadSource | string;
  /** Default 5 s. */
  scaleIntervalMs?: number;
  /** Wait after a file change before reloading, so an editor's several writes make one reload. Default 200 ms. */
  debounceMs?: number;
}

interface FileState {
  text: string;
  /** The last good version. */
  definition?: Definition;
  error?: string;
}

interface Managed {
  file: string;
  definition: Definition;
  group: ProcessGroup | StaticGroup;
  scaler?: Scaler;
  lastScaling?: ScalingRecord;
  scaling?: string;
}

export class Registrar {
  readonly #options: RegistrarOptions;
  readonly #logger: AgentLogger;
  readonly #files = new Map<string, FileState>();
  readonly #managed = new Map<string, Managed>();
  readonly #startedAt = Date.now();
  #watcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #scaleTimer: NodeJS.Timeout | undefined;
  #reloading: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  #scaling = false;

  constructor(options: RegistrarOptions) {
    this.#options = options;
    this.#logger = options.logger;
  }

  /** Loads the directory, then follows it: a change to a file reloads it. */
  async start(): Promise<void> {
    await readdir(this.#options.configDir); // fails early, with the path, when the directory is missing
    await this.reload();
    this.#watcher = watch(this.#options.configDir, () => {
      clearTimeout(this.#debounce);
      this.#debounce = setTimeout(() => void this.reload(), this.#options.debounceMs ?? 200);
    });
    this.#watcher.on('error', (err) => {
      this.#logger.warn(`cannot watch ${this.#options.configDir} (${err.message}); reload with SIGHUP`);
    });
    this.#scaleTimer = setInterval(() => void this.#scaleAll(), this.#options.scaleIntervalMs ?? 5_000);
  }

  /** Reads the directory again and applies what changed. Resolves once applied; never rejects. */
  reload(): Promise<void> {
    if (this.#reloading) {
      this.#again = true;
      return this.#reloading;
    }
    this.#reloading = (async () => {
      do {
        this.#again = false;
        try {
          await this.#reloadOnce();
        } catch (err) {
          this.#logger.warn(`reload failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      } while (this.#pending());
      this.#reloading = undefined;
    })();
    return this.#reloading;
  }

  /** A change arrived during the reload that just ended (read through a method: it changes while reloads await). */
  #pending(): boolean {
    return this.#again && !this.#stopped;
  }

  status(): AgentStatus {
    const services = [...this.#managed.entries()]
      .map(([service, managed]): ServiceStatus => {
        const fileError = this.#files.get(managed.file)?.error;
        return {
          service,
          file: managed.file,
          kind: managed.group instanceof ProcessGroup ? 'run' : 'instances',
          ...managed.group.status(),
          ...(managed.lastScaling ? { lastScaling: managed.lastScaling } : {}),
          ...(managed.scaling === undefined ? {} : { scaling: managed.scaling }),
          ...(fileError === undefined ? {} : { fileError }),
        };
      })
      .sort((a, b) => a.service.localeCompare(b.service));
    const errors = [...this.#files.entries()].flatMap(([file, state]) =>
      state.error === undefined ? [] : [{ file, error: state.error }],
    );
    return { configDir: this.#options.configDir, pid: process.pid, startedAt: this.#startedAt, services, errors };
  }

  /** Stops following the directory, deregisters every instance and stops every process. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watcher?.close();
    clearTimeout(this.#debounce);
    clearInterval(this.#scaleTimer);
    await this.#reloading;
    const groups = [...this.#managed.values()].map((managed) => managed.group);
    this.#managed.clear();
    await Promise.all(groups.map((group) => group.stop()));
    const source = this.#options.loadSource;
    if (source !== undefined && typeof source !== 'string') source.close();
  }

  /** SIGKILLs every supervised process now: the agent is exiting and cannot wait for a drain. */
  killNow(): void {
    for (const managed of this.#managed.values()) {
      if (managed.group instanceof ProcessGroup) managed.group.killNow();
    }
  }

  async #reloadOnce(): Promise<void> {
    if (this.#stopped) return;
    const dir = this.#options.configDir;
    const names = (await readdir(dir)).filter((name) => DEFINITION_FILE.test(name)).sort();
    for (const name of this.#files.keys()) {
      if (!names.includes(name)) {
        this.#files.delete(name);
        this.#logger.info(`${name}: removed`);
      }
    }
    for (const name of names) {
      let text: string;
      try {
        text = await readFile(join(dir, name), 'utf8');
      } catch {
        this.#files.delete(name); // removed since the listing
        continue;
      }
      const state = this.#files.get(name);
      if (state?.text === text) continue;
      try {
        const definition = parseDefinitionText(text, name);
        this.#files.set(name, { text, definition });
        if (state) this.#logger.info(`${name}: changed`);
      } catch (err) {
        const error = err instanceof DefinitionError ? err.message : String(err);
        this.#files.set(name, { text, error, ...(state?.definition ? { definition: state.definition } : {}) });
        this.#logger.warn(
          `${name}: ${error} (${state?.definition ? 'its last good version keeps running' : 'nothing of it runs'})`,
        );
      }
    }

    // Which file defines which service; a second file naming the same service is the error.
    const wanted = new Map<string, { file: string; definition: Definition }>();
    for (const [file, state] of this.#files) {
      if (!state.definition) continue;
      const other = wanted.get(state.definition.service);
      if (other) {
        if (state.error === undefined) {
          state.error = `service ${state.definition.service} is already defined in ${other.file}`;
          this.#logger.warn(`${file}: ${state.error}`);
        }
        continue;
      }
      wanted.set(state.definition.service, { file, definition: state.definition });
    }

    const work: Promise<void>[] = [];
    for (const [service, managed] of this.#managed) {
      if (wanted.has(service)) continue;
      this.#managed.delete(service);
      this.#logger.info(`${service}: no longer defined; deregistering it`);
      work.push(managed.group.stop());
    }
    for (const [service, { file, definition }] of wanted) {
      work.push(this.#apply(service, file, definition));
    }
    await Promise.all(work);
  }

  /** Starts managing a service, or moves a managed one to a new version of its definition. */
  async #apply(service: string, file: string, definition: Definition): Promise<void> {
    const managed = this.#managed.get(service);
    if (managed?.definition === definition) {
      managed.file = file;
      return;
    }
    const { client, logger } = { client: this.#options.client, logger: this.#logger };
    const { run, instances } = definition;
    if (managed && sameKind(managed, definition)) {
      managed.file = file;
      managed.definition = definition;
      if (managed.group instanceof StaticGroup) await managed.group.update(instances ?? []);
      else if (run && sameProcess(managed.group.spec, run)) await managed.group.update(run, definition.registration);
      else {
        // A new command (or env, port, check) takes new processes: stop the old ones, then start the new.
        await managed.group.stop();
        if (run)
          managed.group = new ProcessGroup({
            service,
            spec: run,
            registration: definition.registration,
            client,
            logger,
          });
      }
      this.#setScaler(managed);
      return;
    }
    if (managed) await managed.group.stop();
    let group: ProcessGroup | StaticGroup;
    if (run) {
      group = new ProcessGroup({ service, spec: run, registration: definition.registration, client, logger });
    } else {
      group = new StaticGroup({ service, client, logger });
      await group.update(instances ?? []);
    }
    const next: Managed = { file, definition, group };
    this.#managed.set(service, next);
    this.#setScaler(next);
    logger.info(
      `${service}: managing ${run ? `${run.min}..${run.max} process(es)` : `${instances?.length ?? 0} instance(s)`}`,
    );
  }

  #setScaler(managed: Managed): void {
    const { scale, run } = managed.definition;
    delete managed.scaler;
    delete managed.scaling;
    if (!scale || !run) return;
    const source = this.#options.loadSource ?? 'the agent has no --gateway to read load from';
    if (typeof source === 'string') {
      managed.scaling = `off: ${source}`;
      return;
    }
    managed.scaler = new Scaler(scale, { min: run.min, max: run.max });
  }

  /** One round of scaling: each service with a policy moves at most one step towards what its policy decides. */
  async #scaleAll(): Promise<void> {
    const source = this.#options.loadSource;
    if (this.#scaling || this.#stopped || source === undefined || typeof source === 'string') return;
    this.#scaling = true;
    try {
      for (const [service, managed] of this.#managed) {
        const { group, scaler } = managed;
        if (!scaler || !(group instanceof ProcessGroup)) continue;
        let sample: LoadSample | undefined;
        try {
          sample = await source.sample(service);
        } catch (err) {
          this.#logger.warn(`${service}: no load figures (${err instanceof Error ? err.message : String(err)})`);
          continue;
        }
        if (!sample || this.#managed.get(service) !== managed) continue;
        const current = group.desired;
        const decision = scaler.decide(current, sample);
        if (!decision || decision.desired === current) continue;
        // One step at a time, whatever the policy asks: the next round sees the effect of this one.
        const to = current + Math.sign(decision.desired - current);
        group.setDesired(to);
        if (group.desired === current) continue;
        managed.lastScaling = { at: Date.now(), from: current, to: group.desired, reason: decision.reason };
        this.#logger.info(`${service}: scaling ${current} → ${group.desired}: ${decision.reason}`);
      }
    } finally {
      this.#scaling = false;
    }
  }
}

/** The gateway's load source for `scale` rules (load-source.ts): `--gateway URL` with the registry's token. */
export function openLoadSource(options: GatewayLoadSourceOptions): LoadSource {
  return gatewayLoadSource(options);
}

function sameKind(managed: Managed, definition: Definition): boolean {
  return managed.group instanceof ProcessGroup === (definition.run !== undefined);
}

/** Whether two versions of a run spec start the same processes (bounds and timings may differ). */
function sameProcess(a: RunSpec, b: RunSpec): boolean {
  const key = ({ min: _min, max: _max, startTimeoutMs: _s, drainMs: _d, graceMs: _g, ...rest }: RunSpec): string =>
    JSON.stringify(rest);
  return key(a) === key(b);
}
