/**
 * Issue #16's dashboard with access control on: the UI's files are public, the data needs a token, which the page
 * takes in a sign-in form and keeps for the tab (sessionStorage). A token that cannot write sees no write controls.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server.js';
import { callRest, launchBrowser } from '../fixtures/browser.js';
import type { TestBrowser } from '../fixtures/browser.js';
import { startTestServer, tempDir } from '../fixtures/server.js';

const WRITE_CONTROLS = ['Set status', 'Maintenance', 'Deregister'] as const;

const dir = tempDir('switchboard-dashboard-auth-');
let server: RunningServer;
let browser: TestBrowser;
let operator: string;
let reader: string;
const pages: Page[] = [];

beforeAll(async () => {
  server = await startTestServer({ auth: { mode: 'on' }, store: { kind: 'memory', dataDir: dir.path } });
  operator = readFileSync(join(dir.path, 'bootstrap-token'), 'utf8').trim();
  const created = await callRest(server.url, 'POST /v1/tokens', {
    token: operator,
    body: { name: 'dashboard-reader', read: ['*'] },
  });
  expect(created.status).toBe(201);
  reader = (created.body as { secret: string }).secret;
  const registered = await callRest(server.url, 'PUT /v1/services/payments/instances/payments-1', {
    token: operator,
    body: { host: '10.0.2.10', port: 9000 },
  });
  expect(registered.status).toBe(201);
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser.close();
  await server.close();
  dir[Symbol.dispose]();
});

afterEach(async () => {
  // A page per test: each tab has its own sessionStorage, so no test inherits another's token.
  await Promise.all(pages.splice(0).map((page) => page.close()));
  const errors = browser.errors.splice(0);
  expect(errors, 'console errors and uncaught exceptions in the page').toEqual([]);
});

async function signedIn(token: string): Promise<Page> {
  const page = await browser.newPage();
  pages.push(page);
  await page.goto(`${server.url}/ui/`);
  await page.getByRole('button', { name: 'Sign in', exact: true }).first().click();
  const input = page.getByLabel('Token', { exact: true });
  await input.fill(token);
  await page.locator('form').filter({ has: input }).getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('button', { name: 'Sign out', exact: true }).waitFor();
  return page;
}

/** Opens the `payments` service and waits for its instance's row: the data has arrived. */
async function paymentsRow(page: Page): Promise<Locator> {
  await page.getByRole('table', { name: 'Services' }).getByRole('link', { name: 'payments', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'payments', exact: true }).waitFor();
  const row = page
    .getByRole('table', { name: 'Instances' })
    .getByRole('row')
    .filter({ has: page.getByRole('link', { name: 'payments-1', exact: true }) });
  await row.waitFor();
  return row;
}

describe('the dashboard with auth on', () => {
  it('serves its files without a token, and the data only with one', async () => {
    expect((await callRest(server.url, 'GET /ui/')).status).toBe(200);
    expect((await callRest(server.url, 'GET /v1/services/payments')).status).toBe(401);
    // The list answers everyone, holding only what the caller may read: nothing without a token.
    const { body } = await callRest(server.url, 'GET /v1/services');
    expect((body as { services: { name: string }[] }).services.map((s) => s.name)).not.toContain('payments');
  });

  it('shows a read-only token the instances but no write controls', async () => {
    const page = await signedIn(reader);
    await paymentsRow(page);
    for (const name of WRITE_CONTROLS) {
      expect(await page.getByRole('button', { name, exact: true }).count(), name).toBe(0);
    }
  });

  it('shows the operator the write controls on each instance', async () => {
    const page = await signedIn(operator);
    const row = await paymentsRow(page);
    for (const name of WRITE_CONTROLS) {
      expect(await row.getByRole('button', { name, exact: true }).count(), name).toBe(1);
    }
  });

  it('keeps the token across a reload of the tab, and forgets it on sign out', async () => {
    const page = await signedIn(reader);
    await page.reload();
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByRole('button', { name: 'Sign in', exact: true }).first().waitFor();
    expect(await page.evaluate('JSON.stringify(sessionStorage)')).not.toContain(reader);
  });
});
