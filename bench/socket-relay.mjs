// A ceiling, not a proxy: raw sockets both ways and no HTTP parser at all. It finds a request's end at its blank line
// and a response's by its Content-Length, so it would mis-frame bodies, chunked answers and pipelined requests; it
// shows what a Node.js relay costs when parsing costs nothing. Bench only.
import { connect, createServer } from 'node:net';

const upstream = new URL(process.env.UPSTREAM);
const idle = [];

function withUpstream(use) {
  const socket = idle.pop();
  if (socket !== undefined) {
    use(socket);
    return;
  }
  const fresh = connect({ host: upstream.hostname, port: Number(upstream.port), noDelay: true }, () => use(fresh));
  fresh.on('error', () => {});
}

const server = createServer({ noDelay: true }, (client) => {
  client.on('error', () => {});
  let pending = null;
  client.on('data', (chunk) => {
    pending = pending === null ? chunk : Buffer.concat([pending, chunk]);
    const end = pending.indexOf('\r\n\r\n');
    if (end === -1) return;
    const lines = pending.latin1Slice(0, end).split('\r\n');
    pending = null;
    let head = `${lines[0]}\r\n`;
    for (let i = 1; i < lines.length; i++) if (!/^connection:/i.test(lines[i])) head += `${lines[i]}\r\n`;
    head += `x-forwarded-for: ${client.remoteAddress}\r\n\r\n`;
    withUpstream((socket) => {
      let answer = null;
      let left = -1;
      const onData = (data) => {
        if (left === -1) {
          answer = answer === null ? data : Buffer.concat([answer, data]);
          const headEnd = answer.indexOf('\r\n\r\n');
          if (headEnd === -1) return;
          const length = /\r\ncontent-length:\s*(\d+)/i.exec(answer.latin1Slice(0, headEnd));
          left = headEnd + 4 + Number(length?.[1] ?? 0);
          data = answer;
        }
        client.write(data);
        left -= data.length;
        if (left <= 0) {
          socket.off('data', onData);
          idle.push(socket);
        }
      };
      socket.on('data', onData);
      socket.write(head);
    });
  });
});
server.listen(0, '127.0.0.1', () => {
  console.log(`listening http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
