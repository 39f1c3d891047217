/**
 * Issue 10, race 4: a check changing state (the registry's prober against a local endpoint that flips from 200 to
 * 500) while the instance re-registers from port 1000 to port 2000 with the same check, the re-registration
 * starting as the flipping probe arrives and the probe's answer coming a random moment later. The re-registration
 * answers 200 with port 2000, so memory and disk must both end on port 2000 with the check failing. The registry
 * used to write the check's change over the record as it was before the re-registration was applied: memory said
 * port 2000, the store port 1000, and a restart served port 1000.
 */
import { describe, expect, it } from 'vitest';
import type { Instance } from '../../src/wire/index.js';
import {
  RACE_TEST,
  dataDir,
  deferred,
  expectSameAfterRestart,
  killAndRestart,
  probeEndpoint,
  probeRacer,
  random,
  send,
  served,
  startRegistry,
  waitUntil,
  within,
} from '../fixtures/races.js';
import type { Reply } from '../fixtures/races.js';

/** Rounds, one instance each, all in one server lifetime. */
const ROUNDS = 200;
const SERVICE = 'race';

const pathOf = (id: string): string => `/v1/services/${SERVICE}/instances/${id}`;
/** Fast checks of instances at 10.0.0.1 against a local endpoint: the registry must allow both (issue #13). */
const FLAGS = ['--checks-min-interval', '300ms', '--checks-allow-hosts', '127.0.0.1/32'];

describe('a check changing state while its instance re-registers to a new port', () => {
  it('serves and stores the new port with the failing check, before and after a restart', RACE_TEST, async () => {
    const rng = random();
    const { seed } = rng;
    const dir = dataDir();
    await using first = await startRegistry(dir, FLAGS);
    const ids = Array.from({ length: ROUNDS }, (_, i) => `i-${i}`);
    const rounds = new Map(ids.map((id) => [id, deferred<Reply>()]));
    const race = probeRacer(rng);
    /** When each instance's flip may start: spread out, so that the registry is not swamped and answers in a few ms. */
    const armedAt = new Map<string, number>();
    const flipped = new Set<string>();
    const registration = (id: string, port: number): Promise<Reply> => {
      // The same check each time: a re-registration keeps its state.
      const check = { http: endpoint.urlOf(id), interval: '300ms', timeout: '300ms', successBefore: 1 };
      const body = { host: '10.0.0.1', port, checks: [{ ...check, failuresBefore: 1 }] };
      return send(first.url, { method: 'PUT', path: pathOf(id), body });
    };
    // Once armed, the next probe of each instance flips its endpoint to 500 and starts the re-registration.
    await using endpoint = await probeEndpoint((id) => {
      const round = rounds.get(id);
      if (!round || flipped.has(id) || performance.now() < (armedAt.get(id) ?? Infinity)) return undefined;
      flipped.add(id);
      const { reply, delayMs } = race(() => registration(id, 2000));
      round.resolve(reply);
      return { code: 500, delayMs };
    });

    const registrations = await Promise.all(ids.map((id) => registration(id, 1000)));
    expect(registrations.map((r) => r.status)).toEqual(ids.map(() => 201));
    const keys = ids.map((id) => `${SERVICE}/${id}`);
    await waitUntil('every check to pass', async () => {
      const now = await served(first.url);
      return keys.every((key) => now.get(key)?.health === 'passing');
    });
    for (const id of ids) armedAt.set(id, performance.now() + rng.float() * 1_500);
    const answers = new Map<string, Reply>();
    for (const [id, round] of rounds) {
      answers.set(id, await within(round.promise, 15_000, `the flip of ${id}'s check (seed ${seed})`));
    }
    for (const [id, answer] of answers) {
      expect(answer.status, `re-registration of ${id} (seed ${seed})`).toBe(200);
      expect(answer.instance?.port, `re-registration of ${id} (seed ${seed})`).toBe(2000);
    }

    // Quiet: every check has seen its endpoint fail (a result that lost a race is proposed again by the next one).
    await waitUntil('every check to fail', async () => {
      const now = await served(first.url);
      return keys.every((key) => now.get(key)?.checks?.[0]?.status === 'critical');
    });

    // Every instance not on port 2000, or older than its re-registration's answer; and every check not failing.
    const wrongPort = (instances: Map<string, Instance>): string[] =>
      ids.flatMap((id) => {
        const instance = instances.get(`${SERVICE}/${id}`);
        const acked = answers.get(id)?.instance?.modifyIndex ?? 0;
        return instance?.port === 2000 && instance.modifyIndex >= acked
          ? []
          : [`${id}: port ${instance?.port ?? '-'} at index ${instance?.modifyIndex ?? '-'}, acknowledged ${acked}`];
      });
    const notFailing = (instances: Map<string, Instance>): string[] =>
      ids.filter((id) => instances.get(`${SERVICE}/${id}`)?.checks?.[0]?.status !== 'critical');
    const before = await served(first.url);
    expect(wrongPort(before), `served in memory (seed ${seed})`).toEqual([]);

    await using second = await killAndRestart(first, dir, FLAGS);
    const after = await served(second.url);
    expect(wrongPort(after), `served after a restart (seed ${seed})`).toEqual([]);
    expect(notFailing(after), `checks not failing after a restart (seed ${seed})`).toEqual([]);
    expectSameAfterRestart(before, after, seed);
  });
});
