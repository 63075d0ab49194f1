import { rejected, type CommandKind, type CommandRejected } from './events.js';
import type { PlaceOrder } from './types.js';

/**
 * The checks of a new order that need no book: ids, side, type, time in force and how they
 * combine. The fields are typed as unions, but commands may come from a log or the wire, so
 * they are checked at run time too. Returns undefined when the order is well formed.
 */
export function checkOrderFields(command: PlaceOrder): CommandRejected | undefined {
  const { orderId, ownerId } = command;
  const side: string = command.side;
  const type: string = command.type;
  const timeInForce: string = command.timeInForce;
  if (!Number.isSafeInteger(orderId) || orderId <= 0) {
    return rejected(
      'place',
      orderId,
      'invalid-order-id',
      `order id must be a positive safe integer, got ${String(orderId)}`,
    );
  }
  if (!Number.isSafeInteger(ownerId) || ownerId <= 0) {
    return rejected(
      'place',
      orderId,
      'invalid-owner-id',
      `owner id must be a positive safe integer, got ${String(ownerId)}`,
    );
  }
  if (side !== 'buy' && side !== 'sell') {
    return rejected('place', orderId, 'invalid-side', `side must be buy or sell, got ${side}`);
  }
  if (type !== 'limit' && type !== 'market') {
    return rejected(
      'place',
      orderId,
      'invalid-order-type',
      `order type must be limit or market, got ${type}`,
    );
  }
  if (timeInForce !== 'GTC' && timeInForce !== 'IOC' && timeInForce !== 'FOK') {
    return rejected(
      'place',
      orderId,
      'invalid-time-in-force',
      `time in force must be GTC, IOC or FOK, got ${timeInForce}`,
    );
  }
  if (type === 'market' && timeInForce === 'GTC') {
    return rejected(
      'place',
      orderId,
      'invalid-time-in-force',
      'a market order cannot rest on the book: use IOC or FOK',
    );
  }
  if (command.postOnly === true && (type === 'market' || timeInForce !== 'GTC')) {
    return rejected(
      'place',
      orderId,
      'invalid-post-only',
      'post-only is only allowed on GTC limit orders',
    );
  }
  return undefined;
}

export function duplicateOrderId(orderId: number, symbol: string): CommandRejected {
  return rejected(
    'place',
    orderId,
    'duplicate-order-id',
    `order id ${orderId} is already open on ${symbol}`,
  );
}

export function unknownOrder(
  command: CommandKind,
  orderId: number,
  symbol: string,
): CommandRejected {
  return rejected(
    command,
    orderId,
    'unknown-order',
    `order ${String(orderId)} is not open on ${symbol}: unknown, filled or cancelled`,
  );
}

export function amendNoChange(orderId: number, price: number, quantity: number): CommandRejected {
  return rejected(
    'amend',
    orderId,
    'amend-no-change',
    `amend of order ${orderId} changes neither its price ${price} nor its quantity ${quantity}`,
  );
}

export function amendBelowFilled(
  orderId: number,
  quantity: number,
  filled: number,
): CommandRejected {
  return rejected(
    'amend',
    orderId,
    'amend-below-filled',
    `quantity ${quantity} must exceed the ${filled} already filled of order ${orderId}; ` +
      'cancel it instead',
  );
}

/** `touch` is the opposite side's best price, which the order would have traded against. */
export function postOnlyWouldTake(
  command: CommandKind,
  orderId: number,
  isBuy: boolean,
  price: number,
  touch: number,
): CommandRejected {
  return rejected(
    command,
    orderId,
    'post-only-would-take',
    `post-only ${isBuy ? 'buy' : 'sell'} at ${price} would trade against the ` +
      `${isBuy ? 'best ask' : 'best bid'} ${touch}`,
  );
}
