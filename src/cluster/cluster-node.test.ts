import { afterEach, describe, expect, it } from 'vitest';
import { sharedEtcdEndpoints, startEtcdProxy, type EtcdProxy } from '../../test/fixtures/etcd.js';
import type { Renewal } from '../core/index.js';
import { connectEtcd, type EtcdConnection } from '../store/etcd/index.js';
import type { SubscriberProgress } from '../subscribers/index.js';
import { createClusterNode, type ClusterNode, type ClusterNodeOptions } from './cluster-node.js';

const run = `${String(process.pid)}-${String(Date.now())}`;
let prefixes = 0;
const freshPrefix = (): string => `/switchboard-test/${run}/cluster-${String(++prefixes)}`;

/** Waits for `predicate` to hold, polling; the test's own timeout bounds it. */
async function until(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('cluster node', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  const connect = (endpoint: string): EtcdConnection => {
    const connection = connectEtcd({ endpoints: [endpoint], dialTimeoutMs: 1_000 });
    cleanup.push(() => connection.close());
    return connection;
  };

  /**
   * Nodes on one prefix, each on a connection of its own (as registry processes would be), through a proxy that
   * the test can cut to take etcd away from that node.
   */
  async function cluster(
    count = 3,
    extra: (i: number) => Partial<ClusterNodeOptions> = () => ({}),
  ): Promise<{
    prefix: string;
    nodes: ClusterNode[];
    proxies: EtcdProxy[];
    join: (i: number) => Promise<ClusterNode>;
  }> {
    const prefix = freshPrefix();
    const proxies: EtcdProxy[] = [];
    const nodes: ClusterNode[] = [];
    const join = async (i: number): Promise<ClusterNode> => {
      const proxy = await startEtcdProxy(sharedEtcdEndpoints()[0] ?? '');
      cleanup.push(() => proxy.close());
      const connection = connect(proxy.url);
      const node = await createClusterNode(connection, {
        prefix,
        name: `node-${String(i)}`,
        advertiseUrl: `http://127.0.0.1:${String(9000 + i)}`,
        leaseTtlMs: 2_000,
        reportIntervalMs: 50,
        ...extra(i),
      });
      cleanup.push(() => node.close());
      proxies.push(proxy);
      nodes.push(node);
      return node;
    };
    for (let i = 0; i < count; i++) await join(i);
    return { prefix, nodes, proxies, join };
  }

  const leaders = (nodes: ClusterNode[]): string[] => nodes.filter((n) => n.leading()).map((n) => n.name);

  it('elects exactly one leader, which every node sees, and another once the leader closes', async () => {
    const { nodes } = await cluster();
    await until(() => leaders(nodes).length === 1);
    const [first] = leaders(nodes);
    await until(() => nodes.every((n) => n.view().leader === first));
    expect(leaders(nodes)).toEqual([first]);

    const leader = nodes.find((n) => n.name === first) as ClusterNode;
    const rest = nodes.filter((n) => n !== leader);
    const changes: boolean[] = [];
    leader.onLeadership((leading) => changes.push(leading));
    await leader.close();
    expect(changes).toEqual([false]);
    expect(leader.leading()).toBe(false);
    await until(() => leaders(rest).length === 1);
    const [second] = leaders(rest);
    expect(second).not.toBe(first);
    await until(() => rest.every((n) => n.view().leader === second));
    expect(rest[0]?.view().nodes.map((n) => n.name)).not.toContain(first);
  });

  it('steps a leader that lost etcd down before another node takes over', async () => {
    const { nodes, proxies } = await cluster();
    await until(() => leaders(nodes).length === 1);
    const index = nodes.findIndex((n) => n.leading());
    const leader = nodes[index] as ClusterNode;
    const events: string[] = [];
    for (const node of nodes) node.onLeadership((leading) => events.push(`${node.name} ${String(leading)}`));

    // The leader's process loses etcd: its keepalives stop, and its lease runs out at etcd.
    proxies[index]?.cut();
    const rest = nodes.filter((n) => n !== leader);
    await until(() => leaders(rest).length === 1);
    expect(leader.leading()).toBe(false);
    const [next] = leaders(rest);
    expect(events.indexOf(`${leader.name} false`)).toBeGreaterThanOrEqual(0);
    expect(events.indexOf(`${leader.name} false`)).toBeLessThan(events.indexOf(`${String(next)} true`));
  });

  it("delivers a node's renewals to every other node and not back to it", async () => {
    const { nodes } = await cluster();
    const received = nodes.map(() => [] as { renewals: readonly Renewal[]; from: string }[]);
    nodes.forEach((node, i) => node.onRenewals((renewals, from) => received[i]?.push({ renewals, from })));
    const batch: Renewal[] = Array.from({ length: 40 }, (_, i) => ({
      service: `svc-${String(i % 3)}`,
      id: `id-${String(i)}`,
      ageMs: i * 10,
    }));
    nodes[0]?.publishRenewals(batch);
    const total = (i: number): number => received[i]?.reduce((sum, r) => sum + r.renewals.length, 0) ?? 0;
    await until(() => total(1) === batch.length && total(2) === batch.length);
    for (const i of [1, 2]) {
      expect(received[i]?.every((r) => r.from === 'node-0')).toBe(true);
      const got = received[i]?.flatMap((r) => r.renewals) ?? [];
      expect(got.sort((a, b) => a.ageMs - b.ageMs)).toEqual(batch);
    }
    // Node 1 publishes too, so node 0 has certainly had the time to see its own batch, had it been sent back.
    nodes[1]?.publishRenewals([{ service: 'web', id: 'w1', ageMs: 5 }]);
    await until(() => total(0) === 1);
    expect(received[0]).toEqual([{ renewals: [{ service: 'web', id: 'w1', ageMs: 5 }], from: 'node-1' }]);
  });

  it('splits a batch too large for one etcd request, and every renewal arrives', async () => {
    const { nodes } = await cluster(2);
    let count = 0;
    nodes[1]?.onRenewals((renewals) => (count += renewals.length));
    // About 3 MB of JSON: more than one value and more than one request may carry.
    const batch: Renewal[] = Array.from({ length: 20_000 }, (_, i) => ({
      service: 'svc',
      id: `instance-${String(i)}-${'x'.repeat(120)}`,
      ageMs: 1,
    }));
    nodes[0]?.publishRenewals(batch);
    await until(() => count === batch.length);
  });

  it('lists every node with the index it applied and how far behind the furthest it is', async () => {
    const { nodes } = await cluster();
    nodes[0]?.reportApplied(10);
    nodes[1]?.reportApplied(7);
    const seen = (): string => JSON.stringify(nodes[2]?.view().nodes.map((n) => [n.name, n.applied, n.lag, n.url]));
    await until(
      () =>
        seen() ===
        JSON.stringify([
          ['node-0', 10, 0, 'http://127.0.0.1:9000'],
          ['node-1', 7, 3, 'http://127.0.0.1:9001'],
          ['node-2', 0, 10, 'http://127.0.0.1:9002'],
        ]),
    );
    const view = nodes[2]?.view();
    expect(view?.self).toBe('node-2');
    expect(view?.nodes.filter((n) => n.leader).map((n) => n.name)).toEqual([view?.leader]);
    for (const node of view?.nodes ?? []) expect(Number.isNaN(Date.parse(node.lastSeen))).toBe(false);
  });

  /** A stand-in for a node's SubscriberTable: the test sets what it holds and bumps its version. */
  function subscriberSource(): { version: number; held: SubscriberProgress[]; progress: () => SubscriberProgress[] } {
    const source = { version: 0, held: [] as SubscriberProgress[], progress: () => source.held };
    return source;
  }

  const consumer = (i: number, applied: number): SubscriberProgress => ({
    id: `c-${String(i)}`,
    name: `consumer ${String(i)}`,
    watches: 'web',
    transport: 'events',
    connected: true,
    applied,
    agoMs: 0,
  });

  it("delivers a node's subscribers whole to the other nodes, rewriting only shards that changed, until its lease ends", async () => {
    const source = subscriberSource();
    const { prefix, nodes, proxies, join } = await cluster(2, (i) =>
      i === 0 ? { subscribers: { source, publishIntervalMs: 20 } } : {},
    );
    const seen = new Map<string, readonly SubscriberProgress[]>();
    nodes[1]?.onSubscribers((progress, from) => seen.set(from, progress));
    nodes[0]?.onSubscribers((progress, from) => seen.set(`back to ${from}`, progress));
    const applied = (): string =>
      JSON.stringify(
        [...(seen.get('node-0') ?? [])].sort((a, b) => (a.id < b.id ? -1 : 1)).map((p) => [p.id, p.applied]),
      );
    const expected = (held: SubscriberProgress[]): string =>
      JSON.stringify([...held].sort((a, b) => (a.id < b.id ? -1 : 1)).map((p) => [p.id, p.applied]));

    source.held = Array.from({ length: 300 }, (_, i) => consumer(i, 1));
    source.version += 1;
    await until(() => applied() === expected(source.held));

    // What is on etcd: one key per shard, and their revisions.
    const reader = connect(sharedEtcdEndpoints()[0] ?? '');
    const revisions = async (): Promise<Map<string, string>> => {
      const res = await reader.client.getAll().prefix(`${prefix}/cluster/subscribers/node-0/`).exec();
      return new Map(res.kvs.map((kv) => [kv.key.toString(), kv.mod_revision]));
    };
    const before = await revisions();
    expect(before.size).toBeGreaterThan(10);

    // One subscriber progressed: only its shard is written again.
    source.version += 1;
    source.held = source.held.map((p) => (p.id === 'c-7' ? consumer(7, 2) : p));
    source.version += 1;
    await until(() => applied() === expected(source.held));
    const after = await revisions();
    const rewritten = [...after].filter(([key, revision]) => before.get(key) !== revision);
    expect(rewritten).toHaveLength(1);

    // Fewer subscribers: emptied shards are deleted, and a node joining now learns what is published at once.
    source.held = source.held.slice(0, 3);
    source.version += 1;
    await until(() => applied() === expected(source.held));
    expect((await revisions()).size).toBeLessThanOrEqual(3);
    const late = await join(2);
    const lateSeen: string[] = [];
    late.onSubscribers((progress, from) => lateSeen.push(`${from}:${String(progress.length)}`));
    expect(lateSeen).toEqual(['node-0:3']);
    expect(seen.has('back to node-0')).toBe(false);

    // The node loses etcd: once its lease expires, the others learn it has none.
    proxies[0]?.cut();
    await until(() => seen.get('node-0')?.length === 0);
  });
});
