import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/sdk/index.js';
import { startTestServer } from '../fixtures/server.js';

describe('registry smoke', () => {
  it('serves a registered instance through the SDK', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'web', id: 'w1', host: '127.0.0.1', port: 9000 });
    const answer = await client.getService('web');
    expect(answer.instances.map((i) => i.id)).toEqual(['w1']);
  });
});
