import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { RegistryClient } from '../../src/sdk/index.js';
import { eventually, getJson, spawnGateway, startTestGateway, startUpstream } from '../fixtures/gateway.js';
import { startTestServer } from '../fixtures/server.js';

const MiB = 1024 * 1024;
const TOTAL = 100 * MiB;
const CHUNK = Buffer.alloc(64 * 1024, 'switchboard ');

function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return kb / 1024;
}

/** Samples a process's resident memory every 50 ms until stopped; resolves the highest value seen. */
function sampleRss(pid: number): { stop: () => number } {
  let max = rssMiB(pid);
  const timer = setInterval(() => {
    max = Math.max(max, rssMiB(pid));
  }, 50);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(max, rssMiB(pid));
    },
  };
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('gateway streaming', () => {
  it('streams a 100 MB upload and a 100 MB download through with flat memory', async () => {
    await using server = await startTestServer();
    // The sink holds back for a moment before reading, so a gateway that buffered would fill up meanwhile.
    await using sink = await startUpstream('sink', (req, res) => {
      let bytes = 0;
      req.pause();
      setTimeout(() => {
        req.on('data', (chunk: Buffer) => (bytes += chunk.length));
        req.resume();
      }, 1_000);
      req.once('end', () => {
        res.end(JSON.stringify({ bytes }));
      });
    });
    // The source writes as fast as the connection takes it, honouring backpressure.
    await using source = await startUpstream('source', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let sent = 0;
      const pump = (): void => {
        while (sent < TOTAL) {
          sent += CHUNK.length;
          if (!res.write(CHUNK)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'sink', id: 's1', host: '127.0.0.1', port: sink.port, url: '/upload' });
    await client.register({ service: 'source', id: 's1', host: '127.0.0.1', port: source.port, url: '/download' });
    await using gateway = await spawnGateway(server.url);
    const { port } = new URL(gateway.url);
    await eventually(
      async () =>
        ((await fetch(`${gateway.url}/_gateway/routes`).then((r) => r.json())) as { routes: unknown[] }).routes
          .length === 2,
    );
    // Warm up (first requests, JIT), then take the baseline.
    await getJson(`${gateway.url}/download/warm`, { method: 'HEAD' }).catch(() => undefined);
    const baseline = rssMiB(gateway.pid);

    const upload = sampleRss(gateway.pid);
    const uploaded = await new Promise<string>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, method: 'POST', path: '/upload', headers: { 'content-length': TOTAL } },
        (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => {
            resolve(body);
          });
        },
      );
      req.on('error', reject);
      let sent = 0;
      const pump = (): void => {
        while (sent < TOTAL) {
          sent += CHUNK.length;
          if (!req.write(CHUNK)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    const uploadPeak = upload.stop();
    expect(JSON.parse(uploaded)).toEqual({ bytes: TOTAL });

    const download = sampleRss(gateway.pid);
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/download' }, resolve).on('error', reject).end();
    });
    expect(res.statusCode).toBe(200);
    // Read nothing for a second: the gateway must hold the source back rather than buffer its answer.
    res.pause();
    await pause(1_000);
    let received = 0;
    res.on('data', (chunk: Buffer) => (received += chunk.length));
    res.resume();
    await once(res, 'end');
    const downloadPeak = download.stop();
    expect(received).toBe(TOTAL);

    // 100 MB went through each way; a buffering gateway would grow by about that much. Generous bound: 60 MiB.
    expect(uploadPeak - baseline).toBeLessThan(60);
    expect(downloadPeak - baseline).toBeLessThan(60);
  });

  it('passes a WebSocket upgrade through and echoes messages both ways', async () => {
    await using server = await startTestServer();
    let upgradePath: string | undefined;
    let forwardedFor: string | undefined;
    await using chat = await startUpstream('chat');
    const wss = new WebSocketServer({ server: chat.server });
    wss.on('connection', (socket, req) => {
      upgradePath = req.url;
      forwardedFor = req.headers['x-forwarded-for'] as string | undefined;
      socket.on('message', (data, binary) => {
        socket.send(data, { binary });
      });
    });
    await new RegistryClient({ url: server.url }).register({
      service: 'chat',
      id: 'c1',
      host: '127.0.0.1',
      port: chat.port,
      url: '/chat',
    });
    await using gateway = await startTestGateway(server.url);

    const ws = new WebSocket(`${gateway.url.replace('http:', 'ws:')}/chat/room-1`);
    await once(ws, 'open');
    const next = (): Promise<{ data: Buffer; binary: boolean }> =>
      new Promise((resolve) =>
        ws.once('message', (data: Buffer, binary: boolean) => {
          resolve({ data, binary });
        }),
      );
    let reply = next();
    ws.send('hello through the gateway');
    expect((await reply).data.toString()).toBe('hello through the gateway');
    const big = Buffer.alloc(MiB, 7);
    reply = next();
    ws.send(big);
    const echoed = await reply;
    expect(echoed.binary).toBe(true);
    expect(echoed.data.equals(big)).toBe(true);
    expect(upgradePath).toBe('/chat/room-1');
    expect(forwardedFor).toBe('127.0.0.1');
    expect(gateway.metrics().upgrades).toBe(1);
    ws.close();
    await once(ws, 'close');
    wss.close();
  });

  it('answers an upgrade to an unknown path with NO_ROUTE', async () => {
    await using server = await startTestServer();
    await using gateway = await startTestGateway(server.url);
    const ws = new WebSocket(`${gateway.url.replace('http:', 'ws:')}/nowhere`);
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage];
    expect(res.statusCode).toBe(404);
    res.resume();
  });
});
