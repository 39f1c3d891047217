// A floor under any Node.js proxy that parses HTTP correctly: raw sockets both ways, each message read by llhttp (the
// parser node:http itself runs, reached through the internal `_http_common`), and nothing else: no streams, no
// request or response objects, no routing, no failure handling. Bench only (GET without a body, one upstream).
import { createRequire } from 'node:module';
import { connect, createServer } from 'node:net';

const { HTTPParser, methods } = createRequire(import.meta.url)('_http_common');
const ON_HEADERS = HTTPParser.kOnHeaders | 0;
const ON_HEADERS_COMPLETE = HTTPParser.kOnHeadersComplete | 0;
const ON_BODY = HTTPParser.kOnBody | 0;
const ON_MESSAGE_COMPLETE = HTTPParser.kOnMessageComplete | 0;
const upstream = new URL(process.env.UPSTREAM);
const idle = [];

function parser(type, onHead, onBody, onEnd) {
  const p = new HTTPParser();
  p.initialize(type, {}, 0, 0);
  p[ON_HEADERS] = () => {};
  p[ON_HEADERS_COMPLETE] = onHead;
  p[ON_BODY] = onBody;
  p[ON_MESSAGE_COMPLETE] = onEnd;
  return p;
}

/** A kept-alive upstream connection: its parser hands each answer to the client whose request it carries. */
function upstreamConnection(ready) {
  const conn = { socket: undefined, client: undefined };
  const p = parser(
    HTTPParser.RESPONSE,
    (_major, _minor, headers, _method, _url, status, message) => {
      let head = `HTTP/1.1 ${status} ${message}\r\n`;
      for (let i = 0; i < headers.length; i += 2) {
        if (headers[i].length !== 10) head += `${headers[i]}: ${headers[i + 1]}\r\n`; // connection, keep-alive
      }
      conn.client.write(`${head}\r\n`);
    },
    (chunk) => conn.client.write(chunk),
    () => {
      conn.client = undefined;
      idle.push(conn);
    },
  );
  conn.socket = connect({ host: upstream.hostname, port: Number(upstream.port), noDelay: true }, () => ready(conn));
  conn.socket.on('data', (data) => {
    if (p.execute(data) instanceof Error) conn.socket.destroy();
  });
  conn.socket.on('error', () => {});
}

const server = createServer({ noDelay: true }, (client) => {
  client.on('error', () => {});
  const p = parser(
    HTTPParser.REQUEST,
    (_major, _minor, headers, method, url) => {
      let head = `${methods[method]} ${url} HTTP/1.1\r\n`;
      for (let i = 0; i < headers.length; i += 2) {
        if (headers[i].length !== 10) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
      }
      head += `x-forwarded-for: ${client.remoteAddress}\r\n\r\n`;
      const send = (conn) => {
        conn.client = client;
        conn.socket.write(head);
      };
      const conn = idle.pop();
      if (conn === undefined) upstreamConnection(send);
      else send(conn);
    },
    () => {},
    () => {},
  );
  client.on('data', (data) => {
    if (p.execute(data) instanceof Error) client.destroy();
  });
});
server.listen(0, '127.0.0.1', () => {
  console.log(`listening http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
