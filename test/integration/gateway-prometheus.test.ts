/**
 * The standalone gateway in Prometheus' text format: `/_gateway/metrics?format=prometheus` (Consul's
 * `/v1/agent/metrics?format=prometheus`) serves the gateway's families and the process metrics, behind the same
 * token check as the JSON page, and Debian's real Prometheus scrapes it.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { registryPageAuthorizer } from '../../src/cli/gateway-command.js';
import type { ErrorBody } from '../../src/errors/index.js';
import { sampleValue } from '../fixtures/exposition.js';
import {
  eventually,
  getJson,
  spawnGateway,
  startRoutedUpstream,
  startTestGateway,
  startUpstream,
} from '../fixtures/gateway.js';
import { startPrometheus } from '../fixtures/prometheus.js';
import { operatorOf, startAuthServer, startTestServer, tempDir } from '../fixtures/server.js';

const PROMETHEUS = 'format=prometheus';

const bearer = (token: string): RequestInit => ({ headers: { authorization: `Bearer ${token}` } });

describe('the standalone gateway in Prometheus text format', () => {
  it('counts exactly the requests sent through it, per service, next to the process metrics', async () => {
    await using server = await startTestServer();
    // The registry has auth off: its anonymous caller may read everything, so the page opens without a token.
    await using routed = await startRoutedUpstream(
      server.url,
      { service: 'web', id: 'w1' },
      { authorizePage: registryPageAuthorizer({ client: { url: server.url } }) },
    );
    const { gateway } = routed;
    const page = `${gateway.url}/_gateway/metrics?${PROMETHEUS}`;
    const served = { service: 'web', code: '2xx' };

    const before = await fetch(page);
    expect(before.status).toBe(200);
    const start = sampleValue(await before.text(), 'switchboard_gateway_service_requests_total', served) ?? 0;
    const sent = 7;
    for (let i = 0; i < sent; i++) expect((await getJson(`${gateway.url}/web/${i}`)).status).toBe(200);

    const after = await fetch(page);
    expect(after.status).toBe(200);
    expect(after.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(after.headers.get('cache-control')).toBe('no-store');
    const text = await after.text();
    expect(sampleValue(text, 'switchboard_gateway_service_requests_total', served)).toBe(start + sent);
    expect(sampleValue(text, 'switchboard_gateway_service_duration_seconds_count', { service: 'web' })).toBe(
      start + sent,
    );
    expect(sampleValue(text, 'switchboard_gateway_upstream_requests_total', { service: 'web', instance: 'w1' })).toBe(
      start + sent,
    );
    expect(sampleValue(text, 'switchboard_gateway_routes')).toBe(1);
    expect(text).toContain('# TYPE switchboard_gateway_service_requests_total counter');
    expect(text).toContain('# TYPE switchboard_gateway_service_duration_seconds histogram');
    // prom-client's default process metrics, under their standard names.
    expect(sampleValue(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sampleValue(text, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge');
    // Only the gateway's: the registry's own families are on the registry's /metrics.
    expect(text).not.toContain('switchboard_http_requests_total');

    // The JSON page is unchanged: the same figures, as the dashboard reads them.
    const json = await getJson<{ requests: number; upstreams: { id: string; requests: number }[] }>(
      `${gateway.url}/_gateway/metrics`,
    );
    expect(json.status).toBe(200);
    expect(json.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(json.body.requests).toBe(sent);
    expect(json.body.upstreams).toEqual([expect.objectContaining({ id: 'w1', requests: sent })]);
  });

  it('refuses a scrape as the JSON page does: without a token, with too narrow a token', async () => {
    using dir = tempDir();
    await using server = await startAuthServer(dir.path);
    const operator = operatorOf(server, dir.path);
    const { secret: gatewayToken } = await operator.createToken({ name: 'gateway', read: ['*'] });
    const { secret: payReader } = await operator.createToken({ name: 'pay-dashboards', read: ['pay*'] });
    const { secret: scraper } = await operator.createToken({ name: 'prometheus', read: ['*'] });
    await using gateway = await startTestGateway(server.url, {
      token: gatewayToken,
      authorizePage: registryPageAuthorizer({ client: { url: server.url } }),
    });
    const json = `${gateway.url}/_gateway/metrics`;
    const text = `${json}?${PROMETHEUS}`;

    const anonymous = await getJson<ErrorBody>(text);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toMatchObject({ statusCode: 401, code: 'UNAUTHENTICATED' });
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
    const anonymousJson = await getJson<ErrorBody>(json);
    expect({ status: anonymous.status, body: anonymous.body }).toEqual({
      status: anonymousJson.status,
      body: anonymousJson.body,
    });

    const narrow = await getJson<ErrorBody>(text, bearer(payReader));
    expect(narrow.status).toBe(403);
    expect(narrow.body.code).toBe('PERMISSION_DENIED');
    expect(narrow.body).toEqual((await getJson<ErrorBody>(json, bearer(payReader))).body);

    // A bad format says nothing to a caller it would refuse: the token is checked first, as on the registry.
    expect((await getJson<ErrorBody>(`${json}?format=xml`)).status).toBe(401);

    const admitted = await fetch(text, { headers: { 'x-switchboard-token': scraper } });
    expect(admitted.status).toBe(200);
    expect(await admitted.text()).toContain('switchboard_gateway_requests_total');
  });

  it('answers 400 in its JSON error shape for any other format', async () => {
    await using server = await startTestServer();
    await using gateway = await startTestGateway(server.url, {
      authorizePage: registryPageAuthorizer({ client: { url: server.url } }),
    });
    const page = `${gateway.url}/_gateway/metrics`;
    for (const query of ['format=json', 'format=Prometheus', 'format=', 'format=openmetrics&x=1']) {
      const answer = await getJson<ErrorBody>(`${page}?${query}`);
      expect(answer.status, query).toBe(400);
      expect(answer.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(answer.body).toMatchObject({ statusCode: 400, code: 'INVALID_ARGUMENT', error: 'Bad Request' });
      expect(answer.body.message).toMatch(/^format ".*" is not supported: format=prometheus for /);
    }
    const twice = await getJson<ErrorBody>(`${page}?${PROMETHEUS}&${PROMETHEUS}`);
    expect(twice.status).toBe(400);
    expect(twice.body.message).toBe('format is given more than once');
    // A value too long to quote back whole is cut.
    const long = await getJson<ErrorBody>(`${page}?format=${'x'.repeat(10_000)}`);
    expect(long.status).toBe(400);
    expect(long.body.message.length).toBeLessThan(200);
    // The gateway goes on answering.
    expect((await fetch(`${page}?${PROMETHEUS}`)).status).toBe(200);
  });

  it("answers inside `serve` what the registry's GET /metrics does: one set of families, defined once", async () => {
    await using server = await startTestServer({ gateway: { port: 0 } });
    const gatewayUrl = server.gateway?.url ?? '';
    expect(gatewayUrl).not.toBe('');
    const answer = await fetch(`${gatewayUrl}/_gateway/metrics?${PROMETHEUS}`);
    expect(answer.status).toBe(200);
    const text = await answer.text();
    expect(sampleValue(text, 'switchboard_gateway_routes')).toBe(0);
    expect(text).toContain('# TYPE switchboard_http_requests_total counter');
    expect(text).toContain('# TYPE process_resident_memory_bytes gauge');
    // Each family once: the gateway added its families to the registry's Metrics, not to one of its own.
    expect(text.match(/^# TYPE switchboard_gateway_requests_total /gm)).toHaveLength(1);
  });

  it(
    "is scraped by Debian's Prometheus from `switchboard gateway`, with the documented parameters",
    { timeout: 90_000 },
    async () => {
      using dir = tempDir();
      // Auth on, and a policy that lets anonymous callers read: the scrape needs no token here.
      await using server = await startAuthServer(dir.path, ['*']);
      const operator = operatorOf(server, dir.path);
      await using web = await startUpstream('web');
      await operator.register({ service: 'web', id: 'w1', host: '127.0.0.1', port: web.port, url: '/web' });
      await using gateway = await spawnGateway(server.url);
      await eventually(async () => (await getJson(`${gateway.url}/web`)).status === 200, 10_000);
      const sent = 3;
      for (let i = 1; i < sent; i++) expect((await getJson(`${gateway.url}/web/${i}`)).status).toBe(200);

      await using prometheus = await startPrometheus({ scrapeIntervalS: 1, relabelConfigs: '      []' });
      // What docs/metrics.md configures with `metrics_path` and `params`, given as the target's labels.
      prometheus.setTargets([
        {
          targets: [new URL(gateway.url).host],
          labels: { job: 'gateway', __metrics_path__: '/_gateway/metrics', __param_format: 'prometheus' },
        },
      ]);
      const deadline = Date.now() + 60_000;
      for (;;) {
        const up = await prometheus.query('up{job="gateway"}');
        const requests = await prometheus.query(
          'switchboard_gateway_service_requests_total{job="gateway",service="web",code="2xx"}',
        );
        if (up[0]?.value[1] === '1' && requests.length === 1) {
          expect(up).toHaveLength(1);
          expect(requests[0]?.value[1]).toBe(String(sent));
          break;
        }
        if (Date.now() > deadline) throw new Error(`prometheus never scraped the gateway: ${prometheus.output()}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const memory = await prometheus.query('process_resident_memory_bytes{job="gateway"}');
      expect(Number(memory[0]?.value[1])).toBeGreaterThan(0);
    },
  );

  it('documents a scrape_config that promtool accepts', async () => {
    using dir = tempDir();
    const docs = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
    const section = docs.slice(docs.indexOf('## Scraping the standalone gateway'));
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    expect(yaml).toContain('format: [prometheus]');
    expect(yaml).toContain('credentials_file:');
    const tokenFile = join(dir.path, 'gateway-scrape-token');
    writeFileSync(tokenFile, 'sbt_example\n');
    const config = join(dir.path, 'prometheus.yml');
    writeFileSync(config, (yaml ?? '').replace(/credentials_file: \S+/, `credentials_file: ${tokenFile}`));
    const { stdout } = await promisify(execFile)('/usr/bin/promtool', ['check', 'config', config]);
    expect(stdout).toMatch(/SUCCESS/);
  });
});
