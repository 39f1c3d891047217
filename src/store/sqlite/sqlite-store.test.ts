import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RegistryError } from '../../errors/index.js';
import type { Store } from '../store.js';
import { describeStoreContract, recordOf } from '../store.contract.js';
import { openSqliteStore } from './sqlite-store.js';

describeStoreContract('sqlite', (place) => openSqliteStore({ dataDir: join(place, 'data') }));

/** The built store, which a child process loads (the test runner's TypeScript loader is not in the child). */
const BUILT_STORE = new URL('../../../dist/store/sqlite/index.js', import.meta.url).href;

describe('sqlite store: one registry per data directory', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  const newDataDir = (): string => {
    const place = mkdtempSync(join(tmpdir(), 'switchboard-lock-'));
    cleanup.push(() => {
      rmSync(place, { recursive: true, force: true });
    });
    return join(place, 'data');
  };
  const open = async (dataDir: string): Promise<Store> => {
    const store = await openSqliteStore({ dataDir });
    cleanup.push(() => store.close());
    return store;
  };

  const expectLocked = async (dataDir: string): Promise<void> => {
    const attempt = openSqliteStore({ dataDir });
    await expect(attempt).rejects.toBeInstanceOf(RegistryError);
    await expect(attempt).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(attempt).rejects.toThrow(/locked by another running registry/);
  };

  it('refuses a second store on a data directory that is open, and opens it once the first closes', async () => {
    const dataDir = newDataDir();
    const first = await open(dataDir);
    expect(await first.write({ op: 'put', record: recordOf('web', 'w1'), ifIndex: 0 })).toMatchObject({
      committed: true,
    });
    await expectLocked(dataDir);
    // The refused attempt must not have disturbed the holder.
    expect(await first.write({ op: 'put', record: recordOf('web', 'w2'), ifIndex: 0 })).toMatchObject({
      committed: true,
    });
    await first.close();
    const second = await open(dataDir);
    expect((await second.load()).instances.map((r) => r.id).sort()).toEqual(['w1', 'w2']);
  });

  it('refuses a data directory held by another process, and takes it over once that process is killed', async () => {
    const dataDir = newDataDir();
    // A script file, not `node -e`: the store's worker thread would inherit `-e` and fail to start.
    const script = join(dataDir, '..', 'hold.mjs');
    writeFileSync(
      script,
      `const { openSqliteStore } = await import(process.argv[2]);
      await openSqliteStore({ dataDir: process.argv[3] });
      process.stdout.write('holding\\n');
      setInterval(() => {}, 60_000);`,
    );
    const child = spawn(process.execPath, [script, BUILT_STORE, dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    cleanup.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        if (output.includes('holding')) resolve();
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      void exited.then(() => {
        reject(new Error(`the child exited before holding the store:\n${output}`));
      });
    });

    await expectLocked(dataDir);
    // The kernel drops the lock of a killed process, so a registry restarted after `kill -9` starts.
    child.kill('SIGKILL');
    await exited;
    const store = await open(dataDir);
    expect((await store.load()).index).toBe(0);
  });
});

describe('sqlite store: file modes (issue #13)', () => {
  it('creates the data directory 0700 and the database 0600, and takes group and other access from an old one', async () => {
    const place = mkdtempSync(join(tmpdir(), 'switchboard-modes-'));
    try {
      const fresh = join(place, 'fresh', 'data');
      const store = await openSqliteStore({ dataDir: fresh });
      await store.close();
      expect(statSync(fresh).mode & 0o777).toBe(0o700);
      expect(statSync(join(fresh, 'registry.db')).mode & 0o777).toBe(0o600);

      const old = join(place, 'old');
      mkdirSync(old, { mode: 0o755 });
      writeFileSync(join(old, 'registry.db'), '');
      chmodSync(join(old, 'registry.db'), 0o644);
      const reopened = await openSqliteStore({ dataDir: old });
      await reopened.close();
      expect(statSync(join(old, 'registry.db')).mode & 0o777).toBe(0o600);
      // A directory the operator made is left as it is.
      expect(statSync(old).mode & 0o777).toBe(0o755);
    } finally {
      rmSync(place, { recursive: true, force: true });
    }
  });
});
