/**
 * The tokens a registry node accepts, held in memory for a map lookup per request and kept equal to the store's:
 * like instances, tokens change only by applying what the store delivers (`watchTokens`), so a token created or
 * revoked through any node takes effect on every node.
 *
 * A secret is 32 random bytes; the store keeps only its SHA-256, which is as good as a slow hash here because
 * the secret is never a guessable password.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Store, TokenChange, TokenRecord } from '../store/index.js';
import { RegistryError } from '../errors/index.js';
import type { TokenPolicy } from '../wire/index.js';
import { Principal } from './principal.js';

/** What a node needs of its store for tokens. */
export type TokenStore = Pick<Store, 'listTokens' | 'createToken' | 'deleteToken' | 'watchTokens'>;

export interface NewToken {
  name: string;
  policy: TokenPolicy;
  /** Milliseconds from now; absent: until revoked. */
  ttlMs?: number;
}

/** The id the first operator token takes, so that two nodes starting together create one between them. */
export const BOOTSTRAP_TOKEN_ID = 'bootstrap';

const SECRET_PREFIX = 'sbt_';
const RECENT_SECRETS = 4_096;

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export class TokenTable {
  readonly #store: TokenStore;
  readonly #byId = new Map<string, TokenRecord>();
  readonly #byHash = new Map<string, Principal>();
  /** Tokens that live in this process only (the in-process gateway's), never stored. */
  /**
   * Secrets seen lately and whom they authenticate, so a client that sends its token with every request costs a map
   * lookup rather than a SHA-256. Emptied on every change to the tokens: a revocation holds from the next request.
   */
  readonly #recent = new Map<string, Principal>();
  #stopWatching: (() => void) | undefined;

  private constructor(store: TokenStore) {
    this.#store = store;
  }

  /** Loads the store's tokens and follows its changes. */
  static async open(store: TokenStore): Promise<TokenTable> {
    const table = new TokenTable(store);
    // Watch first: a token created between the two would otherwise be missed.
    const pending: TokenChange[] = [];
    let loaded = false;
    table.#stopWatching = store.watchTokens((change) => {
      if (loaded) table.#apply(change);
      else pending.push(change);
    });
    for (const record of await store.listTokens()) table.#apply({ id: record.id, record });
    loaded = true;
    for (const change of pending) table.#apply(change);
    return table;
  }

  close(): void {
    this.#stopWatching?.();
  }

  /**
   * The principal a secret authenticates, or the reason it does not: an unknown secret (never issued, or revoked)
   * and an expired one are both UNAUTHENTICATED. The message never repeats the secret.
   */
  authenticate(secret: string, now = Date.now()): Principal {
    let principal = this.#recent.get(secret);
    if (principal === undefined) {
      const hash = hashSecret(secret);
      principal = this.#byHash.get(hash);
      if (principal === undefined) {
        throw new RegistryError('UNAUTHENTICATED', 'the token presented is not valid (unknown or revoked)');
      }
      if (this.#recent.size >= RECENT_SECRETS) this.#recent.clear();
      this.#recent.set(secret, principal);
    }
    if (principal.expiresAt !== undefined && now >= principal.expiresAt) {
      throw new RegistryError('UNAUTHENTICATED', `token "${principal.name}" expired at ${iso(principal.expiresAt)}`);
    }
    return principal;
  }

  list(): TokenRecord[] {
    return [...this.#byId.values()].sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  get size(): number {
    return this.#byId.size;
  }

  /** Creates a token and returns its record and its secret, which exists nowhere else from then on. */
  async create(token: NewToken, id = randomBytes(8).toString('hex')): Promise<{ record: TokenRecord; secret: string }> {
    const secret = `${SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
    const createdAt = Date.now();
    const record: TokenRecord = {
      id,
      name: token.name,
      secretHash: hashSecret(secret),
      policy: token.policy,
      createdAt,
    };
    if (token.ttlMs !== undefined) record.expiresAt = createdAt + token.ttlMs;
    if (!(await this.#store.createToken(record))) {
      throw new RegistryError('ALREADY_EXISTS', `a token with id ${id} exists`);
    }
    return { record, secret };
  }

  /** Revokes a token: from the moment this resolves, no node of the registry accepts it. */
  async revoke(id: string): Promise<TokenRecord> {
    const record = this.#byId.get(id);
    if (record === undefined || !(await this.#store.deleteToken(id))) {
      throw new RegistryError('NOT_FOUND', `no token with id ${id}`);
    }
    return record;
  }

  #apply(change: TokenChange): void {
    this.#recent.clear();
    const previous = this.#byId.get(change.id);
    if (previous) {
      this.#byId.delete(change.id);
      this.#byHash.delete(previous.secretHash);
    }
    const { record } = change;
    if (record === null) return;
    this.#byId.set(record.id, record);
    this.#byHash.set(
      record.secretHash,
      new Principal({
        tokenId: record.id,
        name: record.name,
        policy: record.policy,
        ...(record.expiresAt === undefined ? {} : { expiresAt: record.expiresAt }),
      }),
    );
  }
}

function iso(epochMs: number): string {
  return new Date(epochMs).toISOString();
}
