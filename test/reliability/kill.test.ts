/**
 * kill -9 under load, with a ledger (issue 21): clients change their instances without pause while the registry is
 * SIGKILLed at random moments and restarted; after each restart the served state must equal the ledger's (nothing
 * acknowledged lost, nothing acknowledged deleted back). In cluster mode registry nodes and etcd members die in turn,
 * one at a time, so etcd keeps its quorum.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startRegistryCluster } from '../fixtures/cluster.js';
import { startEtcd } from '../fixtures/etcd.js';
import { spawnRegistry } from '../fixtures/process.js';
import type { RegistryProcess } from '../fixtures/process.js';
import { tempDir } from '../fixtures/server.js';
import { closeLedgerClients, Ledger, readServed, Workload } from './ledger.js';
import type { Held } from './ledger.js';
import { PROFILE, record, timeoutFor } from './profile.js';

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Somewhere between half and one and a half times `ms`: kills land at random points of the load. */
const around = (ms: number): number => ms * (0.5 + Math.random());

afterAll(closeLedgerClients);

/**
 * Starts the registry again; a start that does not listen within the fixture's 10 s is tried again (up to three
 * times in all) and counted: on a machine this loaded a cold start of the CLI alone can take that long. A registry
 * that cannot start on its data at all still fails the test.
 */
async function restart<T>(start: () => Promise<T>, slowStarts: { count: number }): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt === 3 || !(err as Error).message.includes('was not ready within')) throw err;
      slowStarts.count += 1;
    }
  }
}

/** Reads `url` until what it serves satisfies the ledger or `limitMs` passes; answers the last violations. */
async function check(
  ledger: Ledger,
  url: string,
  limitMs: number,
): Promise<{ violations: string[]; served: Map<string, Held> }> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    let served = new Map<string, Held>();
    let violations: string[];
    try {
      served = await readServed(url);
      violations = ledger.violations(served);
    } catch (err) {
      violations = [`cannot read ${url}: ${(err as Error).message}`];
    }
    if (violations.length === 0 || Date.now() > deadline) return { violations, served };
    await pause(100);
  }
}

describe(`kill -9 under load (${PROFILE.name} profile)`, () => {
  it(
    `keeps every acknowledged write of a single registry through ${String(PROFILE.kills)} SIGKILLs`,
    async () => {
      using dir = tempDir();
      const args = ['--data-dir', dir.path];
      let registry: RegistryProcess | undefined = await spawnRegistry(args);
      const ledger = new Ledger();
      const workload = new Workload({
        ledger,
        writers: PROFILE.writers,
        keysPerWriter: 16,
        target: () => registry?.url,
      });
      const started = Date.now();
      const violations: string[] = [];
      const slowStarts = { count: 0 };
      let checks = 0;
      workload.start();
      try {
        for (let kill = 0; kill < PROFILE.kills; kill++) {
          await pause(around(PROFILE.loadBetweenKillsMs));
          const dying: RegistryProcess = registry;
          registry = undefined;
          dying.child.kill('SIGKILL');
          const exit = await dying.exited;
          expect(exit.signal).toBe('SIGKILL');
          registry = await restart(() => spawnRegistry(args), slowStarts);
          // Compare while nothing writes: a single registry serves its own writes at once after a restart.
          await workload.pause();
          const result = await check(ledger, registry.url, 0);
          checks += 1;
          violations.push(...result.violations.map((v) => `after kill ${String(kill + 1)}: ${v}`));
          if (result.violations.length === 0) ledger.settle(result.served);
          workload.resume();
        }
      } finally {
        await workload.stop();
        await registry?.[Symbol.asyncDispose]();
      }
      record('kill-single', {
        kills: PROFILE.kills,
        checks,
        keys: ledger.size,
        ...ledger.counts,
        lost: violations.length,
        slowStarts: slowStarts.count,
        failures: workload.failures.length,
        seconds: (Date.now() - started) / 1000,
      });
      expect(workload.failures).toEqual([]);
      expect(violations).toEqual([]);
      // The load really ran, and something was in flight at some of the kills.
      expect(ledger.counts.acknowledged).toBeGreaterThan(PROFILE.kills * PROFILE.writers);
    },
    timeoutFor(PROFILE.kills * (PROFILE.loadBetweenKillsMs * 1.5 + 3_000)),
  );

  it(
    `keeps every acknowledged write of a cluster through ${String(PROFILE.clusterKills)} SIGKILLs of registry nodes and etcd members`,
    async () => {
      const etcd = await startEtcd({ members: 3 });
      const ledger = new Ledger();
      const started = Date.now();
      const violations: string[] = [];
      let failures: string[] = [];
      const slowStarts = { count: 0 };
      let checks = 0;
      try {
        await using cluster = await startRegistryCluster({
          endpoints: etcd.endpoints,
          nodes: 2,
        });
        let turn = 0;
        const workload = new Workload({
          ledger,
          writers: PROFILE.writers,
          keysPerWriter: 16,
          // Each write goes to a running node, as a client listing every node fails over.
          target: () => {
            const urls = cluster.urls();
            turn += 1;
            return urls[turn % Math.max(1, urls.length)];
          },
        });
        workload.start();
        try {
          for (let kill = 0; kill < PROFILE.clusterKills; kill++) {
            await pause(around(PROFILE.loadBetweenKillsMs));
            // Registry node, etcd member, the other node, the next member…: one down at a time, quorum kept.
            if (kill % 2 === 0) {
              const node = cluster.nodes[(kill / 2) % cluster.nodes.length];
              if (!node) throw new Error('no node');
              await node.kill();
              await pause(around(PROFILE.loadBetweenKillsMs / 2));
              await restart(() => node.restart(), slowStarts);
            } else {
              const member = etcd.members[Math.floor(kill / 2) % etcd.members.length];
              if (!member) throw new Error('no member');
              await member.kill('SIGKILL');
              await pause(around(PROFILE.loadBetweenKillsMs / 2));
              await member.restart();
            }
            await workload.pause();
            // Every node must come to serve the ledger's state (the one that did not take a write has it a moment later).
            let settled: Map<string, Held> | undefined;
            for (const url of cluster.urls()) {
              const result = await check(ledger, url, 15_000);
              checks += 1;
              violations.push(...result.violations.map((v) => `after kill ${String(kill + 1)} on ${url}: ${v}`));
              if (result.violations.length === 0) settled = result.served;
            }
            if (settled && violations.length === 0) ledger.settle(settled);
            workload.resume();
          }
        } finally {
          await workload.stop();
          failures = workload.failures;
        }
      } finally {
        await etcd.close();
      }
      record('kill-cluster', {
        kills: PROFILE.clusterKills,
        checks,
        keys: ledger.size,
        ...ledger.counts,
        lost: violations.length,
        slowStarts: slowStarts.count,
        failures: failures.length,
        seconds: (Date.now() - started) / 1000,
      });
      expect(failures).toEqual([]);
      expect(violations).toEqual([]);
      expect(ledger.counts.acknowledged).toBeGreaterThan(PROFILE.clusterKills * PROFILE.writers);
    },
    timeoutFor(PROFILE.clusterKills * (PROFILE.loadBetweenKillsMs * 2.5 + 15_000)),
  );
});
