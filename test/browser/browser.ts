import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { build } from 'vite';

/** Debian's chromium (`.ci/run` installs it); nothing is downloaded at run time. */
export const CHROMIUM = '/usr/bin/chromium';

/** Quiet and self-contained: no sandbox (root in CI), no GPU, QUIC or calls home. */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const chromiumMissing = !existsSync(CHROMIUM);

/** Builds the web app into a fresh folder, for WEB_ASSETS_DIR. */
export async function buildWebApp(): Promise<{ dir: string; remove: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'web-app-'));
  await build({
    configFile: join(import.meta.dirname, '../../src/web/vite.config.ts'),
    logLevel: 'warn',
    build: { outDir: dir, emptyOutDir: true, sourcemap: false },
  });
  return {
    dir,
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A headless Chromium with a fresh profile, closed (and its profile removed) by `close`. */
export async function launchBrowser(): Promise<{
  context: BrowserContext;
  close: () => Promise<void>;
}> {
  const profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Registers `username` through the web app's form and waits until the page says who is in. */
export async function register(page: Page, username: string, timeoutMs = 10_000): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Register' }).click();
  await page
    .getByText(`Signed in as ${username}`)
    .waitFor({ timeout: timeoutMs })
    .catch(async (error: unknown) => {
      throw new Error(`not signed in; the page says: ${await page.locator('main').innerText()}`, {
        cause: error,
      });
    });
}
