/**
 * Issue #16: a service with 10,000 instances (the default per-service quota) opens in the dashboard and scrolls to its
 * end. The instances are registered through XML-RPC's system.multicall, a thousand calls a request, which takes a
 * fraction of the time ten thousand REST requests would.
 */
import type { XmlRpcValue } from '@foxglove/xmlrpc';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server.js';
import { launchBrowser } from '../fixtures/browser.js';
import type { TestBrowser } from '../fixtures/browser.js';
import { startTestServer } from '../fixtures/server.js';
import { xmlRpcCall } from '../fixtures/xmlrpc.js';

const INSTANCES = 10_000;
const BATCH = 1_000; // xmlrpc.maxMulticall's default
const idOf = (n: number): string => `bulk-${String(n).padStart(5, '0')}`;

let server: RunningServer;
let browser: TestBrowser;
let page: Page;

async function registerBatch(from: number): Promise<void> {
  const calls: XmlRpcValue[] = [];
  for (let n = from; n < Math.min(from + BATCH, INSTANCES); n++) {
    const registration = { service: 'bulk', id: idOf(n), host: `10.1.${n >> 8}.${n & 255}`, port: 8080 };
    calls.push({ methodName: 'registry.register', params: [registration] });
  }
  const answers = (await xmlRpcCall(server.url, 'system.multicall', [calls])) as unknown[];
  // A call that failed answers a fault struct in place of its one-element array.
  expect(answers.filter((answer) => !Array.isArray(answer))).toEqual([]);
}

beforeAll(async () => {
  server = await startTestServer();
  const batches: Promise<void>[] = [];
  for (let from = 0; from < INSTANCES; from += BATCH) batches.push(registerBatch(from));
  await Promise.all(batches);
  expect(server.registry.list('bulk', { status: 'any', health: 'any' }).instances).toHaveLength(INSTANCES);
  browser = await launchBrowser();
  page = await browser.newPage();
  // Registering 10,000 instances takes about 15 s alone; more when other test files share the two cores.
}, 90_000);

afterAll(async () => {
  await browser.close();
  await server.close();
});

afterEach(() => {
  const errors = browser.errors.splice(0);
  expect(errors, 'console errors and uncaught exceptions in the page').toEqual([]);
});

describe('the dashboard with 10,000 instances in one service', () => {
  it('opens the service and scrolls its instance list to the end', async () => {
    await page.goto(`${server.url}/ui/`);
    await page.getByRole('table', { name: 'Services' }).getByRole('link', { name: 'bulk', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'bulk', exact: true }).waitFor();
    const table = page.getByRole('table', { name: 'Instances' });
    await table.getByRole('link', { name: idOf(0), exact: true }).waitFor();

    // A page that renders every row would hold 10,000 links; a virtual list or paging holds a screenful or so.
    const rendered = await table.getByRole('link', { name: /^bulk-/ }).count();
    expect(rendered).toBeLessThan(INSTANCES);

    // Scroll to the bottom until the last row shows; a virtual list may need a frame or two to catch up.
    const scroller = page.getByTestId('instances-scroll');
    const last = table.getByRole('link', { name: idOf(INSTANCES - 1), exact: true });
    await expect
      .poll(
        async () => {
          await scroller.evaluate((element: { scrollTop: number; scrollHeight: number }) => {
            element.scrollTop = element.scrollHeight;
          });
          if ((await last.count()) === 0) return false;
          // Within the scroll container's box, not merely rendered somewhere below it.
          const [row, frame] = await Promise.all([last.boundingBox(), scroller.boundingBox()]);
          return (
            row !== null && frame !== null && row.y >= frame.y - 1 && row.y + row.height <= frame.y + frame.height + 1
          );
        },
        { timeout: 10_000 },
      )
      .toBe(true);
    // Still responsive after the scroll: the page answers a script at once.
    expect(await page.evaluate('1 + 1')).toBe(2);
  });
});
