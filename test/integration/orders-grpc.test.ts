import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { status, type Client } from '@grpc/grpc-js';
import { Side } from '../../src/gen/trading/v1/common_pb.js';
import { OrderStatus } from '../../src/gen/trading/v1/orders_pb.js';
import { unary } from '../support/grpc.js';
import { placeRequest } from '../support/order-requests.js';
import { OrdersHarness } from '../unit/orders/support/orders-harness.js';

interface PbOrder {
  orderId: string;
  clientOrderId: string;
  status: OrderStatus;
  price: bigint;
  quantity: bigint;
  filledQuantity: bigint;
}

describe('OrderService and AccountService over gRPC', () => {
  const harness = new OrdersHarness();
  let orders: Client;
  let accounts: Client;

  before(async () => {
    await harness.start();
    const clients = harness.clients(await harness.serveGrpc());
    orders = clients.orders;
    accounts = clients.accounts;
  });
  after(async () => {
    orders.close();
    accounts.close();
    await harness.stop();
  });

  test('every call needs an access token', async () => {
    const { error } = await unary(orders, 'placeOrder', placeRequest('a'));
    assert.equal(error?.code, status.UNAUTHENTICATED);
    const balances = await unary(accounts, 'getBalances', {});
    assert.equal(balances.error?.code, status.UNAUTHENTICATED);
  });

  test('places an order, answers with its decimal id, and shows the reservation', async () => {
    const alice = await harness.user();
    const auth = await harness.bearer(alice);

    const placed = await unary<{ order: PbOrder; replayed: boolean }>(
      orders,
      'placeOrder',
      placeRequest('first'),
      auth,
    );
    const again = await unary<{ order: PbOrder; replayed: boolean }>(
      orders,
      'placeOrder',
      placeRequest('first'),
      auth,
    );
    const got = await unary<{ order: PbOrder }>(
      orders,
      'getOrder',
      { orderId: placed.response?.order.orderId },
      auth,
    );
    const balances = await unary<{
      balances: { asset: string; available: bigint; reserved: bigint }[];
    }>(accounts, 'getBalances', {}, auth);

    assert.equal(placed.error, null);
    assert.match(placed.response?.order.orderId ?? '', /^[1-9]\d*$/);
    assert.equal(placed.response?.order.status, OrderStatus.NEW);
    assert.equal(again.response?.order.orderId, placed.response.order.orderId);
    assert.equal(placed.response.replayed, false);
    assert.equal(again.response.replayed, true);
    assert.equal(got.response?.order.clientOrderId, 'first');
    assert.deepEqual(
      balances.response?.balances.map((b) => [b.asset, b.available, b.reserved]),
      [
        ['BTC', 100_000_000n, 0n],
        ['USD', 99_940_000n, 60_000n],
      ],
    );
  });

  test('maps bad input to INVALID_ARGUMENT, balance to FAILED_PRECONDITION, strangers to NOT_FOUND, a reused id to ALREADY_EXISTS', async () => {
    const alice = await harness.user({ USD: 10n });
    const bob = await harness.user();
    const auth = await harness.bearer(alice);
    const bobAuth = await harness.bearer(bob);
    const bobs = await unary<{ order: PbOrder }>(orders, 'placeOrder', placeRequest('b1'), bobAuth);

    const offLot = await unary(orders, 'placeOrder', placeRequest('x', { quantity: 0n }), auth);
    const unknown = await unary(orders, 'placeOrder', placeRequest('x', { symbol: 'XYZ' }), auth);
    const noSide = await unary(
      orders,
      'placeOrder',
      placeRequest('x', { side: Side.UNSPECIFIED }),
      auth,
    );
    const poor = await unary(orders, 'placeOrder', placeRequest('x'), auth);
    const stranger = await unary(
      orders,
      'getOrder',
      { orderId: bobs.response?.order.orderId },
      auth,
    );
    const cancelStranger = await unary(
      orders,
      'cancelOrder',
      { orderId: bobs.response?.order.orderId },
      auth,
    );
    const cancelUnknown = await unary(orders, 'cancelOrder', { orderId: '123456789' }, auth);
    const reused = await unary(orders, 'placeOrder', placeRequest('b1', { quantity: 2n }), bobAuth);

    assert.equal(offLot.error?.code, status.INVALID_ARGUMENT);
    assert.match(offLot.error.details, /quantity/);
    assert.equal(unknown.error?.code, status.INVALID_ARGUMENT);
    assert.match(unknown.error.details, /XYZ is not traded/);
    assert.equal(noSide.error?.code, status.INVALID_ARGUMENT);
    assert.equal(poor.error?.code, status.FAILED_PRECONDITION);
    assert.match(poor.error.details, /insufficient USD/);
    assert.equal(stranger.error?.code, status.NOT_FOUND);
    assert.equal(cancelStranger.error?.code, status.NOT_FOUND);
    assert.equal(cancelUnknown.error?.code, status.NOT_FOUND);
    assert.equal(reused.error?.code, status.ALREADY_EXISTS);
    assert.match(reused.error.details, /client order id b1 is already order \d+/);
  });

  test('cancels and amends, and lists by status with pagination', async () => {
    const alice = await harness.user();
    const auth = await harness.bearer(alice);
    const one = await unary<{ order: PbOrder }>(
      orders,
      'placeOrder',
      placeRequest('l1', { price: 100n }),
      auth,
    );
    const two = await unary<{ order: PbOrder }>(
      orders,
      'placeOrder',
      placeRequest('l2', { price: 101n }),
      auth,
    );

    const amended = await unary<{ order: PbOrder }>(
      orders,
      'amendOrder',
      { orderId: two.response?.order.orderId, quantity: 3n },
      auth,
    );
    const cancelled = await unary<{ order: PbOrder }>(
      orders,
      'cancelOrder',
      { orderId: one.response?.order.orderId },
      auth,
    );
    const again = await unary(
      orders,
      'cancelOrder',
      { orderId: one.response?.order.orderId },
      auth,
    );
    const open = await unary<{ orders: PbOrder[]; nextPageToken: string }>(
      orders,
      'listOrders',
      { statuses: [OrderStatus.NEW], pageSize: 1 },
      auth,
    );
    const rejectedOnly = await unary<{ orders: PbOrder[] }>(
      orders,
      'listOrders',
      { statuses: [OrderStatus.REJECTED] },
      auth,
    );

    assert.equal(amended.response?.order.quantity, 3n);
    assert.equal(cancelled.response?.order.status, OrderStatus.CANCELED);
    assert.equal(again.error?.code, status.FAILED_PRECONDITION);
    assert.deepEqual(
      open.response?.orders.map((o) => o.clientOrderId),
      ['l2'],
    );
    assert.equal(open.response.nextPageToken, '');
    assert.deepEqual(rejectedOnly.response?.orders, []);
  });

  test('counts placements in orders_total', async () => {
    const text = await harness.registry.metrics();
    assert.match(text, /orders_total\{side="buy",type="limit",result="accepted"\} [1-9]/);
    assert.match(text, /orders_total\{side="buy",type="limit",result="replayed"\} [1-9]/);
    assert.match(text, /engine_batch_size_count [1-9]/);
    assert.match(text, /engine_epoch\{shard="shard-0"\} 1/);
    // Outcomes that have not happened yet are there at 0, so rate() sees the first one.
    assert.match(text, /orders_total\{side="sell",type="market",result="failed"\} 0/);
  });
});
