/**
 * The registry client's TLS options (a CA to trust, a client certificate) need Node's TLS, which the browser-safe
 * client may not import (src/sdk/client.browser.test.ts). So the client asks this slot for a fetch that uses them,
 * and the Node side (./node-tls-fetch.ts, loaded by `switchboard/agent` and the package root) fills it. A browser
 * has its own trust store and client certificates, so there the options are refused with a clear message.
 */
import { InvalidArgumentError } from '../errors/index.js';

/** A PEM certificate or key: text or bytes (a Node Buffer is one). */
export type Pem = string | Uint8Array;

/** What the client calls instead of the global `fetch` (same arguments and answer). */
export type FetchFunction = (url: string, init: RequestInit) => Promise<Response>;

/** The TLS options of RegistryClient: CAs to trust instead of the system's, and a client certificate and key. */
export interface ClientTls {
  ca?: Pem | readonly Pem[];
  cert?: Pem;
  key?: Pem;
}

let factory: ((tls: ClientTls) => FetchFunction) | undefined;

/** Called once by the Node side as it loads. */
export function provideTlsFetch(make: (tls: ClientTls) => FetchFunction): void {
  factory = make;
}

/** A fetch that trusts `tls.ca` and presents `tls.cert`; only where the Node side is loaded. */
export function tlsFetch(tls: ClientTls): FetchFunction {
  if (factory === undefined) {
    throw new InvalidArgumentError(
      'the ca, cert and key options need Node: import RegistryClient from "switchboard" (or load "switchboard/agent") ' +
        'rather than "switchboard/client", or pass your own fetch',
    );
  }
  return factory(tls);
}
