/**
 * Where the registrar's scaling reads load (issue #15): the gateway's `GET /_gateway/routes`, whose routes carry each
 * service's figures over the gateway's last window (in flight, answers per second, p90 time to headers). One page
 * holds every service, so a round of the registrar over many services costs one request: the page is kept for a
 * short while and requests made while one is under way share it.
 *
 * The page shows every service, so with auth on the token needs read on every service (issue #13).
 */
import { RegistryError, errorFromBody } from '../errors/index.js';
import type { LoadSample } from './scaling.js';

/** The gateway's load figures of a service, as the registrar reads them. */
export interface LoadSource {
  /** The service's load now; undefined when the gateway has no route for it. Rejects when the page cannot be read. */
  sample(service: string): Promise<LoadSample | undefined>;
  close(): void;
}

export interface GatewayLoadSourceOptions {
  /** The gateway's URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** Bearer token with read on every service (when the gateway checks tokens). */
  token?: string;
  /** CA(s) to trust for an `https://` gateway, PEM. */
  ca?: string | Buffer;
  /** How long one page serves every sample. Default 500 ms. */
  maxAgeMs?: number;
  /** How long one request may take. Default 5 s. */
  timeoutMs?: number;
}

/** What the source reads of a route: a subset of the gateway's GatewayRoutes, checked as it is parsed. */
interface RouteLoad {
  service: string;
  retained: boolean;
  eligible: number;
  load: { inflight: number; rps: number; p90Ms: number | null };
}

interface Page {
  at: number;
  routes: RouteLoad[];
}

type Get = (url: string, headers: Record<string, string>) => Promise<{ status: number; text: string }>;

/**
 * A load source that reads the gateway's routes page.
 * @example
 * const source = gatewayLoadSource({ url: 'http://127.0.0.1:8080', token });
 * const sample = await source.sample('tickets'); // { instances: 2, rpsPerInstance: 12.5, p90Ms: 40, … } or undefined
 * source.close();
 */
export function gatewayLoadSource(options: GatewayLoadSourceOptions): LoadSource {
  const pageUrl = new URL('/_gateway/routes', options.url).toString();
  const maxAgeMs = options.maxAgeMs ?? 500;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const headers: Record<string, string> = {
    accept: 'application/json',
    ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
  };
  const client = httpClient(options.ca, timeoutMs);
  let cached: { page: Promise<Page>; at: number } | undefined;
  let closed = false;

  const page = (): Promise<Page> => {
    const now = Date.now();
    if (cached !== undefined && now - cached.at < maxAgeMs) return cached.page;
    const entry = { at: now, page: readPage(client.get, pageUrl, headers) };
    cached = entry;
    // A failure is not kept: the next sample asks again.
    entry.page.catch(() => {
      if (cached === entry) cached = undefined;
    });
    return entry.page;
  };

  return {
    async sample(service) {
      if (closed) throw new RegistryError('UNAVAILABLE', 'the load source is closed');
      const { at, routes } = await page();
      return sampleOf(service, routes, at);
    },
    close() {
      closed = true;
      cached = undefined;
      client.close();
    },
  };
}

/**
 * A service's sample from the routes: its largest live route (a service routed both by url and by name has one route
 * per prefix over the same instances), per instance over the instances the gateway routes to.
 */
function sampleOf(service: string, routes: readonly RouteLoad[], at: number): LoadSample | undefined {
  let best: RouteLoad | undefined;
  for (const route of routes) {
    if (route.service !== service || route.retained) continue;
    if (best === undefined || route.eligible > best.eligible) best = route;
  }
  if (best === undefined) return undefined;
  const instances = best.eligible;
  const per = (value: number): number => (instances > 0 ? value / instances : 0);
  return {
    service,
    instances,
    inflightPerInstance: per(best.load.inflight),
    rpsPerInstance: per(best.load.rps),
    p90Ms: best.load.p90Ms,
    at,
  };
}

async function readPage(get: Get, url: string, headers: Record<string, string>): Promise<Page> {
  let answer: { status: number; text: string };
  try {
    answer = await get(url, headers);
  } catch (err) {
    throw new RegistryError('UNAVAILABLE', `cannot read ${url}: ${messageOf(err)}`, { cause: err });
  }
  if (answer.status !== 200) {
    const error = errorFromBody(answer.status, answer.text);
    throw new RegistryError(error.code, `${url}: ${error.message}`, { cause: error });
  }
  return { at: Date.now(), routes: parseRoutes(answer.text, url) };
}

/** The routes of the page, checked: a gateway from before issue #15 has no load figures, and says so here. */
function parseRoutes(text: string, url: string): RouteLoad[] {
  const bad = (why: string): RegistryError =>
    new RegistryError('INTERNAL', `${url} is not a gateway routes page: ${why}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  const routes = (body as { routes?: unknown } | null)?.routes;
  if (!Array.isArray(routes)) throw bad('no "routes" list');
  return routes.map((value: unknown): RouteLoad => {
    const route = value as {
      service?: unknown;
      retained?: unknown;
      instances?: unknown;
      load?: { inflight?: unknown; rps?: unknown; p90Ms?: unknown } | null;
    } | null;
    if (typeof route?.service !== 'string' || !Array.isArray(route.instances)) throw bad('a route without its service');
    const load = route.load;
    if (
      load === undefined ||
      load === null ||
      typeof load.inflight !== 'number' ||
      typeof load.rps !== 'number' ||
      (typeof load.p90Ms !== 'number' && load.p90Ms !== null)
    ) {
      throw new RegistryError(
        'UNAVAILABLE',
        `${url} shows no load figures for ${route.service}: is the gateway older than scaling (issue #15)?`,
      );
    }
    const eligible = route.instances.filter((i: unknown) => (i as { eligible?: unknown } | null)?.eligible === true);
    return {
      service: route.service,
      retained: route.retained === true,
      eligible: eligible.length,
      load: { inflight: load.inflight, rps: load.rps, p90Ms: load.p90Ms },
    };
  });
}

/**
 * GET with undici, loaded on the first request (loading it costs about 0.2 s, which CLI commands that never sample
 * should not pay); its own Agent when a CA is given.
 */
function httpClient(ca: string | Buffer | undefined, timeoutMs: number): { get: Get; close: () => void } {
  let dispatcher: { close: () => Promise<void> } | undefined;
  let loading: Promise<Get> | undefined;
  const load = async (): Promise<Get> => {
    const { Agent, request } = await import('undici');
    const agent = ca === undefined ? undefined : new Agent({ connect: { ca } });
    dispatcher = agent;
    return async (url, headers) => {
      const res = await request(url, {
        method: 'GET',
        headers,
        signal: AbortSignal.timeout(timeoutMs),
        ...(agent === undefined ? {} : { dispatcher: agent }),
      });
      return { status: res.statusCode, text: await res.body.text() };
    };
  };
  return {
    get: async (url, headers) => {
      loading ??= load();
      return (await loading)(url, headers);
    },
    close: () => {
      void dispatcher?.close().catch(() => undefined);
    },
  };
}

function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}
