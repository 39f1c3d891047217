/**
 * One probe of one check, over the network. Every probe settles: by its answer, its error, its hard timeout (the
 * whole exchange, not an idle timer), or the checker's shutdown, and it leaves no socket behind.
 *
 * Keep-alive is off: a check must see what a new client sees (a fresh connect and accept), and a pooled socket to
 * 10,000 instances would hold 10,000 file descriptors.
 *
 * Redirects are never followed (node:http does not, and nothing here does it by hand): a check probes only the target
 * the core let it name, its own instance (issue #13), so a 3xx pointing elsewhere is just a critical answer.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { CheckResult } from '../core/index.js';
import { OUTPUT_LIMIT } from '../core/index.js';
import type { CheckSpec } from '../store/index.js';
import { formatDuration } from '../wire/index.js';

/** Runs one probe; the checker passes a signal that aborts it at shutdown. */
export type Probe = (spec: CheckSpec, signal: AbortSignal) => Promise<CheckResult>;

const USER_AGENT = 'Switchboard-Health-Check/1';

/** Probes a check by its kind. */
export const probe: Probe = (spec, signal) => {
  switch (spec.kind) {
    case 'http':
      return probeHttp(spec.target, spec.timeoutMs, signal);
    case 'tcp':
      return probeTcp(spec.target, spec.timeoutMs, signal);
  }
};

/** The rule: 2xx passing, 429 warning (alive but shedding load), anything else critical. */
export function classifyStatus(code: number): CheckResult['status'] {
  if (code >= 200 && code < 300) return 'passing';
  if (code === 429) return 'warning';
  return 'critical';
}

/** GETs `target`; the output is the first 4 KiB of the body (or the status line when the body is empty). */
export function probeHttp(target: string, timeoutMs: number, signal?: AbortSignal): Promise<CheckResult> {
  return new Promise<CheckResult>((resolve) => {
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      resolve({ status: 'critical', output: `"${target}" is not a URL` });
      return;
    }
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const request = send(url, {
      method: 'GET',
      agent: false,
      headers: { connection: 'close', 'user-agent': USER_AGENT, accept: 'text/plain, application/json, */*' },
    });
    const settle = settler(resolve, () => request.destroy(), { timeoutMs, signal });
    request.on('response', (response) => {
      const status = classifyStatus(response.statusCode ?? 0);
      const chunks: Buffer[] = [];
      let size = 0;
      const finish = (): void => {
        const body = Buffer.concat(chunks).subarray(0, OUTPUT_LIMIT).toString('utf8');
        settle({
          status,
          output: body === '' ? `HTTP ${response.statusCode ?? 0} ${response.statusMessage ?? ''}`.trim() : body,
        });
      };
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        // Enough output: stop reading a body that may be large (or endless).
        if (size >= OUTPUT_LIMIT) finish();
      });
      response.on('end', finish);
      // The status line arrived, so the answer stands even if the body is cut short.
      response.on('error', finish);
      response.on('aborted', finish);
    });
    request.on('error', (err) => {
      settle({ status: 'critical', output: describe(err) });
    });
    request.end();
  });
}

/** Connects to `host:port` and closes at once: passing when the port accepts the connection. */
export function probeTcp(target: string, timeoutMs: number, signal?: AbortSignal): Promise<CheckResult> {
  return new Promise<CheckResult>((resolve) => {
    const at = target.lastIndexOf(':');
    const host = target.slice(0, at).replace(/^\[(.*)\]$/, '$1');
    const port = Number(target.slice(at + 1));
    // A plain close (FIN), not a reset: a reset can crash a naive server that does not expect ECONNRESET.
    const socket = connect({ host, port });
    const settle = settler(resolve, () => socket.destroy(), { timeoutMs, signal });
    socket.once('connect', () => {
      settle({ status: 'passing', output: `TCP connect to ${target}: success` });
    });
    socket.once('error', (err) => {
      settle({ status: 'critical', output: `TCP connect to ${target}: ${describe(err)}` });
    });
  });
}

/** Resolves once, then releases the socket, the timer and the abort listener. */
function settler(
  resolve: (result: CheckResult) => void,
  release: () => void,
  limits: { timeoutMs: number; signal: AbortSignal | undefined },
): (result: CheckResult) => void {
  const { timeoutMs, signal } = limits;
  let settled = false;
  const settle = (result: CheckResult): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    release();
    resolve(result);
  };
  const timer = setTimeout(() => {
    settle({ status: 'critical', output: `timed out after ${formatDuration(timeoutMs)}` });
  }, timeoutMs);
  const onAbort = (): void => {
    settle({ status: 'critical', output: 'the checker stopped' });
  };
  if (signal?.aborted) queueMicrotask(onAbort);
  else signal?.addEventListener('abort', onAbort, { once: true });
  return settle;
}

function describe(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return describe(err.errors[0]);
  return err instanceof Error ? err.message : String(err);
}
