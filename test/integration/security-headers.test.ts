import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.js';

/**
 * What a browser receives from the real server (HTTP/1.1 and HTTP/2): every answer a browser
 * may render or script (the web app, the JSON API, Connect and gRPC-Web, a refused WebSocket,
 * the JSON 404) carries the same security headers, with these exact values.
 */

const APP = 'https://app.example.com';
const FOREIGN = 'https://evil.example.net';

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';" +
    "frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';" +
    "script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests;" +
    `connect-src 'self' ${APP}`,
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'SAMEORIGIN',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
};

type Headers = Record<string, string | string[] | undefined>;

function assertSecurityHeaders(headers: Headers, what: string): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    assert.equal(headers[name], value, `${what}: ${name}`);
  }
  assert.equal(headers['x-powered-by'], undefined, what);
}

const fromFetch = (response: Response): Headers => Object.fromEntries(response.headers);

let app: TestApp;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'security-headers-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>app</title>');
  writeFileSync(join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
  app = await startTestApp({ WEB_ASSETS_DIR: dir, CORS_ORIGINS: APP });
});

after(async () => {
  await app.stop();
  rmSync(dir, { recursive: true, force: true });
});

const GET_BOOK = 'trading.v1.MarketDataService/GetOrderBook';

describe('answers a browser may render or script carry the security headers', () => {
  test("the web app's index.html and its assets", async () => {
    for (const path of ['/', '/index.html', '/assets/index-abc123.js']) {
      const response = await fetch(`${app.httpUrl}${path}`);
      assert.equal(response.status, 200, path);
      assertSecurityHeaders(fromFetch(response), path);
      await response.arrayBuffer();
    }
  });

  test('a Connect call, from a listed origin too, with its CORS headers', async () => {
    for (const origin of [undefined, APP]) {
      const response = await fetch(`${app.httpUrl}/${GET_BOOK}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'connect-protocol-version': '1',
          ...(origin === undefined ? {} : { origin }),
        },
        body: JSON.stringify({ symbol: 'BTC-USD' }),
      });
      assert.equal(response.status, 200, await response.clone().text());
      const headers = fromFetch(response);
      assertSecurityHeaders(headers, `Connect, origin ${origin}`);
      assert.equal(headers.vary, 'Origin');
      assert.equal(headers['access-control-allow-origin'], origin);
      await response.arrayBuffer();
    }
  });

  test('a Connect call over HTTP/2', async () => {
    const session = http2.connect(app.httpUrl);
    try {
      const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        const stream = session.request({
          ':method': 'POST',
          ':path': `/${GET_BOOK}`,
          'content-type': 'application/json',
          'connect-protocol-version': '1',
        });
        stream.on('response', resolve);
        stream.on('error', reject);
        stream.end(JSON.stringify({ symbol: 'BTC-USD' }));
        stream.resume();
      });
      assert.equal(headers[':status'], 200);
      assertSecurityHeaders(headers, 'Connect over HTTP/2');
    } finally {
      session.close();
    }
  });

  test('a gRPC-Web call', async () => {
    const response = await fetch(`${app.httpUrl}/${GET_BOOK}`, {
      method: 'POST',
      headers: { 'content-type': 'application/grpc-web+json', 'x-grpc-web': '1' },
      body: new Uint8Array([0, 0, 0, 0, 2, 0x7b, 0x7d]),
    });
    assertSecurityHeaders(fromFetch(response), 'gRPC-Web');
    await response.arrayBuffer();
  });

  test('the JSON API, refusing a missing token', async () => {
    const response = await fetch(`${app.httpUrl}/v1/session`);
    assert.equal(response.status, 401);
    assertSecurityHeaders(fromFetch(response), '/v1/session');
    await response.arrayBuffer();
  });

  test('the JSON 404, which names the path asked for', async () => {
    const response = await fetch(`${app.httpUrl}/%3Cscript%3E`);
    assert.equal(response.status, 404);
    assertSecurityHeaders(fromFetch(response), '404');
    await response.arrayBuffer();
  });

  test('a CORS preflight from a listed origin (no page: CORS headers only)', async () => {
    const response = await fetch(`${app.httpUrl}/${GET_BOOK}`, {
      method: 'OPTIONS',
      headers: {
        origin: APP,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,connect-protocol-version',
      },
    });
    // Answered by the CORS hook before any other: a browser reads nothing else of it.
    assert.equal(response.status, 204);
    assert.equal(response.headers.get('access-control-allow-origin'), APP);
    assert.equal(response.headers.get('access-control-max-age'), '7200');
  });

  test('a WebSocket upgrade from another origin (refused; a listed one or its own is not)', async () => {
    const refused = await upgrade('/ws', { origin: FOREIGN });
    assert.equal(refused.status, 403);
    assertSecurityHeaders(refused.headers, 'refused WebSocket');
    assert.equal((await upgrade('/ws', { origin: APP })).status, 101);
    assert.equal((await upgrade('/ws', { origin: app.httpUrl })).status, 101);
    assert.equal((await upgrade('/ws', {})).status, 101);
  });
});

describe('probes and scrapes, read by kubelets and Prometheus and never rendered', () => {
  test('carry no browser security headers nor CORS headers', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      const response = await fetch(`${app.httpUrl}${path}`, { headers: { origin: APP } });
      await response.arrayBuffer();
      const headers = fromFetch(response);
      for (const name of [...Object.keys(SECURITY_HEADERS), 'access-control-allow-origin']) {
        assert.equal(headers[name], undefined, `${path}: ${name}`);
      }
    }
  });

  test('a WebSocket upgrade of a probe is refused and its connection closed', async () => {
    const answer = await upgrade('/healthz', {});
    assert.equal(answer.status, 400);
    assert.equal(answer.closed, true);
  });
});

/** A WebSocket handshake: the refusal's status and headers, or 101 once upgraded. */
function upgrade(
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number | undefined; headers: IncomingHttpHeaders; closed?: boolean }> {
  const url = new URL(app.httpUrl);
  return new Promise((resolve, reject) => {
    const request = http.get({
      host: url.hostname,
      port: url.port,
      path,
      // A connection of its own: a refused upgrade's socket is closed after the answer.
      agent: false,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        ...headers,
      },
    });
    request.on('response', (response) => {
      response.resume();
      // Resolved once the server has closed the connection, or said it would keep it.
      const answer = { status: response.statusCode, headers: response.headers };
      response.socket.once('close', () => {
        resolve({ ...answer, closed: true });
      });
      response.once('end', () => {
        if (response.headers.connection !== 'close') resolve(answer);
      });
    });
    request.on('upgrade', (response, socket) => {
      socket.destroy();
      resolve({ status: response.statusCode, headers: response.headers });
    });
    request.on('error', reject);
  });
}
