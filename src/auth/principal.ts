/**
 * Who sent a request and what it may do: a token's policy, or the anonymous policy. A `read` or `write` right names
 * services by glob (`pay*`); `write` implies `read`; `operator` holds every right, tokens included.
 */
import { RegistryError } from '../errors/index.js';
import { serviceGlobMatcher } from '../wire/index.js';
import type { TokenPolicy } from '../wire/index.js';

export type ServiceRight = 'read' | 'write';

/** Decisions remembered per principal: service names repeat, and a glob test costs more than a map lookup. */
const REMEMBERED_DECISIONS = 1_024;

export class Principal {
  /** The token's id; null for an anonymous request. */
  readonly tokenId: string | null;
  /** The token's name, or `anonymous`. */
  readonly name: string;
  readonly policy: TokenPolicy;
  /** Epoch ms after which the token stops authenticating. */
  readonly expiresAt: number | undefined;
  readonly #reads: (service: string) => boolean;
  readonly #writes: (service: string) => boolean;
  readonly #decisions = new Map<string, number>();

  constructor(identity: { tokenId: string | null; name: string; policy: TokenPolicy; expiresAt?: number }) {
    this.tokenId = identity.tokenId;
    this.name = identity.name;
    this.policy = identity.policy;
    this.expiresAt = identity.expiresAt;
    this.#writes = identity.policy.operator ? () => true : serviceGlobMatcher(identity.policy.write);
    const reads = serviceGlobMatcher(identity.policy.read);
    this.#reads = identity.policy.operator ? () => true : (service) => reads(service) || this.#writes(service);
  }

  get anonymous(): boolean {
    return this.tokenId === null;
  }

  get operator(): boolean {
    return this.policy.operator;
  }

  /** Whether this principal holds `right` on every service, present and future (operator, or the glob `*`). */
  holdsEverywhere(right: ServiceRight): boolean {
    const { policy } = this;
    return policy.operator || policy.write.includes('*') || (right === 'read' && policy.read.includes('*'));
  }

  /** The globs of the services this principal may read; undefined when it may read every one. */
  readScope(): readonly string[] | undefined {
    if (this.holdsEverywhere('read')) return undefined;
    return [...new Set([...this.policy.read, ...this.policy.write])];
  }

  /** Whether this principal holds `right` on any service at all. */
  holdsAnywhere(right: ServiceRight): boolean {
    const { policy } = this;
    return policy.operator || policy.write.length > 0 || (right === 'read' && policy.read.length > 0);
  }

  /** Whether this principal holds `right` on `service`. */
  can(right: ServiceRight, service: string): boolean {
    // Bit 1: decided; bit 2: may read; bit 4: may write.
    let decision = this.#decisions.get(service);
    if (decision === undefined) {
      decision = 1 | (this.#reads(service) ? 2 : 0) | (this.#writes(service) ? 4 : 0);
      if (this.#decisions.size >= REMEMBERED_DECISIONS) this.#decisions.clear();
      this.#decisions.set(service, decision);
    }
    return (decision & (right === 'read' ? 2 : 4)) !== 0;
  }

  /** Throws unless this principal holds `right` on `service`. */
  require(right: ServiceRight, service: string): void {
    if (!this.can(right, service)) throw this.#denial(`${right} on service "${service}"`);
  }

  /** Throws unless this principal holds `right` on every service (operator, or the glob `*`). */
  requireEverywhere(right: ServiceRight): void {
    if (!this.holdsEverywhere(right)) throw this.#denial(`${right} on every service (${right}:*)`);
  }

  /**
   * Throws unless this principal holds `right` on some service: what a transport checks before it reads a body that
   * names the service, so that a request which may write nothing hears 401 rather than a complaint about its body.
   */
  requireSomewhere(right: ServiceRight): void {
    if (!this.holdsAnywhere(right)) throw this.#denial(`${right} on some service`);
  }

  /** Throws unless this principal is an operator. */
  requireOperator(): void {
    if (!this.operator) throw this.#denial('operator');
  }

  /**
   * 401 UNAUTHENTICATED without a token (sending one may help), 403 PERMISSION_DENIED for a token that lacks the
   * right. The message names the right, never the token.
   */
  #denial(missing: string): RegistryError {
    if (this.anonymous) {
      return new RegistryError(
        'UNAUTHENTICATED',
        `this request needs ${missing}: send a token (Authorization: Bearer <token>)`,
      );
    }
    return new RegistryError('PERMISSION_DENIED', `token "${this.name}" lacks ${missing}`);
  }
}
