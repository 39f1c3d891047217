import { describe, expect, it } from 'vitest';
import { createRegistry } from '../core/index.js';
import { CORE_OPTIONS } from '../../test/fixtures/core-options.js';
import { heldStore } from '../../test/fixtures/held-store.js';
import { InstanceDirectory } from './instance-directory.js';

describe('InstanceDirectory', () => {
  it('follows an id through one service, then two, then one and none', async () => {
    const registry = await createRegistry({ ...CORE_OPTIONS, store: heldStore(), autoSweep: false });
    await registry.register({ service: 'web', id: 'a-1', host: '10.0.0.1', port: 80 });
    await registry.register({ service: 'web', id: 'b-1', host: '10.0.0.2', port: 80 });
    // Built from a page of what is already registered, then kept up by the change feed.
    const directory = new InstanceDirectory(registry);
    expect(directory.serviceOf('a-1')).toBe('web');
    expect(directory.othersOf('a-1', 'web')).toEqual([]);

    await registry.register({ service: 'web', id: 'a-1', host: '10.0.0.1', port: 81 });
    expect(directory.serviceOf('a-1')).toBe('web');

    await registry.register({ service: 'api', id: 'a-1', host: '10.0.0.3', port: 80 });
    await registry.register({ service: 'db', id: 'a-1', host: '10.0.0.4', port: 80 });
    expect(() => directory.serviceOf('a-1')).toThrow(/registered in services api, db, web/);
    expect(directory.othersOf('a-1', 'web').sort()).toEqual(['api', 'db']);

    await registry.deregister('web', 'a-1');
    expect(() => directory.serviceOf('a-1')).toThrow(/registered in services api, db:/);
    await registry.deregister('db', 'a-1');
    expect(directory.serviceOf('a-1')).toBe('api');
    expect(directory.othersOf('a-1', 'web')).toEqual(['api']);
    expect(directory.othersOf('a-1', 'api')).toEqual([]);

    await registry.deregister('api', 'a-1');
    expect(() => directory.serviceOf('a-1')).toThrow(/Unknown service ID "a-1"/);
    expect(directory.othersOf('a-1', 'api')).toEqual([]);
    expect(directory.serviceOf('b-1')).toBe('web');
    directory.close();
    await registry.close();
  });
});
