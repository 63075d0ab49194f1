import {
  OrderBook,
  type EngineEvent,
  type OrderBookOptions,
  type PlaceOrder,
  type SymbolSpec,
} from '../../../src/engine/index.js';

/** A plain symbol: tick 1, lot 1, quantities 1..1000, no price band. */
export const SPEC: SymbolSpec = {
  symbol: 'TEST-USD',
  tickSize: 1,
  lotSize: 1,
  minQuantity: 1,
  maxQuantity: 1_000,
};

export function newBook(spec: Partial<SymbolSpec> = {}, options: OrderBookOptions = {}): OrderBook {
  return new OrderBook({ ...SPEC, ...spec }, options);
}

let nextId = 1_000_000;

/** A GTC limit order; the id defaults to a fresh one and the owner to 1. */
export function limit(
  side: PlaceOrder['side'],
  price: number,
  quantity: number,
  extra: Partial<PlaceOrder> = {},
): PlaceOrder {
  return {
    orderId: nextId++,
    ownerId: 1,
    side,
    type: 'limit',
    timeInForce: 'GTC',
    price,
    quantity,
    ...extra,
  };
}

export function market(
  side: PlaceOrder['side'],
  quantity: number,
  extra: Partial<PlaceOrder> = {},
): PlaceOrder {
  return limit(side, 0, quantity, { type: 'market', timeInForce: 'IOC', ...extra });
}

/** Places orders from distinct owners (2, 3, ...) so they never self-trade in a test. */
export function seed(book: OrderBook, orders: PlaceOrder[]): void {
  let owner = 2;
  for (const order of orders) book.place({ ...order, ownerId: owner++ });
}

export function types(events: readonly EngineEvent[]): string[] {
  return events.map((event) => event.type);
}

export function ofType<T extends EngineEvent['type']>(
  events: readonly EngineEvent[],
  type: T,
): Extract<EngineEvent, { type: T }>[] {
  return events.filter((event): event is Extract<EngineEvent, { type: T }> => event.type === type);
}

/** The one rejection in `events`, failing the test when there is none. */
export function rejection(
  events: readonly EngineEvent[],
): Extract<EngineEvent, { type: 'rejected' }> {
  const [event] = ofType(events, 'rejected');
  if (event === undefined) throw new Error(`expected a rejection, got ${JSON.stringify(events)}`);
  return event;
}
