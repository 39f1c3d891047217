import { Deserializer } from '@foxglove/xmlrpc';
import { describe, expect, it } from 'vitest';
import { decodeCall, encodeFault, encodeResult } from './codec.js';
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

describe('encodeResult and encodeFault', () => {
  it('round-trips the registry shapes', async () => {
    const value = { id: 'a', port: 8000, tags: ['x'], metadata: { k: 'v & <w>' }, weight: 1.5, ok: true };
    await expect(new Deserializer().deserializeMethodResponse(encodeResult(value))).resolves.toEqual(value);
  });

  it('writes a fault with its code and string', async () => {
    const xml = encodeFault(new XmlRpcFault(1404, 'NOT_FOUND: <gone> ]]>'));
    await expect(new Deserializer().deserializeMethodResponse(xml)).rejects.toMatchObject({
      faultCode: 1404,
      faultString: 'NOT_FOUND: <gone> ]]\uFFFD',
    });
  });
});
