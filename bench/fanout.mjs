// Watch fan-out (issue 6): from one change to the last of 1,000 SSE watchers receiving it, and to the last of
// 1,000 blocking queries returning. The registry runs in its own process (`switchboard serve`); the watchers and
// the writer share this one, so a figure includes the watchers' own parsing, as a real fleet's would not.
import http from 'node:http';
import { fmt, startRegistry } from './lib.mjs';

const WATCHERS = 1_000;
const ROUNDS = 50;
const SERVICE = 'fan';
/** Time for 1,000 blocking queries to reach the registry and be held before the change is made. */
const SETTLE_MS = 700;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/** One change to the watched service (the instance's port moves: an `updated` event); resolves its index. */
function change(base, agent, round) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ host: '127.0.0.1', port: 10_000 + round });
    const req = http.request(
      `${base}/v1/services/${SERVICE}/instances/i1`,
      { method: 'PUT', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => (res.statusCode < 300 ? resolve(JSON.parse(text).modifyIndex) : reject(new Error(`PUT ${res.statusCode}: ${text}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Opens `count` event streams of the service; each reports the index of every event it gets. */
async function openStreams(base, count, since) {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const streams = [];
  let opened = 0;
  await new Promise((resolve, reject) => {
    for (let i = 0; i < count; i++) {
      const stream = { last: since, onEvent: () => undefined, req: undefined };
      stream.req = http.get(`${base}/v1/events?service=${SERVICE}&since=${since}`, { agent }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`events: ${res.statusCode}`));
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (chunk) => {
          buffer += chunk;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const match = /^id: (\d+)$/m.exec(block);
            if (match) {
              stream.last = Number(match[1]);
              stream.onEvent(stream.last);
            }
          }
        });
        if (++opened === count) resolve();
      });
      stream.req.on('error', reject);
      streams.push(stream);
    }
  });
  return { streams, close: () => { for (const s of streams) s.req.destroy(); agent.destroy(); } };
}

/** Rounds of: change, then time until every stream has an event at or after the change's index. */
async function measureStreams(base, writer, count) {
  const since = await change(base, writer, 0);
  const { streams, close } = await openStreams(base, count, since);
  const latencies = [];
  const puts = [];
  try {
    await sleep(300);
    for (let round = 1; round <= ROUNDS; round++) {
      const before = Math.max(...streams.map((s) => s.last));
      let pending = count;
      let lastAt = 0;
      const done = new Promise((resolve) => {
        for (const s of streams) {
          s.onEvent = (index) => {
            if (index <= before) return;
            s.onEvent = () => undefined;
            lastAt = performance.now();
            if (--pending === 0) resolve();
          };
        }
      });
      const t0 = performance.now();
      await change(base, writer, round);
      puts.push(performance.now() - t0);
      await done;
      latencies.push(lastAt - t0);
      await sleep(20);
    }
  } finally {
    close();
  }
  return { latencies, puts };
}

/** Rounds of: `count` blocking queries held at the current index, one change, time until the last returns. */
async function measureBlocking(base, writer, count) {
  // Keep every socket between rounds (the default keeps 256), so rounds do not reconnect 1,000 sockets at once.
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: Infinity });
  const latencies = [];
  let early = 0;
  try {
    let index = await change(base, writer, 0);
    for (let round = 1; round <= ROUNDS; round++) {
      let t0 = Infinity;
      let lastAt = 0;
      const answers = Array.from(
        { length: count },
        () =>
          new Promise((resolve, reject) => {
            const req = http.get(`${base}/v1/services/${SERVICE}?index=${index}&wait=60s`, { agent }, (res) => {
              res.resume();
              res.on('end', () => {
                const at = performance.now();
                if (at < t0) early += 1;
                lastAt = Math.max(lastAt, at);
                resolve(Number(res.headers['x-switchboard-index']));
              });
            });
            req.on('error', reject);
          }),
      );
      await sleep(count === 1 ? 100 : SETTLE_MS);
      t0 = performance.now();
      const next = await change(base, writer, round);
      const indexes = await Promise.all(answers);
      if (indexes.some((i) => i < next)) throw new Error('a blocking query returned an old index');
      latencies.push(lastAt - t0);
      index = next;
    }
  } finally {
    agent.destroy();
  }
  if (early > 0) throw new Error(`${early} blocking queries returned before the change`);
  return { latencies };
}

export default async function run() {
  const registry = await startRegistry(['--store', 'memory']);
  const writer = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const base = registry.url;
    const sse1 = await measureStreams(base, writer, 1);
    const sse = await measureStreams(base, writer, WATCHERS);
    const blocking1 = await measureBlocking(base, writer, 1);
    const blocking = await measureBlocking(base, writer, WATCHERS);
    const row = (label, values) => `| ${label} | ${fmt.ms(percentile(values, 0.5))} | ${fmt.ms(percentile(values, 0.99))} | ${fmt.ms(Math.max(...values))} |`;
    const p99 = Math.max(percentile(sse.latencies, 0.99), percentile(blocking.latencies, 0.99));
    return `## Watch fan-out

One change to a watched service (\`PUT\` of its instance with a new port: an \`updated\` event), ${ROUNDS} rounds. The
registry (\`switchboard serve --store memory\`) runs in its own process; the writer and every watcher share this
one. Latency runs from sending the \`PUT\` to the **last** watcher having the change: for SSE, the event parsed from
its stream; for blocking queries (\`GET /v1/services/${SERVICE}?index=N&wait=60s\`, held ${SETTLE_MS} ms before the
change), the whole answer read. One watcher is the baseline, and the \`PUT\` round trip is part of every figure.

| From one change to… | p50 | p99 | max |
|---|---:|---:|---:|
${row('`PUT` round trip alone', sse.puts)}
${row('1 SSE watcher', sse1.latencies)}
${row(`the last of ${fmt.rps(WATCHERS)} SSE watchers`, sse.latencies)}
${row('1 blocking query', blocking1.latencies)}
${row(`the last of ${fmt.rps(WATCHERS)} blocking queries`, blocking.latencies)}

Target: p99 under 50 ms with ${fmt.rps(WATCHERS)} watchers — ${p99 < 50 ? 'met' : '**not met**'} (worst p99 ${fmt.ms(p99)}).
Each change is serialized once for all streams (and each blocking answer once per service index), and written on the
next turn of the event loop; one registry listener serves every watcher of a service.`;
  } finally {
    writer.destroy();
    await registry.stop();
  }
}
