/**
 * Cluster mode (issue #12): three registry nodes, real processes, on a real three-member etcd cluster. Every test
 * leaves the cluster as it found it (what it kills, it restarts) and uses services of its own.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/sdk/index.js';
import type { WatchEvent } from '../../src/sdk/index.js';
import type { ClusterView, Instance } from '../../src/wire/index.js';
import { startRegistryCluster } from '../fixtures/cluster.js';
import type { RegistryCluster } from '../fixtures/cluster.js';
import { startEtcd } from '../fixtures/etcd.js';
import { xmlRpcCall } from '../fixtures/xmlrpc.js';
import type { EtcdCluster } from '../fixtures/etcd.js';

let etcd: EtcdCluster;
let cluster: RegistryCluster;

beforeAll(async () => {
  etcd = await startEtcd({ members: 3 });
  cluster = await startRegistryCluster({ endpoints: etcd.endpoints, nodes: 3 });
}, 90_000);

afterAll(async () => {
  // After a failed start, only what started is stopped (and the start's own error is the one reported).
  await (cluster as RegistryCluster | undefined)?.[Symbol.asyncDispose]();
  await (etcd as EtcdCluster | undefined)?.close();
}, 30_000);

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` at once; resolves when all settled. */
async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await task(i).catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const ANY = { status: 'any', health: 'any' } as const;

/** The ids of `service` on the node at `url`, every status and health. */
async function idsOn(url: string, service: string): Promise<Set<string>> {
  const answer = await new RegistryClient({ url }).getService(service, ANY);
  return new Set(answer.instances.map((i) => i.id));
}

async function clusterView(url: string): Promise<ClusterView> {
  return (await (await fetch(`${url}/v1/cluster`)).json()) as ClusterView;
}

describe('cluster mode', () => {
  it('lists every node, one leading, each having applied the same index', async () => {
    await new RegistryClient({ url: cluster.urls()[0] as string }).register({
      service: 'c-view',
      id: 'v1',
      host: '10.0.0.1',
      port: 80,
    });
    const view = await until('every node reports the write', async () => {
      const seen = await clusterView(cluster.urls()[1] as string);
      const applied = new Set(seen.nodes.map((n) => n.applied));
      return seen.nodes.length === 3 && applied.size === 1 ? seen : undefined;
    });
    expect(view.nodes.map((n) => n.name).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(view.nodes.filter((n) => n.leader)).toHaveLength(1);
    expect(view.leader).toBe(view.nodes.find((n) => n.leader)?.name);
    expect(view.nodes.every((n) => n.lag === 0 && n.url.startsWith('http://127.0.0.1:'))).toBe(true);
  });

  it('reads, blocks on and streams on the other nodes a write made on one', async () => {
    const [a, b, c] = cluster.nodes.map((n) => new RegistryClient({ url: n.url }));
    if (!a || !b || !c) throw new Error('three nodes');
    const { index } = await b.getService('c-rw', ANY);
    const blocked = b.getService('c-rw', { ...ANY, index, wait: '10s' });
    const stop = new AbortController();
    const streamed: WatchEvent[] = [];
    const streaming = (async () => {
      for await (const event of c.watch('c-rw', { signal: stop.signal })) {
        streamed.push(event);
        if (event.type === 'registered') stop.abort();
      }
    })();
    await until('the stream is open', () => (streamed.length > 0 ? true : undefined));
    const written = await a.register({ service: 'c-rw', id: 'w1', host: '10.0.0.2', port: 8080, tags: ['x'] });

    const woken = await blocked;
    expect(woken.instances.map((i) => i.id)).toEqual(['w1']);
    expect(woken.index).toBeGreaterThanOrEqual(written.modifyIndex);
    await streaming;
    const event = streamed.find((e) => e.type === 'registered');
    expect(event && 'instance' in event ? event.instance.modifyIndex : undefined).toBe(written.modifyIndex);
    // The index is etcd's revision: the same instance has the same indexes on every node.
    const read = await c.getInstance('c-rw', 'w1');
    expect({ create: read.createIndex, modify: read.modifyIndex }).toEqual({
      create: written.createIndex,
      modify: written.modifyIndex,
    });
  });

  it("keeps exclusive registration and MicroReg's one instance per address across nodes", async () => {
    for (let round = 0; round < 5; round++) {
      const answers = await Promise.all(
        cluster.urls().map((url) =>
          fetch(`${url}/v1/services/c-unique/instances/x${round}?exclusive=true`, {
            method: 'PUT',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ host: '10.0.7.1', port: 1 + round }),
          }).then((r) => r.status),
        ),
      );
      expect(answers.sort()).toEqual([201, 409, 409]);
      const ids = await Promise.all(
        cluster.urls().map((url) => xmlRpcCall(url, 'register', ['c-microreg', '10.0.7.2', 100 + round])),
      );
      expect(ids.filter((id) => id !== false)).toHaveLength(1);
    }
    for (const url of cluster.urls()) expect(await idsOn(url, 'c-microreg')).toHaveProperty('size', 5);
  });

  it('keeps every acknowledged registration of 2,000 spread over the nodes while an etcd member is SIGKILLed', async () => {
    const urls = cluster.urls();
    const clients = urls.map((_, i) => new RegistryClient({ urls: [...urls.slice(i), ...urls.slice(0, i)] }));
    const acknowledged: Instance[] = [];
    let killed = false;
    await pool(2_000, 40, async (i) => {
      if (i === 500 && !killed) {
        killed = true;
        await etcd.members[2]?.kill('SIGKILL');
      }
      const client = clients[i % clients.length] as RegistryClient;
      acknowledged.push(await client.register({ service: 'c-load', id: `i${i}`, host: '10.0.1.1', port: 1 + i }));
    });
    expect(killed).toBe(true);
    // A majority of etcd stays up: nearly everything is acknowledged (a write in flight on the killed member's
    // connection may fail; then its client was told so).
    expect(acknowledged.length).toBeGreaterThan(1_900);
    await etcd.members[2]?.restart();
    const top = Math.max(...acknowledged.map((i) => i.modifyIndex));
    for (const url of cluster.urls()) {
      await until(`${url} applies index ${top}`, async () =>
        (await clusterView(url)).nodes.length > 0 &&
        (await new RegistryClient({ url }).getService('c-load', ANY)).index >= top
          ? true
          : undefined,
      );
      const ids = await idsOn(url, 'c-load');
      const missing = acknowledged.filter((i) => !ids.has(i.id)).map((i) => i.id);
      expect(missing, url).toEqual([]);
    }
  }, 120_000);

  it('fails clients over when a registry node is SIGKILLed under load, losing nothing acknowledged, and the restarted node rebuilds its view', async () => {
    const victim = cluster.nodes[2];
    if (!victim) throw new Error('three nodes');
    const urls = [victim.url, ...cluster.urls().filter((u) => u !== victim.url)];
    const client = new RegistryClient({ urls, timeoutMs: 5_000 });
    const acknowledged: string[] = [];
    await pool(600, 20, async (i) => {
      if (i === 200) await victim.kill();
      await client.register({ service: 'c-failover', id: `f${i}`, host: '10.0.2.1', port: 1 + i });
      acknowledged.push(`f${i}`);
    });
    expect(acknowledged.length).toBeGreaterThan(550);
    const missingOn = async (url: string): Promise<string[]> => {
      const ids = await idsOn(url, 'c-failover');
      return acknowledged.filter((id) => !ids.has(id));
    };
    for (const url of cluster.urls()) {
      // Other nodes apply an acknowledged write a moment after the node that took it.
      await until(`${url} has every acknowledged one`, async () =>
        (await missingOn(url)).length === 0 ? true : undefined,
      ).catch(() => undefined);
      expect(await missingOn(url), url).toEqual([]);
    }
    await victim.restart();
    expect(await missingOn(victim.url)).toEqual([]);
  }, 60_000);

  it('hands leadership to another node within seconds when the leader is SIGKILLed, expiring no instance that kept heartbeating', async () => {
    const leader = await cluster.leader();
    const followers = cluster.nodes.filter((n) => n !== leader);
    // Each instance heartbeats to one follower: the leader only learns of it through the shared renewals.
    const clients = followers.map((n) => new RegistryClient({ urls: [n.url] }));
    const ids = Array.from({ length: 20 }, (_, i) => `h${i}`);
    for (const [i, id] of ids.entries()) {
      const client = clients[i % clients.length] as RegistryClient;
      await client.register({ service: 'c-lead', id, host: '10.0.3.1', port: 1 + i, ttl: '3s', deregisterAfter: '4s' });
    }
    await (clients[0] as RegistryClient).register({
      service: 'c-lead',
      id: 'silent',
      host: '10.0.3.2',
      port: 1,
      ttl: '2s',
      deregisterAfter: '3s',
    });
    const beating = new AbortController();
    const heartbeats = (async () => {
      while (!beating.signal.aborted) {
        await Promise.all(ids.map((id, i) => (clients[i % clients.length] as RegistryClient).heartbeat('c-lead', id)));
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await leader.kill();
    const killedAt = Date.now();
    const next = await cluster.leader();
    expect(next).not.toBe(leader);
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    // Longer than every ttl and deregisterAfter: kept instances were kept by heartbeats alone.
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    beating.abort();
    await heartbeats;
    for (const node of followers) {
      const answer = await new RegistryClient({ url: node.url }).getService('c-lead', ANY);
      const passing = answer.instances.filter((i) => i.health === 'passing').map((i) => i.id);
      expect(passing.sort(), node.name).toEqual([...ids].sort());
      // The instance that never heartbeated was removed, by whichever node led then.
      expect(
        answer.instances.some((i) => i.id === 'silent'),
        node.name,
      ).toBe(false);
    }
    await leader.restart();
  }, 60_000);

  it('lets a watcher follow across a node failover with no gap and no duplicate', async () => {
    const [first, second] = cluster.nodes;
    if (!first || !second) throw new Error('nodes');
    const watcher = new RegistryClient({ urls: [first.url, second.url], timeoutMs: 5_000 });
    const writer = new RegistryClient({ urls: [second.url] });
    const stop = new AbortController();
    const events: WatchEvent[] = [];
    const watching = (async () => {
      for await (const event of watcher.watch('c-follow', { signal: stop.signal })) events.push(event);
    })();
    await until('the stream is open', () => (events.length > 0 ? true : undefined));
    for (let i = 0; i < 200; i++) {
      if (i === 80) await first.kill();
      await writer.register({ service: 'c-follow', id: `w${i}`, host: '10.0.4.1', port: 1 + i });
    }
    await until('every change arrives', () =>
      events.filter((e) => e.type === 'registered').length >= 200 ? true : undefined,
    );
    stop.abort();
    await watching;
    const changes = events.filter((e) => e.type !== 'snapshot');
    const indexes = changes.map((e) => e.index);
    // Strictly increasing: no repeat; one registered event per instance: no gap.
    expect(indexes.every((index, i) => i === 0 || index > (indexes[i - 1] as number))).toBe(true);
    expect(events.filter((e) => e.type === 'snapshot')).toHaveLength(1);
    const registered = changes
      .filter((e) => e.type === 'registered')
      .map((e) => ('instance' in e ? e.instance.id : ''));
    expect(new Set(registered).size).toBe(200);
    await first.restart();
  }, 60_000);

  it('keeps serving and writing through an etcd compaction, and a node restarted after it rebuilds its view', async () => {
    const client = new RegistryClient({ urls: cluster.urls() });
    for (let i = 0; i < 20; i++)
      await client.register({ service: 'c-compact', id: `k${i}`, host: '10.0.5.1', port: 1 + i });
    await client.deregister('c-compact', 'k0');
    const revision = (await client.getService('c-compact', ANY)).index;
    execFileSync('etcdctl', ['--endpoints', etcd.endpoints.join(','), 'compact', String(revision)], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    const after = await client.register({ service: 'c-compact', id: 'k20', host: '10.0.5.1', port: 21 });
    const node = cluster.nodes[1];
    if (!node) throw new Error('nodes');
    await node.kill();
    await node.restart();
    const expected = Array.from({ length: 20 }, (_, i) => `k${i + 1}`).sort();
    for (const url of cluster.urls()) {
      await until(`${url} has the write after the compaction`, async () =>
        (await idsOn(url, 'c-compact')).has('k20') ? true : undefined,
      );
      expect([...(await idsOn(url, 'c-compact'))].sort(), url).toEqual(expected);
    }
    expect(after.modifyIndex).toBeGreaterThan(revision);
  }, 60_000);
});

describe('a node cut off from etcd', () => {
  it('refuses writes with 503 UNAVAILABLE, serves reads marked stale, and catches up by itself when etcd returns', async () => {
    const lone = await startEtcd({ members: 1 });
    try {
      await using nodes = await startRegistryCluster({ endpoints: lone.endpoints, nodes: 1 });
      const url = nodes.urls()[0] as string;
      const client = new RegistryClient({ url, timeoutMs: 15_000 });
      await client.register({ service: 'c-cut', id: 'a', host: '10.0.6.1', port: 1 });
      await lone.members[0]?.kill('SIGKILL');

      const write = await fetch(`${url}/v1/services/c-cut/instances/b`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ host: '10.0.6.1', port: 2 }),
      });
      expect(write.status).toBe(503);
      const refusal = (await write.json()) as { code: string; message: string };
      expect(refusal.code).toBe('UNAVAILABLE');
      expect(refusal.message).toMatch(/etcd/);
      const read = await until('reads say they are stale', async () => {
        const answer = await fetch(`${url}/v1/services/c-cut?status=any&health=any`);
        return answer.headers.get('x-switchboard-stale') === 'true' ? answer : undefined;
      });
      expect(((await read.json()) as { instances: Instance[] }).instances.map((i) => i.id)).toEqual(['a']);
      const health = await fetch(`${url}/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ stale: true, store: { kind: 'etcd', ok: false } });

      await lone.members[0]?.restart();
      await until('writes are taken again', async () => {
        try {
          await client.register({ service: 'c-cut', id: 'b', host: '10.0.6.1', port: 2 });
          return true;
        } catch {
          return undefined;
        }
      });
      const fresh = await fetch(`${url}/v1/services/c-cut?status=any&health=any`);
      expect(fresh.headers.get('x-switchboard-stale')).toBeNull();
      expect(((await fresh.json()) as { instances: Instance[] }).instances.map((i) => i.id).sort()).toEqual(['a', 'b']);
    } finally {
      await lone.close();
    }
  }, 60_000);
});
