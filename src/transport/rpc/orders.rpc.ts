import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import type { Fill, Order, OrderResult } from '../../domain/orders/order.js';
import type { OrderService as Orders } from '../../domain/orders/order.service.js';
import {
  FillSchema,
  OrderSchema,
  type AmendOrderRequest,
  type CancelOrderRequest,
  type OrderService,
  type PlaceOrderRequest,
} from '../../gen/trading/v1/orders_pb.js';
import { orderEntry, type OrderEntryObservability } from './order-entry.rpc.js';
import { requirePrincipal } from './call-context.js';
import { fromPb, PB_SIDES, PB_STATUSES, PB_TIFS, PB_TYPES } from './order-enums.js';

const toPbOrder = (order: Order) =>
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

const toPbFill = (fill: Fill) =>
  create(FillSchema, {
    tradeId: String(fill.tradeId),
    orderId: String(fill.orderId),
    price: BigInt(fill.price),
    quantity: BigInt(fill.quantity),
    maker: fill.maker,
  });

const withFills = (result: OrderResult) => ({
  order: toPbOrder(result.order),
  fills: result.fills.map(toPbFill),
});

/**
 * The commands that change orders, for a user: shared by the unary calls and the order-entry
 * stream, so both validate and answer alike.
 */
export function orderCommands(orders: Orders) {
  return {
    async place(userId: number, request: PlaceOrderRequest) {
      const result = await orders.place(userId, {
        clientOrderId: request.clientOrderId,
        symbol: request.symbol,
        side: fromPb(PB_SIDES, request.side),
        type: fromPb(PB_TYPES, request.type),
        timeInForce: fromPb(PB_TIFS, request.timeInForce),
        price: request.price,
        quantity: request.quantity,
        postOnly: request.postOnly,
      });
      return { ...withFills(result), replayed: result.replayed };
    },
    async cancel(userId: number, request: CancelOrderRequest) {
      const result = await orders.cancel(userId, { orderId: request.orderId });
      return { order: toPbOrder(result.order) };
    },
    async amend(userId: number, request: AmendOrderRequest) {
      const result = await orders.amend(userId, {
        orderId: request.orderId,
        ...(request.price === undefined ? {} : { price: request.price }),
        ...(request.quantity === undefined ? {} : { quantity: request.quantity }),
      });
      return withFills(result);
    },
  };
}

export type OrderCommands = ReturnType<typeof orderCommands>;

const userOf = (context: Parameters<typeof requirePrincipal>[0]) =>
  Number(requirePrincipal(context).userId);

/** `trading.v1.OrderService`: every method acts on the authenticated caller's orders only. */
export function ordersRpc(
  orders: Orders,
  observability: OrderEntryObservability,
): ServiceImpl<typeof OrderService> {
  const commands = orderCommands(orders);
  return {
    placeOrder: (request, context) => commands.place(userOf(context), request),
    cancelOrder: (request, context) => commands.cancel(userOf(context), request),
    amendOrder: (request, context) => commands.amend(userOf(context), request),
    orderEntry: orderEntry(commands, observability),
    async getOrder(request, context) {
      const result = await orders.get(userOf(context), { orderId: request.orderId });
      return { order: toPbOrder(result.order) };
    },
    async listOrders(request, context) {
      const statuses = request.statuses.flatMap((status) => fromPb(PB_STATUSES, status) ?? []);
      // REJECTED orders are never stored: a filter naming only them matches nothing.
      if (request.statuses.length > 0 && statuses.length === 0) {
        return { orders: [], nextPageToken: '' };
      }
      const page = await orders.list(userOf(context), {
        symbol: request.symbol,
        statuses,
        pageSize: request.pageSize,
        pageToken: request.pageToken,
      });
      return { orders: page.orders.map(toPbOrder), nextPageToken: page.nextPageToken };
    },
  };
}
