import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { dropRedisKeys, dropSchema, TEST_DATABASE_URL, uniqueName } from '../support/app.js';
import { deploymentEnv, spawnApp, type AppProcess } from '../support/process.js';
import { buildWebApp, chromiumMissing, launchBrowser, register } from './browser.js';
import { Ingress } from './ingress.js';

/**
 * Real processes behind an ingress: ROLE=all serves the page, the API, the engine and the
 * market simulator; ROLE=stream pods serve the streams. The pod serving the page's streams is
 * killed and another takes its place: the page must show it, with nothing lost or repeated.
 */
describe(
  'web app across a stream pod kill',
  { skip: chromiumMissing && !process.env.CI && 'no chromium' },
  () => {
    const schema = uniqueName('web_migration');
    const apps: AppProcess[] = [];
    let dataDir: string;
    let web: Awaited<ReturnType<typeof buildWebApp>>;
    let browser: Awaited<ReturnType<typeof launchBrowser>>;
    let ingress: Ingress;
    let url: string;
    let pod1: AppProcess;
    let pod2: AppProcess;
    let spawn: (env: Record<string, string>) => Promise<AppProcess>;
    let page: Page;

    before(async () => {
      web = await buildWebApp();
      dataDir = await mkdtemp(join(tmpdir(), 'tp-web-migration-'));
      const shared = {
        ...deploymentEnv(schema, dataDir),
        PG_POOL_MAX: '4',
        LOG_LEVEL: 'info',
        TELEMETRY_ENABLED: 'false',
        STREAM_HEARTBEAT_INTERVAL_MS: '1000',
      };
      spawn = async (env: Record<string, string>) => {
        const app = await spawnApp({ ...shared, ...env });
        apps.push(app);
        await app.waitForLog('app started', 60_000);
        return app;
      };
      const api = await spawn({
        POD_NAME: 'api',
        WEB_ASSETS_DIR: web.dir,
        SIMULATOR_ENABLED: 'true',
      });
      [pod1, pod2] = await Promise.all([
        spawn({ ROLE: 'stream', POD_NAME: 'stream-1' }),
        spawn({ ROLE: 'stream', POD_NAME: 'stream-2' }),
      ]);
      ingress = new Ingress(api.httpUrl, pod1.httpUrl);
      url = await ingress.listen();
      browser = await launchBrowser();
    });

    after(async () => {
      await browser.close();
      await ingress.close();
      for (const app of apps) app.child.kill('SIGKILL');
      await Promise.all(apps.map((app) => app.exited));
      await dropSchema(TEST_DATABASE_URL, schema);
      await dropRedisKeys(`${schema}:`);
      await rm(dataDir, { recursive: true, force: true });
      web.remove();
    });

    /** The seqs of the trades list, newest first (the test compiles without DOM types). */
    const tradeSeqs = async (page: Page): Promise<number[]> => {
      const rows = await page.locator('[data-testid="trades"] tr[data-seq]').all();
      return Promise.all(rows.map(async (row) => Number(await row.getAttribute('data-seq'))));
    };

    test('SIGKILL of the stream pod: reconnecting, then connected on the new pod, nothing lost or repeated', async () => {
      page = await browser.context.newPage();
      await page.goto(url);
      const username = `eve${Date.now().toString(36)}`;
      await register(page, username, 15_000);
      const panel = page.getByTestId('connection-panel');
      await panel.getByTestId('pod').getByText('stream-1').waitFor({ timeout: 15_000 });
      await page.locator('[data-testid="trades"] tr[data-seq]').nth(2).waitFor({ timeout: 30_000 });

      ingress.streamTarget = pod2.httpUrl;
      pod1.child.kill('SIGKILL');
      await panel.locator('[data-status="reconnecting"]').waitFor({ timeout: 10_000 });
      await panel.getByTestId('pod').getByText('stream-2').waitFor({ timeout: 15_000 });
      await panel.locator('[data-status="connected"]').waitFor();
      assert.equal(await panel.getByTestId('migrations').innerText(), '1');
      assert.equal(await panel.getByTestId('unrecovered').innerText(), '0', 'resumed, no snapshot');

      // Trades keep flowing on the new pod; the list has every seq once, none missing.
      const before = Math.max(...(await tradeSeqs(page)));
      const deadline = Date.now() + 30_000;
      while (Math.max(...(await tradeSeqs(page))) <= before + 2) {
        assert.ok(Date.now() < deadline, 'trades flow on the new pod');
        await page.waitForTimeout(200);
      }
      const seqs = await tradeSeqs(page);
      for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1]! - 1, seqs.join(','));
      assert.equal(
        await panel.getByTestId('resyncs').innerText(),
        '0 / 0',
        'every book checksum right',
      );
      await page.getByTestId('book-verified').waitFor();
    });

    test('SIGTERM of the stream pod: its Reconnect is obeyed and the page moves on, resumed', async () => {
      const pod3 = await spawn({ ROLE: 'stream', POD_NAME: 'stream-3' });
      const panel = page.getByTestId('connection-panel');
      ingress.streamTarget = pod3.httpUrl;
      pod2.child.kill('SIGTERM');
      await panel.getByTestId('pod').getByText('stream-3').waitFor({ timeout: 20_000 });
      await panel.locator('[data-status="connected"]').waitFor();
      assert.match(await panel.getByTestId('reconnects').innerText(), /server-reconnect/);
      assert.equal(await panel.getByTestId('migrations').innerText(), '2');
      assert.equal(await panel.getByTestId('unrecovered').innerText(), '0');
      assert.equal(await panel.getByTestId('resyncs').innerText(), '0 / 0');
      assert.equal(await pod2.exited, 0, 'the old pod drained and exited cleanly');
    });
  },
);
