import { Deserializer } from '@foxglove/xmlrpc';
import { describe, expect, it } from 'vitest';
import { ArrayAnswer, decodeCall, encodeFault, encodedBytes, encodeResult } from './codec.js';
import type { XmlRpcValue } from './codec.js';
import { XmlRpcFault } from './fault.js';

const call = (params: string, method = 'm'): string =>
  `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params}</params></methodCall>`;
const nested = (depth: number): string =>
  `<param>${'<value><array><data>'.repeat(depth)}${'</data></array></value>'.repeat(depth)}</param>`;

async function faultOf(body: string): Promise<XmlRpcFault> {
  try {
    await decodeCall(body, { maxDepth: 32 });
  } catch (err) {
    if (err instanceof XmlRpcFault) return err;
    throw err;
  }
  throw new Error('decoded');
}

describe('decodeCall', () => {
  it('decodes a method call with its params', async () => {
    const body = call(
      '<param><value><string>web</string></value></param><param><value><int>8000</int></value></param>',
    );
    await expect(decodeCall(`\uFEFF${body}`, { maxDepth: 32 })).resolves.toEqual({
      method: 'm',
      params: ['web', 8000],
    });
  });

  it('refuses DOCTYPE, entity and other markup declarations before parsing', async () => {
    for (const declaration of [
      '<!DOCTYPE methodCall>',
      '<!doctype methodCall>',
      '<!DOCTYPE x [<!ENTITY e "e">]>',
      '<!ENTITY e SYSTEM "file:///etc/passwd">',
      '<!ELEMENT methodCall ANY>',
    ]) {
      const fault = await faultOf(`<?xml version="1.0"?>${declaration}${call('')}`);
      expect(fault.faultCode, declaration).toBe(-32700);
      expect(fault.faultString).toMatch(/declarations are refused/);
    }
  });

  it('takes comments and CDATA sections, even one holding "<!"', async () => {
    const body = `<!-- a comment -->${call('<param><value><string><![CDATA[<!DOCTYPE is text here]]></string></value></param>')}`;
    await expect(decodeCall(body, { maxDepth: 32 })).resolves.toEqual({
      method: 'm',
      params: ['<!DOCTYPE is text here'],
    });
  });

  it('refuses what is not a method call', async () => {
    for (const body of ['', '   ', 'plain text', '{"a":1}', '<methodResponse><params/></methodResponse>', '<a><b>']) {
      expect((await faultOf(body)).faultCode, body).toBe(-32700);
    }
  });

  it('caps the nesting depth', async () => {
    await expect(decodeCall(call(nested(32)), { maxDepth: 32 })).resolves.toMatchObject({ method: 'm' });
    expect((await faultOf(call(nested(33)))).faultString).toMatch(/nested more than 32 deep/);
  });

  it('refuses a struct member named __proto__', async () => {
    const member = (name: string): string =>
      `<param><value><struct><member><name>${name}</name><value><struct></struct></value></member></struct></value></param>`;
    expect((await faultOf(call(member('__proto__')))).faultCode).toBe(-32700);
    await expect(decodeCall(call(member('constructor')), { maxDepth: 32 })).resolves.toEqual({
      method: 'm',
      params: [{ constructor: {} }],
    });
  });
});

const sizeOf = (text: string | undefined): number => Buffer.byteLength(text ?? '');

describe('answer budgets', () => {
  const value: XmlRpcValue = {
    instances: Array.from({ length: 50 }, (_, i) => ({ id: `i-${i}`, note: 'é'.repeat(100) })),
  };
  const whole = encodeResult(value, Infinity);

  it('answers nothing for a result past its budget, and the result itself at exactly its size', () => {
    expect(encodeResult(value, sizeOf(whole))).toBe(whole);
    expect(encodeResult(value, sizeOf(whole) - 1)).toBeUndefined();
  });

  it('counts UTF-8 bytes, not characters', () => {
    const answer = encodeResult('é'.repeat(1_000), Infinity);
    expect(encodeResult('é'.repeat(1_000), sizeOf(answer))).toBe(answer);
    expect(encodeResult('é'.repeat(1_000), (answer?.length ?? 0) + 10)).toBeUndefined();
  });

  it('stops at a huge string before copying it', () => {
    expect(encodeResult('x'.repeat(64 * 1024 * 1024), 1024 * 1024)).toBeUndefined();
  });

  it('writes an array answer entry by entry within its budget, keeping the reserve free', async () => {
    const entry = ['a', 1];
    const size = encodedBytes(entry);
    const empty = new ArrayAnswer(Infinity);
    const answer = new ArrayAnswer(sizeOf(empty.finish()) + 3 * size);
    expect(answer.push(entry)).toBe(true);
    expect(answer.push(entry, size)).toBe(true);
    expect(answer.push(entry, 1)).toBe(false);
    expect(answer.left).toBe(size);
    expect(answer.push(entry)).toBe(true);
    expect(answer.left).toBe(0);
    expect(answer.push(entry)).toBe(false);
    const text = answer.finish();
    expect(sizeOf(text)).toBe(sizeOf(empty.finish()) + 3 * size);
    await expect(new Deserializer().deserializeMethodResponse(text)).resolves.toEqual([entry, entry, entry]);
  });
});

describe('encodeResult and encodeFault', () => {
  it('round-trips the registry shapes', async () => {
    const value = { id: 'a', port: 8000, tags: ['x'], metadata: { k: 'v & <w>' }, weight: 1.5, ok: true };
    await expect(new Deserializer().deserializeMethodResponse(encodeResult(value, 10_000) ?? '')).resolves.toEqual(
      value,
    );
  });

  it('round-trips every value type, and text that needs escaping', async () => {
    const value = {
      text: 'a & b < c > d ]]> e\r\nf "g" \'h\' é 😀',
      plain: 'x]]>y',
      int: -42,
      double: 0.25,
      bool: false,
      date: new Date('2026-01-02T03:04:05.678Z'),
      bytes: new Uint8Array([0, 1, 254, 255]),
      nested: [[], {}, [{ 'k & <v>': ['deep'] }]],
    };
    const decoded = await new Deserializer().deserializeMethodResponse(encodeResult(value, 10_000) ?? '');
    expect(decoded).toEqual({
      ...value,
      text: 'a & b < c > d ]]\uFFFD e\r\nf "g" \'h\' é 😀',
      bytes: Buffer.from(value.bytes),
    });
  });

  it('writes a fault with its code and string', async () => {
    const xml = encodeFault(new XmlRpcFault(1404, 'NOT_FOUND: <gone> ]]>'));
    await expect(new Deserializer().deserializeMethodResponse(xml)).rejects.toMatchObject({
      faultCode: 1404,
      faultString: 'NOT_FOUND: <gone> ]]\uFFFD',
    });
  });
});
