// The tickets query service of the seed design (Auth0 microservices part 3), as a plain JavaScript HTTP service.
//
//   node examples/tickets/server.mjs                                   # just serves, on port 3001
//   SELF_REGISTRY=1 SWITCHBOARD_REGISTRY=http://127.0.0.1:8900 node examples/tickets/server.mjs
//
// Environment:
//   PORT                  port to listen on (default 3001; 0 picks a free one)
//   HOST                  address to listen on and to register (default 127.0.0.1)
//   SELF_REGISTRY         any value: register with the registry through the SDK's registerSelf
//   SWITCHBOARD_REGISTRY  the registry (default http://127.0.0.1:8900)
//   SWITCHBOARD_TTL       the lease to register with (default 10s)
//   INSTANCE_ID           the instance id (default the agent's: HOST:PORT)
//   READY_DELAY_MS        register as STARTING and turn UP after this many milliseconds (default: UP at once)
//
// It answers GET /tickets (and any path under /tickets) with JSON naming the instance that served it, and
// GET /health with {"status":"ok"}. Without SELF_REGISTRY, register it from outside: see ../systemd/tickets.service.
import { createServer } from 'node:http';
// Imported by the package's name, as a user of the SDK would: Node resolves a package's own name through its
// "exports", so this works from inside the repository once it is built (npm run build).
import { registerSelf } from 'switchboard/agent';

const host = process.env.HOST || '127.0.0.1';
const requestedPort = Number(process.env.PORT ?? 3001);

const tickets = [
  { id: 1, title: 'Printer on floor 3 is out of toner', status: 'open' },
  { id: 2, title: 'VPN drops every hour', status: 'open' },
  { id: 3, title: 'New laptop for Sam', status: 'closed' },
];

const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const port = server.address().port;
  res.setHeader('x-served-by', `tickets@${host}:${port}`);
  if (path === '/health') return send(res, 200, { status: 'ok' });
  if (path === '/tickets' || path.startsWith('/tickets/')) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      // Drain the body so that keep-alive connections stay usable.
      req.resume();
    }
    return send(res, 200, { servedBy: `${host}:${port}`, method: req.method, path, tickets });
  }
  return send(res, 404, { error: 'not found', path });
});

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

server.listen(requestedPort, host, () => {
  const { port } = server.address();
  console.log(`tickets listening on http://${host}:${port}`);
  if (!process.env.SELF_REGISTRY) return;

  const readyDelay = process.env.READY_DELAY_MS === undefined ? undefined : Number(process.env.READY_DELAY_MS);
  const agent = registerSelf({
    registry: process.env.SWITCHBOARD_REGISTRY || 'http://127.0.0.1:8900',
    service: 'tickets',
    host,
    port,
    ...(process.env.INSTANCE_ID ? { id: process.env.INSTANCE_ID } : {}),
    url: '/tickets',
    endpoints: [{ type: 'http', url: `http://${host}:${port}/tickets` }],
    authorizedRoles: ['tickets-query'],
    ttl: process.env.SWITCHBOARD_TTL || '10s',
    ready: readyDelay === undefined,
    logger: {
      info: (message) => console.log(`registry: ${message}`),
      warn: (message) => console.warn(`registry: ${message}`),
    },
  });
  console.log(`tickets self-registering as tickets/${agent.id}`);
  if (readyDelay !== undefined) setTimeout(() => void agent.ready(), readyDelay).unref();
  // No signal handlers here: on SIGINT or SIGTERM the agent deregisters, then the process ends as it would have.
});
