/**
 * Issue #16's dashboard in a real browser against a real server (auth off, a gateway running): the services show,
 * REST writes appear live, maintenance and deregistration made in the page reach REST, and each view is photographed
 * into docs/screenshots/. The page is found through its accessible names (roles and labels), as a screen reader would.
 * Every test also fails on any console error or uncaught exception the page logged during it.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server.js';
import { callRest, launchBrowser } from '../fixtures/browser.js';
import type { TestBrowser } from '../fixtures/browser.js';
import { startTestServer } from '../fixtures/server.js';

/** Live updates should take under a second; the deadline is generous so a loaded machine does not fail the test. */
const LIVE_DEADLINE_MS = 10_000;
/**
 * `npm run screenshots` (UPDATE_SCREENSHOTS=1) writes them into docs/screenshots/; a plain test run takes them too,
 * into a temporary folder, so that `npm test` never changes the checkout.
 */
const SCREENSHOTS =
  process.env['UPDATE_SCREENSHOTS'] === '1'
    ? new URL('../../docs/screenshots/', import.meta.url)
    : pathToFileURL(`${mkdtempSync(join(tmpdir(), 'switchboard-screenshots-'))}/`);

let server: RunningServer;
let browser: TestBrowser;
let page: Page;

const put = async (service: string, id: string, body: object): Promise<void> => {
  const { status } = await callRest(server.url, `PUT /v1/services/${service}/instances/${id}`, { body });
  expect(status).toBeLessThan(300);
};

/** A small but varied registry, so each view has something to show. */
async function seed(): Promise<void> {
  // web-1 listens where its check probes: the registry's own /health, so the check passes.
  await put('web', 'web-1', {
    host: '127.0.0.1',
    port: server.port,
    url: '/web',
    zone: 'eu-west-1a',
    tags: ['frontend', 'v2'],
    weight: 10,
    ttl: '30s',
    metadata: { version: '2.4.1', commit: '8f3c2a1' },
    endpoints: [{ type: 'http', url: `http://127.0.0.1:${server.port}/` }],
    checks: [{ id: 'health', http: `${server.url}/health`, interval: '1s' }],
  });
  await put('web', 'web-2', {
    host: '10.0.0.12',
    port: 8080,
    url: '/web',
    zone: 'eu-west-1b',
    tags: ['frontend', 'v2'],
    ttl: '30s',
  });
  await put('web', 'web-3', {
    host: '10.0.0.13',
    port: 8080,
    url: '/web',
    zone: 'eu-west-1b',
    tags: ['frontend', 'v1'],
    status: 'STARTING',
  });
  await put('api', 'api-1', { host: '10.0.1.10', port: 8080, url: '/api', zone: 'eu-west-1a', tags: ['backend'] });
  await put('api', 'api-2', { host: '10.0.1.11', port: 8080, url: '/api', zone: 'eu-west-1b', tags: ['backend'] });
  const drained = await callRest(server.url, 'PUT /v1/services/api/instances/api-2/maintenance', {
    body: { enable: true, reason: 'kernel upgrade' },
  });
  expect(drained.status).toBe(200);
  await put('payments', 'payments-1', { host: '10.0.2.10', port: 9000, tags: ['pci'], ttl: '1h' });
}

beforeAll(async () => {
  server = await startTestServer({ gateway: { port: 0 } });
  await seed();
  browser = await launchBrowser();
  page = await browser.newPage();
}, 60_000);

afterAll(async () => {
  await browser.close();
  await server.close();
});

afterEach(() => {
  const errors = browser.errors.splice(0);
  expect(errors, 'console errors and uncaught exceptions in the page').toEqual([]);
});

/** Opens the dashboard at its root and waits until it says it is live. */
async function openDashboard(): Promise<void> {
  await page.goto(`${server.url}/ui/`);
  await liveIndicator().filter({ hasText: 'Live' }).waitFor({ timeout: LIVE_DEADLINE_MS });
}

function liveIndicator(): Locator {
  return page.getByRole('status').filter({ hasText: /Live|Reconnecting|Stale since/ });
}

function servicesTable(): Locator {
  return page.getByRole('table', { name: 'Services' });
}

async function openService(service: string): Promise<void> {
  await openDashboard();
  await servicesTable().getByRole('link', { name: service, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: service, exact: true }).waitFor();
}

/** The row of `id` in the service view's instance table. */
function instanceRow(id: string): Locator {
  return page
    .getByRole('table', { name: 'Instances' })
    .getByRole('row')
    .filter({ has: page.getByRole('link', { name: id, exact: true }) });
}

async function instanceOverRest(service: string, id: string): Promise<{ status: number; body: unknown }> {
  return callRest(server.url, `GET /v1/services/${service}/instances/${id}`);
}

describe('the dashboard', () => {
  it('redirects a browser from / to /ui/', async () => {
    await page.goto(server.url);
    expect(new URL(page.url()).pathname).toBe('/ui/');
  });

  it('lists the registered services, each a link to its view', async () => {
    await openDashboard();
    for (const service of ['web', 'api', 'payments']) {
      await servicesTable().getByRole('link', { name: service, exact: true }).waitFor();
    }
    const search = page.getByLabel('Search');
    await search.fill('pay');
    await servicesTable().getByRole('link', { name: 'web', exact: true }).waitFor({ state: 'detached' });
    expect(await servicesTable().getByRole('link', { name: 'payments', exact: true }).isVisible()).toBe(true);
    await search.fill('');
    // A service whose last instance leaves while the page is open stays listed, empty, until hidden.
    const legacy = servicesTable().getByRole('link', { name: 'legacy', exact: true });
    await put('legacy', 'legacy-1', { host: '10.0.3.10', port: 7000 });
    await legacy.waitFor({ timeout: LIVE_DEADLINE_MS });
    expect((await callRest(server.url, 'DELETE /v1/services/legacy/instances/legacy-1')).status).toBe(200);
    const legacyRow = servicesTable()
      .getByRole('row')
      .filter({ has: page.getByRole('link', { name: 'legacy', exact: true }) });
    await expect
      .poll(async () => (await legacyRow.getByRole('cell').first().textContent())?.trim(), {
        timeout: LIVE_DEADLINE_MS,
      })
      .toBe('0');
    const hideEmpty = page.getByRole('checkbox', { name: 'Hide empty services' });
    await hideEmpty.check();
    await legacy.waitFor({ state: 'detached' });
    await hideEmpty.uncheck();
    await legacy.waitFor();
  });

  it('shows a registration made over REST without a reload', async () => {
    await openDashboard();
    // A page that reloaded would lose this mark. (Strings: the tests compile without the DOM's types.)
    await page.evaluate('window.switchboardTestMark = "kept"');
    await put('orders', 'orders-1', { host: '10.0.4.10', port: 8000 });
    await servicesTable().getByRole('link', { name: 'orders', exact: true }).waitFor({ timeout: LIVE_DEADLINE_MS });
    expect(await page.evaluate('window.switchboardTestMark')).toBe('kept');

    await servicesTable().getByRole('link', { name: 'orders', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'orders', exact: true }).waitFor();
    await put('orders', 'orders-2', { host: '10.0.4.11', port: 8000 });
    await instanceRow('orders-2').waitFor({ timeout: LIVE_DEADLINE_MS });
  });

  it('puts an instance into maintenance and back from the page, as REST then shows', async () => {
    await put('web', 'web-drain', { host: '10.0.0.99', port: 8080, url: '/web' });
    await openService('web');

    await instanceRow('web-drain').getByRole('button', { name: 'Maintenance' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Reason').fill('disk replacement');
    await dialog.getByRole('button', { name: 'Enable maintenance' }).click();
    await expect
      .poll(async () => (await instanceOverRest('web', 'web-drain')).body, { timeout: LIVE_DEADLINE_MS })
      .toMatchObject({ maintenance: { enabled: true, reason: 'disk replacement' } });
    await dialog.waitFor({ state: 'hidden' });

    // The page learns of the change from the event stream; the toggle shows it pressed once it has.
    await instanceRow('web-drain').getByRole('button', { name: 'Maintenance', pressed: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Disable maintenance' }).click();
    await expect
      .poll(
        async () => {
          const { body } = await instanceOverRest('web', 'web-drain');
          return (body as { maintenance?: { enabled: boolean } }).maintenance?.enabled ?? false;
        },
        { timeout: LIVE_DEADLINE_MS },
      )
      .toBe(false);
  });

  it('asks before deregistering: Cancel keeps the instance, Deregister removes it', async () => {
    await put('web', 'web-doomed', { host: '10.0.0.98', port: 8080, url: '/web' });
    await openService('web');
    const row = instanceRow('web-doomed');
    const dialog = page.getByRole('dialog');

    await row.getByRole('button', { name: 'Deregister' }).click();
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect((await instanceOverRest('web', 'web-doomed')).status).toBe(200);
    expect(await row.isVisible()).toBe(true);

    await row.getByRole('button', { name: 'Deregister' }).click();
    await dialog.getByRole('button', { name: 'Deregister' }).click();
    await expect
      .poll(async () => (await instanceOverRest('web', 'web-doomed')).status, { timeout: LIVE_DEADLINE_MS })
      .toBe(404);
    await row.waitFor({ state: 'detached', timeout: LIVE_DEADLINE_MS });
  });

  it('photographs each view at laptop width into docs/screenshots/', async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    const shoot = async (view: string): Promise<void> => {
      await liveIndicator().filter({ hasText: 'Live' }).waitFor();
      await page.screenshot({ path: new URL(`${view}.png`, SCREENSHOTS).pathname, animations: 'disabled' });
    };
    const nav = (name: string): Locator => page.getByRole('link', { name, exact: true }).first();

    await openDashboard();
    await servicesTable().getByRole('link', { name: 'payments', exact: true }).waitFor();
    await shoot('services');
    // The event log holds the changes since the page opened: make a few for it to show.
    await put('web', 'web-4', { host: '127.0.0.1', port: server.port, url: '/web', zone: 'eu-west-1a' });
    const started = await callRest(server.url, 'PUT /v1/services/web/instances/web-4/status', {
      body: { status: 'OUT_OF_SERVICE' },
    });
    expect(started.status).toBe(200);
    expect((await callRest(server.url, 'DELETE /v1/services/web/instances/web-4')).status).toBe(200);

    await servicesTable().getByRole('link', { name: 'web', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'web', exact: true }).waitFor();
    await instanceRow('web-3').waitFor();
    // Every control of a row fits a laptop screen: nothing needs scrolling sideways to be reached.
    const deregister = await instanceRow('web-1').getByRole('button', { name: 'Deregister' }).boundingBox();
    expect((deregister?.x ?? Infinity) + (deregister?.width ?? 0)).toBeLessThanOrEqual(1280);
    await shoot('service');

    await instanceRow('web-1').getByRole('link', { name: 'web-1', exact: true }).click();
    // The instance view shows its metadata and its checks (issue #16, view 3).
    await page.getByText('8f3c2a1').first().waitFor();
    await shoot('instance');

    await nav('Events').click();
    const events = page.getByRole('table', { name: 'Events' });
    // By role: getByLabel would match the label's whole text, which holds the select's options too.
    await page.getByRole('combobox', { name: 'Type', exact: true }).waitFor();
    await page.getByRole('textbox', { name: 'Service', exact: true }).waitFor();
    await events.getByRole('row').filter({ hasText: 'web-4' }).first().waitFor();
    await shoot('events');

    await nav('Registry').click();
    // The registry view explains self-preservation in plain words (issue #16, view 5).
    await page
      .getByText(/self-preservation/i)
      .first()
      .waitFor();
    await shoot('registry');

    await nav('Gateway').click();
    await page.getByText('/web', { exact: true }).first().waitFor();
    await shoot('gateway');
  });
});
