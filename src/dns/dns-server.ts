/**
 * The DNS interface's sockets (issue #17): UDP and TCP on one port, each query answered by a DnsAnswerer. TCP
 * carries answers too large for UDP (RFC 7766): connections are counted, dropped when idle, and a message longer than
 * the limit closes its connection; a client that does not read its answers stops being read.
 */
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6 } from 'node:net';
import type { Server, Socket } from 'node:net';
import { RegistryError } from '../errors/index.js';
import { DnsAnswerer } from './dns-answerer.js';
import type { DnsAnswerSettings, DnsLogger, DnsReader, DnsRegistry } from './dns-answerer.js';
import type { DnsMetrics } from './dns-metrics.js';

/** The `dns` slice of the configuration. */
export interface DnsSettings extends DnsAnswerSettings {
  tcpMaxConnections: number;
  tcpIdleTimeoutMs: number;
  /** The longest query a TCP client may send, in bytes. */
  tcpMaxMessageBytes: number;
}

export interface DnsServerOptions {
  host: string;
  /** 0: any port free for both UDP and TCP. */
  port: number;
  registry: DnsRegistry;
  reader: DnsReader;
  settings: DnsSettings;
  logger?: DnsLogger & { warn(obj: object, msg: string): void };
  metrics?: DnsMetrics;
}

export interface DnsServer {
  /** The port both sockets listen on. */
  readonly port: number;
  /** Stops answering: closes the UDP socket, the TCP listener and every TCP connection. */
  close(): Promise<void>;
}

/** Tries with port 0 before giving up: the UDP port the system picks may be taken for TCP. */
const FREE_PORT_ATTEMPTS = 10;

/**
 * Listens for DNS queries over UDP and TCP on `host`:`port`.
 * @example
 * const dns = await startDnsServer({ host: '127.0.0.1', port: 8600, registry, reader, settings });
 * await dns.close();
 */
export async function startDnsServer(options: DnsServerOptions): Promise<DnsServer> {
  const answerer = new DnsAnswerer(options);
  for (let attempt = 1; ; attempt += 1) {
    const udp = await bindUdp(options, answerer);
    const port = udp.address().port;
    try {
      const tcp = await listenTcp(options, answerer, port);
      let closing: Promise<void> | undefined;
      return { port, close: () => (closing ??= closeBoth(udp, tcp)) };
    } catch (err) {
      udp.close();
      if (options.port !== 0 || attempt >= FREE_PORT_ATTEMPTS) throw listenError(options.port, err);
    }
  }
}

async function bindUdp(options: DnsServerOptions, answerer: DnsAnswerer): Promise<UdpSocket> {
  const udp = createSocket({ type: isIPv6(options.host) ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind({ address: options.host, port: options.port, exclusive: true }, () => {
      udp.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    udp.close();
    throw listenError(options.port, err);
  });
  udp.on('message', (query, peer) => {
    const answer = answerer.answer(query, 'udp');
    if (answer === undefined) return;
    udp.send(answer, peer.port, peer.address, (err) => {
      if (err) options.logger?.warn({ err, peer: peer.address }, 'dns: could not send a UDP answer');
    });
  });
  // A socket error (an ICMP unreachable reported back) concerns one peer: keep serving the others.
  udp.on('error', (err) => {
    options.logger?.warn({ err }, 'dns: UDP socket error');
  });
  return udp;
}

/** The TCP listener and its open connections, which closing must end (server.close() alone waits for them). */
interface TcpListener {
  server: Server;
  sockets: Set<Socket>;
}

async function listenTcp(options: DnsServerOptions, answerer: DnsAnswerer, port: number): Promise<TcpListener> {
  const { settings } = options;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serveConnection(socket, answerer, options);
  });
  // Connections beyond it are closed as they arrive.
  server.maxConnections = settings.tcpMaxConnections;
  server.on('drop', () => options.metrics?.connectionRejected());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => {
    options.logger?.warn({ err }, 'dns: TCP listener error');
  });
  options.metrics?.countConnections(sockets);
  return { server, sockets };
}

/** Reads length-prefixed queries (RFC 1035 §4.2.2) and writes each answer, in order, before reading on. */
function serveConnection(socket: Socket, answerer: DnsAnswerer, options: DnsServerOptions): void {
  const { settings, metrics } = options;
  let pending: Buffer = Buffer.alloc(0);
  socket.setNoDelay(true);
  socket.setTimeout(settings.tcpIdleTimeoutMs, () => socket.destroy());
  socket.on('error', () => socket.destroy());
  socket.on('drain', () => socket.resume());
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 2) {
      const length = pending.readUInt16BE(0);
      if (length === 0 || length > settings.tcpMaxMessageBytes) {
        metrics?.dropped('tcp', 'bad_length');
        socket.destroy();
        return;
      }
      if (pending.length < 2 + length) return;
      const answer = answerer.answer(pending.subarray(2, 2 + length), 'tcp');
      pending = pending.subarray(2 + length);
      if (answer === undefined) continue;
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16BE(answer.length);
      // A client that sends queries without reading the answers stops being read until it catches up.
      if (!socket.write(Buffer.concat([prefix, answer]))) socket.pause();
    }
  });
}

function closeBoth(udp: UdpSocket, tcp: TcpListener): Promise<void> {
  const udpClosed = new Promise<void>((resolve) => {
    udp.close(() => {
      resolve();
    });
  });
  const tcpClosed = new Promise<void>((resolve) => {
    tcp.server.close(() => {
      resolve();
    });
    for (const socket of tcp.sockets) socket.destroy();
  });
  return Promise.all([udpClosed, tcpClosed]).then(() => undefined);
}

function listenError(port: number, err: unknown): RegistryError {
  if (err instanceof RegistryError) return err;
  return new RegistryError('INVALID_ARGUMENT', `--dns-port ${port}: ${(err as Error).message}`, { cause: err });
}
