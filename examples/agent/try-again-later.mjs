// A static "try again later" service: the fallback of tickets in this directory's definitions. Every request gets
// 503 with Retry-After, as JSON, so a client (or the gateway routing to it) knows the answer is a stand-in.
//
//   PORT=3100 node examples/agent/try-again-later.mjs
import { createServer } from 'node:http';

const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT ?? 3100);
const body = JSON.stringify({ error: 'tickets is unavailable right now; try again in a minute' });

const server = createServer((req, res) => {
  req.resume();
  if (new URL(req.url ?? '/', 'http://localhost').pathname === '/health') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    return;
  }
  res.writeHead(503, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'retry-after': '60',
  });
  res.end(body);
});

server.listen(port, host, () => console.log(`try-again-later listening on http://${host}:${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
