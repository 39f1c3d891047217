import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { serviceGlobMatcher } from './tokens.js';

/** What a glob means, spelled the obvious way: `*` is `.*`, everything else itself (fine for short inputs). */
function byRegExp(glob: string, name: string): boolean {
  const source = glob
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`).test(name);
}

describe('serviceGlobMatcher', () => {
  it('matches whole names, with * for any run of characters', () => {
    const matches = serviceGlobMatcher(['pay*', 'web-*-eu', 'orders']);
    expect(['payments', 'pay', 'web-a-eu', 'web--eu', 'orders'].map(matches)).toEqual([true, true, true, true, true]);
    expect(['xpay', 'web-a-us', 'orders2', 'order', 'web-eu'].map(matches)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(serviceGlobMatcher([])('a')).toBe(false);
    expect(serviceGlobMatcher(['*'])('anything')).toBe(true);
  });

  it('agrees with the regular expression it stands for', () => {
    const char = fc.constantFrom('a', 'b', '-', '*');
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: char, maxLength: 8 }), { minLength: 1, maxLength: 3 }),
        fc.string({ unit: fc.constantFrom('a', 'b', '-'), maxLength: 10 }),
        (globs, name) => {
          const expected = globs.some((glob) => byRegExp(glob, name));
          expect(serviceGlobMatcher(globs)(name)).toBe(expected);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('answers a glob of many stars against a long name at once (a backtracking RegExp takes years)', () => {
    // 31 stars between single letters, the longest glob a policy takes (63 characters), against a name that almost
    // matches: a RegExp of `.*` runs backtracks through every way of splitting the name. Measured with the RegExp:
    // 0.4 s at 38 letters, 8.7 s at 40, about twenty times more for every two letters after.
    const glob = `${'*a'.repeat(31)}b`;
    const matches = serviceGlobMatcher([glob]);
    expect(glob).toHaveLength(63);
    expect(matches('a'.repeat(42))).toBe(false);
    expect(matches('a'.repeat(63))).toBe(false);
    expect(matches(`${'a'.repeat(62)}b`)).toBe(true);
  });
});
