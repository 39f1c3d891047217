// The floor under the gateway: a node:http server relaying every request to one upstream (UPSTREAM) through an undici
// keep-alive pool, with no routing, header rewriting or failure handling. What it costs per request is what any
// Node.js proxy built on these two pays before doing anything of its own.
import { createServer } from 'node:http';
import { Pool } from 'undici';

const pool = new Pool(process.env.UPSTREAM, { connections: 256, pipelining: 1 });
const server = createServer((req, res) => {
  pool.dispatch(
    { path: req.url, method: req.method, headers: req.rawHeaders, body: null },
    {
      onConnect() {},
      onHeaders(status, raw, resume) {
        res.on('drain', resume);
        const headers = [];
        for (let i = 0; i < raw.length; i += 2) {
          const name = raw[i].toString('latin1');
          if (name.length !== 10) headers.push(name, raw[i + 1].toString('latin1')); // skip connection, keep-alive
        }
        res.writeHead(status, headers);
        return true;
      },
      onData(chunk) {
        return res.write(chunk);
      },
      onComplete() {
        res.end();
      },
      onError(err) {
        res.destroy(err);
      },
    },
  );
});
server.keepAliveTimeout = 72_000;
server.listen(0, '127.0.0.1', () => {
  console.log(`listening http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
