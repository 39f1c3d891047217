import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../store/memory/index.js';
import { RegistryError } from '../errors/index.js';
import { TokenTable } from './token-table.js';

const WRITE_WEB = { read: [], write: ['web'], operator: false };

async function codeOf(run: () => unknown): Promise<string | undefined> {
  try {
    await run();
    return undefined;
  } catch (err) {
    return err instanceof RegistryError ? err.code : String(err);
  }
}

describe('TokenTable', () => {
  it('authenticates a created token and stores only the hash of its secret', async () => {
    const store = createMemoryStore();
    const table = await TokenTable.open(store);
    const { record, secret } = await table.create({ name: 'ci', policy: WRITE_WEB });
    expect(table.authenticate(secret).name).toBe('ci');
    const [stored] = await store.listTokens();
    expect(JSON.stringify(stored)).not.toContain(secret);
    expect(stored?.secretHash).toBe(record.secretHash);
    expect(await codeOf(() => table.authenticate(`${secret}x`))).toBe('UNAUTHENTICATED');
  });

  it('refuses a revoked token at once, even one it has just accepted (no stale cache)', async () => {
    const table = await TokenTable.open(createMemoryStore());
    const { record, secret } = await table.create({ name: 'ci', policy: WRITE_WEB });
    table.authenticate(secret);
    await table.revoke(record.id);
    expect(await codeOf(() => table.authenticate(secret))).toBe('UNAUTHENTICATED');
    expect(await codeOf(() => table.revoke(record.id))).toBe('NOT_FOUND');
  });

  it('refuses an expired token, naming the expiry', async () => {
    const table = await TokenTable.open(createMemoryStore());
    const { record, secret } = await table.create({ name: 'short', policy: WRITE_WEB, ttlMs: 1_000 });
    expect(table.authenticate(secret, record.createdAt + 999).name).toBe('short');
    expect(() => table.authenticate(secret, record.createdAt + 1_000)).toThrow(/expired at/);
  });

  it('follows tokens created and revoked through another table on the same store (another node)', async () => {
    const store = createMemoryStore();
    const here = await TokenTable.open(store);
    const there = await TokenTable.open(store);
    const { record, secret } = await there.create({ name: 'elsewhere', policy: WRITE_WEB });
    expect(here.authenticate(secret).name).toBe('elsewhere');
    await there.revoke(record.id);
    expect(await codeOf(() => here.authenticate(secret))).toBe('UNAUTHENTICATED');
  });
});
