import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.js';

let app: TestApp;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'web-assets-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>app</title>');
  writeFileSync(join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
  app = await startTestApp({ WEB_ASSETS_DIR: dir });
});

after(async () => {
  await app.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('the web app is served at / and revalidated, so a deploy shows at the next load', async () => {
  const response = await fetch(`${app.httpUrl}/`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
  assert.equal(response.headers.get('cache-control'), 'no-cache');
  assert.match(await response.text(), /<title>app<\/title>/);
});

test('hashed assets are cached for good', async () => {
  const response = await fetch(`${app.httpUrl}/assets/index-abc123.js`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('cache-control'), 'public, max-age=31536000, immutable');
});

test('a path that is not a file still gets the JSON 404', async () => {
  const response = await fetch(`${app.httpUrl}/assets/missing.js`);
  assert.equal(response.status, 404);
  assert.equal(((await response.json()) as { error: string }).error, 'not_found');
});

test('probes are not shadowed by the web app', async () => {
  assert.equal((await fetch(`${app.httpUrl}/healthz`)).status, 200);
});
