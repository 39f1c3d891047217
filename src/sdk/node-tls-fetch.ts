/**
 * The Node side of the client's TLS options (./tls-fetch.ts): one undici Agent per client, which trusts the given
 * CA(s) and presents the client certificate, and undici's own fetch to use it (a dispatcher from the undici package
 * is not guaranteed to fit the fetch built into the running Node). undici is loaded on the first request of a client
 * that has TLS options: loading it costs about 0.2 s, which every CLI command (run by systemd on each start) would
 * pay otherwise.
 */
import { provideTlsFetch } from './tls-fetch.js';
import type { ClientTls, FetchFunction } from './tls-fetch.js';

function makeTlsFetch(tls: ClientTls): FetchFunction {
  const connect: { ca?: string | Buffer | (string | Buffer)[]; cert?: string | Buffer; key?: string | Buffer } = {};
  if (tls.ca !== undefined) connect.ca = Array.isArray(tls.ca) ? tls.ca.map(pem) : pem(tls.ca as string | Uint8Array);
  if (tls.cert !== undefined) connect.cert = pem(tls.cert);
  if (tls.key !== undefined) connect.key = pem(tls.key);
  let loaded: Promise<FetchFunction> | undefined;
  const load = async (): Promise<FetchFunction> => {
    const { Agent, fetch: undiciFetch } = await import('undici');
    const dispatcher = new Agent({ connect });
    return async (url, init) =>
      // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- undici's Response has the fetch Response interface the client reads (status, headers, text, body); only instanceof tells them apart
      await undiciFetch(url, { ...(init as unknown as Parameters<typeof undiciFetch>[1]), dispatcher });
  };
  return async (url, init) => {
    loaded ??= load();
    return (await loaded)(url, init);
  };
}

function pem(value: string | Uint8Array): string | Buffer {
  return typeof value === 'string' ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

provideTlsFetch(makeTlsFetch);
