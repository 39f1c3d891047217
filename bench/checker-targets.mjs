// The checked services for bench/checker.mjs, in their own process so the checker's CPU is measured alone:
// HTTP servers answering 200 "ok" and TCP servers that accept and close. Reports its ports and, when asked, its CPU.
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';

const count = Number(process.argv[2] ?? 8);
const listen = (server) =>
  new Promise((resolve) =>
    server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => resolve(server.address().port)),
  );

const http = [];
const tcp = [];
for (let i = 0; i < count; i++) {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
  server.keepAliveTimeout = 1_000;
  http.push(await listen(server));
  const plain = createTcpServer((socket) => {
    socket.on('error', () => undefined);
    socket.end();
  });
  tcp.push(await listen(plain));
}
const started = process.cpuUsage();
process.send({ http, tcp });
process.on('message', (message) => {
  if (message === 'usage') process.send({ cpu: process.cpuUsage(started) });
  if (message === 'exit') process.exit(0);
});
