/**
 * Consul's `?filter=` expressions (go-bexpr, https://developer.hashicorp.com/consul/api-docs/features/filtering):
 * parsed once per request, checked against the fields of the endpoint's answer objects, then run on each object.
 *
 * - Grammar: `or` < `and` < `not` < parentheses < match. A match is `<Selector> ==|!=|contains|not contains|matches|
 *   not matches <Value>`, `<Selector> is empty|is not empty`, or `<Value> in|not in <Selector>`. A selector is
 *   dotted names (`Service.Meta.env`) or `["key"]` indexes (`Service.Meta["k-8s"]`); a value is a string in double
 *   quotes (Go escapes) or backticks (raw), a number, or a bare name (taken as its text, as go-bexpr takes it).
 * - Types, as Consul's typed filters check them: strings take ==, !=, in/contains (substring) and matches; numbers
 *   and booleans take == and != (the value is coerced to the field's type, `"80"` and `80` alike); lists of strings
 *   take in/contains and is empty; maps take in (a key) and is empty, and `Map.key` selects a value; lists of objects
 *   (`Checks`) take is empty, and a selector through one (`Checks.Status`) matches when any element matches.
 * - A key the map lacks: ==, in, matches and is not empty are false, their negations true (go-bexpr's
 *   NotPresentDisposition).
 * - Every refusal is INVALID_ARGUMENT with Consul's prefix "Failed to create boolean expression evaluator: ", so the
 *   Consul routes answer 400 with it as text, before a blocking read holds the request.
 *
 * Invariant: parsing is linear in the expression's length and nests at most MAX_FILTER_DEPTH groups deep, so an
 * expression of the configured maximum length cannot exhaust the stack. `matches` runs in time linear in the value,
 * as Go's RE2 does (see `regexOf`): a pattern cannot hang the registry, whatever any caller sends.
 */
import { setFlagsFromString } from 'node:v8';
import { RegistryError } from '../errors/index.js';
import { parseGoBool } from './mapping.js';

/** The type of one field of an answer object, as the filter checks selectors and operators against it. */
export type FieldType =
  | 'string'
  | 'integer'
  | 'boolean'
  | 'strings'
  | { readonly map: FieldType }
  | { readonly struct: FieldTypes }
  | { readonly list: FieldTypes };
export type FieldTypes = Readonly<Record<string, FieldType>>;

/**
 * Deepest nesting of `(` and `not` in an expression. Each level is a few stack frames of the recursive parser and
 * evaluator; 64 is far beyond any expression a person or a client library writes, and far below Node's stack.
 */
export const MAX_FILTER_DEPTH = 64;

const PREFIX = 'Failed to create boolean expression evaluator: ';

type Operator = 'Equal' | 'Not Equal' | 'In' | 'Not In' | 'Is Empty' | 'Is Not Empty' | 'Matches' | 'Not Matches';

/** What a field of each kind supports (Consul's API docs list the same per selector). */
const STRING_OPERATORS: readonly Operator[] = ['Equal', 'Not Equal', 'In', 'Not In', 'Matches', 'Not Matches'];
const SCALAR_OPERATORS: readonly Operator[] = ['Equal', 'Not Equal'];
const COLLECTION_OPERATORS: readonly Operator[] = ['In', 'Not In', 'Is Empty', 'Is Not Empty'];
const LIST_OPERATORS: readonly Operator[] = ['Is Empty', 'Is Not Empty'];

type Scalar = string | number | boolean;

type Node =
  | { readonly type: 'and' | 'or'; readonly operands: readonly Node[] }
  | { readonly type: 'not'; readonly operand: Node }
  | {
      readonly type: 'match';
      readonly path: readonly string[];
      readonly operator: Operator;
      readonly value: Scalar | Pattern | undefined;
    };

/** A checked expression: keeps the answer objects it matches. */
export interface Filter {
  matches(item: unknown): boolean;
}

/**
 * Parses `expression` and checks it against `fields`, the answer objects' fields.
 * @example
 * const filter = compileFilter('Service.Meta.env == "prod" and "v2" in Service.Tags', HEALTH_ENTRY_FIELDS, 4096);
 * entries.filter((entry) => filter.matches(entry));
 */
export function compileFilter(expression: string, fields: FieldTypes, maxLength: number): Filter {
  if (expression.length > maxLength) {
    throw refusal(`expression is ${expression.length} characters long, more than the ${maxLength} allowed`);
  }
  const ast = new Parser(expression).parse();
  const checked = check(ast, fields);
  return { matches: (item) => evaluate(checked, item) };
}

function refusal(message: string): RegistryError {
  return new RegistryError('INVALID_ARGUMENT', `${PREFIX}${message}`);
}

// ---- parsing --------------------------------------------------------------------------------------------------------

/** A match as parsed: the value is still the text the expression gave (go-bexpr's MatchValue.Raw). */
type RawNode =
  | { readonly type: 'and' | 'or'; readonly operands: readonly RawNode[] }
  | { readonly type: 'not'; readonly operand: RawNode }
  | { readonly type: 'match'; readonly path: string[]; readonly operator: Operator; readonly raw: string | undefined };

/** A value or selector before the operator says which it is. */
type Term = { kind: 'selector'; path: string[]; text: string } | { kind: 'literal'; text: string };

const IDENTIFIER = /[A-Za-z][A-Za-z0-9_]*/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?/y;
const WORD = /[A-Za-z]+/y;

class Parser {
  readonly #text: string;
  #at = 0;
  #depth = 0;

  constructor(text: string) {
    this.#text = text;
  }

  parse(): RawNode {
    this.#space();
    if (this.#at === this.#text.length) throw this.#error('an expression');
    const node = this.#or();
    this.#space();
    if (this.#at < this.#text.length) throw this.#error('"and", "or" or the end of the expression');
    return node;
  }

  // `a or b or c` is one node of three operands, not a chain: evaluation recurses only as deep as groups nest.
  #or(): RawNode {
    const operands = [this.#and()];
    while (this.#keyword('or')) operands.push(this.#and());
    return operands.length === 1 ? (operands[0] as RawNode) : { type: 'or', operands };
  }

  #and(): RawNode {
    const operands = [this.#not()];
    while (this.#keyword('and')) operands.push(this.#not());
    return operands.length === 1 ? (operands[0] as RawNode) : { type: 'and', operands };
  }

  #not(): RawNode {
    if (this.#keyword('not')) return this.#nested(() => ({ type: 'not', operand: this.#not() }));
    return this.#group();
  }

  #group(): RawNode {
    this.#space();
    if (this.#text[this.#at] !== '(') return this.#match();
    this.#at++;
    return this.#nested(() => {
      const inner = this.#or();
      this.#space();
      if (this.#text[this.#at] !== ')') throw this.#error('")" (unmatched parentheses)');
      this.#at++;
      return inner;
    });
  }

  #nested(parse: () => RawNode): RawNode {
    if (++this.#depth > MAX_FILTER_DEPTH)
      throw refusal(`expression nests more than ${MAX_FILTER_DEPTH} groups or "not"s deep`);
    const node = parse();
    this.#depth--;
    return node;
  }

  #match(): RawNode {
    this.#space();
    const first = this.#term();
    this.#space();
    if (this.#symbol('==')) return this.#selectorFirst(first, 'Equal');
    if (this.#symbol('!=')) return this.#selectorFirst(first, 'Not Equal');
    const start = this.#at;
    const word = this.#word() ?? '';
    switch (word) {
      case 'contains':
        return this.#selectorFirst(first, 'In');
      case 'matches':
        return this.#selectorFirst(first, 'Matches');
      case 'in':
        return this.#valueFirst(first, 'In');
      case 'is': {
        const negated = this.#keyword('not');
        if (!this.#keyword('empty')) throw this.#error(negated ? '"empty"' : '"empty" or "not empty"');
        return {
          type: 'match',
          path: this.#selectorOf(first),
          operator: negated ? 'Is Not Empty' : 'Is Empty',
          raw: undefined,
        };
      }
      case 'not': {
        const next = this.#word();
        if (next === 'contains') return this.#selectorFirst(first, 'Not In');
        if (next === 'matches') return this.#selectorFirst(first, 'Not Matches');
        if (next === 'in') return this.#valueFirst(first, 'Not In');
        break;
      }
      default:
        break;
    }
    this.#at = start;
    throw this.#error('"==", "!=", "in", "not in", "contains", "not contains", "matches", "not matches" or "is"');
  }

  #selectorFirst(first: Term, operator: Operator): RawNode {
    const path = this.#selectorOf(first);
    this.#space();
    return { type: 'match', path, operator, raw: this.#term().text };
  }

  #valueFirst(first: Term, operator: Operator): RawNode {
    this.#space();
    const selector = this.#term();
    if (selector.kind !== 'selector') throw this.#error('a selector after "in"', 'Invalid selector');
    return { type: 'match', path: selector.path, operator, raw: first.text };
  }

  #selectorOf(term: Term): string[] {
    if (term.kind === 'selector') return term.path;
    throw refusal(`${JSON.stringify(term.text)} is a value where a selector is expected (write the selector first)`);
  }

  /** A selector, number or string: which one it is decides what may follow. */
  #term(): Term {
    const c = this.#text[this.#at];
    if (c === '"' || c === '`') return { kind: 'literal', text: this.#string() };
    NUMBER.lastIndex = this.#at;
    const number = NUMBER.exec(this.#text);
    if (number) {
      const end = NUMBER.lastIndex;
      const after = this.#text[end];
      if (after !== undefined && !/[\s)]/.test(after)) throw this.#error('a number', 'Invalid number literal');
      this.#at = end;
      return { kind: 'literal', text: number[0] };
    }
    const start = this.#at;
    const path = [this.#identifier()];
    for (;;) {
      const next = this.#text[this.#at];
      if (next === '.') {
        this.#at++;
        const digits = /[0-9]+/y;
        digits.lastIndex = this.#at;
        const index = digits.exec(this.#text);
        if (index) {
          path.push(index[0]);
          this.#at = digits.lastIndex;
        } else path.push(this.#identifier());
      } else if (next === '[') {
        this.#at++;
        this.#space();
        const quote = this.#text[this.#at];
        if (quote !== '"' && quote !== '`') throw this.#error('a quoted map key', 'Invalid index');
        path.push(this.#string());
        this.#space();
        if (this.#text[this.#at] !== ']') throw this.#error('"]"', 'Unclosed index expression');
        this.#at++;
      } else break;
    }
    return { kind: 'selector', path, text: this.#text.slice(start, this.#at) };
  }

  #identifier(): string {
    IDENTIFIER.lastIndex = this.#at;
    const match = IDENTIFIER.exec(this.#text);
    if (!match) throw this.#error('a selector, a number or a quoted string');
    this.#at = IDENTIFIER.lastIndex;
    return match[0];
  }

  /** A string literal as Go's strconv.Unquote reads it: backticks raw, double quotes with Go's escapes. */
  #string(): string {
    const quote = this.#text[this.#at] as '"' | '`';
    const start = this.#at;
    const end = this.#text.indexOf(quote, start + 1);
    if (end < 0) throw this.#error(`a closing ${quote}`, 'Unterminated string literal');
    this.#at = end + 1;
    const body = this.#text.slice(start + 1, end);
    if (quote === '`') return body.replaceAll('\r', '');
    const value = unescapeGo(body);
    if (value === undefined) {
      this.#at = start;
      throw this.#error('a valid string literal', `invalid escape or character in ${quote}${body}${quote}`);
    }
    return value;
  }

  /** Consumes `word` when it is the next word (whitespace before it skipped). */
  #keyword(word: string): boolean {
    const start = this.#at;
    this.#space();
    WORD.lastIndex = this.#at;
    const match = WORD.exec(this.#text);
    const after = this.#text[WORD.lastIndex];
    if (match?.[0] === word && (after === undefined || !/[A-Za-z0-9_]/.test(after))) {
      this.#at = WORD.lastIndex;
      return true;
    }
    this.#at = start;
    return false;
  }

  #word(): string | undefined {
    this.#space();
    WORD.lastIndex = this.#at;
    const match = WORD.exec(this.#text);
    if (!match) return undefined;
    this.#at = WORD.lastIndex;
    return match[0];
  }

  #symbol(symbol: string): boolean {
    if (!this.#text.startsWith(symbol, this.#at)) return false;
    this.#at += symbol.length;
    return true;
  }

  #space(): void {
    while (this.#at < this.#text.length && ' \t\r\n'.includes(this.#text[this.#at] as string)) this.#at++;
  }

  /** go-bexpr's (pigeon's) position form: `line:column (offset)`. */
  #error(expected: string, problem = 'no match found'): RegistryError {
    const before = this.#text.slice(0, this.#at);
    const line = before.split('\n').length;
    const column = this.#at - before.lastIndexOf('\n');
    return refusal(`${line}:${column} (${this.#at}): ${problem}, expected ${expected}`);
  }
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  '"': '"',
};

/** Go's escapes in a double-quoted literal; undefined where Go's strconv.Unquote refuses. */
function unescapeGo(body: string): string | undefined {
  if (body.includes('\n')) return undefined;
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as string;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = body[++i];
    if (e === undefined) return undefined;
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      out += simple;
      continue;
    }
    const digits = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : /[0-7]/.test(e) ? 3 : 0;
    if (digits === 0) return undefined;
    const octal = digits === 3;
    const code = octal ? body.slice(i, i + 3) : body.slice(i + 1, i + 1 + digits);
    if (code.length !== digits || !(octal ? /^[0-7]+$/ : /^[0-9A-Fa-f]+$/).test(code)) return undefined;
    const value = parseInt(code, octal ? 8 : 16);
    if (value > 0x10ffff || (value >= 0xd800 && value < 0xe000) || (octal && value > 0xff)) return undefined;
    // \x and octal escapes are bytes in Go; as text they stand for the byte's Latin-1 character.
    out += String.fromCodePoint(value);
    i += octal ? 2 : digits;
  }
  return out;
}

// ---- checking -------------------------------------------------------------------------------------------------------

function check(node: RawNode, fields: FieldTypes): Node {
  switch (node.type) {
    case 'and':
    case 'or':
      return { type: node.type, operands: node.operands.map((operand) => check(operand, fields)) };
    case 'not':
      return { type: 'not', operand: check(node.operand, fields) };
    case 'match':
      return checkMatch(node, fields);
  }
}

function checkMatch(node: Extract<RawNode, { type: 'match' }>, fields: FieldTypes): Node {
  const { path, operator, raw } = node;
  const name = path.join('.');
  let type: FieldType = { struct: fields };
  path.forEach((part, at) => {
    const field = childType(type, part);
    if (field === undefined) throw refusal(`Selector "${path.slice(0, at + 1).join('.')}" is not valid`);
    type = field;
  });
  if (!operatorsOf(type).includes(operator))
    throw refusal(`Invalid match operator "${operator}" for selector "${name}"`);
  if (raw === undefined) return { type: 'match', path, operator, value: undefined };
  const as = valueType(type);
  const coerced = coerce(raw, as);
  if (coerced === undefined)
    throw refusal(`Failed to coerce value "${raw}" for selector "${name}": not ${describe(as)}`);
  if (operator === 'Matches' || operator === 'Not Matches')
    return { type: 'match', path, operator, value: regexOf(raw) };
  return { type: 'match', path, operator, value: coerced };
}

/** The type `part` selects inside `type`: a struct's field, any map key, through a list to its elements' field. */
function childType(type: FieldType, part: string): FieldType | undefined {
  if (typeof type === 'string') return undefined;
  if ('map' in type) return type.map;
  const fields = 'struct' in type ? type.struct : type.list;
  return Object.hasOwn(fields, part) ? fields[part] : undefined;
}

function operatorsOf(type: FieldType): readonly Operator[] {
  if (type === 'string') return STRING_OPERATORS;
  if (type === 'integer' || type === 'boolean') return SCALAR_OPERATORS;
  if (type === 'strings' || 'map' in type) return COLLECTION_OPERATORS;
  if ('list' in type) return LIST_OPERATORS;
  return [];
}

/** The type the value is compared as: a number or boolean field's own; text for strings, list elements, map keys. */
function valueType(type: FieldType): 'string' | 'integer' | 'boolean' {
  return type === 'integer' || type === 'boolean' ? type : 'string';
}

function describe(type: 'string' | 'integer' | 'boolean'): string {
  return type === 'integer' ? 'an integer' : type === 'boolean' ? 'a boolean' : 'a string';
}

/** The raw value as the field's type, as go-bexpr coerces it (strconv.ParseInt base 0, strconv.ParseBool). */
function coerce(raw: string, type: 'string' | 'integer' | 'boolean'): Scalar | undefined {
  switch (type) {
    case 'string':
      return raw;
    case 'boolean':
      return parseGoBool(raw);
    case 'integer':
      return goInteger(raw);
  }
}

function goInteger(raw: string): number | undefined {
  const match = /^([+-]?)(?:0[xX]([0-9A-Fa-f]+)|0[oO]([0-7]+)|0[bB]([01]+)|(0[0-7]*)|([1-9][0-9]*))$/.exec(raw);
  if (!match) return undefined;
  const [, sign, hex, octal, binary, leadingZero, decimal] = match;
  const magnitude =
    hex !== undefined
      ? parseInt(hex, 16)
      : octal !== undefined
        ? parseInt(octal, 8)
        : binary !== undefined
          ? parseInt(binary, 2)
          : leadingZero !== undefined
            ? parseInt(leadingZero, 8)
            : Number(decimal);
  const value = sign === '-' ? -magnitude : magnitude;
  return Number.isSafeInteger(value) ? value : undefined;
}

// V8's linear-time engine (RegExp flag `l`), the same automaton approach as Go's RE2: JavaScript's default
// backtracking engine takes exponential time on patterns such as `^(.*)*y$`, and anyone allowed to read could send one
// (a 28-character value already takes seconds). The flag only allows the `l` flag; other RegExps are unaffected.
setFlagsFromString('--enable-experimental-regexp-engine');

/** A compiled `matches` pattern. */
interface Pattern {
  test(value: string): boolean;
}

/** Go's POSIX classes (inside brackets, `[[:alpha:]]`) as JavaScript class contents. */
const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7f',
  blank: '\\t ',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-/:-@[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

/**
 * A Go regular expression, run by V8's linear-time engine. Go's syntax that JavaScript spells otherwise is rewritten:
 * a leading flag group (`(?i)`, `(?s)`, `(?m)`, `(?is)`) becomes flags, `(?P<name>` a named group, `\A` and `\z` the
 * start and end of the text, `\Q…\E` an escaped literal, `\a` and `\x{…}` their characters, `[:alpha:]` and the other
 * POSIX classes their ranges. The linear engine has no case-insensitive mode, so `(?i)` matches the lower-cased
 * pattern against the lower-cased value (escapes keep their case: `\D` stays `\D`). What it cannot run in linear time
 * (backreferences, lookaround) is refused, as RE2 refuses it, and so are Unicode classes (`\pL`, `\p{Greek}`) and `\C`.
 */
function regexOf(source: string): Pattern {
  const leading = /^\(\?([ism]+)\)/.exec(source);
  const flags = new Set(leading?.[1] ?? '');
  const fold = flags.delete('i');
  const multiline = flags.has('m');
  const body = leading ? source.slice(leading[0].length) : source;
  let pattern = '';
  let inClass = false;
  for (let at = 0; at < body.length; at++) {
    const char = body[at] as string;
    if (char === '\\') {
      const next = body[at + 1] ?? '';
      at += 1;
      if ((next === 'A' || next === 'z') && !inClass) {
        // Go's \A and \z are the text's ends even in multi-line mode, where ^ and $ are the lines'.
        if (multiline) throw refusal(`Failed to compile regular expression "${source}": \\${next} with (?m)`);
        pattern += next === 'A' ? '^' : '$';
      } else if (next === 'Q' && !inClass) {
        // \Q…\E: everything up to \E (or the end) is literal.
        const end = body.indexOf('\\E', at + 1);
        const literal = body.slice(at + 1, end === -1 ? body.length : end);
        pattern += (fold ? literal.toLowerCase() : literal).replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
        at = end === -1 ? body.length : end + 1;
      } else if (next === 'a') {
        pattern += '\\x07';
      } else if (next === 'x' && body[at + 1] === '{') {
        const hex = /^\{([0-9A-Fa-f]{1,4})\}/.exec(body.slice(at + 1));
        if (!hex) throw refusal(`Failed to compile regular expression "${source}": \\x{…} above \\x{FFFF}`);
        pattern += `\\u${(hex[1] as string).padStart(4, '0')}`;
        at += hex[0].length;
      } else if (next === 'p' || next === 'P' || next === 'C') {
        // Unicode classes need the RegExp u flag, which the linear-time engine does not take; \C (any byte) has no
        // equivalent. Without u, JavaScript would read \pL as the letters "pL": refused rather than matched wrongly.
        throw refusal(`Failed to compile regular expression "${source}": \\${next} is not supported`);
      } else pattern += `\\${next}`;
      continue;
    }
    if (inClass) {
      const posix = /^\[:(\^?)([a-z]+):\]/.exec(body.slice(at));
      const range = posix ? POSIX_CLASSES[posix[2] as string] : undefined;
      if (posix && range !== undefined && posix[1] === '') {
        pattern += fold ? range.toLowerCase() : range;
        at += posix[0].length - 1;
        continue;
      }
      if (char === ']') inClass = false;
    } else if (char === '[') {
      inClass = true;
      // A ']' right after '[' (or '[^') is a member, as in Go.
      const lead = body[at + 1] === '^' ? 2 : 1;
      if (body[at + lead] === ']') {
        pattern += body.slice(at, at + lead) + '\\]';
        at += lead;
        continue;
      }
    } else if (body.startsWith('(?P<', at)) {
      pattern += '(?<';
      at += 3;
      continue;
    }
    pattern += fold ? char.toLowerCase() : char;
  }
  let compiled: RegExp;
  try {
    compiled = new RegExp(pattern, `${[...flags].join('')}l`);
  } catch (err) {
    throw refusal(`Failed to compile regular expression "${source}": ${(err as Error).message}`);
  }
  return fold ? { test: (value) => compiled.test(value.toLowerCase()) } : compiled;
}

// ---- evaluation -----------------------------------------------------------------------------------------------------

function evaluate(node: Node, item: unknown): boolean {
  switch (node.type) {
    case 'and':
      return node.operands.every((operand) => evaluate(operand, item));
    case 'or':
      return node.operands.some((operand) => evaluate(operand, item));
    case 'not':
      return !evaluate(node.operand, item);
    case 'match':
      return matchAt(node, 0, item);
  }
}

const MISSING = Symbol('missing');

function matchAt(node: Extract<Node, { type: 'match' }>, depth: number, value: unknown): boolean {
  if (depth === node.path.length) return apply(node, value);
  // A list on the way is an implicit "any": the selector continues into each element.
  if (Array.isArray(value)) return value.some((element) => matchAt(node, depth, element));
  const key = node.path[depth] as string;
  const next = isRecord(value) && Object.hasOwn(value, key) ? value[key] : MISSING;
  if (next === MISSING || next === undefined) return absent(node.operator);
  return matchAt(node, depth + 1, next);
}

function apply(node: Extract<Node, { type: 'match' }>, value: unknown): boolean {
  const { operator, value: wanted } = node;
  switch (operator) {
    case 'Equal':
      return value === wanted;
    case 'Not Equal':
      return value !== wanted;
    case 'In':
      return contains(value, wanted);
    case 'Not In':
      return !contains(value, wanted);
    case 'Is Empty':
      return sizeOf(value) === 0;
    case 'Is Not Empty':
      return sizeOf(value) !== 0;
    case 'Matches':
      return typeof value === 'string' && (wanted as Pattern).test(value);
    case 'Not Matches':
      return !(typeof value === 'string' && (wanted as Pattern).test(value));
  }
}

/** go-bexpr's NotPresentDisposition: nothing equals, contains or matches a key the map lacks, and it is empty. */
function absent(operator: Operator): boolean {
  switch (operator) {
    case 'Equal':
    case 'In':
    case 'Is Not Empty':
    case 'Matches':
      return false;
    case 'Not Equal':
    case 'Not In':
    case 'Is Empty':
    case 'Not Matches':
      return true;
  }
}

function contains(value: unknown, wanted: unknown): boolean {
  if (typeof value === 'string') return value.includes(wanted as string);
  if (Array.isArray(value)) return value.includes(wanted);
  if (isRecord(value)) return Object.hasOwn(value, wanted as string);
  return false;
}

function sizeOf(value: unknown): number {
  if (typeof value === 'string' || Array.isArray(value)) return value.length;
  if (isRecord(value)) return Object.keys(value).length;
  return 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
