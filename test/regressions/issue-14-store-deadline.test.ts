/**
 * Issue #14, reproduction 7: a stalled disk went unnoticed (writes had no deadline, `/health` said ok).
 *
 * The stall is real: the data directory lives on a loop-mounted ext4 image frozen with `fsfreeze`, so the store's
 * worker blocks in the kernel exactly as on a dead disk. That needs root and loop devices; without them the test is
 * skipped (and says why).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { startTestServer } from '../fixtures/server.js';

const run = (command: string, args: string[]): void => {
  execFileSync(command, args, { stdio: 'pipe', timeout: 30_000 });
};

/** A small ext4 file system on a loop device, or why there cannot be one here. */
function mountScratch(): { place: string; mount: string } | string {
  if (process.getuid?.() !== 0) return 'needs root to mount a loop device';
  const place = mkdtempSync(join(tmpdir(), 'switchboard-freeze-'));
  const image = join(place, 'disk.img');
  const mount = join(place, 'mnt');
  try {
    mkdirSync(mount);
    run('truncate', ['-s', '32M', image]);
    run('mkfs.ext4', ['-q', '-F', image]);
    run('mount', ['-o', 'loop', image, mount]);
    return { place, mount };
  } catch (err) {
    rmSync(place, { recursive: true, force: true });
    return `cannot loop-mount an ext4 image here: ${(err as Error).message}`;
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const stop = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > stop) throw new Error(`timed out waiting until ${what}`);
    await new Promise((wake) => setTimeout(wake, 50));
  }
}

describe('issue 14: a stalled disk', () => {
  let scratch: { place: string; mount: string } | string = 'not set up';
  beforeAll(() => {
    scratch = mountScratch();
  });
  afterAll(() => {
    if (typeof scratch === 'string') return;
    try {
      run('fsfreeze', ['-u', scratch.mount]);
    } catch {
      // Not frozen: the test thawed it.
    }
    run('umount', [scratch.mount]);
    rmSync(scratch.place, { recursive: true, force: true });
  });

  it('answers writes past the deadline with 503 STORE_UNAVAILABLE, says degraded, and recovers when the disk does', async (context) => {
    if (typeof scratch === 'string') {
      context.skip(scratch);
      return;
    }
    const { mount } = scratch;
    const dataDir = join(mount, 'data');
    const served: string[] = [];
    {
      await using server = await startTestServer({ store: { kind: 'sqlite', dataDir, writeTimeoutMs: 1_000 } });
      const put = (id: string): Promise<Response> =>
        fetch(`${server.url}/v1/services/web/instances/${id}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ host: '10.0.14.7', port: 8000 }),
        });
      const health = async (): Promise<{ status: number; body: Record<string, unknown> }> => {
        const answer = await fetch(`${server.url}/health`);
        return { status: answer.status, body: (await answer.json()) as Record<string, unknown> };
      };

      expect((await put('before')).status).toBeLessThan(300);
      expect(await health()).toMatchObject({ status: 200, body: { status: 'ok', store: { ok: true } } });

      run('fsfreeze', ['-f', mount]);
      try {
        const started = Date.now();
        const stalled = await put('stalled');
        // Generous: the deadline is 1 s; what matters is that the answer comes at all.
        expect(Date.now() - started).toBeLessThan(15_000);
        expect(stalled.status).toBe(503);
        expect(await stalled.json()).toMatchObject({ code: 'STORE_UNAVAILABLE' });

        const degraded = await health();
        expect(degraded.status).toBe(503);
        expect(degraded.body).toMatchObject({
          status: 'degraded',
          store: { kind: 'sqlite', ok: false, degraded: true },
          instances: expect.any(Number) as unknown,
        });
        // A write queued behind the stalled one is refused the same way, and reads go on.
        expect((await put('queued')).status).toBe(503);
        expect((await fetch(`${server.url}/v1/services/web/instances/before`)).status).toBe(200);
      } finally {
        run('fsfreeze', ['-u', mount]);
      }

      // Once the disk wakes, writes are taken again and /health says ok.
      await until('a write succeeds', async () => ((await put('after')).status < 300 ? true : undefined));
      await until('/health is ok', async () => {
        const answer = await health();
        return answer.status === 200 && answer.body['status'] === 'ok' ? true : undefined;
      });

      const list = (await (await fetch(`${server.url}/v1/instances?limit=100`)).json()) as {
        instances: { service: string; id: string }[];
      };
      served.push(...list.instances.map((i) => i.id).sort());
      expect(served).toContain('before');
      expect(served).toContain('after');
      // Never sent (it was withdrawn at its deadline while queued): it cannot have committed.
      expect(served).not.toContain('queued');
    }

    // What was served is what the file holds: the stalled write, if it committed late, reached both.
    const reopened = await openSqliteStore({ dataDir });
    try {
      expect((await reopened.load()).instances.map((r) => r.id).sort()).toEqual(served);
    } finally {
      await reopened.close();
    }
  });
});
