import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/sdk/index.js';
import type { ChangeEvent, WatchEvent, WatchStatus } from '../../src/sdk/index.js';
import { startTestServer } from '../fixtures/server.js';
import { startTcpProxy } from '../fixtures/tcp-proxy.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads a raw event stream until `until` says it has enough (or 10 s pass), then aborts it. */
async function readStream(url: string, until: (text: string) => boolean, init: RequestInit = {}): Promise<string> {
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort();
  }, 10_000);
  let text = '';
  try {
    const response = await fetch(url, { ...init, signal: controller.signal });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const decoder = new TextDecoder();
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
      if (until(text)) break;
    }
  } catch (err) {
    if (!controller.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return text;
}

/** The events of a raw stream, as `{ event, id, data }`. */
function eventsOf(text: string): { event: string; id: string; data: unknown }[] {
  return text
    .split('\n\n')
    .filter((block) => block.includes('data: '))
    .map((block) => {
      const field = (name: string): string =>
        /^(\w+): (.*)$/m.exec(block.split('\n').find((l) => l.startsWith(`${name}: `)) ?? '')?.[2] ?? '';
      return { event: field('event'), id: field('id'), data: JSON.parse(field('data')) as unknown };
    });
}

/** Collects a watch's events in the background until stopped. */
function collect(client: RegistryClient, service: string | undefined, options: { since?: number } = {}) {
  const controller = new AbortController();
  const events: WatchEvent[] = [];
  const statuses: WatchStatus[] = [];
  const done = (async () => {
    for await (const event of client.watch(service, {
      ...options,
      signal: controller.signal,
      onStatus: (s) => statuses.push(s),
    })) {
      events.push(event);
    }
  })();
  return {
    events,
    statuses,
    done,
    /** Resolves once `predicate` holds for the events so far (polled; generous timeout). */
    async until(predicate: (events: WatchEvent[]) => boolean, ms = 10_000): Promise<void> {
      const deadline = performance.now() + ms;
      while (!predicate(events)) {
        if (performance.now() > deadline)
          throw new Error(
            `watch did not get there in ${ms} ms: ${JSON.stringify(events.map((e) => [e.type, e.index]))}`,
          );
        await sleep(10);
      }
    },
    async stop(): Promise<void> {
      controller.abort();
      await done;
    },
  };
}

const lastIndex = (events: WatchEvent[]): number => events.at(-1)?.index ?? -1;

describe('GET /v1/events', () => {
  it('starts with a snapshot, then sends each change as event, id and data; heartbeats send nothing', async () => {
    await using server = await startTestServer({ watch: { keepAliveIntervalMs: 100 } });
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'web', id: 'w1', host: '127.0.0.1', port: 9001, ttl: '30s' });
    await client.register({ service: 'api', id: 'a1', host: '127.0.0.1', port: 9100 });
    const reading = readStream(
      `${server.url}/v1/events?service=web`,
      (text) => text.includes('event: deregistered') && text.includes(': keep-alive'),
    );
    await sleep(200);
    await client.heartbeat('web', 'w1');
    await client.register({ service: 'api', id: 'a2', host: '127.0.0.1', port: 9101 });
    await client.setStatus('web', 'w1', 'DOWN');
    await client.register({ service: 'web', id: 'w1', host: '127.0.0.1', port: 9009, ttl: '30s', status: 'DOWN' });
    const gone = await client.deregister('web', 'w1');
    const text = await reading;
    expect(text).toMatch(/^retry: \d+\n\n/);
    const events = eventsOf(text);
    expect(events.map((e) => e.event)).toEqual(['snapshot', 'status', 'updated', 'deregistered']);
    const [snapshot, ...changes] = events;
    expect(snapshot?.data).toMatchObject({ type: 'snapshot', index: 2, instances: [{ id: 'w1', status: 'UP' }] });
    expect(snapshot?.id).toBe('2');
    for (const event of changes) {
      const data = event.data as ChangeEvent;
      expect(Object.keys(data).sort()).toEqual(['index', 'instance', 'service', 'type']);
      expect(data).toMatchObject({ type: event.event, service: 'web', index: Number(event.id) });
    }
    expect(changes.at(-1)?.id).toBe(String(gone.modifyIndex));
  });

  it('replays the changes after `since` and takes Last-Event-ID as since', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    for (let i = 1; i <= 4; i++)
      await client.register({ service: 'web', id: `w${i}`, host: '127.0.0.1', port: 9000 + i });
    const replayed = eventsOf(await readStream(`${server.url}/v1/events?since=2`, (text) => text.includes('id: 4')));
    expect(replayed.map((e) => [e.event, e.id])).toEqual([
      ['registered', '3'],
      ['registered', '4'],
    ]);
    const resumed = eventsOf(
      await readStream(`${server.url}/v1/events?since=0`, (text) => text.includes('id: 4'), {
        headers: { 'last-event-id': '3' },
      }),
    );
    expect(resumed.map((e) => e.id)).toEqual(['4']);
  });

  it('gives a watcher older than the change log a snapshot first', async () => {
    await using server = await startTestServer({ watch: { changeLogSize: 5 } });
    const client = new RegistryClient({ url: server.url });
    for (let i = 1; i <= 10; i++)
      await client.register({ service: 'web', id: `w${i}`, host: '127.0.0.1', port: 9000 + i });
    // Within the log: a replay.
    const recent = eventsOf(await readStream(`${server.url}/v1/events?since=7`, (text) => text.includes('id: 10')));
    expect(recent.map((e) => e.event)).toEqual(['registered', 'registered', 'registered']);
    // Older than the log: a snapshot at the current index, then live changes.
    const watch = collect(client, 'web', { since: 1 });
    await watch.until((events) => events.length === 1);
    expect(watch.events[0]).toMatchObject({ type: 'snapshot', index: 10 });
    expect((watch.events[0] as { instances: unknown[] }).instances).toHaveLength(10);
    await client.deregister('web', 'w1');
    await watch.until((events) => events.length === 2);
    expect(watch.events[1]).toMatchObject({ type: 'deregistered', index: 11 });
    await watch.stop();
  });

  it('delivers every change in order across forced reconnects, with no gap and no duplicate', async () => {
    await using server = await startTestServer();
    await using proxy = await startTcpProxy(server.url);
    const writer = new RegistryClient({ url: server.url });
    const watcher = new RegistryClient({ url: proxy.url });
    const watch = collect(watcher, 'web');
    await watch.until((events) => events.length === 1);
    expect(watch.events[0]).toMatchObject({ type: 'snapshot', index: 0, instances: [] });
    const expected: number[] = [];
    for (let i = 0; i < 60; i++) {
      const id = `w${i % 7}`;
      let instance;
      if (i % 5 === 4)
        instance = await writer.setStatus('web', 'w2', i % 2 === 0 ? 'DOWN' : 'UP').catch(() => undefined);
      else if (i % 9 === 8) instance = await writer.deregister('web', id).catch(() => undefined);
      else instance = await writer.register({ service: 'web', id, host: '127.0.0.1', port: 9000 + i });
      if (instance) expected.push(instance.modifyIndex);
      // Changes to another service are not part of this watch.
      await writer.register({ service: 'other', id: 'o1', host: '127.0.0.1', port: 9500 + i });
      if (i === 20 || i === 40) {
        const connects = watch.statuses.filter((st) => st.connected).length;
        proxy.cut();
        // Changes made while the watch is disconnected must reach it too.
        for (let k = 0; k < 3; k++)
          expected.push(
            (await writer.register({ service: 'web', id: `cut${i}-${k}`, host: '127.0.0.1', port: 9900 + k }))
              .modifyIndex,
          );
        await watch.until(() => watch.statuses.filter((st) => st.connected).length > connects);
      }
    }
    await watch.until((events) => lastIndex(events) >= (expected.at(-1) ?? 0));
    await watch.stop();
    const changes = watch.events.slice(1);
    expect(changes.every((e) => e.type !== 'snapshot')).toBe(true);
    expect(changes.map((e) => e.index)).toEqual([...new Set(expected)].sort((a, b) => a - b));
    expect(changes.every((e) => e.type === 'snapshot' || e.service === 'web')).toBe(true);
    expect(proxy.connections).toBeGreaterThanOrEqual(3);
    expect(watch.statuses.filter((s) => !s.connected).length).toBeGreaterThanOrEqual(2);
  });

  it('drops a stream that falls too far behind, and the client resumes from its last index', async () => {
    // Records of 32 KB (above the default --max-record-bytes) make few writes enough to fill the socket buffers.
    await using server = await startTestServer({
      watch: { streamBufferBytes: 64 * 1024 },
      limits: { maxRecordBytes: 64 * 1024 },
    });
    const client = new RegistryClient({ url: server.url });
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`GET /v1/events?service=web HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n`);
    // Never read: the kernel buffers fill, then the registry's.
    socket.pause();
    const ended = new Promise<void>((resolve) => {
      socket.once('close', () => {
        resolve();
      });
    });
    const metadata = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, 'x'.repeat(500)]));
    // About 14 MB of events: more than the socket buffers and the 64 KiB bound can hold.
    for (let i = 0; i < 400; i++) {
      await client.register({ service: 'web', id: `w${i % 3}`, host: '127.0.0.1', port: 9000 + i, metadata });
    }
    // Read what was buffered: the stream must have ended (a healthy stream never does).
    socket.resume();
    socket.on('data', () => undefined);
    await ended;
    // The registry is fine, and a watcher resuming from an early index catches up from the change log.
    const watch = collect(client, 'web', { since: 390 });
    await watch.until((events) => lastIndex(events) === 400);
    expect(watch.events.map((e) => e.index)).toEqual([391, 392, 393, 394, 395, 396, 397, 398, 399, 400]);
    await watch.stop();
  });

  it('ends every stream promptly when the server closes, and the watch reports it is disconnected', async () => {
    const server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    const watch = collect(client, undefined);
    await watch.until((events) => events.length === 1);
    const started = performance.now();
    await server.close();
    expect(performance.now() - started).toBeLessThan(5_000);
    await watch.until(() => watch.statuses.some((s) => !s.connected));
    await watch.stop();
  });

  it('refuses an invalid service name (the watch ends with the error)', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    const events = client.watch('not a name');
    await expect(events.next()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('falls back to blocking queries when the event stream is unavailable', async () => {
    await using server = await startTestServer();
    // A proxy that does not pass /v1/events on, as an older registry or a strict proxy would.
    const proxy: Server = createServer((req, res) => {
      if ((req.url ?? '').startsWith('/v1/events')) {
        res
          .writeHead(404, { 'content-type': 'application/json' })
          .end('{"statusCode":404,"code":"NOT_FOUND","error":"Not Found","message":"no route"}');
        return;
      }
      // A blocking query still held when the watch stops is dropped with it; one the registry cuts (it closes at the
      // end of the test) cuts the client's too, rather than failing unhandled after the test.
      const dropped = new AbortController();
      res.once('close', () => {
        dropped.abort();
      });
      fetch(server.url + (req.url ?? '/'), { method: req.method ?? 'GET', signal: dropped.signal })
        .then(async (upstream) => {
          const headers: Record<string, string> = {};
          upstream.headers.forEach((value, key) => (headers[key] = value));
          delete headers['content-length'];
          delete headers['transfer-encoding'];
          res.writeHead(upstream.status, headers).end(await upstream.text());
        })
        .catch(() => {
          res.destroy();
        });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const address = proxy.address();
    const proxyUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    try {
      const writer = new RegistryClient({ url: server.url });
      await writer.register({ service: 'web', id: 'w1', host: '127.0.0.1', port: 9001 });
      const watch = collect(new RegistryClient({ url: proxyUrl }), 'web');
      await watch.until((events) => events.length === 1);
      expect(watch.events[0]).toMatchObject({ type: 'snapshot', index: 1, instances: [{ id: 'w1' }] });
      const w2 = await writer.register({ service: 'web', id: 'w2', host: '127.0.0.1', port: 9002 });
      await watch.until((events) => events.length === 2);
      expect(watch.events[1]).toMatchObject({ type: 'snapshot', index: w2.modifyIndex });
      expect((watch.events[1] as { instances: { id: string }[] }).instances.map((i) => i.id)).toEqual(['w1', 'w2']);
      expect(watch.statuses[0]).toMatchObject({ connected: true, mode: 'blocking' });
      await watch.stop();
    } finally {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});
