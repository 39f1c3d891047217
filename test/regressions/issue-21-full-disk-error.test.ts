/**
 * Issue 21: a write on a full disk answered `store write failed: database or disk is full`, which names neither the
 * disk nor what to do. It now says which disk is full, that nothing stored is lost, and to free space, with the
 * same retryable 503 UNAVAILABLE (the write succeeds once space is freed).
 * Needs root to mount a small tmpfs; skips elsewhere (CI runs as root).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startTestServer, tempDir } from '../fixtures/server.js';

const metadata: Record<string, string> = {};
for (let k = 0; k < 27; k++) metadata[`k${String(k)}`] = 'x'.repeat(500);

describe('issue 21: a write on a full disk', () => {
  it('answers 503 UNAVAILABLE naming the full disk, and succeeds again once space is freed', async ({ skip }) => {
    using dir = tempDir();
    if (process.getuid?.() !== 0) {
      skip('not root: mounting a size-limited tmpfs needs root');
      return;
    }
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir.path]);
    try {
      const dataDir = join(dir.path, 'data');
      mkdirSync(dataDir);
      const filler = join(dir.path, 'filler');
      writeFileSync(filler, Buffer.alloc(512 * 1_024, 1));
      await using server = await startTestServer({ store: { kind: 'sqlite', dataDir } });
      const put = (id: string): Promise<Response> =>
        fetch(`${server.url}/v1/services/disk/instances/${id}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ host: 'h', port: 1, metadata }),
        });
      let refused: Response | undefined;
      let refusedId = '';
      for (let n = 0; n < 1_000 && refused === undefined; n++) {
        refusedId = `i${String(n)}`;
        const answer = await put(refusedId);
        if (answer.status === 201) await answer.body?.cancel();
        else refused = answer;
      }
      expect(refused?.status).toBe(503);
      expect(await refused?.json()).toEqual({
        statusCode: 503,
        code: 'UNAVAILABLE',
        error: 'Service Unavailable',
        message: `the disk holding ${join(dataDir, 'registry.db')} is full (database or disk is full): the write was not stored, and what was stored before is kept; free space there and retry`,
      });
      rmSync(filler);
      expect((await put('after')).status).toBe(201);
      // The refused write left nothing behind, in the file or in the store's own account of it: it goes through now.
      expect((await put(refusedId)).status).toBe(201);
      expect((await fetch(`${server.url}/v1/services/disk/instances/${refusedId}`)).status).toBe(200);
    } finally {
      execFileSync('umount', ['-l', dir.path]);
    }
  });
});
