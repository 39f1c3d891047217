/**
 * The XML side of the endpoint: calls are decoded by the @foxglove/xmlrpc codec (a sax parser), answers are written
 * here.
 *
 * Invariants:
 * - A body is refused before the parser sees it when it declares a DOCTYPE, an entity or any other markup
 *   declaration: nothing is ever expanded or fetched (no XXE, no billion laughs).
 * - What is decoded has at most `maxDepth` nested arrays and structs, and its structs are plain objects (a member
 *   named `__proto__` would otherwise have set the struct's prototype), so later code may recurse over it safely.
 * - Every answer serializes: strings are first cleared of what XML 1.0 cannot carry.
 * - An answer never passes the byte budget it is written against, and writing stops as soon as it would: the bytes
 *   are counted as they are written, never after the whole answer was built (issue #14: one multicall built a 284 MB
 *   answer and held 2.5 GB).
 */
import { Deserializer } from '@foxglove/xmlrpc';
import type { XmlRpcStruct, XmlRpcValue } from '@foxglove/xmlrpc';
import { parseError } from './fault.js';
import type { XmlRpcFault } from './fault.js';

export type { XmlRpcStruct, XmlRpcValue };

export interface MethodCall {
  method: string;
  params: XmlRpcValue[];
}

const CDATA_SECTION = /<!\[CDATA\[[\s\S]*?\]\]>/g;
/** `<!DOCTYPE`, `<!ENTITY`, `<!ELEMENT`…: any `<!` that does not open a comment (CDATA sections are removed first). */
const MARKUP_DECLARATION = /<!(?!--)/;
/** Characters XML 1.0 cannot carry at all. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;
const REPLACEMENT = '\uFFFD';

/** Decodes a methodCall; throws a -32700 fault for anything else. */
export async function decodeCall(body: string, options: { maxDepth: number }): Promise<MethodCall> {
  const text = body.replace(/^\uFEFF/, '');
  if (text.trim() === '') throw parseError('the body is empty: send an XML-RPC methodCall');
  if (!text.trimStart().startsWith('<')) throw parseError('the body is not XML');
  if (MARKUP_DECLARATION.test(text.replace(CDATA_SECTION, ''))) {
    throw parseError('DOCTYPE, entity and other markup declarations are refused');
  }
  let decoded: [string, XmlRpcValue[]];
  try {
    decoded = await new Deserializer().deserializeMethodCall(text);
  } catch (err) {
    const message = err instanceof Error ? (err.message.split('\n')[0] ?? '').slice(0, 200) : 'not a methodCall';
    throw parseError(`not an XML-RPC methodCall (${message})`);
  }
  const [method, params] = decoded;
  checkDecoded(params, options.maxDepth);
  return { method, params };
}

const XML_DECLARATION = '<?xml version="1.0"?>';
const RESULT_OPEN = `${XML_DECLARATION}<methodResponse><params><param>`;
const RESULT_CLOSE = '</param></params></methodResponse>';
const ARRAY_OPEN = '<value><array><data>';
const ARRAY_CLOSE = '</data></array></value>';

/** The methodResponse carrying `value`, or undefined when it would take more than `maxBytes` bytes (UTF-8). */
export function encodeResult(value: XmlRpcValue, maxBytes: number): string | undefined {
  const writer = new ValueWriter(maxBytes - RESULT_OPEN.length - RESULT_CLOSE.length);
  return writer.write(value) ? `${RESULT_OPEN}${writer.text}${RESULT_CLOSE}` : undefined;
}

/** The methodResponse carrying a fault (a fault is small: its string is the registry's own message). */
export function encodeFault(fault: XmlRpcFault): string {
  const writer = new ValueWriter(Infinity);
  writer.write({ faultCode: fault.faultCode, faultString: fault.faultString });
  return `${XML_DECLARATION}<methodResponse><fault>${writer.text}</fault></methodResponse>`;
}

/** How many bytes `value` takes in an answer. */
export function encodedBytes(value: XmlRpcValue): number {
  const writer = new ValueWriter(Infinity);
  writer.write(value);
  return writer.bytes;
}

/**
 * A methodResponse whose result is an array, written one entry at a time within `maxBytes` (a multicall's answer:
 * its calls share one budget). An entry is encoded as soon as it is known, so only the answer so far is held.
 */
export class ArrayAnswer {
  readonly #maxBytes: number;
  #text = '';
  #bytes = RESULT_OPEN.length + ARRAY_OPEN.length + ARRAY_CLOSE.length + RESULT_CLOSE.length;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Bytes the answer may still take. */
  get left(): number {
    return this.#maxBytes - this.#bytes;
  }

  /** Appends `value` when it fits with `reserve` bytes to spare; appends nothing and answers false when it does not. */
  push(value: XmlRpcValue, reserve = 0): boolean {
    const writer = new ValueWriter(this.left - reserve);
    if (!writer.write(value)) return false;
    this.#text += writer.text;
    this.#bytes += writer.bytes;
    return true;
  }

  /** The whole methodResponse. */
  finish(): string {
    return `${RESULT_OPEN}${ARRAY_OPEN}${this.#text}${ARRAY_CLOSE}${RESULT_CLOSE}`;
  }
}

export function isStruct(value: XmlRpcValue): value is XmlRpcStruct {
  return (
    typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date) && !(value instanceof Uint8Array)
  );
}

/** Walks the decoded params without recursion (they may be arbitrarily deep until checked). */
function checkDecoded(params: XmlRpcValue[], maxDepth: number): void {
  const pending: { value: XmlRpcValue; depth: number }[] = params.map((value) => ({ value, depth: 0 }));
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    const { value, depth } = item;
    let children: XmlRpcValue[];
    if (Array.isArray(value)) {
      children = value;
    } else if (isStruct(value)) {
      if (Object.getPrototypeOf(value) !== Object.prototype)
        throw parseError('a struct member may not be named __proto__');
      children = Object.values(value);
    } else {
      continue;
    }
    if (depth + 1 > maxDepth) throw parseError(`values are nested more than ${maxDepth} deep`);
    for (const child of children) pending.push({ value: child, depth: depth + 1 });
  }
}

/** Thrown by a ValueWriter past its budget, and caught by its `write`: it never leaves this module. */
const SPENT = new Error('answer budget spent');

/** What XML text cannot hold as itself: `>` too, so that `]]>` never appears, and CR, which a parser would drop. */
const ESCAPED = /[&<>\r]/g;
const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#13;' };

/** Writes one `<value>` as XML text, counting its UTF-8 bytes as it goes and stopping once they would pass `maxBytes`. */
class ValueWriter {
  text = '';
  bytes = 0;
  readonly #maxBytes: number;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Writes `value`; false, with the text left incomplete, when it would take more than `maxBytes`. */
  write(value: XmlRpcValue): boolean {
    try {
      this.#value(value);
      return true;
    } catch (err) {
      if (err === SPENT) return false;
      throw err;
    }
  }

  /** Answers are the registry's own shapes, a few levels deep: recursion is safe. */
  #value(value: XmlRpcValue): void {
    if ((value as unknown) === null) {
      // Not an XmlRpcValue, but a registry shape might carry one: the nil extension, as the codec wrote it.
      this.#markup('<value><nil/></value>');
    } else if (typeof value === 'string') {
      this.#markup('<value><string>');
      this.#string(value);
      this.#markup('</string></value>');
    } else if (typeof value === 'number') {
      this.#markup(`<value>${numberElement(value)}</value>`);
    } else if (typeof value === 'boolean') {
      this.#markup(`<value><boolean>${value ? '1' : '0'}</boolean></value>`);
    } else if (value === undefined) {
      // As the codec wrote it before: an untyped empty value, which clients read as "".
      this.#markup('<value/>');
    } else if (value instanceof Date) {
      const time = value.getTime();
      this.#markup(
        Number.isNaN(time)
          ? '<value><nil/></value>'
          : `<value><dateTime.iso8601>${value.toISOString()}</dateTime.iso8601></value>`,
      );
    } else if (value instanceof Uint8Array) {
      this.#markup('<value><base64>');
      this.#markup(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'));
      this.#markup('</base64></value>');
    } else if (Array.isArray(value)) {
      this.#markup(ARRAY_OPEN);
      for (const item of value) this.#value(item);
      this.#markup(ARRAY_CLOSE);
    } else {
      this.#markup('<value><struct>');
      for (const [name, member] of Object.entries(value)) {
        this.#markup('<member><name>');
        this.#string(name);
        this.#markup('</name>');
        this.#value(member);
        this.#markup('</member>');
      }
      this.#markup('</struct></value>');
    }
  }

  /** Markup is ASCII: its length is its size. */
  #markup(text: string): void {
    this.#take(text.length);
    this.text += text;
  }

  #string(value: string): void {
    // Each UTF-16 unit takes at least one byte: a string longer than what is left is refused before it is copied.
    if (this.bytes + value.length > this.#maxBytes) throw SPENT;
    const text = cleanString(value).replace(ESCAPED, (c) => ESCAPES[c] ?? c);
    this.#take(Buffer.byteLength(text));
    this.text += text;
  }

  #take(bytes: number): void {
    if (this.bytes + bytes > this.#maxBytes) throw SPENT;
    this.bytes += bytes;
  }
}

function numberElement(value: number): string {
  if (Number.isInteger(value)) return `<int>${value}</int>`;
  if (Number.isNaN(value)) return '<double>nan</double>';
  if (value === Infinity) return '<double>inf</double>';
  if (value === -Infinity) return '<double>-inf</double>';
  return `<double>${value}</double>`;
}

/**
 * Replaces what XML cannot carry with U+FFFD. A string holding `<` or `&` loses the `>` of `]]>` too: the serializer
 * this one replaced wrote such strings as CDATA sections, which cannot hold `]]>`, and answers stay as they were.
 */
function cleanString(value: string): string {
  const text = value.replace(NOT_XML, REPLACEMENT);
  return /[<&]/.test(text) ? text.replaceAll(']]>', `]]${REPLACEMENT}`) : text;
}
