/** What every client command shares: the registry client its flags describe, and how answers are printed. */
import { clientSettings } from '../config/index.js';
import type { RegistryClientOptions } from '../sdk/index.js';
import type { ParsedFlags } from './flags.js';

/** The client the registry, token and TLS flags (and their environment variables) describe. */
export function clientOptions(flags: ParsedFlags): RegistryClientOptions {
  const { urls, token, ca, cert, key } = clientSettings(flags.values);
  return {
    urls,
    ...(token === undefined ? {} : { token }),
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
  };
}

export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Columns padded to their widest cell, two spaces apart. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, c) => cell.padEnd(widths[c] ?? 0))
      .join('  ')
      .trimEnd();
  return `${[headers, ...rows].map(line).join('\n')}\n`;
}
