import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.js';
import { buildWebApp, chromiumMissing, launchBrowser, register } from './browser.js';

/**
 * A network that breaks gRPC-Web (a proxy that strips it): the page's gRPC-Web requests are
 * refused by route interception, while Connect's plain POSTs still pass. The streams must move
 * to the WebSocket at /ws and the app keep working.
 */
describe(
  'web app when gRPC-Web is blocked',
  { skip: chromiumMissing && !process.env.CI && 'no chromium' },
  () => {
    let app: TestApp;
    let web: Awaited<ReturnType<typeof buildWebApp>>;
    let browser: Awaited<ReturnType<typeof launchBrowser>>;

    before(async () => {
      web = await buildWebApp();
      app = await startTestApp({ WEB_ASSETS_DIR: web.dir });
      browser = await launchBrowser();
    });

    after(async () => {
      await browser.close();
      await app.stop();
      web.remove();
    });

    test('falls back to WebSocket and works: book, order entry, my orders', async () => {
      const page = await browser.context.newPage();
      let blocked = 0;
      await page.route('**/trading.v1.*/*', async (route) => {
        const type = (await route.request().headerValue('content-type')) ?? '';
        if (type.startsWith('application/grpc-web')) {
          blocked += 1;
          await route.abort('failed');
        } else {
          await route.continue();
        }
      });
      await page.goto(app.httpUrl);
      const panel = page.getByTestId('connection-panel');
      await panel.getByTestId('transport').getByText('WebSocket').waitFor({ timeout: 15_000 });
      await panel.locator('[data-status="connected"]').waitFor();
      assert.ok(blocked >= 2, 'gRPC-Web was tried first');
      assert.match(
        await panel.getByTestId('reconnects').innerText(),
        /transport-fallback|resync|error/,
      );

      const username = `fay${Date.now().toString(36)}`;
      await register(page, username);
      await page.locator('tr[data-asset="USD"]').waitFor();
      await page.getByLabel('Price (USD per BTC)').fill('1200');
      await page.getByLabel('Quantity (BTC)').fill('0.03');
      await page.getByRole('button', { name: 'Buy BTC' }).click();
      await page
        .getByTestId('my-orders')
        .getByRole('row', { name: /\$1,200\.00/ })
        .waitFor();
      // The book learns of it over the WebSocket.
      await page
        .locator('tbody[aria-label="bids"]')
        .getByRole('row', { name: /\$1,200\.00.*0\.03 BTC/ })
        .waitFor();
      assert.equal(await panel.getByTestId('resyncs').innerText(), '0 / 0');
      assert.equal(await panel.getByTestId('transport').innerText(), 'WebSocket');
    });
  },
);
