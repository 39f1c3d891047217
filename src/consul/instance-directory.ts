/**
 * Which service holds an instance id. Consul's agent calls name a service instance by its ID alone
 * (`deregister/:id`, `maintenance/:id`, `check/pass/service:<ID>`), where the registry keys instances by service and
 * id; this follows the registry's change feed to answer without scanning every service.
 *
 * Invariant: after a change is applied, the directory holds exactly the (id, service) pairs of live instances (it
 * follows the synchronous `watch`, so a Consul call made after a registration's answer finds it).
 */
import type { Registry } from '../core/index.js';
import { RegistryError } from '../errors/index.js';

const PAGE = 1_000;

export class InstanceDirectory {
  /**
   * id → the service that has an instance with that id, or a set of them for an id reused across services: a set per
   * instance would be most of what the directory holds (issue #20: every object a registration keeps is copied by the
   * next scavenges).
   */
  readonly #services = new Map<string, string | Set<string>>();
  readonly #stop: () => void;

  constructor(registry: Registry) {
    this.#stop = registry.watch(undefined, (change) => {
      const { id, service } = change.instance;
      if (change.type === 'deregistered' || change.type === 'expired') this.#remove(id, service);
      else this.#add(id, service);
    });
    let cursor: string | undefined;
    do {
      const page = registry.page(cursor, PAGE);
      for (const instance of page.instances) this.#add(instance.id, instance.service);
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** The service of instance `id`; NOT_FOUND when none has it, INVALID_ARGUMENT when several do. */
  serviceOf(id: string): string {
    const services = this.#services.get(id);
    if (typeof services === 'string') return services;
    if (services === undefined || services.size === 0)
      throw new RegistryError('NOT_FOUND', `Unknown service ID "${id}"`);
    if (services.size > 1) {
      throw new RegistryError(
        'INVALID_ARGUMENT',
        `service ID "${id}" is registered in services ${[...services].sort().join(', ')}: Consul IDs are unique, ` +
          'so address these instances through the REST API (/v1/services/:service/instances/:id)',
      );
    }
    return services.values().next().value as string;
  }

  /** The services other than `service` that have an instance `id`. */
  othersOf(id: string, service: string): string[] {
    const services = this.#services.get(id) ?? [];
    return (typeof services === 'string' ? [services] : [...services]).filter((s) => s !== service);
  }

  close(): void {
    this.#stop();
  }

  #add(id: string, service: string): void {
    const services = this.#services.get(id);
    if (services === undefined) this.#services.set(id, service);
    else if (typeof services !== 'string') services.add(service);
    else if (services !== service) this.#services.set(id, new Set([services, service]));
  }

  #remove(id: string, service: string): void {
    const services = this.#services.get(id);
    if (services === service) this.#services.delete(id);
    else if (typeof services !== 'string' && services !== undefined) {
      services.delete(service);
      const [only, ...more] = services;
      if (only === undefined) this.#services.delete(id);
      else if (more.length === 0) this.#services.set(id, only);
    }
  }
}
