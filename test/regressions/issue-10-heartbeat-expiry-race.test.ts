/**
 * Issue 10, race 2: heartbeats that arrive around the moment the sweep expires their instance (ttl 1s, removed
 * 1.1s after the last heartbeat, a sweep every 20 ms), and so now and then while the expiry's delete is being
 * written. Each client behaves as the SDK's agent does: it heartbeats, and registers again when the heartbeat answers
 * 404. A heartbeat answers 200 (then the instance lives on, or expires later, an expiry that saw that heartbeat) or
 * 404; once every instance has expired, none may come back after a SIGKILL and a restart on the same data
 * directory. The registry used to write a heartbeat that revived a lapsed lease after the expiry's delete, and
 * the expired instance came back at the next start.
 */
import { describe, expect, it } from 'vitest';
import type { ChangeEvent } from '../../src/wire/index.js';
import {
  RACE_TEST,
  changesOf,
  dataDir,
  expectSameAfterRestart,
  killAndRestart,
  random,
  send,
  served,
  sleep,
  startRegistry,
  waitUntil,
} from '../fixtures/races.js';
import type { Reply } from '../fixtures/races.js';

/** Instances, all in one server lifetime, each heartbeating ATTEMPTS times around its expiry: 600 rounds. */
const INSTANCES = 300;
const ATTEMPTS = 2;
/** When heartbeats are sent, in ms after the end of their lease (the sweep deletes within SWEEP_MS after it). */
const AIM_FROM_MS = -10;
const AIM_TO_MS = 30;
const SERVICE = 'race';
const EXPIRES_AFTER_MS = 1_100;
const SWEEP_MS = 20;
/** Self-preservation would suspend expiry when half the fleet lapses at once, which is what this test does. */
const FLAGS = ['--lease-sweep-interval', `${SWEEP_MS}ms`, '--self-preservation-minimum', '1000000'];
/** The restarted registry does not sweep while the test reads it: what it serves is what it loaded. */
const RESTART_FLAGS = ['--lease-sweep-interval', '1h'];

interface Answer {
  id: string;
  kind: 'register' | 'heartbeat';
  reply: Reply;
}

const pathOf = (id: string): string => `/v1/services/${SERVICE}/instances/${id}`;
const heartbeatOf = (reply: Reply): number => Date.parse(reply.instance?.lastHeartbeat ?? '');

describe('a heartbeat racing the expiry of its instance', () => {
  it(
    'answers 200 only for a heartbeat the expiry saw, and brings no expired instance back after a restart',
    RACE_TEST,
    async () => {
      const rng = random();
      const { seed } = rng;
      const dir = dataDir();
      await using first = await startRegistry(dir, FLAGS);
      const { index: startIndex } = (await (await fetch(`${first.url}/health`)).json()) as { index: number };
      const register = (id: string): Promise<Reply> =>
        send(first.url, {
          method: 'PUT',
          path: pathOf(id),
          body: { host: '10.0.0.1', port: 1000, ttl: '1s', deregisterAfter: `${EXPIRES_AFTER_MS}ms` },
        });

      const answers: Answer[] = [];
      const client = async (id: string): Promise<void> => {
        // Spread the registrations over a whole lease, so that expiries (and heartbeats) come at an even pace.
        await sleep(rng.float() * EXPIRES_AFTER_MS);
        let reply = await register(id);
        answers.push({ id, kind: 'register', reply });
        for (let attempt = 0; attempt < ATTEMPTS && reply.instance; attempt++) {
          // Aim at the expiry: from just before it (the heartbeat renews the lease) to a sweep and more after it (the
          // sweep's delete is under way, or done, and the client registers again).
          const expiresAt = heartbeatOf(reply) + EXPIRES_AFTER_MS;
          await sleep(expiresAt + AIM_FROM_MS + rng.float() * (AIM_TO_MS - AIM_FROM_MS) - Date.now());
          reply = await send(first.url, { method: 'PUT', path: `${pathOf(id)}/heartbeat` });
          answers.push({ id, kind: 'heartbeat', reply });
          if (reply.status === 404) {
            reply = await register(id);
            answers.push({ id, kind: 'register', reply });
          }
        }
      };
      const ids = Array.from({ length: INSTANCES }, (_, i) => `i-${i}`);
      await Promise.all(ids.map(client));

      for (const { id, kind, reply } of answers) {
        expect(reply.status, `${kind} of ${id} (seed ${seed})`).toSatisfy((status: number) =>
          kind === 'register' ? status === 201 : status === 200 || status === 404,
        );
      }
      // Quiet: every instance has expired (nothing heartbeats any more).
      const keys = new Set(ids.map((id) => `${SERVICE}/${id}`));
      await waitUntil('every instance to expire', async () => {
        const now = await served(first.url);
        return ![...now.keys()].some((key) => keys.has(key));
      });

      // A heartbeat answered 200 was seen by the expiry that followed it: that expiry is newer than the answer, and
      // its instance carries that heartbeat (or a later one). An answer of 200 after the delete fails this.
      const changes = await changesOf(first.url, SERVICE, startIndex);
      const expiries = new Map<string, ChangeEvent[]>();
      for (const change of changes) {
        if (change.type !== 'expired') continue;
        expiries.set(change.instance.id, [...(expiries.get(change.instance.id) ?? []), change]);
      }
      const unseen = answers
        .filter(({ kind, reply }) => kind === 'heartbeat' && reply.status === 200)
        .filter(({ id, reply }) => {
          const after = (expiries.get(id) ?? []).filter((e) => e.index > (reply.instance?.modifyIndex ?? Infinity));
          return !after.some((e) => Date.parse(e.instance.lastHeartbeat) >= heartbeatOf(reply));
        })
        .map(({ id, reply }) => `${id}: heartbeat at ${reply.instance?.lastHeartbeat ?? '-'}`);
      const last = new Map(changes.map((change) => [change.instance.id, change.type]));
      const before = await served(first.url);

      await using second = await killAndRestart(first, dir, RESTART_FLAGS);
      const after = await served(second.url);
      expect(
        [...after.keys()].filter((key) => keys.has(key)),
        `expired instances back after a restart (seed ${seed})`,
      ).toEqual([]);
      expect(unseen, `heartbeats answered 200 but not seen by the expiry after them (seed ${seed})`).toEqual([]);
      // Every instance's last change is its expiry, and nothing deleted is served.
      expect(
        ids.filter((id) => last.get(id) !== 'expired'),
        `instances whose last change is not an expiry (seed ${seed})`,
      ).toEqual([]);
      expectSameAfterRestart(before, after, seed);
    },
  );
});
