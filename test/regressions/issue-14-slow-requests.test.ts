/**
 * Issue #14, reproduction 3: a PUT that declared 100 bytes and sent one was still open after 75 s
 * (`requestTimeout = 0`). Requests now have to arrive in time, blocking queries still hold their answer as long as
 * asked, and the server holds a bounded number of connections.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startTestServer } from '../fixtures/server.js';

interface RawAnswer {
  text: string;
  /** ms from the first byte sent until the server closed the connection. */
  closedAfterMs: number;
}

/** Sends `head` (and nothing more) on a raw socket and waits, up to `limitMs`, for the server to close it. */
function sendAndWait(port: number, head: string, limitMs = 15_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const started = Date.now();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open for ${limitMs} ms: ${text}`));
    }, limitMs);
    socket.on('connect', () => socket.write(head));
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closedAfterMs: Date.now() - started });
    });
  });
}

const portOf = (url: string): number => Number(new URL(url).port);

describe('slow requests are bounded (issue #14)', () => {
  it('answers 408 REQUEST_TIMEOUT to a body that never finishes, and closes the connection', async () => {
    await using server = await startTestServer({ http: { requestTimeoutMs: 1_000, headersTimeoutMs: 1_000 } });
    const answer = await sendAndWait(
      portOf(server.url),
      'PUT /v1/services/web/instances/w1 HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{',
    );
    expect(answer.text).toMatch(/^HTTP\/1\.1 408 Request Timeout/);
    expect(answer.text).toContain('"code":"REQUEST_TIMEOUT"');
    expect(server.registry.list('web').instances).toHaveLength(0);
  });

  it('answers 408 to headers that trickle in and never end', async () => {
    await using server = await startTestServer({ http: { requestTimeoutMs: 2_000, headersTimeoutMs: 1_000 } });
    const answer = await sendAndWait(portOf(server.url), 'GET /v1/services HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: a');
    expect(answer.text).toMatch(/^HTTP\/1\.1 408/);
  });

  it('still holds a blocking query for as long as it asked, past the request timeout', async () => {
    await using server = await startTestServer({ http: { requestTimeoutMs: 1_000, headersTimeoutMs: 1_000 } });
    const first = await fetch(`${server.url}/v1/services/web`);
    const index = first.headers.get('x-switchboard-index') ?? '0';
    await first.arrayBuffer();
    const started = Date.now();
    const held = await fetch(`${server.url}/v1/services/web?index=${index}&wait=3s`);
    expect(held.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_500);
  });

  it('closes connections past --max-connections as they arrive, and takes new ones once some close', async () => {
    await using server = await startTestServer({ http: { maxConnections: 4 } });
    const port = portOf(server.url);
    const open = async (): Promise<Socket> => {
      const socket = connect(port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      return socket;
    };
    const held: Socket[] = [];
    for (let i = 0; i < 4; i++) held.push(await open());
    // Let the server accept them all before the next one arrives.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const refused = await sendAndWait(port, 'GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n', 5_000);
    expect(refused.text).toBe('');
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });
});
