import { describe, expect, it } from 'vitest';
import { RegistryError } from '../errors/index.js';
import { formatDuration, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    [30, 30_000],
    [0, 0],
    [0.5, 500],
    [1.25, 1_250],
    ['500ms', 500],
    ['10s', 10_000],
    ['1.5s', 1_500],
    ['1m', 60_000],
    ['2h', 7_200_000],
    ['0s', 0],
    [' 10s ', 10_000],
  ] as const)('reads %j as %i ms', (value, ms) => {
    expect(parseDuration(value, 'ttl')).toBe(ms);
  });

  it.each(['10', '10d', '-1s', 's', '', '1e3s', '10 s', '1h30m', 'soon', '.5s'])(
    'rejects the string %j with INVALID_ARGUMENT naming the field',
    (value) => {
      expect(() => parseDuration(value, 'ttl')).toThrow(RegistryError);
      expect(() => parseDuration(value, 'ttl')).toThrow(/^ttl: /);
    },
  );

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('rejects the number %d', (value) => {
    expect(() => parseDuration(value, 'checks[0].interval')).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/^checks\[0\]\.interval: /) as string,
      }) as Error,
    );
  });
});

describe('formatDuration', () => {
  it.each([
    [10_000, '10s'],
    [60_000, '1m'],
    [90_000, '90s'],
    [3_600_000, '1h'],
    [5_400_000, '90m'],
    [1_500, '1500ms'],
    [1, '1ms'],
    [0, '0s'],
    [86_400_000, '24h'],
  ])('answers %i ms as %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('answers strings that read back as the same duration', () => {
    for (const ms of [0, 1, 999, 1_000, 1_001, 59_000, 61_000, 3_599_000, 7_200_000, 123_456_789]) {
      expect(parseDuration(formatDuration(ms), 'x')).toBe(ms);
    }
  });
});
