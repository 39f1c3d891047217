import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runPython } from '../fixtures/python.js';
import { startTestServer, tempDir } from '../fixtures/server.js';

const SCRIPT = fileURLToPath(new URL('../python/consul_client_test.py', import.meta.url));
// Debian's python3-consul lives in the system Python's dist-packages, not in the pyenv python3 on PATH.
const PYTHON = '/usr/bin/python3';

function run(port: number, token?: string): Promise<{ code: number | null; output: string }> {
  return runPython(SCRIPT, {
    python: PYTHON,
    env: {
      SWITCHBOARD_HOST: '127.0.0.1',
      SWITCHBOARD_PORT: String(port),
      ...(token === undefined ? {} : { SWITCHBOARD_TOKEN: token }),
    },
  });
}

describe("Debian's python3-consul client", () => {
  it('registers, lists the catalog and reads passing health', { timeout: 30_000 }, async () => {
    await using server = await startTestServer();
    const { code, output } = await run(server.port);
    expect(code, output).toBe(0);
    expect(output).toMatch(/^Ran 4 tests/m);
    expect(output).toMatch(/^OK \(skipped=1\)$/m);
  });

  it('sends its token as ?token=, which auth accepts on the Consul paths', { timeout: 30_000 }, async () => {
    using dir = tempDir('switchboard-consul-auth-');
    await using server = await startTestServer({ auth: { mode: 'on' }, store: { kind: 'memory', dataDir: dir.path } });
    const operator = readFileSync(join(dir.path, 'bootstrap-token'), 'utf8').trim();
    const { code, output } = await run(server.port, operator);
    expect(code, output).toBe(0);
    expect(output).toMatch(/^Ran 4 tests/m);
    expect(output).toMatch(/^OK \(skipped=1\)$/m);
  });
});
