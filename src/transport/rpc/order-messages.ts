import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { Fill, Order } from '../../domain/orders/order.js';
import { FillSchema, OrderSchema } from '../../gen/trading/v1/orders_pb.js';
import { PB_SIDES, PB_STATUSES, PB_TIFS, PB_TYPES } from '../../shared/grpc/order-enums.js';

/** A domain order and fill as `trading.v1` messages, for every OrderService answer. */

export const toPbOrder = (order: Order) =>
  create(OrderSchema, {
    orderId: String(order.id),
    clientOrderId: order.clientOrderId,
    symbol: order.symbol,
    side: PB_SIDES[order.side],
    type: PB_TYPES[order.type],
    timeInForce: PB_TIFS[order.timeInForce],
    price: BigInt(order.price),
    quantity: BigInt(order.quantity),
    filledQuantity: BigInt(order.filled),
    status: PB_STATUSES[order.status],
    postOnly: order.postOnly,
    reason: order.reason,
    createdAt: timestampFromDate(order.createdAt),
    updatedAt: timestampFromDate(order.updatedAt),
  });

export const toPbFill = (fill: Fill) =>
  create(FillSchema, {
    tradeId: String(fill.tradeId),
    orderId: String(fill.orderId),
    price: BigInt(fill.price),
    quantity: BigInt(fill.quantity),
    maker: fill.maker,
  });
