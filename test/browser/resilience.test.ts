import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { sample, startTestApp, type TestApp } from '../support/app.js';
import { buildWebApp, chromiumMissing, launchBrowser, register } from './browser.js';

/** README's screenshots: `UPDATE_SCREENSHOTS=1` writes them to docs/, else they go to tmp. */
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? 'docs' : tmpdir();

/**
 * The resilience a person should not have to notice: short-lived tokens refreshed under an
 * open page, and a network that goes away and comes back.
 */
describe(
  'web app resilience in Chromium',
  { skip: chromiumMissing && !process.env.CI && 'no chromium' },
  () => {
    let app: TestApp;
    let web: Awaited<ReturnType<typeof buildWebApp>>;
    let browser: Awaited<ReturnType<typeof launchBrowser>>;
    let context: BrowserContext;

    before(async () => {
      web = await buildWebApp();
      app = await startTestApp({
        WEB_ASSETS_DIR: web.dir,
        AUTH_ACCESS_TOKEN_TTL_S: '5',
        STREAM_HEARTBEAT_INTERVAL_MS: '300',
        SIMULATOR_ENABLED: 'true',
      });
      browser = await launchBrowser();
      context = browser.context;
    });

    afterEach(async () => {
      await context.setOffline(false);
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

    const refreshes = async () =>
      sample(await (await fetch(`${app.httpUrl}/metrics`)).text(), 'auth_token_refreshes_total', {
        result: 'success',
      }) ?? 0;

    test('an access token that expires under an open page is refreshed without the user noticing', async () => {
      const page = await signedIn(`dee${Date.now().toString(36)}`);
      const before = await refreshes();
      // Three lifetimes of the access token.
      await page.waitForTimeout(15_000);
      assert.ok((await refreshes()) - before >= 2, 'refreshed before each expiry');
      await page.getByText(/Signed in as/).waitFor();
      await page.getByLabel('Price (USD per BTC)').fill('1000');
      await page.getByLabel('Quantity (BTC)').fill('0.01');
      await page.getByRole('button', { name: 'Buy BTC' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: /Order \d+ open/ })
        .waitFor();
      const panel = page.getByTestId('connection-panel');
      assert.equal(await panel.locator('[data-status]').getAttribute('data-status'), 'connected');
      // Streams end at their token's expiry unless re-authenticated in-band: none did.
      assert.equal(await panel.getByTestId('reconnects').innerText(), '0');
      // Heartbeats are answered: the round trips are drawn.
      await panel.locator('svg.sparkline').waitFor();
      await page.getByTestId('trades').getByRole('row').nth(3).waitFor();
      await page.screenshot({ path: join(SCREENSHOTS, 'web-app.png'), fullPage: true });
      await page.setViewportSize({ width: 390, height: 844 });
      await panel.screenshot({ path: join(SCREENSHOTS, 'connection-panel.png') });
    });

    test('going offline says so and retries nothing; back online it resumes where it was', async () => {
      const page = await context.newPage();
      await page.goto(app.httpUrl);
      const status = page.getByTestId('connection-panel').locator('[data-status]');
      await page.getByTestId('book-verified').waitFor();
      await status.and(page.locator('[data-status="connected"]')).waitFor();

      await context.setOffline(true);
      await status.and(page.locator('[data-status="offline"]')).waitFor();
      assert.match(await status.innerText(), /Offline/);
      await page.waitForTimeout(2_000);
      assert.equal(await status.getAttribute('data-status'), 'offline', 'no retries while offline');

      await context.setOffline(false);
      await status.and(page.locator('[data-status="connected"]')).waitFor();
      await page.getByTestId('book-verified').waitFor();
      const panel = page.getByTestId('connection-panel');
      assert.equal(
        await panel.getByTestId('unrecovered').innerText(),
        '0',
        'resumed, not restarted',
      );
      assert.equal(await panel.getByTestId('resyncs').innerText(), '0 / 0');
    });
  },
);
