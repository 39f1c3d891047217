import { describe, expect, it } from 'vitest';
import { canRead, canWrite, globMatches } from './rights.js';

describe("the token's rights, as the registry rules them", () => {
  it('matches `*` against any run of characters, and the whole name only', () => {
    expect(globMatches('pay*', 'payments')).toBe(true);
    expect(globMatches('*', 'anything')).toBe(true);
    expect(globMatches('*-dev', 'web-dev')).toBe(true);
    expect(globMatches('pay', 'payments')).toBe(false);
    expect(globMatches('a.b', 'axb')).toBe(false);
  });

  it('lets write imply read, and operator do everything', () => {
    const policy = { read: ['web'], write: ['pay*'], operator: false };
    expect(canWrite(policy, 'payments')).toBe(true);
    expect(canRead(policy, 'payments')).toBe(true);
    expect(canRead(policy, 'web')).toBe(true);
    expect(canWrite(policy, 'web')).toBe(false);
    expect(canWrite({ read: [], write: [], operator: true }, 'web')).toBe(true);
    expect(canWrite(undefined, 'web')).toBe(false);
  });
});
