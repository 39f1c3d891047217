import { describe, expect, it } from 'vitest';
import { RegistryError } from '../errors/index.js';
import type { FieldTypes } from './filter.js';
import { MAX_FILTER_DEPTH, compileFilter } from './filter.js';

const FIELDS: FieldTypes = {
  ID: 'string',
  Port: 'integer',
  Enabled: 'boolean',
  Tags: 'strings',
  Meta: { map: 'string' },
  Weights: { struct: { Passing: 'integer' } },
  Checks: { list: { Status: 'string', ServiceTags: 'strings' } },
};

const ITEMS = {
  a: {
    ID: 'web-a',
    Port: 80,
    Enabled: true,
    Tags: ['v1', 'primary'],
    Meta: { env: 'prod', 'k-8s': 'yes' },
    Weights: { Passing: 3 },
    Checks: [
      { Status: 'passing', ServiceTags: ['v1'] },
      { Status: 'critical', ServiceTags: [] },
    ],
  },
  b: {
    ID: 'web-b',
    Port: 8080,
    Enabled: false,
    Tags: ['v2'],
    Meta: { env: 'qa' },
    Weights: { Passing: 1 },
    Checks: [{ Status: 'passing', ServiceTags: ['v2'] }],
  },
  c: { ID: 'db\n1', Port: 5432, Enabled: false, Tags: [], Meta: {}, Weights: { Passing: 1 }, Checks: [] },
};

/** The names of the items `expression` keeps. */
function kept(expression: string): string[] {
  const filter = compileFilter(expression, FIELDS, 4096);
  return Object.entries(ITEMS)
    .filter(([, item]) => filter.matches(item))
    .map(([name]) => name);
}

function refusal(expression: string, maxLength = 4096): string {
  try {
    compileFilter(expression, FIELDS, maxLength);
  } catch (err) {
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).code).toBe('INVALID_ARGUMENT');
    return (err as RegistryError).message;
  }
  throw new Error(`${expression} was accepted`);
}

describe('compileFilter', () => {
  it.each([
    ['ID == "web-a"', ['a']],
    ['ID != "web-a"', ['b', 'c']],
    ['ID == `web-b`', ['b']],
    ['"web" in ID', ['a', 'b']],
    ['ID contains "-b"', ['b']],
    ['ID not contains "web"', ['c']],
    ['"eb-" not in ID', ['c']],
    ['ID matches "^web-[ab]$"', ['a', 'b']],
    ['ID not matches "^web"', ['c']],
    ['ID matches "(?i)^WEB-A"', ['a']],
    ['ID == "db\\n1"', ['c']],
    ['ID == "\\x64b\\u000a1"', ['c']],
    ['Port == 80', ['a']],
    ['Port == "8080"', ['b']],
    ['Port == "0x50"', ['a']],
    ['Port != 80', ['b', 'c']],
    ['Enabled == true', ['a']],
    ['Enabled == "F"', ['b', 'c']],
    ['"primary" in Tags', ['a']],
    ['primary in Tags', ['a']],
    ['Tags contains "v2"', ['b']],
    ['"v1" not in Tags', ['b', 'c']],
    ['Tags is empty', ['c']],
    ['Tags is not empty', ['a', 'b']],
    ['Meta.env == "prod"', ['a']],
    ['Meta["env"] == qa', ['b']],
    ['Meta["k-8s"] == "yes"', ['a']],
    ['"env" in Meta', ['a', 'b']],
    ['Meta is empty', ['c']],
    ['Meta.env != "prod"', ['b', 'c']],
    ['Meta.missing not contains "x"', ['a', 'b', 'c']],
    ['Meta.missing == ""', []],
    ['Meta.env matches "^q"', ['b']],
    ['Meta.env not matches "^q"', ['a', 'c']],
    ['Weights.Passing == 1', ['b', 'c']],
    ['Checks.Status == critical', ['a']],
    ['Checks.Status != passing', ['a']],
    ['not Checks.Status != passing', ['b', 'c']],
    ['Checks is empty', ['c']],
    ['"v2" in Checks.ServiceTags', ['b']],
    ['Port == 80 or Port == 8080', ['a', 'b']],
    ['Port == 80 or Port == 8080 and Enabled == true', ['a']],
    ['(Port == 80 or Port == 8080) and Enabled == false', ['b']],
    ['not Port == 80 and not Port == 8080', ['c']],
    ['not not Port == 80', ['a']],
    ['  ( ( ID == "web-b" ) )  ', ['b']],
    ['Port==80 or(Port==8080)', ['a', 'b']],
  ])('%s keeps %j', (expression, names) => {
    expect(kept(expression)).toEqual(names);
  });

  it.each([
    ['', /1:1 \(0\): no match found, expected an expression/],
    ['ID ==', /no match found, expected a selector, a number or a quoted string/],
    // A bare value is a name: `web`, then `-a` is left over (quote values with other characters, as Consul says).
    ['ID == web-a', /expected "and", "or" or the end/],
    ['ID = "x"', /1:4 \(3\): no match found, expected "==", "!="/],
    ['ID == "x" Port == 1', /expected "and", "or" or the end/],
    ['(ID == "x"', /unmatched parentheses/],
    ['ID == "x")', /expected "and", "or" or the end/],
    ['ID == "x', /Unterminated string literal/],
    ['ID == "\\q"', /invalid escape/],
    ['Port == 80abc', /Invalid number literal/],
    ['Tags is full', /expected "empty" or "not empty"/],
    ['"x" in "y"', /Invalid selector/],
    ['"x" == ID', /is a value where a selector is expected/],
    ['Meta[env] == "x"', /Invalid index/],
    ['Meta["env" == "x"', /Unclosed index expression/],
    ['Nope == "x"', /^Failed to create boolean expression evaluator: Selector "Nope" is not valid$/],
    ['Weights.Failing == 1', /Selector "Weights.Failing" is not valid/],
    ['Port.x == 1', /Selector "Port.x" is not valid/],
    ['Tags == "v1"', /Invalid match operator "Equal" for selector "Tags"/],
    ['ID is empty', /Invalid match operator "Is Empty" for selector "ID"/],
    ['Port contains "8"', /Invalid match operator "In" for selector "Port"/],
    ['Weights == 1', /Invalid match operator "Equal" for selector "Weights"/],
    ['Checks contains "x"', /Invalid match operator "In" for selector "Checks"/],
    ['Port == "eighty"', /Failed to coerce value "eighty" for selector "Port": not an integer/],
    ['Port == 80.5', /Failed to coerce value "80.5"/],
    ['Port == 0x50', /Invalid number literal/],
    ['Meta.env is empty', /Invalid match operator "Is Empty" for selector "Meta.env"/],
    ['Enabled == yes', /Failed to coerce value "yes" for selector "Enabled": not a boolean/],
    ['ID matches "("', /Failed to compile regular expression "\("/],
  ])('refuses %j', (expression, message) => {
    const text = refusal(expression);
    expect(text.startsWith('Failed to create boolean expression evaluator: ')).toBe(true);
    expect(text).toMatch(message);
  });

  it.each([
    // Go's syntax that JavaScript spells otherwise; under (?i) the escapes keep their case (\D is not \d).
    ['ID matches `(?i)^WEB-\\D$`', ['a', 'b']],
    ['ID matches `(?i)^[[:upper:]]+-B$`', ['b']],
    ['ID matches `^(?P<kind>web)-[[:lower:]]\\z`', ['a', 'b']],
    ['ID matches `\\Adb`', ['c']],
    ['ID matches `^[[:alpha:]]+[[:digit:]]$`', []],
    ['Meta.env matches `^[]q]`', ['b']],
    ['ID matches `^db.1$`', []],
    ['ID matches `(?s)^db.1$`', ['c']],
    ['ID matches `(?m)^1$`', ['c']],
    ['ID matches `^\\Qweb-\\E[a-b]$`', ['a', 'b']],
    ['ID matches `(?i)\\QWEB-B`', ['b']],
    ['ID matches `^\\Q.*`', []],
    ['ID matches `^w\\x{65}b`', ['a', 'b']],
  ])('matches %j as Go does', (expression, names) => {
    expect(kept(expression)).toEqual(names);
  });

  it.each([
    ['ID matches `(w)\\1`', /Failed to compile regular expression "\(w\)\\1"/],
    ['ID matches `^(?=w)`', /Failed to compile regular expression/],
    ['ID matches `(?m)^db\\z`', /Failed to compile regular expression .*\\z with \(\?m\)/],
    ['ID matches `\\pL`', /Failed to compile regular expression "\\pL": \\p is not supported/],
    ['ID matches `[\\P{Greek}]`', /\\P is not supported/],
    ['ID matches `a(?i)b`', /Failed to compile regular expression "a\(\?i\)b"/],
    ['ID matches `\\x{1F600}`', /above/],
  ])('refuses %j, as RE2 does', (expression, message) => {
    expect(refusal(expression)).toMatch(message);
  });

  it('matches in time linear in the value: a pattern that backtracks exponentially cannot stall the registry', () => {
    // JavaScript's backtracking engine takes seconds on 28 characters here, and doubles with each one more: with it,
    // this test would not finish.
    const filter = compileFilter('ID matches `^(.*)*y$` or ID matches `(?i)^(X+)+Y`', FIELDS, 4096);
    expect(filter.matches({ ...ITEMS.a, ID: 'x'.repeat(64) })).toBe(false);
    expect(filter.matches({ ...ITEMS.a, ID: `${'x'.repeat(64)}y` })).toBe(true);
  });

  it('refuses an expression longer than the limit, and takes one of exactly the limit', () => {
    const expression = 'ID == "web-a"';
    expect(refusal(expression, expression.length - 1)).toMatch(/13 characters long, more than the 12 allowed/);
    expect(compileFilter(expression, FIELDS, expression.length).matches(ITEMS.a)).toBe(true);
  });

  it(`nests up to ${MAX_FILTER_DEPTH} groups and refuses deeper, without exhausting the stack`, () => {
    const nested = (depth: number): string => `${'('.repeat(depth)}Port == 80${')'.repeat(depth)}`;
    expect(compileFilter(nested(MAX_FILTER_DEPTH), FIELDS, 1e6).matches(ITEMS.a)).toBe(true);
    expect(refusal(nested(MAX_FILTER_DEPTH + 1), 1e6)).toMatch(/nests more than 64/);
    expect(refusal(`${'not '.repeat(MAX_FILTER_DEPTH + 1)}Port == 80`, 1e6)).toMatch(/nests more than 64/);
    // A long flat chain is one node, not a deep one.
    const chain = Array.from({ length: 20_000 }, (_, i) => `Port == ${i}`).join(' or ');
    expect(compileFilter(chain, FIELDS, chain.length).matches(ITEMS.c)).toBe(true);
  });

  it('treats null collections as empty and missing fields of a list element as absent', () => {
    const filter = compileFilter('Tags is empty and Meta is empty and Checks is empty', FIELDS, 4096);
    expect(filter.matches({ Tags: null, Meta: null, Checks: null })).toBe(true);
    expect(compileFilter('Checks.Status != "x"', FIELDS, 4096).matches({ Checks: [{}] })).toBe(true);
  });
});
