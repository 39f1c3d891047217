// Not a section: a quick probe of CPU time per request (µs) of the registry vs the bare server, robust on a noisy
// machine because it counts the server's own CPU, not wall time. `node bench/cpu-per-request.mjs`
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuMs, load, registerMany, startBare, startRegistry } from './lib.mjs';

async function measure(server, options) {
  const before = cpuMs(server.child.pid);
  const r = await load({ duration: 5, ...options });
  const used = cpuMs(server.child.pid) - before;
  return { rps: Math.round(r.rps), usPerRequest: Math.round((used * 1000) / (r.rps * 5)) };
}

const registry = await startRegistry(
  process.argv[2] === 'sqlite' ? ['--data-dir', mkdtempSync(join(tmpdir(), 'sb-cpu-'))] : ['--store', 'memory'],
);
await registerMany(registry.url, 10, (i) => ({
  service: 'lookup',
  id: `l${i}`,
  body: { host: `10.0.0.${i}`, port: 80, tags: ['v1'], ttl: '60s' },
}));
const body = await (await fetch(`${registry.url}/v1/services/lookup`)).text();
const bare = await startBare(body);
console.log('bare lookup      ', await measure(bare, { url: `${bare.url}/v1/services/lookup` }));
console.log('registry lookup  ', await measure(registry, { url: `${registry.url}/v1/services/lookup` }));
let h = 0;
console.log(
  'registry heartbeat',
  await measure(registry, {
    url: registry.url,
    requests: [
      {
        method: 'PUT',
        setupRequest: (req) => ({ ...req, path: `/v1/services/lookup/instances/l${h++ % 10}/heartbeat` }),
      },
    ],
  }),
);
await bare.stop();
await registry.stop();
