import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import type { Fill, Order } from '../../../src/domain/orders/order.js';
import { orderPayload } from '../../../src/domain/streams/stream-payloads.js';
import { OrderSchema, TimeInForce } from '../../../src/gen/trading/v1/orders_pb.js';
import {
  fillReport,
  fromEngineFill,
  fromEngineOrder,
  orderReport,
  reportToPb,
  toEngineFill,
  toEngineOrder,
  toPbFill,
  toPbOrder,
} from '../../../src/shared/orders/order-messages.js';

const order: Order = {
  id: 42,
  userId: 7,
  clientOrderId: 'c-1',
  symbol: 'BTC-USD',
  side: 'buy',
  type: 'limit',
  timeInForce: 'GTC',
  price: 62_000,
  reservePrice: 62_000,
  quantity: 3,
  filled: 1,
  status: 'partially_filled',
  postOnly: true,
  reason: '',
  priority: 11,
  createdAt: new Date('2026-01-01T00:00:00.000Z'),
  updatedAt: new Date('2026-01-01T00:00:01.000Z'),
};

const fill: Fill = { tradeId: 5, orderId: 42, price: 62_000, quantity: 1, maker: false };

test('an execution report is what the stream gateway reads back', () => {
  const payload = { type: 'order', order: orderReport(order), fills: [fillReport(fill)] };

  assert.deepEqual(orderPayload.parse(JSON.parse(JSON.stringify(payload))), payload);
});

test('an execution report shows the order as OrderService does, less what only answers carry', () => {
  const answer = toPbOrder(order);

  const { order: reported, fills } = reportToPb({
    type: 'order',
    order: orderReport(order),
    fills: [fillReport(fill)],
  });

  const withoutAnswerFields = create(OrderSchema, {
    ...answer,
    timeInForce: TimeInForce.UNSPECIFIED,
    postOnly: false,
    createdAt: undefined,
    updatedAt: undefined,
  });
  assert.deepEqual(toBinary(OrderSchema, reported), toBinary(OrderSchema, withoutAnswerFields));
  assert.deepEqual(fills, [toPbFill(fill)]);
});

test('the engine call carries the whole order and its fills both ways', () => {
  assert.deepEqual(fromEngineOrder(toEngineOrder(order)), order);
  assert.deepEqual(fromEngineFill(toEngineFill(fill)), fill);
});
