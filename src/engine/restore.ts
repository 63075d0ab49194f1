import type { BookState, OpenOrder } from './types.js';

function isPositiveSafeInteger(value: number): boolean {
  return Number.isSafeInteger(value) && value > 0;
}

/**
 * Checks persisted open orders and book state and returns the orders in time priority. A
 * violation means the stored data is corrupt, so it throws rather than guessing.
 */
export function restoreOrders(openOrders: readonly OpenOrder[], state: BookState): OpenOrder[] {
  const fail = (what: string): never => {
    throw new RangeError(`restore: ${what}`);
  };
  if (!isPositiveSafeInteger(state.nextTradeId))
    fail('nextTradeId must be a positive safe integer');
  if (!isPositiveSafeInteger(state.nextPriority)) {
    fail('nextPriority must be a positive safe integer');
  }
  if (!Number.isSafeInteger(state.lastTradePrice) || state.lastTradePrice < 0) {
    fail('lastTradePrice must be a safe integer >= 0');
  }
  const ids = new Set<number>();
  const priorities = new Set<number>();
  for (const order of openOrders) {
    const label = `order ${String(order.orderId)}`;
    if (!isPositiveSafeInteger(order.orderId))
      fail(`${label}: orderId must be a positive safe integer`);
    if (ids.has(order.orderId)) fail(`${label}: duplicate orderId`);
    if (!isPositiveSafeInteger(order.ownerId))
      fail(`${label}: ownerId must be a positive safe integer`);
    const side: string = order.side;
    if (side !== 'buy' && side !== 'sell') fail(`${label}: side must be buy or sell`);
    if (!isPositiveSafeInteger(order.price))
      fail(`${label}: price must be a positive safe integer`);
    if (!isPositiveSafeInteger(order.quantity)) {
      fail(`${label}: quantity must be a positive safe integer`);
    }
    if (!Number.isSafeInteger(order.filled) || order.filled < 0 || order.filled >= order.quantity) {
      fail(`${label}: filled must be a whole number in [0, quantity)`);
    }
    if (!isPositiveSafeInteger(order.priority) || order.priority >= state.nextPriority) {
      fail(`${label}: priority must be a positive safe integer below nextPriority`);
    }
    if (priorities.has(order.priority)) fail(`${label}: duplicate priority`);
    ids.add(order.orderId);
    priorities.add(order.priority);
  }
  return [...openOrders].sort((a, b) => a.priority - b.priority);
}
