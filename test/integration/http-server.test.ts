import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { after, before, test } from 'node:test';
import { sample, startTestApp, type TestApp } from '../support/app.js';

let app: TestApp;

before(async () => {
  app = await startTestApp();
});

after(async () => {
  await app.stop();
});

test('/healthz answers 200 while the event loop turns', async () => {
  const response = await fetch(`${app.httpUrl}/healthz`);
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { status: 'ok' });
});

test('/readyz answers 200 when every check passes', async () => {
  const response = await fetch(`${app.httpUrl}/readyz`);
  assert.equal(response.status, 200);
  assert.equal(((await response.json()) as { status: string }).status, 'ready');
});

test('/readyz answers 503 naming the failing dependency and why', async () => {
  let up = false;
  app.readiness.register('primary', () =>
    up ? { ok: true } : { ok: false, detail: 'circuit open' },
  );
  const response = await fetch(`${app.httpUrl}/readyz`);
  assert.equal(response.status, 503);
  const body = (await response.json()) as {
    status: string;
    failing: unknown[];
    degraded: unknown[];
  };
  assert.equal(body.status, 'not_ready');
  assert.deepEqual(body.failing, [{ name: 'primary', detail: 'circuit open' }]);
  assert.deepEqual(body.degraded, []);

  up = true;
  assert.equal((await fetch(`${app.httpUrl}/readyz`)).status, 200);
});

test('/readyz stays 200 but lists a shared dependency that is down as degraded', async () => {
  app.readiness.register('cache', () => ({ ok: false, detail: 'not connected' }), {
    critical: false,
  });
  const response = await fetch(`${app.httpUrl}/readyz`);
  assert.equal(response.status, 200);
  const body = (await response.json()) as { degraded: unknown[] };
  assert.deepEqual(body.degraded, [{ name: 'cache', detail: 'not connected' }]);
});

test('/metrics serves Prometheus text with app_info and the default process metrics', async () => {
  const response = await fetch(`${app.httpUrl}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await response.text();
  assert.equal(sample(text, 'app_info', { version: app.config.version, role: 'all' }), 1);
  for (const name of [
    'process_cpu_user_seconds_total',
    'nodejs_eventloop_lag_p99_seconds',
    'nodejs_heap_size_used_bytes',
  ]) {
    assert.ok(text.includes(`\n${name} `) || text.includes(`\n${name}{`), `${name} missing`);
  }
});

test('request durations are labelled by route template, never by raw URL', async () => {
  await fetch(`${app.httpUrl}/healthz`);
  // A path segment no metric can contain by chance (digits could turn up in any value).
  await fetch(`${app.httpUrl}/no/such/path/zqxjv-order`);
  const text = await app.registry.metrics();
  assert.ok(
    (sample(text, 'http_server_request_duration_seconds_count', {
      route: '/healthz',
      status_code: '200',
    }) ?? 0) >= 1,
  );
  assert.equal(
    sample(text, 'http_server_request_duration_seconds_count', {
      route: 'unmatched',
      status_code: '404',
    }),
    1,
  );
  assert.equal(text.includes('zqxjv'), false);
});

test('an unknown route answers a JSON 404 that says what was asked', async () => {
  const response = await fetch(`${app.httpUrl}/nope`);
  assert.equal(response.status, 404);
  assert.deepEqual(await response.json(), {
    error: 'not_found',
    message: 'no route for GET /nope',
  });
});

test('a 404 for a very long URL answers and logs a bounded message', async () => {
  const response = await fetch(`${app.httpUrl}/${'x'.repeat(12_000)}`);
  const body = (await response.json()) as { message: string };

  assert.equal(response.status, 404);
  assert.ok(body.message.length <= 512, `a message of ${body.message.length} characters`);
  const longest = Math.max(...app.logs.lines.map((line) => JSON.stringify(line).length));
  assert.ok(longest < 4_000, `a log line of ${longest} characters`);
});

test('each request is logged once, with its route template and duration', async () => {
  await fetch(`${app.httpUrl}/readyz`);
  const line = app.logs.find('http request finished', { route: '/readyz' });
  assert.ok(line);
  assert.equal(line.method, 'GET');
  assert.equal(typeof line.duration_ms, 'number');
});

test('a connection that has not sent a byte yet does not hold up shutdown', async () => {
  // Browsers preconnect, and undici opens a spare connection when a fetch is aborted: such a
  // socket is neither HTTP/1.1 nor HTTP/2 until its first bytes say which.
  const own = await startTestApp();
  const silent = createConnection({ host: '127.0.0.1', port: own.httpPort });
  await once(silent, 'connect');
  const closed = once(silent, 'close');

  const code = await own.stop();

  assert.equal(code, 0, 'shut down within its deadline, nothing forced');
  await closed;
});
