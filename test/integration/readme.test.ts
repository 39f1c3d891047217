import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OPTIONS } from '../../src/config/index.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('starts with the two commands a newcomer types', () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(firstBlock).toMatch(/^npm install && npm start\b/m);
    expect(firstBlock).toMatch(/^npm test\b/m);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts['start']).toContain('serve');
  });

  it('documents every serve option with its environment variable', () => {
    for (const option of OPTIONS) {
      expect(readme, `--${option.flag}`).toContain(`\`--${option.flag}\``);
      expect(readme, option.env).toContain(`\`${option.env}\``);
    }
  });
});
