import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { startTestApp, type TestApp } from '../support/app.js';
import { until } from '../support/stream-client.js';
import { buildWebApp, chromiumMissing, launchBrowser, register } from './browser.js';

/**
 * The web app in a real browser against the real platform on PostgreSQL, as a person would
 * use it. The market simulator is off so the book holds only what the tests place.
 */
describe(
  'web app in Chromium',
  { skip: chromiumMissing && !process.env.CI && 'no chromium' },
  () => {
    let app: TestApp;
    let web: Awaited<ReturnType<typeof buildWebApp>>;
    let browser: Awaited<ReturnType<typeof launchBrowser>>;
    let context: BrowserContext;

    before(async () => {
      web = await buildWebApp();
      app = await startTestApp({ WEB_ASSETS_DIR: web.dir });
      browser = await launchBrowser();
      context = browser.context;
    });

    // Each open page holds a streaming call or two, and over plain HTTP/1.1 Chromium keeps at
    // most 6 connections per origin: pages left open would starve the next test's calls.
    afterEach(async () => {
      for (const page of context.pages()) await page.close();
    });

    after(async () => {
      await browser.close();
      await app.stop();
      web.remove();
    });

    async function signedIn(username: string): Promise<Page> {
      const page = await context.newPage();
      await page.goto(app.httpUrl);
      await register(page, username);
      return page;
    }

    test('register, place an order, see it in the book and my orders, cancel it', async () => {
      const page = await signedIn(`ann${Date.now().toString(36)}`);
      await page.locator('tr[data-asset="USD"]').waitFor();
      await page.getByLabel('Price (USD per BTC)').fill('1234');
      await page.getByLabel('Quantity (BTC)').fill('0.07');
      await page.getByRole('button', { name: 'Buy BTC' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: /Order \d+ open/ })
        .waitFor();

      const mine = page.getByTestId('my-orders').getByRole('row', { name: /\$1,234\.00/ });
      await mine.waitFor();
      assert.match(await mine.innerText(), /0\.07 BTC/);
      const bids = page.locator('tbody[aria-label="bids"]');
      await bids.getByRole('row', { name: /\$1,234\.00.*0\.07 BTC/ }).waitFor();
      const usd = page.locator('tr[data-asset="USD"]');
      // 1234 ticks × 7 lots = 8638 cents reserved (README, "Units").
      await usd.getByText('$86.38').waitFor();

      await mine.getByRole('button', { name: /Cancel order/ }).click();
      await mine.waitFor({ state: 'detached' });
      await bids.getByRole('row', { name: /\$1,234\.00/ }).waitFor({ state: 'detached' });
      await usd.getByText('$0.00').waitFor();
    });

    test("the server's refusal is shown next to the field it names", async () => {
      const page = await signedIn(`bob${Date.now().toString(36)}`);
      await page.getByLabel('Price (USD per BTC)').fill('65000');
      await page.getByLabel('Quantity (BTC)').fill('0');
      await page.getByRole('button', { name: 'Buy BTC' }).click();
      const quantity = page.getByLabel('Quantity (BTC)');
      const describedBy = await quantity.getAttribute('aria-describedby');
      assert.ok(describedBy !== null, 'the field is described by its error');
      const error = page.locator(`[id="${describedBy}"]`);
      assert.match(await error.innerText(), /must be between 1 and \d+ lots/);
      assert.equal(await quantity.getAttribute('aria-invalid'), 'true');
    });

    test('signing out ends the private stream on the server', async () => {
      // The SDK aborts the call; its fetch wrapper (src/client/abortable-fetch.ts) must end the
      // response in a browser as Node's fetch needs it to.
      const privateOpened = () =>
        app.logs.lines.filter(
          (line) =>
            line.msg === 'stream opened' &&
            Array.isArray(line.streams) &&
            line.streams.some((stream) => String(stream).startsWith('orders.')),
        );
      const openedBefore = privateOpened().length;
      const page = await signedIn(`dee${Date.now().toString(36)}`);
      await until(() => privateOpened().length > openedBefore, 'the private stream to open');
      const sessionId = privateOpened().at(-1)?.session_id;

      await page.getByRole('button', { name: 'Sign out' }).click();

      await until(
        () => app.logs.find('stream closed', { session_id: sessionId }) !== undefined,
        'the private stream to close on the server',
      );
    });

    test("another user's orders update the book live, checksum-verified", async () => {
      const watcher = await context.newPage();
      await watcher.goto(app.httpUrl);
      const verified = watcher.getByTestId('book-verified');
      await verified.waitFor();
      const seqOf = async () => Number(/seq (\d+)/.exec(await verified.innerText())?.[1]);
      const before = await seqOf();

      const trader = await signedIn(`cat${Date.now().toString(36)}`);
      for (const [price, quantity, shown] of [
        ['1000', '0.05', /\$1,000\.00/],
        ['1010', '0.10', /\$1,010\.00/],
      ] as const) {
        await trader.getByLabel('Price (USD per BTC)').fill(price);
        await trader.getByLabel('Quantity (BTC)').fill(quantity);
        await trader.getByRole('button', { name: 'Buy BTC' }).click();
        await trader.getByTestId('my-orders').getByRole('row', { name: shown }).waitFor();
      }
      const bids = watcher.locator('tbody[aria-label="bids"]');
      await bids.getByRole('row', { name: /\$1,010\.00.*0\.10 BTC/ }).waitFor();
      await bids.getByRole('row', { name: /\$1,000\.00.*0\.05 BTC/ }).waitFor();
      assert.equal(await seqOf(), before + 2, 'one delta per order, each verified');
      const panel = watcher.getByTestId('connection-panel');
      assert.equal(await panel.getByTestId('resyncs').innerText(), '0 / 0');
      assert.equal(await panel.getByTestId('pod').innerText(), 'test-pod');

      const row = trader.getByTestId('my-orders').getByRole('row', { name: /1,010/ });
      await row.getByRole('button', { name: /Cancel order/ }).click();
      await bids.getByRole('row', { name: /\$1,010\.00/ }).waitFor({ state: 'detached' });
      assert.equal(await seqOf(), before + 3);
    });
  },
);
