/**
 * Issue 10, race 1: a DELETE of an instance and, in the same tick or a few milliseconds apart (either first), a
 * status change, a maintenance toggle, a heartbeat that revives a lapsed lease, or a check result (the registry's
 * prober against a local endpoint that flips from 200 to 500). Both may answer 2xx, or the second 404; but once the
 * DELETE answered 200 the instance must stay gone, in memory and after a SIGKILL and a restart on the same data
 * directory. The registry used to write the second change from a snapshot taken before the delete was applied, so
 * the store wrote the row back after deleting it.
 */
import { describe, expect, it } from 'vitest';
import {
  RACE_TEST,
  dataDir,
  deferred,
  expectSameAfterRestart,
  interleave,
  killAndRestart,
  probeEndpoint,
  probeRacer,
  random,
  send,
  served,
  sleep,
  startRegistry,
  waitUntil,
  within,
} from '../fixtures/races.js';
import type { Reply } from '../fixtures/races.js';

/** Rounds per kind of racing write (200 in all); each round is one instance, all in one server lifetime. */
const ROUNDS = 50;
const SERVICE = 'race';
/** A fast sweep, so that the heartbeat rounds' leases lapse about a second after they register. */
/** Fast checks of instances at 10.0.0.1 against a local endpoint: the registry must allow both (issue #13). */
const FLAGS = [
  '--lease-sweep-interval',
  '50ms',
  '--checks-min-interval',
  '300ms',
  '--checks-allow-hosts',
  '127.0.0.1/32',
];
const KINDS = ['status', 'maintenance', 'heartbeat', 'check'] as const;
type Kind = (typeof KINDS)[number];

interface Round {
  id: string;
  kind: Kind;
  deleted: Reply;
  /** The racing write's answer; a check result has none (the registry's own prober wrote it). */
  other: Reply | undefined;
}

const pathOf = (id: string): string => `/v1/services/${SERVICE}/instances/${id}`;

describe('a DELETE racing another write to the same instance', () => {
  it(
    'stays deleted after a restart whenever the DELETE answered 200, whatever the other write answered',
    RACE_TEST,
    async () => {
      const rng = random();
      const { seed } = rng;
      const dir = dataDir();
      await using first = await startRegistry(dir, FLAGS);
      const remove = (id: string): Promise<Reply> => send(first.url, { method: 'DELETE', path: pathOf(id) });

      // Check rounds, once armed: the next probe of each instance flips its endpoint to 500 and starts the DELETE;
      // the probe's answer waits a random part of a DELETE's round trip (see probeRacer). The rounds are armed at
      // random moments over 1.5 s, so that the registry is not swamped and answers in a few milliseconds.
      const race = probeRacer(rng);
      const checkRounds = new Map<string, ReturnType<typeof deferred<Reply>>>();
      const armedAt = new Map<string, number>();
      const flipped = new Set<string>();
      await using endpoint = await probeEndpoint((id) => {
        const round = checkRounds.get(id);
        if (!round || flipped.has(id) || performance.now() < (armedAt.get(id) ?? Infinity)) return undefined;
        flipped.add(id);
        const { reply, delayMs } = race(() => remove(id));
        round.resolve(reply);
        return { code: 500, delayMs };
      });

      const ids = KINDS.flatMap((kind) => Array.from({ length: ROUNDS }, (_, i) => ({ id: `${kind}-${i}`, kind })));
      const idsOf = (kind: Kind): string[] => ids.filter((round) => round.kind === kind).map(({ id }) => id);
      for (const id of idsOf('check')) checkRounds.set(id, deferred<Reply>());
      const registrations = await Promise.all(
        ids.map(({ id, kind }) => {
          const body: Record<string, unknown> = { host: '10.0.0.1', port: 1000 };
          // The lease lapses after a second and stays lapsed: nothing but the DELETE removes the instance.
          if (kind === 'heartbeat') Object.assign(body, { ttl: '1s', deregisterAfter: '1h' });
          if (kind === 'check') {
            const check = { http: endpoint.urlOf(id), interval: '300ms', timeout: '300ms' };
            body['checks'] = [{ ...check, successBefore: 1, failuresBefore: 1 }];
          }
          return send(first.url, { method: 'PUT', path: pathOf(id), body });
        }),
      );
      expect(registrations.map((r) => r.status)).toEqual(ids.map(() => 201));

      const raceRequest = async (id: string, kind: Exclude<Kind, 'check'>): Promise<Round> => {
        await sleep(rng.float() * 200);
        const other = (): Promise<Reply> => {
          switch (kind) {
            case 'status':
              return send(first.url, {
                method: 'PUT',
                path: `${pathOf(id)}/status`,
                body: { status: 'OUT_OF_SERVICE' },
              });
            case 'maintenance':
              return send(first.url, { method: 'PUT', path: `${pathOf(id)}/maintenance`, body: { enable: true } });
            case 'heartbeat':
              return send(first.url, { method: 'PUT', path: `${pathOf(id)}/heartbeat` });
          }
        };
        const [deleted, answer] = await interleave(rng, () => remove(id), other);
        return { id, kind, deleted, other: answer };
      };
      const results = await Promise.all([
        ...idsOf('status').map((id) => raceRequest(id, 'status')),
        ...idsOf('maintenance').map((id) => raceRequest(id, 'maintenance')),
      ]);

      // A heartbeat writes only when it revives a lapsed lease: race those once every lease has lapsed.
      const leased = idsOf('heartbeat').map((id) => `${SERVICE}/${id}`);
      await waitUntil('every heartbeat round lease to lapse', async () => {
        const now = await served(first.url);
        return leased.every((key) => now.get(key)?.health === 'critical');
      });
      results.push(...(await Promise.all(idsOf('heartbeat').map((id) => raceRequest(id, 'heartbeat')))));

      // Every check passes by now (a lease takes a second to lapse, a check 300 ms to pass): flip them.
      const checked = idsOf('check').map((id) => `${SERVICE}/${id}`);
      await waitUntil('every check round to pass', async () => {
        const now = await served(first.url);
        return checked.every((key) => now.get(key)?.health === 'passing');
      });
      for (const id of checkRounds.keys()) armedAt.set(id, performance.now() + rng.float() * 1_500);
      for (const [id, round] of checkRounds) {
        const deleted = await within(round.promise, 15_000, `the flip of ${id}'s check (seed ${seed})`);
        results.push({ id, kind: 'check', deleted, other: undefined });
      }
      expect(results).toHaveLength(KINDS.length * ROUNDS);

      for (const { id, kind, deleted, other } of results) {
        // Nothing else deletes these instances: every DELETE finds its instance.
        expect(deleted.status, `DELETE of ${id} (seed ${seed})`).toBe(200);
        if (other) expect([200, 404], `${kind} of ${id} (seed ${seed})`).toContain(other.status);
      }
      const raced = results.map(({ id }) => `${SERVICE}/${id}`);
      const before = await served(first.url);
      expect(
        raced.filter((key) => before.has(key)),
        `deleted instances still served (seed ${seed})`,
      ).toEqual([]);

      await using second = await killAndRestart(first, dir, FLAGS);
      const after = await served(second.url);
      expect(
        raced.filter((key) => after.has(key)),
        `deleted instances back after a restart (seed ${seed})`,
      ).toEqual([]);
      expectSameAfterRestart(before, after, seed);
    },
  );
});
