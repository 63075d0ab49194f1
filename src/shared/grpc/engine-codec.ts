import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { DomainError } from '../../domain/errors.js';
import type { Fill, Order } from '../../domain/orders/order.js';
import type { OrderCommand, Submitted } from '../../domain/orders/order-engine.port.js';
import {
  EngineFillSchema,
  EngineOrderSchema,
  SubmitRequestSchema,
  type SubmitResponseSchema,
  type EngineOrder,
  type SubmitRequest,
  type SubmitResponse,
} from '../../gen/trading/internal/v1/engine_pb.js';
import { fromPb, PB_SIDES, PB_STATUSES, PB_TIFS, PB_TYPES } from './order-enums.js';

/**
 * `trading.internal.v1.EngineService` messages ↔ the domain's engine port (`OrderCommand`,
 * `Submitted`), used by both ends of the api → engine call. Ids are safe integers in the
 * domain and int64 on the wire.
 */

/** An enum number the engine must know: anything else is invalid_argument naming the field. */
function decode<T extends string>(
  table: Readonly<Record<T, number>>,
  value: number,
  field: string,
): T {
  const name = fromPb(table, value);
  if (name === undefined) {
    throw new DomainError('invalid_argument', `${field} ${value} is not one the engine knows`, {
      field,
    });
  }
  return name;
}

/** An int64 from the wire as a domain number; beyond 2^53 it cannot be an id or amount here. */
function safe(value: bigint, field: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number)) {
    throw new DomainError('invalid_argument', `${field} ${value} is out of range`, { field });
  }
  return number;
}

export function toSubmitRequest(
  command: OrderCommand,
): MessageInitShape<typeof SubmitRequestSchema> {
  const head = { userId: BigInt(command.userId), symbol: command.symbol };
  switch (command.kind) {
    case 'place':
      return {
        ...head,
        command: {
          case: 'place',
          value: {
            clientOrderId: command.clientOrderId,
            side: PB_SIDES[command.side],
            type: PB_TYPES[command.type],
            timeInForce: PB_TIFS[command.timeInForce],
            price: BigInt(command.price),
            quantity: BigInt(command.quantity),
            postOnly: command.postOnly,
          },
        },
      };
    case 'cancel':
      return { ...head, command: { case: 'cancel', value: { orderId: BigInt(command.orderId) } } };
    case 'amend':
      return {
        ...head,
        command: {
          case: 'amend',
          value: {
            orderId: BigInt(command.orderId),
            ...(command.price === undefined ? {} : { price: BigInt(command.price) }),
            ...(command.quantity === undefined ? {} : { quantity: BigInt(command.quantity) }),
          },
        },
      };
  }
}

export function fromSubmitRequest(request: SubmitRequest): OrderCommand {
  const userId = safe(request.userId, 'user_id');
  const { symbol } = request;
  const { command } = request;
  switch (command.case) {
    case 'place': {
      const place = command.value;
      return {
        kind: 'place',
        userId,
        symbol,
        clientOrderId: place.clientOrderId,
        side: decode(PB_SIDES, place.side, 'side'),
        type: decode(PB_TYPES, place.type, 'type'),
        timeInForce: decode(PB_TIFS, place.timeInForce, 'time_in_force'),
        price: safe(place.price, 'price'),
        quantity: safe(place.quantity, 'quantity'),
        postOnly: place.postOnly,
      };
    }
    case 'cancel':
      return { kind: 'cancel', userId, symbol, orderId: safe(command.value.orderId, 'order_id') };
    case 'amend': {
      const { orderId, price, quantity } = command.value;
      return {
        kind: 'amend',
        userId,
        symbol,
        orderId: safe(orderId, 'order_id'),
        ...(price === undefined ? {} : { price: safe(price, 'price') }),
        ...(quantity === undefined ? {} : { quantity: safe(quantity, 'quantity') }),
      };
    }
    case undefined:
      throw new DomainError('invalid_argument', 'a command (place, cancel or amend) is required', {
        field: 'command',
      });
  }
}

const toEngineOrder = (order: Order) =>
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

export function toSubmitResponse(
  submitted: Submitted,
): MessageInitShape<typeof SubmitResponseSchema> {
  const { order, fills } = submitted.result;
  return {
    order: toEngineOrder(order),
    fills: fills.map((fill) =>
      create(EngineFillSchema, {
        tradeId: BigInt(fill.tradeId),
        orderId: BigInt(fill.orderId),
        price: BigInt(fill.price),
        quantity: BigInt(fill.quantity),
        maker: fill.maker,
      }),
    ),
    replayed: submitted.replayed,
  };
}

function fromEngineOrder(order: EngineOrder | undefined): Order {
  if (order === undefined) throw new DomainError('internal', 'the engine answered no order');
  return {
    id: safe(order.orderId, 'order_id'),
    userId: safe(order.userId, 'user_id'),
    clientOrderId: order.clientOrderId,
    symbol: order.symbol,
    side: decode(PB_SIDES, order.side, 'side'),
    type: decode(PB_TYPES, order.type, 'type'),
    timeInForce: decode(PB_TIFS, order.timeInForce, 'time_in_force'),
    price: safe(order.price, 'price'),
    reservePrice: safe(order.reservePrice, 'reserve_price'),
    quantity: safe(order.quantity, 'quantity'),
    filled: safe(order.filled, 'filled'),
    status: decode(PB_STATUSES, order.status, 'status'),
    postOnly: order.postOnly,
    reason: order.reason,
    priority: safe(order.priority, 'priority'),
    createdAt: order.createdAt === undefined ? new Date(0) : timestampDate(order.createdAt),
    updatedAt: order.updatedAt === undefined ? new Date(0) : timestampDate(order.updatedAt),
  };
}

export function fromSubmitResponse(response: SubmitResponse): Submitted {
  const fills: Fill[] = response.fills.map((fill) => ({
    tradeId: safe(fill.tradeId, 'trade_id'),
    orderId: safe(fill.orderId, 'order_id'),
    price: safe(fill.price, 'price'),
    quantity: safe(fill.quantity, 'quantity'),
    maker: fill.maker,
  }));
  return { result: { order: fromEngineOrder(response.order), fills }, replayed: response.replayed };
}

/** For the client: a message to send (protobuf-es `create` of the init shape). */
export const submitRequest = (command: OrderCommand): SubmitRequest =>
  create(SubmitRequestSchema, toSubmitRequest(command));
