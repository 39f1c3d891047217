/**
 * Issue #19's subscribers in the dashboard, in a real browser against a real server: SDK `Discovery` caches follow a
 * service under their own names, and the page lists each with the index it applied and its lag, refreshed while the
 * lag changes; a service's view counts the subscribers a drain of it would wait for. Every test also fails on any
 * console error or uncaught exception the page logged during it.
 */
import type { Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Discovery, RegistryClient } from '../../src/sdk/index.js';
import type { RunningServer } from '../../src/server.js';
import { callRest, launchBrowser } from '../fixtures/browser.js';
import type { TestBrowser } from '../fixtures/browser.js';
import { startTestServer } from '../fixtures/server.js';

/** Acknowledgements are batched (a quarter second) and the list is refreshed every 2 s: generous for a loaded host. */
const DEADLINE_MS = 15_000;

let server: RunningServer;
let client: RegistryClient;
let browser: TestBrowser;
let page: Page;
/** The index of web-1's registration. */
let registered: number;

beforeAll(async () => {
  server = await startTestServer();
  client = new RegistryClient({ url: server.url });
  ({ modifyIndex: registered } = await client.register({ service: 'web', id: 'web-1', host: '127.0.0.1', port: 9001 }));
  browser = await launchBrowser();
  page = await browser.newPage();
}, 60_000);

/**
 * Watchers of every service a test starts, stopped only once every test has run: one that stopped sooner would stay
 * live (and behind) for --subscribers-live, and the drains of the other tests would wait for it.
 */
const watchers = new AbortController();
const watching: Promise<void>[] = [];

afterAll(async () => {
  watchers.abort();
  await Promise.all(watching);
  await browser.close();
  await server.close();
});

afterEach(() => {
  const errors = browser.errors.splice(0);
  expect(errors, 'console errors and uncaught exceptions in the page').toEqual([]);
});

async function open(hash: string): Promise<void> {
  await page.goto(`${server.url}/ui/${hash}`);
  await page.getByRole('status').filter({ hasText: 'Live' }).waitFor({ timeout: DEADLINE_MS });
}

function subscribersTable(): Locator {
  return page.getByRole('table', { name: 'Subscribers' });
}

/** The row of the subscriber named `name` (its row header). */
function subscriberRow(name: string): Locator {
  return subscribersTable()
    .getByRole('row')
    .filter({ has: page.getByRole('rowheader', { name, exact: true }) });
}

/** What REST says of subscriber `id`, once it has reported an applied index. */
async function appliedOverRest(id: string): Promise<number> {
  let applied: number | null = null;
  await expect
    .poll(
      async () => {
        const { subscribers } = await client.subscribers();
        applied = subscribers.find((s) => s.id === id)?.applied ?? null;
        return applied;
      },
      { timeout: DEADLINE_MS },
    )
    .not.toBeNull();
  return applied as unknown as number;
}

describe('the dashboard’s subscribers', () => {
  it('lists a named Discovery with what it watches and the index it applied', async () => {
    using discovery = new Discovery(client, { subscriber: { id: 'checkout-7', name: 'checkout' } });
    await discovery.all('web');
    const applied = await appliedOverRest('checkout-7');
    // Its snapshot came after web-1's registration.
    expect(applied).toBeGreaterThanOrEqual(registered);

    await open('#/subscribers');
    const row = subscriberRow('checkout');
    await row.waitFor({ timeout: DEADLINE_MS });
    await expect
      .poll(() => row.getByRole('cell').allInnerTexts(), { timeout: DEADLINE_MS })
      .toEqual([
        'checkout-7',
        'web',
        'events',
        expect.any(String), // the node's name
        String(applied),
        'caught up',
        '—',
        expect.stringMatching(/^\d+ s ago$/),
        'live: connected',
      ]);
    // The page's own event stream sends the services no traffic: it is not a subscriber, and no drain waits for it.
    expect(await subscribersTable().getByRole('rowheader').allInnerTexts()).toEqual(['checkout']);
  });

  it('shows a stalled subscriber behind, worst first, then caught up once it applies the change', async () => {
    let stalled = false;
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    using slow = new Discovery(client, {
      subscriber: { id: 'slow-1', name: 'slow consumer' },
      beforeApply: () => (stalled ? held : undefined),
    });
    using quick = new Discovery(client, { subscriber: { id: 'quick-1', name: 'quick consumer' } });
    await Promise.all([slow.all('web'), quick.all('web')]);
    await appliedOverRest('slow-1');
    stalled = true;
    await open('#/subscribers');
    await subscriberRow('slow consumer').getByRole('cell', { name: 'caught up', exact: true }).waitFor();

    const { modifyIndex } = await client.register({ service: 'web', id: 'web-2', host: '127.0.0.1', port: 9002 });
    // The quick one takes the change in; the slow one is held before applying it, so the page shows it behind.
    await subscriberRow('quick consumer')
      .getByRole('cell', { name: String(modifyIndex), exact: true })
      .waitFor({
        timeout: DEADLINE_MS,
      });
    const slowRow = subscriberRow('slow consumer');
    const lag = slowRow.getByRole('cell', { name: '1 change', exact: true });
    await lag.waitFor({ timeout: DEADLINE_MS });
    expect(await lag.getAttribute('class')).toMatch(/\bbehind\b/);
    // Worst lag first: the stalled one comes before every subscriber that is caught up.
    const order = await subscribersTable().getByRole('rowheader').allInnerTexts();
    expect(order.indexOf('slow consumer')).toBeLessThan(order.indexOf('quick consumer'));

    // Every column fits a laptop screen: nothing needs scrolling sideways to be read.
    const box = await subscribersTable().boundingBox();
    expect((box?.x ?? Infinity) + (box?.width ?? 0)).toBeLessThanOrEqual(1280);

    release();
    await slowRow.getByRole('cell', { name: 'caught up', exact: true }).waitFor({ timeout: DEADLINE_MS });
    await slowRow.getByRole('cell', { name: String(modifyIndex), exact: true }).waitFor({ timeout: DEADLINE_MS });
    expect(await slow.all('web')).toHaveLength(2);
  });

  it('counts on a service’s view the subscribers a drain of it waits for, linking to them', async () => {
    await client.register({ service: 'api', id: 'api-1', host: '127.0.0.1', port: 9101 });
    using discovery = new Discovery(client, { subscriber: { id: 'orders-1', name: 'orders' } });
    await Promise.all([discovery.all('web'), discovery.all('api')]);
    await appliedOverRest('orders-1');
    // A watcher of every service (as a gateway is) counts for a drain of api too.
    const events = client.watch(undefined, { signal: watchers.signal, subscriber: { id: 'audit-1', name: 'audit' } });
    watching.push(
      (async () => {
        for await (const _event of events) {
          // Each event is applied once the next one is asked for.
        }
      })().catch(() => undefined),
    );

    await open('#/services/api');
    // Its own subscriber, and the watcher of every service.
    const link = page.getByRole('link', { name: '1 subscriber of api, 1 of every service' });
    await link.click({ timeout: DEADLINE_MS });
    await page.getByRole('heading', { level: 1, name: 'Subscribers' }).waitFor();
    expect(page.url()).toMatch(/#\/subscribers\/api$/);
    const row = subscriberRow('orders');
    await row.waitFor({ timeout: DEADLINE_MS });
    // The same id follows web too, but a drain of api does not wait for that one: it is not listed here.
    expect(await row.count()).toBe(1);
    await row.getByRole('cell', { name: 'api', exact: true }).waitFor();
    const all = await callRest(server.url, 'GET /v1/subscribers');
    expect((all.body as { subscribers: { id: string }[] }).subscribers.filter((s) => s.id === 'orders-1')).toHaveLength(
      2,
    );
  });

  it('drains an instance from its view and shows who caught up and who was still behind', async () => {
    await client.register({ service: 'tickets', id: 'tickets-1', host: '127.0.0.1', port: 9201 });
    await client.register({ service: 'tickets', id: 'tickets-2', host: '127.0.0.1', port: 9202 });
    let stalled = false;
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    using slow = new Discovery(client, {
      subscriber: { id: 'tickets-slow', name: 'slow tickets' },
      beforeApply: () => (stalled ? held : undefined),
    });
    using quick = new Discovery(client, { subscriber: { id: 'tickets-quick', name: 'quick tickets' } });
    await Promise.all([slow.all('tickets'), quick.all('tickets')]);
    await Promise.all([appliedOverRest('tickets-slow'), appliedOverRest('tickets-quick')]);
    stalled = true;

    await open('#/services/tickets/instances/tickets-1');
    await page.getByRole('button', { name: 'Drain', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Drain tickets-1' });
    // A short wait: the slow one is held, so this drain ends when its wait runs out.
    await dialog.getByRole('combobox', { name: 'Wait at most' }).selectOption('1s');
    await dialog.getByRole('button', { name: 'Drain', exact: true }).click();
    await dialog.getByText(/^The wait ran out after .*: 1 subscriber had not applied index \d+/).waitFor({
      timeout: DEADLINE_MS,
    });
    const behind = dialog.getByRole('table', { name: 'Behind' });
    expect(await behind.getByRole('rowheader').allInnerTexts()).toEqual(['slow tickets']);
    const caughtUp = await dialog.getByRole('table', { name: 'Caught up' }).getByRole('rowheader').allInnerTexts();
    expect(caughtUp).toContain('quick tickets');
    await dialog.getByRole('button', { name: 'Close', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
    // The drain is maintenance "draining", as REST shows: discovery no longer offers the instance.
    const drained = await callRest(server.url, 'GET /v1/services/tickets/instances/tickets-1');
    expect((drained.body as { maintenance?: { enabled: boolean; reason: string } }).maintenance).toMatchObject({
      enabled: true,
      reason: 'draining',
    });
    expect((await quick.all('tickets')).map((instance) => instance.id)).toEqual(['tickets-2']);

    // Released, the slow one catches up: a drain of the other instance completes, every subscriber caught up.
    release();
    await open('#/services/tickets/instances/tickets-2');
    await page.getByRole('button', { name: 'Drain', exact: true }).click();
    const second = page.getByRole('dialog', { name: 'Drain tickets-2' });
    await second.getByRole('button', { name: 'Drain', exact: true }).click();
    await second.getByText(/^Every live subscriber of tickets applied index \d+/).waitFor({ timeout: DEADLINE_MS });
    expect(await second.getByRole('table', { name: 'Behind' }).count()).toBe(0);
    expect(await second.getByRole('table', { name: 'Caught up' }).getByRole('rowheader').allInnerTexts()).toContain(
      'slow tickets',
    );
    await second.getByRole('button', { name: 'Close', exact: true }).click();
  });
});
