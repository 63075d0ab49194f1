import { create } from '@bufbuild/protobuf';
import { timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { DomainError } from '../../domain/errors.js';
import type { Fill, Order } from '../../domain/orders/order.js';
import type { OrderPayload } from '../../domain/streams/stream-payloads.js';
import {
  EngineFillSchema,
  EngineOrderSchema,
  type EngineFill,
  type EngineOrder,
} from '../../gen/trading/internal/v1/engine_pb.js';
import { FillSchema, OrderSchema, type Order as PbOrder } from '../../gen/trading/v1/orders_pb.js';
import { PB_SIDES, PB_STATUSES, PB_TIFS, PB_TYPES } from '../grpc/order-enums.js';
import { knownEnum, safeInteger } from '../grpc/wire-values.js';

/**
 * Every shape an order and its fills take outside the process, in one place, so that a field
 * is added or renamed once:
 * - the execution report on its owner's `orders.<userId>` stream (JSON in the engine's outbox,
 *   parsed back by the stream gateway with `orderPayload`);
 * - `trading.v1.Order` and `Fill`: OrderService answers, and execution reports on every stream
 *   transport;
 * - `trading.internal.v1.EngineOrder` and `EngineFill`: the api → engine call, both ways.
 * The public message is the report's fields plus those only OrderService answers carry.
 */

/** What an order's owner sees of it in an execution report. */
export type ReportedOrder = OrderPayload['order'];
/** A fill of the reported order, as its execution report carries it. */
export type ReportedFill = OrderPayload['fills'][number];

export const orderReport = (order: Order): ReportedOrder => ({
  orderId: String(order.id),
  clientOrderId: order.clientOrderId,
  symbol: order.symbol,
  side: order.side,
  type: order.type,
  price: order.price,
  quantity: order.quantity,
  filled: order.filled,
  status: order.status,
  reason: order.reason,
});

export const fillReport = (fill: Fill): ReportedFill => ({
  tradeId: fill.tradeId,
  price: fill.price,
  quantity: fill.quantity,
  maker: fill.maker,
});

/** The `trading.v1.Order` fields an execution report carries. */
const reportedFields = (report: ReportedOrder) => ({
  orderId: report.orderId,
  clientOrderId: report.clientOrderId,
  symbol: report.symbol,
  side: PB_SIDES[report.side],
  type: PB_TYPES[report.type],
  price: BigInt(report.price),
  quantity: BigInt(report.quantity),
  filledQuantity: BigInt(report.filled),
  status: PB_STATUSES[report.status],
  reason: report.reason,
});

const pbFill = (orderId: string, fill: ReportedFill) =>
  create(FillSchema, {
    tradeId: String(fill.tradeId),
    orderId,
    price: BigInt(fill.price),
    quantity: BigInt(fill.quantity),
    maker: fill.maker,
  });

/**
 * An order as OrderService answers with it. The answer's own fields are set on the message, not
 * spread into `create`'s init with the report's: V8 reads an object built as `{ ...a, b }` on a
 * slow path, which made this ten times dearer.
 */
export function toPbOrder(order: Order): PbOrder {
  const message = create(OrderSchema, reportedFields(orderReport(order)));
  message.timeInForce = PB_TIFS[order.timeInForce];
  message.postOnly = order.postOnly;
  message.createdAt = timestampFromDate(order.createdAt);
  message.updatedAt = timestampFromDate(order.updatedAt);
  return message;
}

export const toPbFill = (fill: Fill) => pbFill(String(fill.orderId), fill);

/** An execution report from the stream log as the stream transports send it. */
export const reportToPb = ({ order, fills }: OrderPayload) => ({
  order: create(OrderSchema, reportedFields(order)),
  fills: fills.map((fill) => pbFill(order.orderId, fill)),
});

/** The whole order, as the engine answers the api with it. */
export const toEngineOrder = (order: Order) =>
  create(EngineOrderSchema, {
    orderId: BigInt(order.id),
    userId: BigInt(order.userId),
    clientOrderId: order.clientOrderId,
    symbol: order.symbol,
    side: PB_SIDES[order.side],
    type: PB_TYPES[order.type],
    timeInForce: PB_TIFS[order.timeInForce],
    price: BigInt(order.price),
    reservePrice: BigInt(order.reservePrice),
    quantity: BigInt(order.quantity),
    filled: BigInt(order.filled),
    status: PB_STATUSES[order.status],
    postOnly: order.postOnly,
    reason: order.reason,
    priority: BigInt(order.priority),
    createdAt: timestampFromDate(order.createdAt),
    updatedAt: timestampFromDate(order.updatedAt),
  });

export function fromEngineOrder(order: EngineOrder | undefined): Order {
  if (order === undefined) throw new DomainError('internal', 'the engine answered no order');
  return {
    id: safeInteger(order.orderId, 'order_id'),
    userId: safeInteger(order.userId, 'user_id'),
    clientOrderId: order.clientOrderId,
    symbol: order.symbol,
    side: knownEnum(PB_SIDES, order.side, 'side'),
    type: knownEnum(PB_TYPES, order.type, 'type'),
    timeInForce: knownEnum(PB_TIFS, order.timeInForce, 'time_in_force'),
    price: safeInteger(order.price, 'price'),
    reservePrice: safeInteger(order.reservePrice, 'reserve_price'),
    quantity: safeInteger(order.quantity, 'quantity'),
    filled: safeInteger(order.filled, 'filled'),
    status: knownEnum(PB_STATUSES, order.status, 'status'),
    postOnly: order.postOnly,
    reason: order.reason,
    priority: safeInteger(order.priority, 'priority'),
    createdAt: order.createdAt === undefined ? new Date(0) : timestampDate(order.createdAt),
    updatedAt: order.updatedAt === undefined ? new Date(0) : timestampDate(order.updatedAt),
  };
}

export const toEngineFill = (fill: Fill) =>
  create(EngineFillSchema, {
    tradeId: BigInt(fill.tradeId),
    orderId: BigInt(fill.orderId),
    price: BigInt(fill.price),
    quantity: BigInt(fill.quantity),
    maker: fill.maker,
  });

export const fromEngineFill = (fill: EngineFill): Fill => ({
  tradeId: safeInteger(fill.tradeId, 'trade_id'),
  orderId: safeInteger(fill.orderId, 'order_id'),
  price: safeInteger(fill.price, 'price'),
  quantity: safeInteger(fill.quantity, 'quantity'),
  maker: fill.maker,
});
