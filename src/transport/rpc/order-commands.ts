import type { OrderResult } from '../../domain/orders/order.js';
import type { OrderDesk } from '../../domain/orders/order-desk.js';
import type {
  AmendOrderRequest,
  CancelOrderRequest,
  PlaceOrderRequest,
} from '../../gen/trading/v1/orders_pb.js';
import { fromPb, PB_SIDES, PB_TIFS, PB_TYPES } from '../../shared/grpc/order-enums.js';
import { toPbFill, toPbOrder } from '../../shared/orders/order-messages.js';

const withFills = (result: OrderResult) => ({
  order: toPbOrder(result.order),
  fills: result.fills.map(toPbFill),
});

/**
 * The commands that change orders, for a user: shared by the unary calls and the order-entry
 * stream, so both validate and answer alike.
 */
export function orderCommands(orders: OrderDesk) {
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
