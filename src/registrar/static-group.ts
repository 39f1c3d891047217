/**
 * The existing instances of one `instances` definition: each is registered with a lease the registrar renews
 * (registerSelf heartbeats it, and registers it again when the registry has lost it, e.g. after a restart without
 * its data). A new version of the definition changes only the instances whose fields changed.
 */
import { registerSelf } from '../sdk/index.js';
import type { AgentLogger, RegistrationAgent, RegistryClient } from '../sdk/index.js';
import type { StaticInstance } from './definition.js';
import type { GroupStatus } from './process-group.js';

interface Held {
  body: string;
  agent: RegistrationAgent;
}

export class StaticGroup {
  readonly service: string;
  readonly #client: RegistryClient;
  readonly #logger: AgentLogger;
  readonly #held = new Map<string, Held>();

  constructor(options: { service: string; client: RegistryClient; logger: AgentLogger }) {
    this.service = options.service;
    this.#client = options.client;
    this.#logger = options.logger;
  }

  /** Registers the instances not held yet, re-registers changed ones, and deregisters those no longer listed. */
  async update(instances: readonly StaticInstance[]): Promise<void> {
    const wanted = new Map(instances.map((instance) => [instance.id, instance]));
    const work: Promise<void>[] = [];
    for (const [id, held] of this.#held) {
      const next = wanted.get(id);
      if (next && JSON.stringify(next) === held.body) continue;
      this.#held.delete(id);
      work.push(held.agent.stop());
    }
    // A changed instance is deregistered before its new version registers, so the old one cannot land last.
    await Promise.all(work);
    for (const instance of wanted.values()) {
      if (this.#held.has(instance.id)) continue;
      const { id, host, port, ...fields } = instance;
      const agent = registerSelf({
        ...fields,
        registry: this.#client,
        service: this.service,
        id,
        host,
        port,
        handleSignals: false,
        logger: this.#logger,
      });
      this.#held.set(id, { body: JSON.stringify(instance), agent });
    }
  }

  status(): GroupStatus {
    const instances = [...this.#held.entries()].map(([id, held]) => ({ id, registered: held.agent.registered }));
    return {
      desired: instances.length,
      running: instances.length,
      registered: instances.filter((instance) => instance.registered).length,
      instances,
    };
  }

  /** Deregisters every instance. */
  async stop(): Promise<void> {
    const agents = [...this.#held.values()].map((held) => held.agent);
    this.#held.clear();
    await Promise.all(agents.map((agent) => agent.stop()));
  }
}
