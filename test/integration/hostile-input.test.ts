import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Metadata, status, type Client, type ClientDuplexStream } from '@grpc/grpc-js';
import { AccountService } from '../../src/gen/trading/v1/account_pb.js';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import { OrderService, OrderType, TimeInForce } from '../../src/gen/trading/v1/orders_pb.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { placeRequest } from '../support/order-requests.js';

/**
 * Input a hostile or careless client can send: text PostgreSQL cannot store, strings far past
 * any sensible length. Each must be refused at the edge with INVALID_ARGUMENT naming the field,
 * in an answer of bounded size, and leave the caller's connection and other users unharmed.
 */

const NUL = 'nul\u0000x';
const HUGE = 'X'.repeat(100_000);
const PASSWORD = 'correct horse battery';

interface Answer {
  requestId: bigint;
  result: { case: string; value: { code?: number; message?: string } };
}

describe('hostile input is refused at the edge', () => {
  let app: TestApp;
  let auth: Client;
  let orders: Client;
  let accounts: Client;
  let bearer: Metadata;

  before(async () => {
    app = await startTestApp();
    auth = grpcClient(app.grpcAddress, AuthService);
    orders = grpcClient(app.grpcAddress, OrderService);
    accounts = grpcClient(app.grpcAddress, AccountService);
    await unary(auth, 'register', { username: 'hostile', password: PASSWORD });
    const login = await unary<{ tokens: { accessToken: string } }>(auth, 'login', {
      username: 'hostile',
      password: PASSWORD,
    });
    bearer = new Metadata();
    bearer.set('authorization', `Bearer ${login.response?.tokens.accessToken ?? ''}`);
  });

  after(async () => {
    auth.close();
    orders.close();
    accounts.close();
    await app.stop();
  });

  const cases: [string, () => Promise<{ error: { code: number; details: string } | null }>][] = [];
  const placeWith = (overrides: Record<string, unknown>) => () =>
    unary(orders, 'placeOrder', placeRequest('ok-id', overrides), bearer);
  cases.push(['client_order_id with NUL', placeWith({ clientOrderId: NUL })]);
  cases.push(['symbol with NUL', placeWith({ symbol: NUL })]);
  cases.push(['a 100,000-character symbol', placeWith({ symbol: HUGE })]);
  cases.push(['a 100,000-character client_order_id', placeWith({ clientOrderId: HUGE })]);
  cases.push([
    'ListOrders symbol with NUL',
    () => unary(orders, 'listOrders', { symbol: NUL }, bearer),
  ]);
  cases.push([
    'ListOrders with a 100,000-character symbol',
    () => unary(orders, 'listOrders', { symbol: HUGE }, bearer),
  ]);
  cases.push([
    'Login username with NUL',
    () => unary(auth, 'login', { username: NUL, password: PASSWORD }),
  ]);
  cases.push([
    'Register username with NUL',
    () => unary(auth, 'register', { username: NUL, password: PASSWORD }),
  ]);
  cases.push([
    'Login password with NUL',
    () => unary(auth, 'login', { username: 'hostile', password: `${PASSWORD}\u0000` }),
  ]);
  cases.push(['Refresh token with NUL', () => unary(auth, 'refresh', { refreshToken: NUL })]);
  cases.push([
    'Refresh with a 100,000-character token',
    () => unary(auth, 'refresh', { refreshToken: HUGE }),
  ]);
  cases.push([
    'GetOrder with a 100,000-character order id',
    () => unary(orders, 'getOrder', { orderId: HUGE }, bearer),
  ]);

  for (const [name, call] of cases) {
    test(`${name}: INVALID_ARGUMENT, a short message, and the connection still works`, async () => {
      const { error } = await call();

      assert.equal(error?.code, status.INVALID_ARGUMENT, error?.details);
      assert.ok(error.details.length <= 300, `details of ${error.details.length} characters`);
      assert.ok(!error.details.includes('\u0000'), 'the answer echoes a NUL');
      const after = await unary(accounts, 'getBalances', {}, bearer);
      assert.equal(after.error, null);
    });
  }

  test('a refused field is named as the contract names it', async () => {
    const { error } = await placeWith({ clientOrderId: NUL })();

    assert.match(error?.details ?? '', /^client_order_id: /);
    assert.equal(error?.metadata.get('error-field')[0], 'client_order_id');
  });

  test('no log line carries an unbounded input', () => {
    const longest = Math.max(...app.logs.lines.map((line) => JSON.stringify(line).length));

    assert.ok(longest < 4_000, `a log line of ${longest} characters`);
  });

  test('a market order that carries a price is refused, not silently repriced', async () => {
    const { error } = await placeWith({
      clientOrderId: 'market-with-price',
      type: OrderType.MARKET,
      timeInForce: TimeInForce.IOC,
      price: 65_000n,
    })();

    assert.equal(error?.code, status.INVALID_ARGUMENT);
    assert.match(error.details, /^price: /);
  });

  test('a negative price is refused with the symbol bounds, not the integer range', async () => {
    const { error } = await placeWith({ clientOrderId: 'negative', price: -5n })();

    assert.equal(error?.code, status.INVALID_ARGUMENT);
    assert.doesNotMatch(error.details, /9007199254740991/);
    assert.match(error.details, /^price: .*tick/);
  });

  test('an enum message names the values as the wire spells them', async () => {
    const { error } = await placeWith({ clientOrderId: 'no-side', side: 0 })();

    assert.equal(error?.code, status.INVALID_ARGUMENT);
    assert.match(error.details, /^side: .*SIDE_BUY.*SIDE_SELL/);
  });

  test('an OrderEntry command with NUL gets its own error answer and the stream goes on', async () => {
    const stream = (
      orders as unknown as { orderEntry(metadata: Metadata): ClientDuplexStream<unknown, Answer> }
    ).orderEntry(bearer);
    const answers: Answer[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('data', (answer: Answer) => answers.push(answer));
      stream.on('end', resolve);
      stream.on('error', reject);
    });

    const place = (requestId: bigint, value: unknown) => ({
      requestId,
      command: { case: 'place', value },
    });
    stream.write(place(1n, placeRequest(NUL)));
    stream.write(place(2n, placeRequest('x', { symbol: HUGE })));
    stream.write(place(3n, placeRequest('stream-ok', { price: 1_000n })));
    stream.end();
    await ended;

    const byId = new Map(answers.map((answer) => [String(answer.requestId), answer]));
    assert.equal(byId.get('1')?.result.value.code, status.INVALID_ARGUMENT);
    assert.equal(byId.get('2')?.result.value.code, status.INVALID_ARGUMENT);
    assert.ok((byId.get('2')?.result.value.message?.length ?? 0) <= 300);
    assert.equal(byId.get('3')?.result.case, 'placed');
  });
});
