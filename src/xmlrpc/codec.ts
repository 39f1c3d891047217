/**
 * The XML side of the endpoint, over the @foxglove/xmlrpc codec (a sax parser and an xmlbuilder2 serializer).
 *
 * Invariants:
 * - A body is refused before the parser sees it when it declares a DOCTYPE, an entity or any other markup
 *   declaration: nothing is ever expanded or fetched (no XXE, no billion laughs).
 * - What is decoded has at most `maxDepth` nested arrays and structs, and its structs are plain objects (a member
 *   named `__proto__` would otherwise have set the struct's prototype), so later code may recurse over it safely.
 * - Every answer serializes: strings are first cleared of what XML 1.0 cannot carry.
 */
import { Deserializer, XmlRpcFault as CodecFault, serializeFault, serializeMethodResponse } from '@foxglove/xmlrpc';
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

/** The methodResponse carrying `value`. */
export function encodeResult(value: XmlRpcValue): string {
  return serializeMethodResponse(clean(value));
}

/** The methodResponse carrying a fault. */
export function encodeFault(fault: XmlRpcFault): string {
  return serializeFault(new CodecFault(cleanString(fault.faultString), fault.faultCode));
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

/** A copy of an answer whose strings all serialize (answers are the registry's own shapes, a few levels deep). */
function clean(value: XmlRpcValue): XmlRpcValue {
  if (typeof value === 'string') return cleanString(value);
  if (Array.isArray(value)) return value.map(clean);
  if (isStruct(value)) {
    const out: XmlRpcStruct = {};
    for (const [key, member] of Object.entries(value)) out[cleanString(key)] = clean(member);
    return out;
  }
  return value;
}

/**
 * Replaces what XML cannot carry with U+FFFD. The codec writes a string holding `<` or `&` as a CDATA section,
 * which cannot contain `]]>`, so in such a string that sequence loses its `>` too.
 */
function cleanString(value: string): string {
  const text = value.replace(NOT_XML, REPLACEMENT);
  return /[<&]/.test(text) ? text.replaceAll(']]>', `]]${REPLACEMENT}`) : text;
}
