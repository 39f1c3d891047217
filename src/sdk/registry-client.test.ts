/**
 * The client's node failover (issue #11): a request that is not idempotent (POST) is never sent to a second node once
 * it may have reached the first; it fails over only when the first connection was never made.
 */
import { createServer as createHttpServer } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { Server as TcpServer, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, UnavailableError } from '../errors/index.js';
import { RegistryClient } from './registry-client.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function listen(server: HttpServer | TcpServer): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return `http://127.0.0.1:${address.port}`;
}

function close(server: HttpServer | TcpServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
  });
}

/** A node that takes the connection and reads the request, then drops it without answering. */
async function droppingNode(): Promise<{ url: string; requests: () => number; lines: string[] }> {
  let requests = 0;
  const lines: string[] = [];
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.once('data', (data: Buffer) => {
      requests += 1;
      lines.push(data.toString('latin1').split('\r\n')[0] ?? '');
      socket.destroy();
    });
    socket.on('error', () => undefined);
  });
  const url = await listen(server);
  closers.push(async () => {
    for (const socket of sockets) socket.destroy();
    await close(server);
  });
  return { url, requests: () => requests, lines };
}

/** A node that answers every request with the instance it was sent, counting them by method. */
async function answeringNode(): Promise<{ url: string; received: string[]; lines: string[] }> {
  const received: string[] = [];
  const lines: string[] = [];
  const server = createHttpServer((req, res) => {
    received.push(req.method ?? '');
    lines.push(`${req.method ?? ''} ${req.url ?? ''} HTTP/1.1`);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ service: 'web', id: 'w1' }));
    });
  });
  const url = await listen(server);
  closers.push(async () => {
    server.closeAllConnections();
    await close(server);
  });
  return { url, received, lines };
}

/** A port nothing listens on: connecting to it is refused. */
async function refusingNode(): Promise<string> {
  const server = createTcpServer();
  const url = await listen(server);
  await close(server);
  return url;
}

const registration = { service: 'web', host: '10.0.0.1', port: 80 };
const post = { method: 'POST', path: '/v1/services/web/instances', body: { host: '10.0.0.1', port: 80 } } as const;

describe('RegistryClient failover', () => {
  it('does not send a POST to another node when the connection dropped after the request was sent', async () => {
    const first = await droppingNode();
    const second = await answeringNode();
    const client = new RegistryClient({ urls: [first.url, second.url], timeoutMs: 2_000 });
    const err: unknown = await client.request(post).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(first.requests()).toBe(1);
    expect(second.received).toEqual([]);
  });

  it('sends a POST to the next node when the first refused the connection', async () => {
    const second = await answeringNode();
    const client = new RegistryClient({ urls: [await refusingNode(), second.url], timeoutMs: 2_000 });
    expect((await client.request(post)).body).toMatchObject({ id: 'w1' });
    expect(second.received).toEqual(['POST']);
    expect(client.url).toBe(second.url);
  });

  it('registers without an id under one id it made up, so a retry on another node cannot register twice', async () => {
    const first = await droppingNode();
    const second = await answeringNode();
    const client = new RegistryClient({ urls: [first.url, second.url], timeoutMs: 2_000 });
    await client.register(registration);
    expect(second.received).toEqual(['PUT']);
    expect(first.lines[0]).toMatch(/^PUT \/v1\/services\/web\/instances\/[0-9a-f-]{36} HTTP\/1\.1$/);
    expect(second.lines[0]).toBe(first.lines[0]);
  });

  it('sends an idempotent request (PUT, GET) to the next node even when the first may have had it', async () => {
    const first = await droppingNode();
    const second = await answeringNode();
    const client = new RegistryClient({ urls: [first.url, second.url], timeoutMs: 2_000 });
    expect(await client.register({ ...registration, id: 'w1' })).toMatchObject({ id: 'w1' });
    expect(second.received).toEqual(['PUT']);
  });

  it('fails over on a retryable answer but not on a refusal', async () => {
    const answers = [503, 400];
    const busy = createHttpServer((req, res) => {
      req.resume();
      const status = answers.shift() ?? 500;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          statusCode: status,
          code: status === 503 ? 'UNAVAILABLE' : 'INVALID_ARGUMENT',
          message: 'no',
        }),
      );
    });
    const busyUrl = await listen(busy);
    closers.push(async () => {
      busy.closeAllConnections();
      await close(busy);
    });
    const second = await answeringNode();
    const client = new RegistryClient({ urls: [busyUrl, second.url], timeoutMs: 2_000 });
    await client.getInstance('web', 'w1');
    expect(second.received).toEqual(['GET']);
    const other = new RegistryClient({ urls: [busyUrl, second.url], timeoutMs: 2_000 });
    await expect(other.getInstance('web', 'w1')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(second.received).toEqual(['GET']);
  });
});

describe('RegistryClient TLS and fetch options', () => {
  it('sends its requests through the fetch option', async () => {
    const seen: string[] = [];
    const client = new RegistryClient({
      url: 'https://registry.test:8900',
      fetch: (url) => {
        seen.push(url);
        return Promise.resolve(
          new Response(JSON.stringify({ services: [] }), { headers: { 'content-type': 'application/json' } }),
        );
      },
    });
    expect(await client.listServices()).toEqual({ services: [] });
    expect(seen).toEqual(['https://registry.test:8900/v1/services']);
  });

  it('refuses a client certificate without its key', () => {
    expect(() => new RegistryClient({ url: 'https://registry.test', cert: 'CERT' })).toThrow(InvalidArgumentError);
  });

  it('refuses a ca where the Node side of the SDK is not loaded (the browser entry alone), saying what to do', () => {
    expect(() => new RegistryClient({ url: 'https://registry.test', ca: 'PEM' })).toThrow(
      /need Node.*switchboard\/agent/,
    );
  });
});
