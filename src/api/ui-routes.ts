/**
 * The web dashboard (issue #16): the files `npm run build` writes to dist/ui/, served at `/ui/`, and a browser's
 * `GET /` sent there. The files are public, whatever the auth mode: the page holds no data, and every answer it then
 * asks for needs the user's token like any other client's. A JSON client asking for `/` still gets the 404 it got.
 *
 * Caching: the bundle's file names carry a hash of their content, so they are immutable; index.html names them and
 * is revalidated on every load, so a new build is picked up at the next reload.
 */
import { readFile, readdir } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { RegistryError } from '../errors/index.js';

/** What a page may load: its own files and answers only (nothing from a CDN, no inline script). */
const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

export interface UiRouteOptions {
  /**
   * Where the built dashboard lives (default dist/ui/ of this package: `../../dist/ui/` from both src/api/ and
   * dist/api/, so tests run from source serve the last build too).
   */
  root?: URL;
  /** The gateway that runs inside `serve`, if any: `GET /v1/gateway/routes` answers its route table. */
  gateway?: () => { url: string; routes(): unknown } | undefined;
}

interface UiFiles {
  index: Buffer;
  assets: Map<string, { body: Buffer; type: string }>;
}

export function addUiRoutes(app: FastifyInstance, options: UiRouteOptions = {}): void {
  const root = options.root ?? new URL('../../dist/ui/', import.meta.url);
  // Read once, on the first request for them: a few hundred KB, kept in memory.
  let files: Promise<UiFiles | undefined> | undefined;
  const load = (): Promise<UiFiles | undefined> => (files ??= loadUi(root));
  const notBuilt = () =>
    new RegistryError('NOT_FOUND', 'the web dashboard is not built: run `npm run build` (it writes dist/ui/)');

  app.get('/', { config: { access: 'public', hidden: true } }, (request, reply) => {
    // A browser asks for HTML first; API clients (curl's */*, the SDK's JSON) keep the 404 they always got.
    if (/\btext\/html\b/.test(request.headers.accept ?? '')) return reply.redirect('/ui/', 302);
    reply.callNotFound();
    return reply;
  });
  app.get('/ui', { config: { access: 'public', hidden: true } }, (_request, reply) => reply.redirect('/ui/', 301));
  app.get('/ui/', { config: { access: 'public', hidden: true } }, async (_request, reply) => {
    const ui = await load();
    if (!ui) throw notBuilt();
    return secured(reply).header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(ui.index);
  });
  app.get<{ Params: { file: string } }>(
    '/ui/assets/:file',
    { config: { access: 'public', hidden: true } },
    async (request, reply) => {
      const ui = await load();
      if (!ui) throw notBuilt();
      const asset = ui.assets.get(request.params.file);
      if (!asset) throw new RegistryError('NOT_FOUND', `no dashboard file ${request.params.file}`);
      return secured(reply)
        .header('cache-control', 'public, max-age=31536000, immutable')
        .type(asset.type)
        .send(asset.body);
    },
  );

  app.get(
    '/v1/ui-config',
    {
      config: {
        access: 'public',
        summary:
          'What the web dashboard needs to know of this server: the URL of the gateway that runs inside serve, or null',
      },
    },
    (_request, reply) => {
      const gateway = options.gateway?.();
      return reply.header('cache-control', 'no-cache').send({ gateway: gateway?.url ?? null });
    },
  );
  app.get(
    '/v1/gateway/routes',
    {
      config: {
        access: 'read-everywhere',
        summary:
          'The route table of the gateway that runs inside serve, as its /_gateway/routes answers (404 without one)',
      },
    },
    (_request, reply) => {
      const gateway = options.gateway?.();
      if (!gateway) throw new RegistryError('NOT_FOUND', 'no gateway runs inside this registry (serve --gateway-port)');
      return reply.send(gateway.routes());
    },
  );
}

function secured(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer');
}

async function loadUi(root: URL): Promise<UiFiles | undefined> {
  let index: Buffer;
  try {
    index = await readFile(new URL('index.html', root));
  } catch {
    return undefined;
  }
  const assets = new Map<string, { body: Buffer; type: string }>();
  const dir = new URL('assets/', root);
  const names = await readdir(dir).catch(() => []);
  for (const name of names) {
    const type = CONTENT_TYPES[/\.[a-z]+$/.exec(name)?.[0] ?? ''];
    if (type !== undefined) assets.set(name, { body: await readFile(new URL(name, dir)), type });
  }
  return { index, assets };
}
