/** Two exclusive registrations of one id, racing in the core: the check and the write used to be apart (issue #4). */
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { createRegistry } from '../../src/core/index.js';
import { CORE_OPTIONS } from '../fixtures/core-options.js';

describe('exclusive registration', () => {
  it('lets exactly one of several concurrent exclusive registrations of one id win', async () => {
    const registry = await createRegistry({ ...CORE_OPTIONS, store: createMemoryStore(), autoSweep: false });
    const results = await Promise.allSettled(
      [1, 2, 3].map((port) => registry.register({ service: 's', id: 'x', host: 'h', port }, { exclusive: true })),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'ALREADY_EXISTS' });
    expect(registry.get('s', 'x').port).toBe(1);
    await registry.close();
  });

  it('refuses an exclusive registration racing a plain one that creates the id', async () => {
    const registry = await createRegistry({ ...CORE_OPTIONS, store: createMemoryStore(), autoSweep: false });
    const plain = registry.register({ service: 's', id: 'x', host: 'h', port: 1 });
    const exclusive = registry.register({ service: 's', id: 'x', host: 'h', port: 2 }, { exclusive: true });
    await expect(exclusive).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    expect((await plain).created).toBe(true);
    await registry.close();
  });
});
