import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.js';

/**
 * Every service the server lists through reflection, called by a stock reflection client
 * (`buf curl`, from the project's devDependencies) that learns the schema only from the
 * server: a descriptor protoc would reject fails here.
 */

const BUF = fileURLToPath(new URL('../../node_modules/.bin/buf', import.meta.url));

let app: TestApp;

before(async () => {
  app = await startTestApp();
});

after(async () => {
  await app.stop();
});

interface CurlResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

function bufCurl(args: readonly string[]): Promise<CurlResult> {
  const argv = ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', ...args];
  return new Promise((resolve) => {
    execFile(BUF, argv, { timeout: 30_000 }, (error, stdout, stderr) => {
      const exitCode = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ exitCode, stdout, stderr });
    });
  });
}

/** Calls one method with a JSON request; resolves to the JSON answer, or the gRPC error. */
async function call(
  method: string,
  request: object,
  token?: string,
): Promise<{ ok: Record<string, unknown> } | { error: { code: string; message: string } }> {
  const header = token === undefined ? [] : ['--header', `authorization: Bearer ${token}`];
  const result = await bufCurl([
    ...header,
    '--data',
    JSON.stringify(request),
    `http://${app.grpcAddress}/${method}`,
  ]);
  if (result.exitCode === 0) return { ok: JSON.parse(result.stdout) as Record<string, unknown> };
  // An RPC error is a JSON object on stderr; anything else (e.g. "Failure: ...") is buf failing.
  try {
    return { error: JSON.parse(result.stderr) as { code: string; message: string } };
  } catch {
    throw new Error(`buf curl ${method} failed: ${result.stderr}`);
  }
}

test('buf curl lists the services through reflection', async () => {
  const listed = await bufCurl(['--list-services', `http://${app.grpcAddress}`]);
  assert.equal(listed.exitCode, 0, listed.stderr);
  const services = listed.stdout.trim().split('\n').sort();
  assert.deepEqual(services, Object.keys(CALLS).sort());
});

test('buf curl lists the methods of every reflected service', async () => {
  const listed = await bufCurl(['--list-methods', `http://${app.grpcAddress}`]);
  assert.equal(listed.exitCode, 0, listed.stderr);
  assert.ok(listed.stdout.includes('grpc.health.v1.Health/Check'), listed.stdout);
  assert.ok(listed.stdout.includes('trading.v1.OrderService/ListOrders'), listed.stdout);
});

/** One call per reflected service, in order (Register before the calls that need a token). */
const CALLS: Record<string, (token: () => string) => Promise<void>> = {
  'grpc.health.v1.Health': async () => {
    const answer = await call('grpc.health.v1.Health/Check', { service: '' });
    assert.deepEqual(answer, { ok: { status: 'SERVING' } });
  },
  'trading.v1.AuthService': async () => {
    const credentials = { username: 'reflected', password: 'long enough password' };
    assert.ok('ok' in (await call('trading.v1.AuthService/Register', credentials)));
    const login = await call('trading.v1.AuthService/Login', credentials);
    assert.ok('ok' in login, JSON.stringify(login));
    const tokens = login.ok.tokens as { accessToken: string };
    accessToken = tokens.accessToken;
  },
  'trading.v1.OrderService': async (token) => {
    const answer = await call('trading.v1.OrderService/ListOrders', {}, token());
    assert.ok('ok' in answer, JSON.stringify(answer));
  },
  'trading.v1.AccountService': async (token) => {
    const answer = await call('trading.v1.AccountService/GetBalances', {}, token());
    assert.ok('ok' in answer, JSON.stringify(answer));
  },
  'trading.v1.MarketDataService': async (token) => {
    const answer = await call(
      'trading.v1.MarketDataService/GetOrderBook',
      { symbol: 'BTC-USD' },
      token(),
    );
    assert.ok('ok' in answer || answer.error.code === 'unimplemented', JSON.stringify(answer));
  },
  'trading.v1.SessionService': async (token) => {
    const answer = await call('trading.v1.SessionService/Pong', {}, token());
    // Reached the service: any gRPC answer will do, a schema failure throws in call().
    assert.ok('ok' in answer || typeof answer.error.code === 'string', JSON.stringify(answer));
  },
};

let accessToken: string | undefined;

test('every reflected service answers a call made through reflection', async () => {
  const token = () => {
    assert.ok(accessToken !== undefined, 'AuthService runs first and logs in');
    return accessToken;
  };
  for (const [service, check] of Object.entries(CALLS)) {
    await test(service, () => check(token));
  }
});
