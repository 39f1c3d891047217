import { connect } from 'node:net';
import { Deserializer, serializeMethodCall } from '@foxglove/xmlrpc';
import type { XmlRpcValue } from '@foxglove/xmlrpc';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/index.js';
import { createRegistry } from '../../src/core/index.js';
import type { Registry } from '../../src/core/index.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { addXmlRpcRoutes } from '../../src/xmlrpc/index.js';
import type { XmlRpcOptions } from '../../src/xmlrpc/index.js';
import { API_OPTIONS, CORE_OPTIONS, XMLRPC_OPTIONS } from '../fixtures/core-options.js';

interface Endpoint extends AsyncDisposable {
  app: FastifyInstance;
  registry: Registry;
}

async function endpoint(options: Partial<XmlRpcOptions> = {}): Promise<Endpoint> {
  const registry = await createRegistry({ ...CORE_OPTIONS, store: createMemoryStore(), autoSweep: false });
  const app = buildApi({ registry, logger: pino({ level: 'silent' }), ...API_OPTIONS });
  addXmlRpcRoutes(app, registry, { ...XMLRPC_OPTIONS, ...options });
  await app.ready();
  return {
    app,
    registry,
    [Symbol.asyncDispose]: async () => {
      await app.close();
      await registry.close();
    },
  };
}

async function call(
  app: FastifyInstance,
  payload: string,
  headers: Record<string, string> = { 'content-type': 'text/xml' },
): Promise<{
  status: number;
  type: string | undefined;
  value?: XmlRpcValue;
  fault?: { faultCode: number; faultString: string };
}> {
  const response = await app.inject({ method: 'POST', url: '/RPC2', payload, headers });
  const type = response.headers['content-type'] as string | undefined;
  try {
    return {
      status: response.statusCode,
      type,
      value: await new Deserializer().deserializeMethodResponse(response.body),
    };
  } catch (err) {
    return { status: response.statusCode, type, fault: err as { faultCode: number; faultString: string } };
  }
}

describe('XML-RPC endpoint', () => {
  it('answers every call with HTTP 200 and text/xml', async () => {
    await using server = await endpoint();
    const ok = await call(server.app, serializeMethodCall('get_reg_count'));
    expect(ok).toMatchObject({ status: 200, type: 'text/xml; charset=utf-8', value: 0 });
    const bad = await call(server.app, 'nope');
    expect(bad).toMatchObject({ status: 200, type: 'text/xml; charset=utf-8', fault: { faultCode: -32700 } });
  });

  it('answers a malformed Content-Type header with a fault, not a 415', async () => {
    await using server = await endpoint();
    const answer = await call(server.app, serializeMethodCall('get_reg_count'), { 'content-type': 'not a type' });
    expect(answer).toMatchObject({ status: 200, fault: { faultCode: -32700 } });
  });

  it('answers the registry errors with the fault numbers of the error table', async () => {
    await using server = await endpoint();
    const missing = await call(server.app, serializeMethodCall('registry.heartbeat', ['web', 'w-1']));
    expect(missing.fault).toMatchObject({ faultCode: 1404, faultString: 'NOT_FOUND: service web has no instance w-1' });
    await server.registry.close();
    const closed = await call(server.app, serializeMethodCall('register', ['web', '10.0.0.1', 80]));
    expect(closed.fault).toMatchObject({ faultCode: 1503 });
    expect(closed.fault?.faultString).toMatch(/^UNAVAILABLE: /);
  });

  it('answers strings that XML cannot carry as they are, with U+FFFD in place of what it cannot', async () => {
    await using server = await endpoint();
    // Written by hand: the codec's serializer cannot write this string either.
    const body =
      '<?xml version="1.0"?><methodCall><methodName>registry.getService</methodName><params>' +
      '<param><value><string>a]]&gt;&lt;b&amp;</string></value></param></params></methodCall>';
    const answer = await call(server.app, body);
    expect(answer.status).toBe(200);
    expect(answer.fault?.faultCode).toBe(1400);
    expect(answer.fault?.faultString).toContain('"a]]\uFFFD<b&"');

    await server.registry.register({
      service: 'web',
      id: 'w-1',
      host: 'h',
      port: 1,
      metadata: { note: 'x\u0001y <]]>' },
    });
    const service = await call(server.app, serializeMethodCall('registry.getService', ['web']));
    expect(service.value).toMatchObject({ instances: [{ metadata: { note: 'x\uFFFDy <]]\uFFFD' } }] });
  });

  it('bounds system.multicall', async () => {
    await using server = await endpoint({ maxMulticall: 3 });
    const calls = Array.from({ length: 4 }, () => ({ methodName: 'get_reg_count', params: [] }));
    const answer = await call(server.app, serializeMethodCall('system.multicall', [calls]));
    expect(answer.fault?.faultCode).toBe(-32602);
    const three = await call(server.app, serializeMethodCall('system.multicall', [calls.slice(1)]));
    expect(three.value).toEqual([[0], [0], [0]]);
  });

  it('serves only POST', async () => {
    await using server = await endpoint();
    const response = await server.app.inject({ method: 'GET', url: '/RPC2' });
    expect(response.statusCode).toBe(404);
  });

  it('answers a body that never finishes with a fault once the body deadline passes', async () => {
    await using server = await endpoint({ bodyTimeoutMs: 300 });
    await server.app.listen({ host: '127.0.0.1', port: 0 });
    const address = server.app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('close', () => {
        resolve(text);
      });
      socket.on('error', reject);
      socket.write(
        'POST /RPC2 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\nContent-Length: 1000\r\n\r\n<methodCall>',
      );
      // Generous: the deadline is 300 ms; this only keeps a broken server from hanging the test.
      setTimeout(() => {
        socket.destroy();
      }, 10_000).unref();
    });
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer).toMatch(/connection: close/i);
    expect(answer).toContain('<int>-32700</int>');
    expect(answer).toContain('did not arrive within 300 ms');
  });
});
