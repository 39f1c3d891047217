/**
 * Full disk (issue 21): the registry's data directory on a small tmpfs the test mounts, filled with registrations
 * until writes fail. Every refused write answers 503 UNAVAILABLE saying the disk is full, the server keeps serving,
 * a restart serves every acknowledged record, and writes succeed again once space is freed, without a restart.
 * Needs root (mount); CI runs as root. Elsewhere the test skips, saying why.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HealthAnswer, Instance } from '../../src/wire/index.js';
import { spawnRegistry } from '../fixtures/process.js';
import type { RegistryProcess } from '../fixtures/process.js';
import { tempDir } from '../fixtures/server.js';
import { readServed } from './ledger.js';
import { PROFILE, record } from './profile.js';

const FILLER_BYTES = 1_024 * 1_024;

async function call(
  url: string,
  method: 'GET' | 'PUT' | 'DELETE',
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.status, body: await response.json() };
}

/** Metadata that makes a record of about 14 KiB, under the default 16 KiB record cap. */
const bulk = (n: number): Record<string, string> => {
  const metadata: Record<string, string> = { version: String(n) };
  for (let k = 0; k < 27; k++) metadata[`k${String(k)}`] = String(n % 10).repeat(500);
  return metadata;
};

/** Mounts a size-limited tmpfs on `dir`; answers why not when it cannot. */
function mountTmpfs(dir: string, size: string): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: mounting a size-limited tmpfs needs root (CI runs as root)';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    return undefined;
  } catch (err) {
    return `mount refused: ${(err as Error).message}`;
  }
}

const FULL = /the disk holding .*registry\.db is full/;

describe(`full disk (${PROFILE.name} profile)`, () => {
  it('refuses writes with a clear error while the disk is full, loses nothing, and writes again once space is freed', async ({
    skip,
  }) => {
    using dir = tempDir();
    const why = mountTmpfs(dir.path, '6m');
    if (why !== undefined) {
      skip(why);
      return;
    }
    let registry: RegistryProcess | undefined;
    try {
      const dataDir = join(dir.path, 'data');
      mkdirSync(dataDir);
      const filler = join(dir.path, 'filler');
      writeFileSync(filler, Buffer.alloc(FILLER_BYTES, 1));
      const args = ['--data-dir', dataDir];
      registry = await spawnRegistry(args);
      const url = registry.url;
      const acked = new Map<string, string>();
      const refusals: { status: number; body: unknown }[] = [];
      let n = 0;
      // Fill it: registrations until several in a row are refused.
      while (refusals.length < 5 && n < 5_000) {
        n += 1;
        const id = `i${String(n)}`;
        const answer = await call(`${url}/v1/services/disk/instances/${id}`, 'PUT', {
          host: '127.0.0.1',
          port: 9_000,
          metadata: bulk(n),
        });
        if (answer.status === 201) acked.set(`disk/${id}`, String(n));
        else refusals.push(answer);
      }
      expect(acked.size).toBeGreaterThan(10);
      // Other kinds of write on a full disk answer the same.
      const [firstKey] = acked.keys();
      const firstId = (firstKey ?? '').split('/')[1] ?? '';
      refusals.push(await call(`${url}/v1/services/disk/instances/${firstId}/status`, 'PUT', { status: 'DOWN' }));
      refusals.push(await call(`${url}/v1/services/disk/instances/${firstId}`, 'DELETE'));
      for (const refusal of refusals) {
        expect(refusal.status).toBe(503);
        expect(refusal.body).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(FULL) as unknown });
      }
      // Still serving, and saying what is wrong.
      const health = await call(`${url}/health`, 'GET');
      expect(health.status).toBe(503);
      expect((health.body as HealthAnswer).store.error).toMatch(FULL);
      const expectAllServed = async (at: string): Promise<void> => {
        const served = await readServed(at);
        expect(served.size).toBe(acked.size);
        for (const [key, version] of acked) expect(served.get(key)?.version, key).toBe(version);
      };
      await expectAllServed(url);

      // A restart on the still-full disk serves every acknowledged record.
      registry.child.kill('SIGKILL');
      await registry.exited;
      registry = await spawnRegistry(args);
      await expectAllServed(registry.url);

      // Space freed: writes succeed again on the same running process.
      rmSync(filler);
      const again = await call(`${registry.url}/v1/services/disk/instances/after`, 'PUT', { host: 'h', port: 1 });
      expect(again.status).toBe(201);
      expect((again.body as Instance).id).toBe('after');
      const deregistered = await call(`${registry.url}/v1/services/disk/instances/${firstId}`, 'DELETE');
      expect(deregistered.status).toBe(200);
      acked.delete(firstKey ?? '');
      acked.set('disk/after', '');
      await expectAllServed(registry.url);
      expect((await call(`${registry.url}/health`, 'GET')).status).toBe(200);
      record('full-disk', {
        filesystem: 'tmpfs 6 MiB',
        acknowledgedBeforeFull: acked.size - 1,
        refused: refusals.length,
        refusedWith: 'UNAVAILABLE (503): the disk holding … is full',
        lost: 0,
      });
    } finally {
      await registry?.[Symbol.asyncDispose]();
      try {
        execFileSync('umount', [dir.path], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', dir.path], { stdio: 'pipe' });
      }
    }
  }, 120_000);
});
