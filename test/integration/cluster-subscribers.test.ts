/**
 * Subscribers in cluster mode (issue #19): two registry nodes, real processes, on a real three-member etcd. Each node
 * publishes its subscribers' progress through etcd, so a drain on one node waits for the consumers of the other,
 * `GET /v1/subscribers` on any node lists them all, and a dead node's consumers stop counting with its lease.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Discovery, RegistryClient } from '../../src/sdk/index.js';
import type { Subscriber } from '../../src/wire/index.js';
import { startRegistryCluster } from '../fixtures/cluster.js';
import type { ClusterNodeProcess, RegistryCluster } from '../fixtures/cluster.js';
import { startEtcd } from '../fixtures/etcd.js';
import type { EtcdCluster } from '../fixtures/etcd.js';
import { gate, until } from '../fixtures/until.js';

let etcd: EtcdCluster;
let cluster: RegistryCluster;

beforeAll(async () => {
  etcd = await startEtcd({ members: 3 });
  cluster = await startRegistryCluster({ endpoints: etcd.endpoints, nodes: 2 });
}, 90_000);

afterAll(async () => {
  await cluster[Symbol.asyncDispose]();
  await etcd.close();
}, 30_000);

const node = (i: number): ClusterNodeProcess => {
  const found = cluster.nodes[i];
  if (!found) throw new Error(`no node ${String(i)}`);
  return found;
};

/** The subscriber `id` as the node at `url` lists it. */
async function listed(url: string, id: string): Promise<Subscriber | undefined> {
  const { subscribers } = await new RegistryClient({ url }).subscribers();
  return subscribers.find((s) => s.id === id);
}

describe('subscribers in cluster mode', () => {
  it('waits, in a drain on one node, for a slow consumer connected to the other, and lists it with its node', async () => {
    const [a, b] = [node(0), node(1)];
    const onA = new RegistryClient({ url: a.url });
    await onA.register({ service: 'cs-web', id: 'cs-web-1', host: '127.0.0.1', port: 1 });
    await onA.register({ service: 'cs-web', id: 'cs-web-2', host: '127.0.0.1', port: 2 });
    await onA.register({ service: 'cs-web', id: 'cs-web-3', host: '127.0.0.1', port: 3 });
    const slow = gate();
    using onB = new Discovery(new RegistryClient({ url: b.url }), {
      subscriber: { id: 'cs-slow-on-b', name: 'slow on b' },
      beforeApply: () => slow.wait(),
    });
    using local = new Discovery(new RegistryClient({ url: a.url }), { subscriber: { id: 'cs-fast-on-a' } });
    await onB.all('cs-web');
    await local.all('cs-web');

    // A lists B's consumer, with its node, once B has published it.
    const seen = await until('A lists the consumer of B', async () => {
      const s = await listed(a.url, 'cs-slow-on-b');
      return s?.applied !== null && s?.applied !== undefined ? s : undefined;
    });
    expect(seen).toMatchObject({ name: 'slow on b', node: b.name, watches: 'cs-web', transport: 'events' });
    expect(seen).toMatchObject({ connected: true, live: true });
    expect((await listed(a.url, 'cs-fast-on-a'))?.node).toBe(a.name);

    // Held on B: a drain on A with a short wait answers without it, naming it and its node.
    slow.close();
    const short = await onA.drain('cs-web', 'cs-web-1', { wait: '500ms' });
    expect(short.complete).toBe(false);
    expect(short.behind).toEqual([expect.objectContaining({ id: 'cs-slow-on-b', node: b.name })]);
    expect(short.caughtUp.map((s) => s.id)).toEqual(['cs-fast-on-a']);
    expect((await onB.all('cs-web')).map((i) => i.id)).toEqual(['cs-web-1', 'cs-web-2', 'cs-web-3']);

    // A drain that waits long enough answers once B's consumer has applied it, and not before.
    let opened = false;
    let answeredBeforeOpen: boolean | undefined;
    const long = onA.drain('cs-web', 'cs-web-2', { wait: '20s' }).then((answer) => {
      answeredBeforeOpen = !opened;
      return answer;
    });
    // The drain reached the consumer on A: B's published progress is all that is missing.
    await until('the consumer on A applies the drain', async () =>
      (await local.all('cs-web')).length === 1 ? true : undefined,
    );
    await until('A sees the consumer of B behind', async () =>
      ((await listed(a.url, 'cs-slow-on-b'))?.lagChanges ?? 0) >= 2 ? true : undefined,
    );
    expect(answeredBeforeOpen).toBeUndefined();
    opened = true;
    slow.open();
    const answer = await long;
    expect(answeredBeforeOpen).toBe(false);
    expect(answer).toMatchObject({ complete: true, behind: [] });
    expect(answer.caughtUp.map((s) => [s.id, s.node]).sort()).toEqual([
      ['cs-fast-on-a', a.name],
      ['cs-slow-on-b', b.name],
    ]);
    for (const s of answer.caughtUp) expect(s.applied).toBeGreaterThanOrEqual(answer.index);
    expect((await onB.all('cs-web')).map((i) => i.id)).toEqual(['cs-web-3']);
  }, 60_000);

  it("stops counting a killed node's consumers once its lease has expired", async () => {
    const [a, b] = [node(0), node(1)];
    const onA = new RegistryClient({ url: a.url });
    await onA.register({ service: 'cs-gone', id: 'cs-gone-1', host: '127.0.0.1', port: 1 });
    await onA.register({ service: 'cs-gone', id: 'cs-gone-2', host: '127.0.0.1', port: 2 });
    const held = gate();
    const onB = new Discovery(new RegistryClient({ url: b.url }), {
      subscriber: { id: 'cs-on-dying-node' },
      beforeApply: () => held.wait(),
    });
    try {
      await onB.all('cs-gone');
      await until('A lists the consumer of B', async () =>
        (await listed(a.url, 'cs-on-dying-node'))?.applied != null ? true : undefined,
      );
      held.close();
      const before = await onA.drain('cs-gone', 'cs-gone-1', { wait: '300ms' });
      expect(before.behind.map((s) => [s.id, s.node])).toEqual([['cs-on-dying-node', b.name]]);

      await b.kill();
      // Until etcd expires B's lease its consumer still counts; then it is gone from every list and every drain.
      await until('A forgets the consumer of the dead node', async () =>
        (await listed(a.url, 'cs-on-dying-node')) === undefined ? true : undefined,
      );
      const after = await onA.drain('cs-gone', 'cs-gone-2', { wait: '20s' });
      expect(after).toMatchObject({ complete: true, behind: [] });
    } finally {
      held.open();
      onB[Symbol.dispose]();
      if (b.process.child.exitCode !== null || b.process.child.signalCode !== null) await b.restart();
    }
  }, 60_000);
});
