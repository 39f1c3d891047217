/**
 * What Eureka clients read, built from the registry: the whole registry as applications (polled by every client
 * every 30 s), one application, the instances of a VIP, and the delta of the last few minutes.
 *
 * Invariants:
 * - The whole-registry view is built once per (registry index, caller's visibility) and serialized once per format:
 *   a poll that finds nothing changed costs a map lookup. Heartbeats do not move the index, so a cached answer's
 *   `lastRenewalTimestamp` is as of the instance's last change (Eureka's own response cache is up to 30 s old too).
 * - The delta is read from the registry's change log (`changesSince`), not a second history: this module only
 *   remembers, about once a second, which index the registry was at, so "the last 3 minutes" becomes an index.
 */
import { AnswerCache } from '../api/index.js';
import type { Principal } from '../auth/index.js';
import type { Registry } from '../core/index.js';
import type { ChangeEvent, Instance } from '../wire/index.js';
import { encodeAnswer } from './codec.js';
import type { EurekaApplication, EurekaApplications, EurekaFormat } from './codec.js';
import { appOfService, eurekaInstanceOf, reconcileHashCode } from './mapping.js';
import type { ActionType, EurekaInstance } from './mapping.js';

/** Which services a caller may read, and a key that is equal for callers who may read the same ones. */
export interface Visibility {
  readonly key: string;
  can(service: string): boolean;
}

export function visibilityOf(principal: Principal): Visibility {
  if (principal.holdsEverywhere('read')) return { key: '*', can: () => true };
  const { read, write } = principal.policy;
  return { key: JSON.stringify([read, write]), can: (service) => principal.can('read', service) };
}

/** The registry as applications, for one visibility at one index. */
interface RegistryView {
  index: number;
  /** Application name → its instances; names in order. */
  apps: Map<string, EurekaInstance[]>;
  hashcode: string;
}

/** Changes are remembered by index at most this often: the delta may reach this much further back. */
const MARK_EVERY_MS = 1_000;
/**
 * Views kept for distinct visibilities (tokens with different read rights) before the oldest is dropped. A view of a
 * large registry and its bodies take megabytes, and callers usually share a few policies.
 */
const MAX_VIEWS = 32;

export class EurekaViews {
  readonly #registry: Registry;
  readonly #deltaWindowMs: number;
  readonly #now: () => number;
  readonly #views = new Map<string, RegistryView>();
  readonly #bodies = new AnswerCache({ maxKeys: MAX_VIEWS * 2, maxVariants: 4 });
  /** When changes happened: `after` is an index just before the first change seen at `at`. */
  readonly #marks: { at: number; after: number }[] = [];
  readonly #stop: () => void;

  constructor(registry: Registry, options: { deltaWindowMs: number; now?: () => number }) {
    this.#registry = registry;
    this.#deltaWindowMs = options.deltaWindowMs;
    this.#now = options.now ?? Date.now;
    this.#stop = registry.watch(undefined, (change) => {
      this.#mark(change);
    });
  }

  close(): void {
    this.#stop();
  }

  /** `GET /apps/`, serialized. */
  fullBody(visibility: Visibility, format: EurekaFormat): string {
    const view = this.#view(visibility);
    return this.#bodies.get({ key: `full:${visibility.key}`, variant: format, index: view.index }, () =>
      encodeAnswer({ applications: this.#applications(view, view.apps) }, format),
    );
  }

  /** `GET /apps/delta`, serialized: the changes of the window, and the hashcode of the whole registry now. */
  deltaBody(visibility: Visibility, format: EurekaFormat): string {
    const view = this.#view(visibility);
    const from = this.#windowStart();
    return this.#bodies.get({ key: `delta:${visibility.key}`, variant: `${format}:${from}`, index: view.index }, () =>
      encodeAnswer({ applications: this.#applications(view, this.#delta(from, visibility)) }, format),
    );
  }

  /** The instances of one application (case-insensitive), or undefined when it has none the caller may read. */
  application(app: string, visibility: Visibility): EurekaApplication | undefined {
    const name = app.toUpperCase();
    const instance = this.#view(visibility).apps.get(name);
    return instance === undefined ? undefined : { name, instance };
  }

  /** `/vips/{vip}` (or `/svips/{svip}` with `secure`): the instances whose comma-separated VIP list names it. */
  byVip(vip: string, visibility: Visibility, secure: boolean): EurekaApplications {
    const view = this.#view(visibility);
    const apps = new Map<string, EurekaInstance[]>();
    for (const [name, instances] of view.apps) {
      const matching = instances.filter((instance) =>
        (secure ? instance.secureVipAddress : instance.vipAddress).split(',').some((v) => v.trim() === vip),
      );
      if (matching.length > 0) apps.set(name, matching);
    }
    return this.#applications(view, apps);
  }

  #applications(view: RegistryView, apps: Map<string, EurekaInstance[]>): EurekaApplications {
    return {
      versions__delta: String(view.index),
      apps__hashcode: view.hashcode,
      application: [...apps].map(([name, instance]) => ({ name, instance })),
    };
  }

  #view(visibility: Visibility): RegistryView {
    const index = this.#registry.index;
    const cached = this.#views.get(visibility.key);
    if (cached?.index === index) return cached;
    const apps = new Map<string, EurekaInstance[]>();
    const all: EurekaInstance[] = [];
    // Services come by name; two that differ only in case share one application, in that order.
    const names = this.#registry
      .listServices()
      .services.map((service) => service.name)
      .filter((name) => visibility.can(name));
    for (const service of names.sort(byAppThenName)) {
      const { instances } = this.#registry.list(service, { status: 'any', health: 'any' });
      const answered = instances.map((instance) => eurekaInstanceOf(instance));
      const app = appOfService(service);
      apps.set(app, [...(apps.get(app) ?? []), ...answered]);
      all.push(...answered);
    }
    const view = { index, apps, hashcode: reconcileHashCode(all) };
    this.#views.delete(visibility.key);
    if (this.#views.size >= MAX_VIEWS) {
      const oldest = this.#views.keys().next();
      if (oldest.done !== true) this.#views.delete(oldest.value);
    }
    this.#views.set(visibility.key, view);
    return view;
  }

  #mark(change: ChangeEvent): void {
    const now = this.#now();
    const last = this.#marks.at(-1);
    if (last === undefined || now - last.at >= MARK_EVERY_MS) this.#marks.push({ at: now, after: change.index - 1 });
    this.#forget(now);
  }

  #forget(now: number): void {
    // A mark's changes all happened within MARK_EVERY_MS of it: older marks hold nothing the window reaches.
    const horizon = now - this.#deltaWindowMs - MARK_EVERY_MS;
    while ((this.#marks[0]?.at ?? Infinity) <= horizon) this.#marks.shift();
  }

  /** The index the delta starts after: the registry's now when nothing changed within the window. */
  #windowStart(): number {
    this.#forget(this.#now());
    return this.#marks[0]?.after ?? this.#registry.index;
  }

  /** Each instance changed since `from`, once, as its last change left it. */
  #delta(from: number, visibility: Visibility): Map<string, EurekaInstance[]> {
    const last = new Map<string, { type: ActionType; instance: Instance }>();
    const changes = this.#registry.changesSince(from);
    if (changes === undefined) {
      // The change log no longer reaches back (a burst larger than it): every instance is sent as MODIFIED, which
      // clients apply as add-or-replace; removals they missed show in the hashcode, and Java clients then fetch all.
      for (const { name } of this.#registry.listServices().services) {
        for (const instance of this.#registry.list(name, { status: 'any', health: 'any' }).instances) {
          last.set(`${instance.service}\u0000${instance.id}`, { type: 'MODIFIED', instance });
        }
      }
    } else {
      for (const change of changes) last.set(`${change.service}\u0000${change.instance.id}`, actionOf(change));
    }
    const apps = new Map<string, EurekaInstance[]>();
    const entries = [...last.values()].filter(({ instance }) => visibility.can(instance.service));
    entries.sort(
      (a, b) => byAppThenName(a.instance.service, b.instance.service) || compare(a.instance.id, b.instance.id),
    );
    for (const { type, instance } of entries) {
      const app = appOfService(instance.service);
      apps.set(app, [...(apps.get(app) ?? []), eurekaInstanceOf(instance, type)]);
    }
    return apps;
  }
}

function actionOf(change: ChangeEvent): { type: ActionType; instance: Instance } {
  switch (change.type) {
    case 'registered':
      return { type: 'ADDED', instance: change.instance };
    case 'deregistered':
    case 'expired':
      return { type: 'DELETED', instance: change.instance };
    case 'updated':
    case 'status':
    case 'health':
      return { type: 'MODIFIED', instance: change.instance };
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Applications by name, and services that share one by their own name. */
function byAppThenName(a: string, b: string): number {
  return compare(appOfService(a), appOfService(b)) || compare(a, b);
}
