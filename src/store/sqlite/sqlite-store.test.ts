import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { RegistryError } from '../../errors/index.js';
import type { Store } from '../store.js';
import { describeStoreContract, recordOf } from '../store.contract.js';
import type { Logger } from 'pino';
import { killWorkerForTests, openSqliteStore } from './sqlite-store.js';

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

describe('sqlite store: a dead worker is restarted (issue #14)', () => {
  const until = async (what: string, done: () => boolean | Promise<boolean>): Promise<void> => {
    const stop = Date.now() + 20_000;
    while (!(await done())) {
      if (Date.now() > stop) throw new Error(`timed out waiting until ${what}`);
      await new Promise((wake) => setTimeout(wake, 20));
    }
  };

  it('starts a new worker on the same file: acknowledged writes survive, the one in flight is settled truthfully, and the next write succeeds', async () => {
    const place = mkdtempSync(join(tmpdir(), 'switchboard-worker-'));
    const logged: { level: string; message: string }[] = [];
    const logger = {
      error: (_fields: unknown, message: string) => logged.push({ level: 'error', message }),
      warn: (_fields: unknown, message: string) => logged.push({ level: 'warn', message }),
    } as unknown as Logger;
    const dataDir = join(place, 'data');
    try {
      const store = await openSqliteStore({ dataDir, logger });
      const fed = new Map<string, number>();
      store.watch((change) => {
        if (change.record) fed.set(change.id, change.index);
        else fed.delete(change.id);
      });
      const acknowledged = await store.write({ op: 'put', record: recordOf('web', 'acked'), ifIndex: 0 });
      expect(acknowledged).toMatchObject({ committed: true });

      // Kill the worker while a batch is on its way to it: the batch may commit before the thread stops, or not.
      const inFlight = store.write({ op: 'put', record: recordOf('web', 'in-flight'), ifIndex: 0 });
      await new Promise((wake) => setImmediate(wake));
      await killWorkerForTests(store);
      const outcome = await inFlight.then(
        (result) => ({ result }),
        (err: unknown) => ({ err }),
      );
      if ('err' in outcome) {
        expect(outcome.err).toMatchObject({ code: 'STORE_UNAVAILABLE' });
      } else {
        expect(outcome.result).toMatchObject({ committed: true });
      }

      await until('the new worker runs', () => store.health().ok);
      const next = await store.write({ op: 'put', record: recordOf('web', 'next'), ifIndex: 0 });
      expect(next).toMatchObject({ committed: true });
      expect(logged).toContainEqual({ level: 'error', message: expect.stringMatching(/worker stopped/) as unknown });
      expect(logged).toContainEqual({ level: 'warn', message: expect.stringMatching(/restarted/) as unknown });

      // What the feed delivered is what the file holds, the in-flight write included when it committed.
      const loaded = await store.load();
      const stored = new Map(loaded.instances.map((r) => [r.id, r.modifyIndex]));
      expect(stored).toEqual(fed);
      expect(stored.has('acked') && stored.has('next')).toBe(true);
      expect(stored.has('in-flight')).toBe('result' in outcome);

      // A worker killed again and again is restarted each time; the store still takes writes.
      for (const id of ['again-1', 'again-2']) {
        await killWorkerForTests(store);
        expect(await store.write({ op: 'put', record: recordOf('web', id), ifIndex: 0 })).toMatchObject({
          committed: true,
        });
      }
      await store.close();

      const reopened = await openSqliteStore({ dataDir });
      expect((await reopened.load()).instances.map((r) => r.id).sort()).toEqual([...fed.keys()].sort());
      await reopened.close();
    } finally {
      rmSync(place, { recursive: true, force: true });
    }
  });
});

describe('sqlite store: files of earlier versions (issue #20)', () => {
  it('moves instances kept in the WITHOUT ROWID layout into the rowid table, keeping every record and index', async () => {
    const place = mkdtempSync(join(tmpdir(), 'switchboard-layout-'));
    const dataDir = join(place, 'data');
    try {
      const store = await openSqliteStore({ dataDir });
      await store.write({ op: 'put', record: recordOf('web', 'w1'), ifIndex: 0 });
      const w2 = await store.write({ op: 'put', record: recordOf('web', 'w2'), ifIndex: 0 });
      await store.close();
      // Put the file back the way versions before issue #20 laid it out.
      const db = new Database(join(dataDir, 'registry.db'));
      db.exec(`
        CREATE TABLE old_instances (
          service TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,
          create_index INTEGER NOT NULL, modify_index INTEGER NOT NULL, PRIMARY KEY (service, id)
        ) STRICT, WITHOUT ROWID;
        INSERT INTO old_instances SELECT service, id, data, create_index, modify_index FROM instances;
        DROP TABLE instances;
        ALTER TABLE old_instances RENAME TO instances;
      `);
      db.close();

      const reopened = await openSqliteStore({ dataDir });
      const loaded = await reopened.load();
      expect(loaded.instances.map((r) => [r.id, r.modifyIndex]).sort()).toEqual([
        ['w1', 1],
        ['w2', 2],
      ]);
      // Conditional writes still hold against the moved rows.
      expect(await reopened.write({ op: 'put', record: recordOf('web', 'w2'), ifIndex: 1 })).toMatchObject({
        committed: false,
      });
      expect(await reopened.write({ op: 'put', record: recordOf('web', 'w2'), ifIndex: w2.index })).toMatchObject({
        committed: true,
      });
      await reopened.close();
      const check = new Database(join(dataDir, 'registry.db'), { readonly: true });
      const { sql } = check.prepare("SELECT sql FROM sqlite_master WHERE name = 'instances'").get() as { sql: string };
      check.close();
      expect(sql).not.toMatch(/WITHOUT ROWID/i);
    } finally {
      rmSync(place, { recursive: true, force: true });
    }
  });
});
