import type { ServiceImpl } from '@connectrpc/connect';
import type { OrderDesk } from '../../domain/orders/order-desk.js';
import type { OrderService } from '../../gen/trading/v1/orders_pb.js';
import { fromPb, PB_STATUSES } from '../../shared/grpc/order-enums.js';
import { requirePrincipal } from './call-context.js';
import { orderCommands } from './order-commands.js';
import { orderEntry, type OrderEntryObservability } from './order-entry.rpc.js';
import { toPbOrder } from '../../shared/orders/order-messages.js';

const userOf = (context: Parameters<typeof requirePrincipal>[0]) =>
  Number(requirePrincipal(context).userId);

/** `trading.v1.OrderService`: every method acts on the authenticated caller's orders only. */
export function ordersRpc(
  orders: OrderDesk,
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
