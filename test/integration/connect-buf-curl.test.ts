import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.js';

/**
 * The HTTP port called by a stock client, `buf curl` from the devDependencies, over Connect and
 * gRPC-Web (HTTP/1.1 and HTTP/2), with the schema read from the repository's proto folder:
 * what README's "Calling the HTTP port" shows.
 */

const BUF = fileURLToPath(new URL('../../node_modules/.bin/buf', import.meta.url));
const SCHEMA = fileURLToPath(new URL('../../', import.meta.url));

let app: TestApp;

before(async () => {
  app = await startTestApp();
});

after(async () => {
  await app.stop();
});

type Answer = { ok: Record<string, unknown> } | { error: { code: string; message: string } };

function bufCurl(protocol: string, args: readonly string[]): Promise<Answer> {
  const argv = ['curl', '--schema', SCHEMA, '--protocol', protocol, ...args];
  return new Promise((resolve, reject) => {
    execFile(BUF, argv, { timeout: 30_000, cwd: SCHEMA }, (error, stdout, stderr) => {
      if (error === null) {
        resolve({ ok: JSON.parse(stdout) as Record<string, unknown> });
        return;
      }
      try {
        resolve({ error: JSON.parse(stderr) as { code: string; message: string } });
      } catch {
        reject(new Error(`buf curl failed: ${stderr}`));
      }
    });
  });
}

const call = (protocol: string, method: string, request: object, extra: string[] = []) =>
  bufCurl(protocol, [...extra, '--data', JSON.stringify(request), `${app.httpUrl}/${method}`]);

for (const [protocol, extra] of [
  ['connect', []],
  ['grpcweb', []],
  ['connect', ['--http2-prior-knowledge']],
  ['grpcweb', ['--http2-prior-knowledge']],
] as const) {
  const name = `buf curl --protocol ${protocol} ${extra.join(' ')}`.trim();
  test(`${name}: register, login, balances, order book and a refused call`, async () => {
    const username = `curl_${protocol}_${extra.length}`;
    const credentials = { username, password: 'long enough password' };
    const registered = await call(protocol, 'trading.v1.AuthService/Register', credentials, [
      ...extra,
    ]);
    assert.ok('ok' in registered, JSON.stringify(registered));
    const login = await call(protocol, 'trading.v1.AuthService/Login', credentials, [...extra]);
    assert.ok('ok' in login, JSON.stringify(login));
    const token = (login.ok.tokens as { accessToken: string }).accessToken;

    const bearer = ['--header', `authorization: Bearer ${token}`, ...extra];
    const balances = await call(protocol, 'trading.v1.AccountService/GetBalances', {}, bearer);
    assert.ok('ok' in balances, JSON.stringify(balances));
    const book = await call(
      protocol,
      'trading.v1.MarketDataService/GetOrderBook',
      { symbol: 'BTC-USD' },
      [...extra],
    );
    assert.ok('ok' in book, JSON.stringify(book));

    const anonymous = await call(protocol, 'trading.v1.AccountService/GetBalances', {}, [...extra]);
    assert.ok('error' in anonymous, JSON.stringify(anonymous));
    assert.equal(anonymous.error.code, 'unauthenticated');
  });
}

test('curl-style Connect unary: a plain JSON POST', async () => {
  const answer = await fetch(`${app.httpUrl}/trading.v1.MarketDataService/GetOrderBook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ symbol: 'BTC-USD', depth: 5 }),
  });
  assert.equal(answer.status, 200);
  const body = (await answer.json()) as { book: { symbol: string } };
  assert.equal(body.book.symbol, 'BTC-USD');
});

for (const protocol of ['connect', 'grpcweb']) {
  test(`buf curl --protocol ${protocol} subscribes to book.BTC-USD and gets the snapshot`, async () => {
    const child = spawn(BUF, [
      'curl',
      '--schema',
      SCHEMA,
      '--protocol',
      protocol,
      '--data',
      '{"symbols":["BTC-USD"]}',
      `${app.httpUrl}/trading.v1.MarketDataService/Subscribe`,
    ]);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      const deadline = Date.now() + 20_000;
      while (!output.includes('"snapshot"') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.ok(output.includes('"stream": "book.BTC-USD"'), output);
      assert.ok(output.includes('"snapshot"'), output);
    } finally {
      child.kill();
    }
  });
}
