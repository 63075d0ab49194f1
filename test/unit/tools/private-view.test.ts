import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { OrderStatus } from '../../../src/gen/trading/v1/orders_pb.js';
import { OpenStreamResponseSchema } from '../../../src/gen/trading/v1/session_pb.js';
import { fillKey, PrivateView } from '../../../src/tools/chaos/private-view.js';

const execution = (orderId: string, status: OrderStatus, filled: bigint, tradeIds: string[]) =>
  create(OpenStreamResponseSchema, {
    stream: 'orders.7',
    event: {
      case: 'execution',
      value: {
        order: { orderId, status, filledQuantity: filled },
        fills: tradeIds.map((tradeId) => ({ tradeId, orderId, price: 1_000n, quantity: 1n })),
      },
    },
  });

const balances = (asset: string, available: bigint, reserved: bigint) =>
  create(OpenStreamResponseSchema, {
    stream: 'orders.7',
    event: { case: 'balances', value: { balances: [{ asset, available, reserved }] } },
  });

test('each order at its latest report, each fill counted, balances overwritten per asset', () => {
  const view = new PrivateView();
  view.apply(balances('USD', 100n, 0n));
  view.apply(balances('BTC', 5n, 0n));
  view.apply(execution('1', OrderStatus.NEW, 0n, []));
  view.apply(balances('USD', 90n, 10n));
  view.apply(execution('1', OrderStatus.FILLED, 2n, ['1', '2']));
  view.apply(execution('1', OrderStatus.FILLED, 2n, ['2'])); // a fill delivered twice

  assert.deepEqual(view.orders.get('1'), { status: OrderStatus.FILLED, filled: 2n });
  const key = (tradeId: string) =>
    fillKey({ tradeId, orderId: '1', price: 1_000n, quantity: 1n, maker: false });
  assert.deepEqual(
    [...view.fills],
    [
      [key('1'), 1],
      [key('2'), 2],
    ],
  );
  assert.deepEqual(Object.fromEntries(view.balances), {
    USD: { available: 90n, reserved: 10n },
    BTC: { available: 5n, reserved: 0n },
  });
});
