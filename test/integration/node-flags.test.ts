import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLI } from '../fixtures/process.js';

/** The node flags the installed `switchboard` bin runs with: its shebang's, after `env -S node`. */
function shebangFlags(): string[] {
  const first = readFileSync(CLI, 'utf8').split('\n')[0] ?? '';
  const match = /^#!\/usr\/bin\/env -S node((?: --[\w-]+(?:=\S+)?)*)$/.exec(first);
  expect(match, `shebang of ${CLI}: ${first}`).not.toBeNull();
  return (match?.[1] ?? '').trim().split(' ').filter(Boolean);
}

describe('node flags of the registry process', () => {
  it('are the same for the bin (its shebang) and for npm start', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const start = /^node((?: --[\w-]+(?:=\S+)?)*) dist\/cli\/main\.js serve$/.exec(pkg.scripts['start'] ?? '');
    expect(start, pkg.scripts['start']).not.toBeNull();
    const flags = shebangFlags();
    expect(flags).toContain('--max-semi-space-size=32');
    expect((start?.[1] ?? '').trim().split(' ').filter(Boolean)).toEqual(flags);
  });

  it('are accepted by this node and run the CLI as the shebang says', () => {
    const run = spawnSync('/usr/bin/env', ['-S', ['node', ...shebangFlags()].join(' '), CLI, '--help'], {
      encoding: 'utf8',
    });
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain('usage: switchboard <command>');
    expect(run.status).toBe(0);
  });
});
