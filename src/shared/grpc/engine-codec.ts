import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { DomainError } from '../../domain/errors.js';
import type { OrderCommand, Submitted } from '../../domain/orders/order-engine.port.js';
import {
  SubmitRequestSchema,
  type SubmitResponseSchema,
  type SubmitRequest,
  type SubmitResponse,
} from '../../gen/trading/internal/v1/engine_pb.js';
import {
  fromEngineFill,
  fromEngineOrder,
  toEngineFill,
  toEngineOrder,
} from '../orders/order-messages.js';
import { PB_SIDES, PB_TIFS, PB_TYPES } from './order-enums.js';
import { knownEnum, safeInteger } from './wire-values.js';

/**
 * `trading.internal.v1.EngineService` messages ↔ the domain's engine port (`OrderCommand`,
 * `Submitted`), used by both ends of the api → engine call. Ids are safe integers in the
 * domain and int64 on the wire.
 */

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
  const userId = safeInteger(request.userId, 'user_id');
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
        side: knownEnum(PB_SIDES, place.side, 'side'),
        type: knownEnum(PB_TYPES, place.type, 'type'),
        timeInForce: knownEnum(PB_TIFS, place.timeInForce, 'time_in_force'),
        price: safeInteger(place.price, 'price'),
        quantity: safeInteger(place.quantity, 'quantity'),
        postOnly: place.postOnly,
      };
    }
    case 'cancel':
      return {
        kind: 'cancel',
        userId,
        symbol,
        orderId: safeInteger(command.value.orderId, 'order_id'),
      };
    case 'amend': {
      const { orderId, price, quantity } = command.value;
      return {
        kind: 'amend',
        userId,
        symbol,
        orderId: safeInteger(orderId, 'order_id'),
        ...(price === undefined ? {} : { price: safeInteger(price, 'price') }),
        ...(quantity === undefined ? {} : { quantity: safeInteger(quantity, 'quantity') }),
      };
    }
    case undefined:
      throw new DomainError('invalid_argument', 'a command (place, cancel or amend) is required', {
        field: 'command',
      });
  }
}

export function toSubmitResponse(
  submitted: Submitted,
): MessageInitShape<typeof SubmitResponseSchema> {
  const { order, fills } = submitted.result;
  return {
    order: toEngineOrder(order),
    fills: fills.map(toEngineFill),
    replayed: submitted.replayed,
  };
}

export function fromSubmitResponse(response: SubmitResponse): Submitted {
  return {
    result: { order: fromEngineOrder(response.order), fills: response.fills.map(fromEngineFill) },
    replayed: response.replayed,
  };
}

/** For the client: a message to send (protobuf-es `create` of the init shape). */
export const submitRequest = (command: OrderCommand): SubmitRequest =>
  create(SubmitRequestSchema, toSubmitRequest(command));
