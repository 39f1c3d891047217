/**
 * The first operator token (issue #13). The first start with auth on finds no token at all, creates one with
 * operator rights, and writes its secret to `<data-dir>/bootstrap-token` (mode 0600, in a 0700 folder): whoever can
 * read the registry's data on its machine can manage it, and nobody else. The secret never reaches a log or `ps`.
 */
import { chmodSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BOOTSTRAP_TOKEN_ID } from './token-table.js';
import type { TokenTable } from './token-table.js';

export const BOOTSTRAP_TOKEN_FILE = 'bootstrap-token';

/**
 * Creates the bootstrap token when the registry has no token at all, and returns the file holding its secret;
 * undefined when tokens exist already (or another node created it first, in a cluster).
 */
export async function createBootstrapToken(tokens: TokenTable, dataDir: string): Promise<string | undefined> {
  if (tokens.size > 0) return undefined;
  const file = join(dataDir, BOOTSTRAP_TOKEN_FILE);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  let created: Awaited<ReturnType<TokenTable['create']>>;
  try {
    created = await tokens.create(
      { name: 'bootstrap', policy: { read: [], write: [], operator: true } },
      BOOTSTRAP_TOKEN_ID,
    );
  } catch (err) {
    // Another node of the cluster created it between our look and our write: it holds the secret, not us.
    if ((err as { code?: string }).code === 'ALREADY_EXISTS') return undefined;
    throw err;
  }
  try {
    // 'w' replaces a file left by an earlier data dir's bootstrap; the mode applies to a new file, chmod below to an old one.
    writeFileSync(file, `${created.secret}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
  } catch (err) {
    // A token nobody holds would lock the registry for good: take it back, so the next start tries again.
    await tokens.revoke(BOOTSTRAP_TOKEN_ID).catch(() => undefined);
    try {
      unlinkSync(file);
    } catch {
      // Nothing was written.
    }
    throw err;
  }
  return file;
}
