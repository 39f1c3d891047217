/**
 * The gateway's operator pages take a registry token (issue #13): `/_gateway/routes` and `/_gateway/metrics` show
 * every service, so they need read on every service; `/_gateway/health` stays public. A standalone gateway asks the
 * registry who a token is (`GET /v1/tokens/self`) and remembers the answer for a short while.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { registryPageAuthorizer } from '../../src/cli/gateway-command.js';
import type { PageAuthorizerOptions } from '../../src/cli/gateway-command.js';
import type { ErrorBody } from '../../src/errors/index.js';
import { DEFAULTS } from '../../src/config/index.js';
import { createGateway, gatewayOptionsFrom } from '../../src/gateway/index.js';
import type { Gateway } from '../../src/gateway/index.js';
import { RegistryClient } from '../../src/sdk/index.js';
import type { RunningServer } from '../../src/server.js';
import { eventually, getJson, spawnGateway, startTestGateway, startUpstream } from '../fixtures/gateway.js';
import { operatorOf, startAuthServer, startTestServer, tempDir } from '../fixtures/server.js';

const bearer = (token: string): RequestInit => ({ headers: { authorization: `Bearer ${token}` } });

/** A fetch for the authorizer that counts its registry round trips and fails as an unreachable registry would. */
function countingFetch(): {
  fetch: NonNullable<PageAuthorizerOptions['client']['fetch']>;
  lookups: number;
  down: boolean;
} {
  const counter = {
    lookups: 0,
    down: false,
    fetch: (url: string, init: RequestInit): Promise<Response> => {
      counter.lookups += 1;
      if (counter.down) {
        const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1'), { code: 'ECONNREFUSED' });
        return Promise.reject(new TypeError('fetch failed', { cause: refused }));
      }
      return fetch(url, init);
    },
  };
  return counter;
}

/** A gateway following `server` with its own read:* token, whose pages ask `server` about tokens. */
async function gatewayFor(
  server: RunningServer,
  operator: RegistryClient,
  authorizer: Omit<PageAuthorizerOptions, 'client'> & { fetch?: PageAuthorizerOptions['client']['fetch'] } = {},
): Promise<Gateway> {
  const { secret } = await operator.createToken({ name: 'gateway', read: ['*'] });
  const { fetch: lookupFetch, ...cache } = authorizer;
  return startTestGateway(server.url, {
    token: secret,
    authorizePage: registryPageAuthorizer({
      client: { url: server.url, ...(lookupFetch === undefined ? {} : { fetch: lookupFetch }) },
      ...cache,
    }),
  });
}

describe('gateway operator pages', () => {
  it('answer only a token with read on every service; /_gateway/health is public', async () => {
    using dir = tempDir();
    await using server = await startAuthServer(dir.path);
    await using web = await startUpstream('web');
    const operator = operatorOf(server, dir.path);
    const { secret: writer } = await operator.createToken({ name: 'web-deploy', write: ['web'] });
    await new RegistryClient({ url: server.url, token: writer }).register({
      service: 'web',
      id: 'w1',
      host: '127.0.0.1',
      port: web.port,
      url: '/web',
    });
    const { secret: reader } = await operator.createToken({ name: 'dashboards', read: ['*'] });
    const { secret: payReader } = await operator.createToken({ name: 'pay-dashboards', read: ['pay*'] });
    await using gateway = await gatewayFor(server, operator);
    const routes = `${gateway.url}/_gateway/routes`;
    const metrics = `${gateway.url}/_gateway/metrics`;

    for (const page of [routes, metrics]) {
      const anonymous = await getJson<ErrorBody>(page);
      expect(anonymous.status).toBe(401);
      expect(anonymous.body).toMatchObject({ statusCode: 401, code: 'UNAUTHENTICATED' });
      expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');

      const narrow = await getJson<ErrorBody>(page, bearer(payReader));
      expect(narrow.status).toBe(403);
      expect(narrow.body).toMatchObject({
        code: 'PERMISSION_DENIED',
        message: expect.stringContaining('read') as unknown,
      });
      expect(narrow.body.message).not.toContain(payReader);

      const invalid = await getJson<ErrorBody>(page, bearer('sbt_not-a-token'));
      expect(invalid.status).toBe(401);
      expect(invalid.body.code).toBe('UNAUTHENTICATED');
    }

    const table = await getJson<{ routes: { prefix: string; service: string }[] }>(routes, bearer(reader));
    expect(table.status).toBe(200);
    expect(table.body.routes.map((r) => [r.prefix, r.service])).toEqual([['/web', 'web']]);
    expect((await getJson(metrics, bearer(reader))).status).toBe(200);
    // The other header a token travels in, and an operator token (which may do everything).
    expect((await getJson(routes, { headers: { 'x-switchboard-token': reader } })).status).toBe(200);
    expect((await getJson(routes, bearer(writer))).status).toBe(403);
    expect((await getJson(metrics, operatorHeaders(dir.path))).status).toBe(200);

    const health = await getJson<{ status: string }>(`${gateway.url}/_gateway/health`);
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('ok');
  });

  it('remember who a token is for the cache window, so a revoked token stops working once it ends', async () => {
    using dir = tempDir();
    await using server = await startAuthServer(dir.path);
    const operator = operatorOf(server, dir.path);
    const token = await operator.createToken({ name: 'scraper', read: ['*'] });
    const counter = countingFetch();
    await using gateway = await gatewayFor(server, operator, { cacheMs: 500, fetch: counter.fetch });
    const metrics = `${gateway.url}/_gateway/metrics`;

    for (let i = 0; i < 5; i++) expect((await getJson(metrics, bearer(token.secret))).status).toBe(200);
    expect(counter.lookups).toBe(1);

    await operator.revokeToken(token.id);
    await eventually(async () => (await getJson(metrics, bearer(token.secret))).status === 401, 5_000);
    expect(counter.lookups).toBeGreaterThanOrEqual(2);
  });

  it('forget the oldest answer beyond their bound', async () => {
    using dir = tempDir();
    await using server = await startAuthServer(dir.path);
    const operator = operatorOf(server, dir.path);
    const first = await operator.createToken({ name: 'first', read: ['*'] });
    const second = await operator.createToken({ name: 'second', read: ['*'] });
    const counter = countingFetch();
    await using gateway = await gatewayFor(server, operator, { maxEntries: 1, fetch: counter.fetch });
    const routes = `${gateway.url}/_gateway/routes`;

    expect((await getJson(routes, bearer(first.secret))).status).toBe(200);
    expect((await getJson(routes, bearer(first.secret))).status).toBe(200);
    expect(counter.lookups).toBe(1);
    expect((await getJson(routes, bearer(second.secret))).status).toBe(200);
    expect(counter.lookups).toBe(2);
    // `second` took the only place: `first` is asked about again, and its revocation shows at once.
    await operator.revokeToken(first.id);
    expect((await getJson(routes, bearer(first.secret))).status).toBe(401);
    expect(counter.lookups).toBe(3);
  });

  it('answer 503 while the registry cannot be asked, and do not remember that', async () => {
    using dir = tempDir();
    await using server = await startAuthServer(dir.path);
    const operator = operatorOf(server, dir.path);
    const { secret } = await operator.createToken({ name: 'scraper', read: ['*'] });
    const counter = countingFetch();
    await using gateway = await gatewayFor(server, operator, { fetch: counter.fetch });
    const routes = `${gateway.url}/_gateway/routes`;

    counter.down = true;
    const unreachable = await getJson<ErrorBody>(routes, bearer(secret));
    expect(unreachable.status).toBe(503);
    expect(unreachable.body.code).toBe('UNAVAILABLE');
    expect(unreachable.body.message).not.toContain(secret);
    counter.down = false;
    expect((await getJson(routes, bearer(secret))).status).toBe(200);
    expect((await getJson(`${gateway.url}/_gateway/health`)).status).toBe(200);
  });

  it('stay closed on a gateway started without a way to check tokens', async () => {
    await using server = await startTestServer();
    // createGateway itself, not the fixture, so that no default of the fixture's can open the pages.
    await using gateway = await createGateway({
      ...gatewayOptionsFrom(DEFAULTS.gateway, { host: DEFAULTS.http.host, port: 0 }),
      registry: server.url,
    });
    const answer = await getJson<ErrorBody>(`${gateway.url}/_gateway/routes`);
    expect(answer.status).toBe(403);
    expect(answer.body.code).toBe('PERMISSION_DENIED');
    expect((await getJson(`${gateway.url}/_gateway/metrics`)).status).toBe(403);
    expect((await getJson(`${gateway.url}/_gateway/health`)).status).toBe(200);
  });

  it('take a registry token on `switchboard gateway`', async () => {
    using dir = tempDir();
    await using server = await startAuthServer(dir.path);
    const operator = operatorOf(server, dir.path);
    const { secret: gatewayToken } = await operator.createToken({ name: 'gateway', read: ['*'] });
    const { secret: payReader } = await operator.createToken({ name: 'pay-dashboards', read: ['pay*'] });
    await using gateway = await spawnGateway(server.url, ['--token', gatewayToken]);
    const routes = `${gateway.url}/_gateway/routes`;

    expect((await getJson<ErrorBody>(routes)).body.code).toBe('UNAUTHENTICATED');
    expect((await getJson<ErrorBody>(routes, bearer(payReader))).body.code).toBe('PERMISSION_DENIED');
    expect((await getJson(routes, operatorHeaders(dir.path))).status).toBe(200);
    expect((await getJson(`${gateway.url}/_gateway/health`)).status).toBe(200);
    expect(gateway.output()).not.toContain(gatewayToken);
  });
});

function operatorHeaders(dir: string): RequestInit {
  return bearer(readFileSync(join(dir, 'bootstrap-token'), 'utf8').trim());
}
