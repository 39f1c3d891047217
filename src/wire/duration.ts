import { RegistryError } from '../errors/index.js';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
/** A duration string: a number and a unit. The registration schema's `pattern` is this too. */
export const DURATION_PATTERN = '^(\\d+(?:\\.\\d+)?)(ms|s|m|h)$';
const DURATION = new RegExp(DURATION_PATTERN);

/** A duration on the wire: seconds as a number (`30`) or a string with a unit (`"500ms"`, `"10s"`, `"1m"`, `"2h"`). */
export type Duration = number | string;

/** Parses a wire duration into milliseconds; `field` names it in the error. */
export function parseDuration(value: Duration, field: string): number {
  let ms: number;
  if (typeof value === 'number') {
    ms = value * 1_000;
  } else {
    const match = DURATION.exec(value.trim());
    if (!match) {
      throw new RegistryError(
        'INVALID_ARGUMENT',
        `${field}: "${value}" is not a duration (use seconds, or e.g. "500ms", "10s", "1m")`,
      );
    }
    ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  }
  if (!Number.isFinite(ms) || ms < 0)
    throw new RegistryError('INVALID_ARGUMENT', `${field}: must be a positive duration`);
  return Math.round(ms);
}

/** Formats milliseconds with the largest unit that divides them exactly, so `10000` answers `"10s"`. */
export function formatDuration(ms: number): string {
  if (ms !== 0 && ms % UNIT_MS.h === 0) return `${ms / UNIT_MS.h}h`;
  if (ms !== 0 && ms % UNIT_MS.m === 0) return `${ms / UNIT_MS.m}m`;
  if (ms % UNIT_MS.s === 0) return `${ms / UNIT_MS.s}s`;
  return `${ms}ms`;
}
