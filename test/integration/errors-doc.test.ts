/**
 * Keeps docs/errors.md row-for-row in sync with the one table of error codes (src/errors/codes.ts): the same codes,
 * in the same order, with the same HTTP status, XML-RPC fault and retryability, and a "when" for each.
 */
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors/index.js';

interface Row {
  code: string;
  http: number;
  fault: number;
  retryable: boolean;
  when: string;
}

const DOC = new URL('../../docs/errors.md', import.meta.url);

/** The rows of the table in docs/errors.md whose first cell is a code in backticks. */
function documentedRows(): Row[] {
  const rows: Row[] = [];
  for (const line of readFileSync(DOC, 'utf8').split('\n')) {
    const cells = line
      .trim()
      .replace(/^\|/, '')
      .replace(/\|$/, '')
      .split('|')
      .map((cell) => cell.trim());
    const code = /^`([A-Z_]+)`$/.exec(cells[0] ?? '')?.[1];
    if (code === undefined) continue;
    expect(cells, `the row of ${code} has five cells: | Code | HTTP | XML-RPC fault | Retryable | When |`).toHaveLength(
      5,
    );
    expect(['yes', 'no'], `the row of ${code} says "yes" or "no" under Retryable`).toContain(cells[3]);
    rows.push({
      code,
      http: Number(cells[1]),
      fault: Number(cells[2]),
      retryable: cells[3] === 'yes',
      when: cells[4] ?? '',
    });
  }
  return rows;
}

describe('docs/errors.md', () => {
  it('documents every code of src/errors/codes.ts, row for row, with its HTTP status, XML-RPC fault and retryability', () => {
    const rows = documentedRows();
    const table = Object.entries(ERROR_CODES).map(([code, { http, fault, retryable }]) => ({
      code,
      http,
      fault,
      retryable,
    }));
    expect(rows.map(({ code, http, fault, retryable }) => ({ code, http, fault, retryable }))).toEqual(table);
  });

  it('says when each error happens', () => {
    for (const row of documentedRows()) expect(row.when.length, row.code).toBeGreaterThan(20);
  });
});

describe('the error code table', () => {
  it('maps every code to an HTTP error status and a distinct fault outside the range XML-RPC reserves', () => {
    const faults = new Set<number>();
    for (const [code, { http, fault }] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^[A-Z][A-Z_]*$/);
      expect(http >= 400 && http <= 599 && STATUS_CODES[http] !== undefined, `${code}: HTTP ${http}`).toBe(true);
      expect(Number.isInteger(fault) && (fault < -32_768 || fault > -32_000), `${code}: fault ${fault}`).toBe(true);
      expect(faults.has(fault), `${code}: fault ${fault} is taken`).toBe(false);
      faults.add(fault);
    }
  });
});
