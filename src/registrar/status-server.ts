/**
 * The agent's status page: `GET /status` answers the registrar's status as JSON, for `switchboard agent status` and a
 * dashboard. It listens on loopback only: it names processes, ports and file problems, and takes no token.
 */
import { createServer } from 'node:http';
import type { AgentStatus } from './registrar.js';

/** The port `switchboard agent` serves its status on unless told otherwise (the registry's is 8900). */
export const DEFAULT_STATUS_PORT = 8901;

export interface StatusServer extends AsyncDisposable {
  /** e.g. `http://127.0.0.1:8901/status`. */
  url: string;
  close(): Promise<void>;
}

/** Serves `status()` on 127.0.0.1:`port` (0: any free port). */
export async function startStatusServer(port: number, status: () => AgentStatus): Promise<StatusServer> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const ok = path === '/status' && (req.method === 'GET' || req.method === 'HEAD');
    const body = JSON.stringify(ok ? status() : { error: 'not found: try GET /status' });
    res.writeHead(ok ? 200 : 404, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => {
        resolve();
      });
    });
  return { url: `http://127.0.0.1:${bound}/status`, close, [Symbol.asyncDispose]: close };
}
