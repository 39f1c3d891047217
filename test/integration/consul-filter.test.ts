/**
 * Consul's `?filter=` and `?node-meta=` on the reads that take them, over HTTP against a real registry: which
 * instances each endpoint keeps, the 400 a bad expression gets, and the npm `consul` client passing a filter through.
 */
import Consul from 'consul';
import { describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server.js';
import { startTestServer } from '../fixtures/server.js';

interface Registration {
  ID: string;
  Name: string;
  Address: string;
  Port: number;
  Tags: string[];
  Meta: Record<string, string>;
}

const REGISTRATIONS: Registration[] = [
  { ID: 'web-1', Name: 'web', Address: '10.0.0.1', Port: 8080, Tags: ['v1', 'primary'], Meta: { env: 'prod' } },
  { ID: 'web-2', Name: 'web', Address: '10.0.0.2', Port: 8081, Tags: ['v2'], Meta: { env: 'qa' } },
  {
    ID: 'web-3',
    Name: 'web',
    Address: '10.0.0.3',
    Port: 8082,
    Tags: ['v2', 'canary'],
    Meta: { env: 'prod', 'team-name': 'a-b' },
  },
  { ID: 'db-1', Name: 'db', Address: '10.0.0.1', Port: 5432, Tags: ['primary'], Meta: { env: 'prod' } },
];

async function put(server: RunningServer, path: string, body?: unknown): Promise<void> {
  const response = await fetch(`${server.url}${path}`, {
    method: 'PUT',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  expect(response.status, `${path}: ${await response.text()}`).toBe(200);
}

/** web-1 passing, web-2 critical, web-3 warning, db-1 passing; all through Consul's own calls. */
async function seed(server: RunningServer): Promise<void> {
  for (const registration of REGISTRATIONS) {
    await put(server, '/v1/agent/service/register', { ...registration, Check: { TTL: '1h', Status: 'passing' } });
  }
  await put(server, '/v1/agent/check/fail/service:web-2');
  await put(server, '/v1/agent/check/warn/service:web-3');
}

async function read(
  server: RunningServer,
  path: string,
  query: Record<string, string | string[]> = {},
): Promise<{ status: number; type: string; text: string; json: () => unknown }> {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query))
    for (const one of Array.isArray(value) ? value : [value]) params.append(key, one);
  const response = await fetch(`${server.url}${path}?${params.toString()}`);
  const text = await response.text();
  return {
    status: response.status,
    type: response.headers.get('content-type') ?? '',
    text,
    json: () => JSON.parse(text) as unknown,
  };
}

/** The IDs an endpoint answers: `ServiceID` of catalog entries, `Service.ID` of health entries, keys of a map. */
async function ids(server: RunningServer, path: string, query: Record<string, string | string[]>): Promise<string[]> {
  const answer = await read(server, path, query);
  expect(answer.status, answer.text).toBe(200);
  const body = answer.json();
  if (!Array.isArray(body)) return Object.keys(body as object).sort();
  return (body as Record<string, unknown>[])
    .map((entry) => {
      const service = entry['Service'] as { ID: string } | undefined;
      return service?.ID ?? (entry['ServiceID'] as string | undefined) ?? (entry['Node'] as string);
    })
    .sort();
}

describe('Consul filter expressions over HTTP', () => {
  it('filters each endpoint on its own answer fields, after tag and passing', async () => {
    await using server = await startTestServer();
    await seed(server);

    // catalog/service/:name: catalog entry fields.
    expect(await ids(server, '/v1/catalog/service/web', {})).toEqual(['web-1', 'web-2', 'web-3']);
    expect(await ids(server, '/v1/catalog/service/web', { filter: 'ServiceMeta.env == "prod"' })).toEqual([
      'web-1',
      'web-3',
    ]);
    expect(await ids(server, '/v1/catalog/service/web', { filter: 'ServicePort == 8081' })).toEqual(['web-2']);
    expect(await ids(server, '/v1/catalog/service/web', { filter: '"v2" in ServiceTags', tag: 'canary' })).toEqual([
      'web-3',
    ]);
    expect(
      await ids(server, '/v1/catalog/service/web', { filter: 'ServiceAddress matches `^10\\.0\\.0\\.[12]$`' }),
    ).toEqual(['web-1', 'web-2']);

    // health/service/:name: Node, Service and Checks, a selector through Checks matching any check.
    expect(await ids(server, '/v1/health/service/web', { filter: 'Checks.Status == critical' })).toEqual(['web-2']);
    expect(
      await ids(server, '/v1/health/service/web', {
        filter: 'Service.Meta.env == prod and not Checks.Status != passing',
      }),
    ).toEqual(['web-1']);
    expect(await ids(server, '/v1/health/service/web', { filter: 'Service.Meta["team-name"] matches "^a-"' })).toEqual([
      'web-3',
    ]);
    expect(
      await ids(server, '/v1/health/service/web', { filter: '(Service.Port == 8080 or Service.Port == "8082")' }),
    ).toEqual(['web-1', 'web-3']);
    // `passing` first keeps web-1 alone, which has no v2.
    expect(await ids(server, '/v1/health/service/web', { passing: '1', filter: 'Service.Tags contains v2' })).toEqual(
      [],
    );
    expect(await ids(server, '/v1/health/service/web', { passing: '1', filter: 'Service.Tags contains v1' })).toEqual([
      'web-1',
    ]);

    // agent/services: every instance as the agent's services, keyed by ID.
    expect(await ids(server, '/v1/agent/services', { filter: 'Meta.env == "prod" and Service == web' })).toEqual([
      'web-1',
      'web-3',
    ]);
    expect(await ids(server, '/v1/agent/services', { filter: 'Tags contains "primary"' })).toEqual(['db-1', 'web-1']);

    // catalog/services: the services (and tags) of the entries kept.
    const services = await read(server, '/v1/catalog/services', { filter: 'ServiceTags contains "primary"' });
    expect(services.json()).toEqual({ web: ['primary', 'v1'], db: ['primary'] });
    const qa = await read(server, '/v1/catalog/services', { filter: 'ServiceMeta.env == qa' });
    expect(qa.json()).toEqual({ web: ['v2'] });
    expect((await read(server, '/v1/catalog/services')).json()).toEqual({
      web: ['canary', 'primary', 'v1', 'v2'],
      db: ['primary'],
    });

    // catalog/nodes: node fields.
    const nodes = await read(server, '/v1/catalog/nodes', { filter: 'Address != "10.0.0.1"' });
    expect((nodes.json() as { Node: string }[]).map((node) => node.Node)).toEqual(['10.0.0.2', '10.0.0.3']);

    // health/checks/:name: check fields.
    const checks = await read(server, '/v1/health/checks/web', { filter: 'Status != passing' });
    expect((checks.json() as { CheckID: string; Status: string }[]).map((c) => [c.CheckID, c.Status])).toEqual([
      ['service:web-2', 'critical'],
      ['service:web-3', 'warning'],
    ]);
  });

  it('applies node-meta to the node metadata the answers show, which no node has', async () => {
    await using server = await startTestServer();
    await seed(server);
    expect(await ids(server, '/v1/catalog/service/web', { 'node-meta': 'rack:a' })).toEqual([]);
    expect(await ids(server, '/v1/health/service/web', { 'node-meta': ['rack:a', 'os:linux'] })).toEqual([]);
    expect(await ids(server, '/v1/catalog/services', { 'node-meta': 'rack:a' })).toEqual([]);
    expect(await ids(server, '/v1/catalog/nodes', { 'node-meta': 'rack:a' })).toEqual([]);
    expect((await read(server, '/v1/health/checks/web', { 'node-meta': 'rack:a' })).json()).toEqual([]);
    // agent/services takes no node-meta in Consul.
    expect(await ids(server, '/v1/agent/services', { 'node-meta': 'rack:a' })).toEqual([
      'db-1',
      'web-1',
      'web-2',
      'web-3',
    ]);
    // The same read without it still answers everything (the answer cache keeps the two apart).
    expect(await ids(server, '/v1/catalog/service/web', {})).toEqual(['web-1', 'web-2', 'web-3']);
  });

  it.each([
    [
      '/v1/health/service/web',
      'Service.Meta.env = "prod"',
      /^Failed to create boolean expression evaluator: 1:18 \(17\)/,
    ],
    ['/v1/catalog/service/web', 'Service.Meta.env == "prod"', /Selector "Service" is not valid/],
    ['/v1/agent/services', 'ServiceMeta.env == "prod"', /Selector "ServiceMeta" is not valid/],
    ['/v1/catalog/services', 'ServiceTags == "v1"', /Invalid match operator "Equal" for selector "ServiceTags"/],
    ['/v1/catalog/nodes', 'Meta.rack matches "("', /Failed to compile regular expression "\("/],
    // Go's RE2 has no backreferences, and neither has the linear-time engine that runs `matches` here.
    ['/v1/agent/services', 'ID matches `(w)\\1`', /Failed to compile regular expression "\(w\)\\1"/],
    ['/v1/health/checks/web', 'Status == "passing', /Unterminated string literal/],
    ['/v1/health/service/web', 'Service.Port == "http"', /Failed to coerce value "http" for selector "Service.Port"/],
    ['/v1/health/service/web', `Service.ID == "${'x'.repeat(64)}"`, /more than the 64 allowed/],
  ])('%s answers 400 as text for %j', async (path, filter, message) => {
    await using server = await startTestServer({ consul: { maxFilterLength: 64 } });
    await seed(server);
    const answer = await read(server, path, { filter });
    expect(answer.status).toBe(400);
    expect(answer.type).toMatch(/^text\/plain/);
    expect(answer.text).toMatch(message);
  });

  it('answers a pattern that would backtrack for hours in JavaScript at once (matches runs in linear time)', async () => {
    await using server = await startTestServer();
    await put(server, '/v1/agent/service/register', {
      ID: `web-${'0'.repeat(60)}`,
      Name: 'web',
      Address: '10.0.0.9',
      Port: 8080,
    });
    expect(await ids(server, '/v1/agent/services', { filter: 'ID matches `^(.*)*y$`' })).toEqual([]);
    expect(await ids(server, '/v1/agent/services', { filter: 'ID matches `(?i)^WEB-(0+)+$`' })).toEqual([
      `web-${'0'.repeat(60)}`,
    ]);
  });

  it('refuses a bad filter at once rather than after holding a blocking query', async () => {
    await using server = await startTestServer();
    await seed(server);
    const current = await fetch(`${server.url}/v1/health/service/web`);
    const index = current.headers.get('x-consul-index') ?? '';
    // Held, this read would wait ten minutes: the test's own timeout fails it long before.
    const answer = await read(server, '/v1/health/service/web', { index, wait: '10m', filter: 'Nope == 1' });
    expect(answer.status).toBe(400);
    expect(answer.text).toMatch(/Selector "Nope" is not valid/);
  });

  it('takes a filter from the npm consul client (2.0.1), which passes it through', async () => {
    await using server = await startTestServer();
    await seed(server);
    const consul = new Consul({ host: '127.0.0.1', port: server.port });
    const entries = (await consul.health.service({ service: 'web', filter: 'Service.Meta.env == "qa"' })) as {
      Service: { ID: string };
    }[];
    expect(entries.map((entry) => entry.Service.ID)).toEqual(['web-2']);
    const catalog = (await consul.catalog.service.nodes({ service: 'web', filter: 'ServiceTags contains canary' })) as {
      ServiceID: string;
    }[];
    expect(catalog.map((entry) => entry.ServiceID)).toEqual(['web-3']);
    const agent = await consul.agent.service.list({ filter: 'Port == 5432' });
    expect(Object.keys(agent)).toEqual(['db-1']);
    // The client keeps a long text/plain refusal in the response, not in the message.
    const refused: unknown = await consul.health
      .service({ service: 'web', filter: 'Service.Nope == 1' })
      .catch((err: unknown) => err);
    const { statusCode, response } = refused as { statusCode: number; response: { body: unknown } };
    expect(statusCode).toBe(400);
    expect(String(response.body)).toMatch(/Selector "Service.Nope" is not valid/);
  });
});
