import { createServer } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { Server as TcpServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { classifyStatus, probeHttp, probeTcp } from '../../src/checks/index.js';

const servers: (HttpServer | TcpServer)[] = [];

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          if ('closeAllConnections' in s) s.closeAllConnections();
          s.close(() => {
            resolve();
          });
        }),
    ),
  );
});

function listen(server: HttpServer | TcpServer): Promise<number> {
  servers.push(server);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : 0);
    });
  });
}

async function unusedPort(): Promise<number> {
  const server = createTcpServer();
  const port = await new Promise<number>((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : 0);
    });
  });
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return port;
}

describe('probes', () => {
  it('classifies HTTP answers: 2xx passing, 429 warning, anything else critical', () => {
    expect([200, 204, 299, 429, 301, 404, 500, 503].map(classifyStatus)).toEqual([
      'passing',
      'passing',
      'passing',
      'warning',
      'critical',
      'critical',
      'critical',
      'critical',
    ]);
  });

  it('keeps the first 4 KiB of the body as output, without keep-alive', async () => {
    let connection: string | undefined;
    const port = await listen(
      createServer((req, res) => {
        connection = req.headers.connection;
        res.end(req.url === '/big' ? 'x'.repeat(100_000) : 'all good');
      }),
    );
    expect(await probeHttp(`http://127.0.0.1:${port}/health`, 1_000)).toEqual({
      status: 'passing',
      output: 'all good',
    });
    expect(connection).toBe('close');
    const big = await probeHttp(`http://127.0.0.1:${port}/big`, 1_000);
    expect(big.output).toHaveLength(4_096);
  });

  it('reports the status line when the body is empty, and the status decides', async () => {
    const port = await listen(
      createServer((_req, res) => {
        res.writeHead(429).end();
      }),
    );
    expect(await probeHttp(`http://127.0.0.1:${port}/`, 1_000)).toEqual({
      status: 'warning',
      output: 'HTTP 429 Too Many Requests',
    });
  });

  it('fails on a hard timeout even while the server trickles bytes', async () => {
    const port = await listen(
      createServer((_req, res) => {
        res.writeHead(200);
        const timer = setInterval(() => res.write(' '), 20);
        res.on('close', () => {
          clearInterval(timer);
        });
      }),
    );
    // 1 byte every 20 ms never reaches 4 KiB before the deadline; an idle timeout would never fire.
    expect(await probeHttp(`http://127.0.0.1:${port}/`, 200)).toEqual({
      status: 'critical',
      output: 'timed out after 200ms',
    });
  });

  it('fails on a refused connection', async () => {
    const port = await unusedPort();
    const result = await probeHttp(`http://127.0.0.1:${port}/`, 1_000);
    expect(result.status).toBe('critical');
    expect(result.output).toMatch(/ECONNREFUSED/);
  });

  it('passes a TCP check when the port accepts, fails it when refused', async () => {
    const port = await listen(
      createTcpServer((socket) => {
        socket.on('error', () => undefined);
        socket.end();
      }),
    );
    expect(await probeTcp(`127.0.0.1:${port}`, 1_000)).toMatchObject({ status: 'passing' });
    const closed = await unusedPort();
    const result = await probeTcp(`127.0.0.1:${closed}`, 1_000);
    expect(result.status).toBe('critical');
    expect(result.output).toMatch(/ECONNREFUSED/);
  });

  it('settles at once when aborted', async () => {
    const port = await listen(createServer(() => undefined)); // never answers
    const controller = new AbortController();
    const pending = probeHttp(`http://127.0.0.1:${port}/`, 60_000, controller.signal);
    controller.abort();
    expect(await pending).toEqual({ status: 'critical', output: 'the checker stopped' });
  });
});
