/**
 * Whether a freshly started process serves yet, and which port to start it on. The registrar polls readiness before
 * it registers a process, so a client never discovers an instance that cannot answer. This is not the registry's
 * health check (checks/ runs that, server-side, with thresholds): one passing answer here is enough.
 */
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, createServer } from 'node:net';
import type { CheckDefinition } from '../wire/index.js';

const PROBE_TIMEOUT_MS = 1_000;

/** A definition's check with `${HOST}` and `${PORT}` replaced by the process's address. */
export function resolveCheck(check: CheckDefinition, host: string, port: number): CheckDefinition {
  const fill = (text: string): string => text.replaceAll('${HOST}', host).replaceAll('${PORT}', String(port));
  return {
    ...check,
    ...(check.http === undefined ? {} : { http: fill(check.http) }),
    ...(check.tcp === undefined ? {} : { tcp: fill(check.tcp) }),
  };
}

/** One probe: a 2xx answer to a GET of `check.http`, or a connection accepted by `check.tcp`. Never rejects. */
export function probeOnce(check: CheckDefinition): Promise<boolean> {
  if (check.http !== undefined) return probeHttp(check.http);
  return probeTcp(check.tcp ?? '');
}

function probeHttp(target: string): Promise<boolean> {
  return new Promise((resolve) => {
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      resolve(false);
      return;
    }
    const send = url.protocol === 'https:' ? httpsRequest : request;
    const req = send(url, { method: 'GET', agent: false, timeout: PROBE_TIMEOUT_MS }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve(code >= 200 && code < 300);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => {
      resolve(false);
    });
    req.end();
  });
}

function probeTcp(target: string): Promise<boolean> {
  const colon = target.lastIndexOf(':');
  const host = target.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(target.slice(colon + 1));
  return new Promise((resolve) => {
    if (colon < 1 || !Number.isInteger(port)) {
      resolve(false);
      return;
    }
    const socket = connect({ host, port, timeout: PROBE_TIMEOUT_MS });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => {
      done(true);
    });
    socket.once('timeout', () => {
      done(false);
    });
    socket.once('error', () => {
      done(false);
    });
  });
}

/**
 * A port to start a process on: `auto` asks the OS for a free one; a range gives its first port that can be bound
 * now and is not in `taken` (ports this agent handed out to processes that may not listen yet). Throws when the
 * range is full. A port found free can still be taken before the process binds it: the start then fails and the
 * registrar restarts the process on another.
 */
export async function pickPort(
  spec: 'auto' | readonly [number, number],
  host: string,
  taken: ReadonlySet<number>,
): Promise<number> {
  if (spec === 'auto') {
    for (;;) {
      const port = await tryBind(0, host);
      if (port !== undefined && !taken.has(port)) return port;
    }
  }
  for (let port = spec[0]; port <= spec[1]; port++) {
    if (taken.has(port)) continue;
    if ((await tryBind(port, host)) !== undefined) return port;
  }
  throw new Error(`no free port in [${spec[0]}, ${spec[1]}]`);
}

function tryBind(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => {
      resolve(undefined);
    });
    server.listen({ port, host, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() => {
        resolve(bound);
      });
    });
  });
}
