/**
 * Issue 10, race 3: a re-registration to a new address (10.0.0.1:1000 → 10.0.0.2:2000) and a maintenance toggle of
 * the same instance, in the same tick or a few milliseconds apart (either first). Both answer 200, so the instance
 * must end on the new address with maintenance as the toggle set it, in memory and after a SIGKILL and a restart on
 * the same data directory. The registry used to build the toggle's write from the record as it was before the
 * re-registration was applied: it answered the new address, then served and stored the old one.
 */
import { describe, expect, it } from 'vitest';
import type { Instance } from '../../src/wire/index.js';
import {
  RACE_TEST,
  dataDir,
  expectSameAfterRestart,
  interleave,
  killAndRestart,
  random,
  send,
  served,
  sleep,
  startRegistry,
} from '../fixtures/races.js';
import type { Reply } from '../fixtures/races.js';

/** Rounds, one instance each, all in one server lifetime. */
const ROUNDS = 200;
const SERVICE = 'race';

interface Round {
  id: string;
  /** What the toggle asked for: half the instances start in maintenance and are taken out of it. */
  enable: boolean;
  registered: Reply;
  toggled: Reply;
}

const pathOf = (id: string): string => `/v1/services/${SERVICE}/instances/${id}`;

/** What the two acknowledged answers imply for the instance: the new address, and maintenance as toggled. */
function implied(instance: Instance | undefined): { host?: string; port?: number; maintenance?: string | null } {
  if (!instance) return {};
  // Keys in the order of `want` below, so that equal states stringify equally.
  return { host: instance.host, port: instance.port, maintenance: instance.maintenance?.reason ?? null };
}

describe('a re-registration to a new address racing a maintenance toggle', () => {
  it(
    'ends on the new address with the maintenance the toggle set, in memory and after a restart',
    RACE_TEST,
    async () => {
      const rng = random();
      const { seed } = rng;
      const dir = dataDir();
      await using first = await startRegistry(dir);

      const ids = Array.from({ length: ROUNDS }, (_, i) => ({ id: `i-${i}`, enable: i % 2 === 0 }));
      const registrations = await Promise.all(
        ids.map(({ id }) =>
          send(first.url, { method: 'PUT', path: pathOf(id), body: { host: '10.0.0.1', port: 1000 } }),
        ),
      );
      expect(registrations.map((r) => r.status)).toEqual(ids.map(() => 201));
      const held = await Promise.all(
        ids
          .filter(({ enable }) => !enable)
          .map(({ id }) =>
            send(first.url, {
              method: 'PUT',
              path: `${pathOf(id)}/maintenance`,
              body: { enable: true, reason: 'held' },
            }),
          ),
      );
      expect(held.map((r) => r.status)).toEqual(held.map(() => 200));

      const rounds = await Promise.all(
        ids.map(async ({ id, enable }): Promise<Round> => {
          await sleep(rng.float() * 200);
          const [registered, toggled] = await interleave(
            rng,
            () => send(first.url, { method: 'PUT', path: pathOf(id), body: { host: '10.0.0.2', port: 2000 } }),
            () =>
              send(first.url, {
                method: 'PUT',
                path: `${pathOf(id)}/maintenance`,
                body: enable ? { enable, reason: 'toggled' } : { enable },
              }),
          );
          return { id, enable, registered, toggled };
        }),
      );

      for (const { id, enable, registered, toggled } of rounds) {
        expect(registered.status, `re-registration of ${id} (seed ${seed})`).toBe(200);
        expect(registered.instance, `re-registration of ${id} (seed ${seed})`).toMatchObject({
          host: '10.0.0.2',
          port: 2000,
        });
        expect(toggled.status, `maintenance toggle of ${id} (seed ${seed})`).toBe(200);
        expect(toggled.instance?.maintenance?.enabled ?? false, `toggle of ${id} (seed ${seed})`).toBe(enable);
      }

      // Every instance whose state is not what its acknowledged answers imply, with what it is instead.
      const wrong = (instances: Map<string, Instance>): string[] =>
        rounds.flatMap(({ id, enable, registered, toggled }) => {
          const instance = instances.get(`${SERVICE}/${id}`);
          const want = { host: '10.0.0.2', port: 2000, maintenance: enable ? 'toggled' : null };
          const got = implied(instance);
          // No acknowledged write is newer than what is served.
          const acked = Math.max(registered.instance?.modifyIndex ?? 0, toggled.instance?.modifyIndex ?? 0);
          const stale = (instance?.modifyIndex ?? 0) < acked;
          return JSON.stringify(got) === JSON.stringify(want) && !stale
            ? []
            : [`${id}: ${JSON.stringify(got)} at index ${instance?.modifyIndex ?? '-'}, acknowledged up to ${acked}`];
        });
      const before = await served(first.url);
      expect(wrong(before), `served in memory (seed ${seed})`).toEqual([]);

      await using second = await killAndRestart(first, dir);
      const after = await served(second.url);
      expect(wrong(after), `served after a restart (seed ${seed})`).toEqual([]);
      expectSameAfterRestart(before, after, seed);
    },
  );
});
