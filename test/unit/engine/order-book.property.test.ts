import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  OrderBook,
  type BookCommand,
  type EngineEvent,
  type OpenOrder,
  type SelfTradePrevention,
  type SymbolSpec,
} from '../../../src/engine/index.js';
import { ReferenceBook } from './reference-model.js';

const SPECS: SymbolSpec[] = [
  // Band of 5 % around 100 (95..105 until the first trade) and a small maximum quantity.
  {
    symbol: 'BAND',
    tickSize: 1,
    lotSize: 1,
    minQuantity: 1,
    maxQuantity: 20,
    priceBand: { maxDeviationBps: 500, referencePrice: 100 },
  },
  // Coarse ticks and lots, so their rejections happen often.
  { symbol: 'COARSE', tickSize: 2, lotSize: 3, minQuantity: 3, maxQuantity: 30 },
  { symbol: 'PLAIN', tickSize: 1, lotSize: 1, minQuantity: 1, maxQuantity: 1_000 },
];

/**
 * Commands tuned to `spec`: mostly valid prices (multiples of the tick around 100) and
 * quantities (a few lots), a few invalid ones, a handful of order ids so that cancels, amends
 * and duplicates hit real orders, and three owners so that self-trades happen.
 */
function commandFor(spec: SymbolSpec): fc.Arbitrary<BookCommand> {
  const { tickSize, lotSize } = spec;
  const orderId = fc.integer({ min: 1, max: 20 });
  const price = fc.oneof(
    {
      weight: 12,
      arbitrary: fc
        .integer({ min: Math.ceil(95 / tickSize), max: Math.floor(105 / tickSize) })
        .map((ticks) => ticks * tickSize),
    },
    { weight: 1, arbitrary: fc.integer({ min: -1, max: 115 }) },
  );
  const quantity = fc.oneof(
    { weight: 12, arbitrary: fc.integer({ min: 1, max: 8 }).map((lots) => lots * lotSize) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 40 }) },
  );
  const place = fc.record({
    kind: fc.constant('place' as const),
    orderId,
    ownerId: fc.integer({ min: 1, max: 3 }),
    side: fc.constantFrom('buy' as const, 'sell' as const),
    type: fc.constantFrom('limit' as const, 'limit' as const, 'limit' as const, 'market' as const),
    timeInForce: fc.constantFrom(
      'GTC' as const,
      'GTC' as const,
      'GTC' as const,
      'IOC' as const,
      'FOK' as const,
    ),
    price,
    quantity,
    postOnly: fc.constantFrom(false, false, false, false, false, false, false, true),
  });
  const cancel = fc.record({ kind: fc.constant('cancel' as const), orderId });
  const amend = fc.record({
    kind: fc.constant('amend' as const),
    orderId,
    price: fc.option(price, { nil: undefined }),
    quantity: fc.option(quantity, { nil: undefined }),
  });
  return fc.oneof(
    { arbitrary: place, weight: 6 },
    { arbitrary: cancel, weight: 1 },
    { arbitrary: amend, weight: 2 },
  );
}

const scenario = fc.constantFrom(...SPECS).chain((spec) =>
  fc.record({
    spec: fc.constant(spec),
    stp: fc.constantFrom<SelfTradePrevention>('cancel-resting', 'cancel-incoming', 'cancel-both'),
    commands: fc.array(commandFor(spec), { minLength: 1, maxLength: 150, size: 'max' }),
  }),
);

const RUNS = { numRuns: 300 };
const FULL_DEPTH = 1_000;

/** The reference model does not word its reasons; compare the codes. */
function withoutReasons(events: readonly EngineEvent[]): EngineEvent[] {
  return events.map((event) => (event.type === 'rejected' ? { ...event, reason: '' } : event));
}

describe('order book against the reference model', () => {
  test('produces the same events, book, open orders and state for any command sequence', () => {
    fc.assert(
      fc.property(scenario, ({ spec, stp, commands }) => {
        const book = new OrderBook(spec, { selfTradePrevention: stp });
        const model = new ReferenceBook(spec, stp);
        for (const cmd of commands) {
          assert.deepEqual(withoutReasons(book.execute(cmd)), model.execute(cmd));
          assert.deepEqual(book.snapshot(FULL_DEPTH), model.snapshot());
          assert.deepEqual(book.openOrders(), model.openOrders());
          assert.deepEqual(book.state(), model.state());
        }
      }),
      RUNS,
    );
  });
});

interface Ledger {
  placed: number;
  filled: number;
  cancelled: number;
}

function priorityOrder(a: OpenOrder, b: OpenOrder): boolean {
  // True when a is ahead of b in price-time priority on the same side.
  if (a.price !== b.price) return a.side === 'buy' ? a.price > b.price : a.price < b.price;
  return a.priority < b.priority;
}

describe('order book invariants', () => {
  test('hold after every command', () => {
    fc.assert(
      fc.property(scenario, ({ spec, stp, commands }) => {
        const book = new OrderBook(spec, { selfTradePrevention: stp });
        const ledgers = new Map<number, Ledger>();
        for (const cmd of commands) {
          const before = new Map(book.openOrders().map((order) => [order.orderId, order]));
          const events = book.execute(cmd);
          const gone = new Set<number>();
          let takerLimit: { side: string; price: number } | undefined;
          for (const event of events) {
            switch (event.type) {
              case 'accepted':
                ledgers.set(event.orderId, { placed: event.quantity, filled: 0, cancelled: 0 });
                takerLimit =
                  event.orderType === 'limit'
                    ? { side: event.side, price: event.price }
                    : undefined;
                break;
              case 'amended': {
                const previous = before.get(event.orderId)!;
                const ledger = ledgers.get(event.orderId)!;
                const delta = event.quantity - previous.quantity;
                if (delta > 0) ledger.placed += delta;
                else ledger.cancelled -= delta;
                takerLimit = { side: previous.side, price: event.price };
                break;
              }
              case 'trade': {
                ledgers.get(event.makerOrderId)!.filled += event.quantity;
                ledgers.get(event.takerOrderId)!.filled += event.quantity;
                // No trade at a price worse than the taker's limit.
                if (takerLimit !== undefined) {
                  if (event.takerSide === 'buy') assert.ok(event.price <= takerLimit.price);
                  else assert.ok(event.price >= takerLimit.price);
                }
                // The maker traded at its own price, and every order ahead of it in price-time
                // priority (FIFO within a level) had already left the book.
                const maker = before.get(event.makerOrderId)!;
                assert.equal(event.price, maker.price);
                for (const other of before.values()) {
                  if (other.side === maker.side && priorityOrder(other, maker)) {
                    const crosses =
                      other.side === 'sell'
                        ? other.price <= (takerLimit?.price ?? Infinity)
                        : other.price >= (takerLimit?.price ?? -Infinity);
                    if (crosses) assert.ok(gone.has(other.orderId), 'an order ahead was skipped');
                  }
                }
                break;
              }
              case 'done':
                ledgers.get(event.orderId)!.cancelled += event.remaining;
                gone.add(event.orderId);
                break;
              default:
                break;
            }
          }

          // Quantities conserved per order: placed = filled + open + cancelled.
          for (const [id, ledger] of ledgers) {
            const open = book.order(id);
            const openQuantity = open === undefined ? 0 : open.quantity - open.filled;
            assert.equal(ledger.placed, ledger.filled + openQuantity + ledger.cancelled);
            if (open !== undefined) assert.equal(open.filled, ledger.filled);
            else ledgers.delete(id);
          }

          // No crossed book, and levels are the sum of their open orders.
          const { bids, asks } = book.snapshot(FULL_DEPTH);
          const bestBid = bids[0];
          const bestAsk = asks[0];
          if (bestBid !== undefined && bestAsk !== undefined)
            assert.ok(bestBid.price < bestAsk.price);
          const sums = new Map<string, number>();
          for (const order of book.openOrders()) {
            const key = `${order.side}:${order.price}`;
            sums.set(key, (sums.get(key) ?? 0) + order.quantity - order.filled);
          }
          const levels = [
            ...bids.map((level) => [`buy:${level.price}`, level.quantity] as const),
            ...asks.map((level) => [`sell:${level.price}`, level.quantity] as const),
          ];
          assert.deepEqual(new Map(levels), sums);
        }
      }),
      RUNS,
    );
  });
});

describe('deterministic replay', () => {
  test('the same commands give byte-identical events, and a restored book replays the rest identically', () => {
    fc.assert(
      fc.property(scenario, fc.nat(), ({ spec, stp, commands }, splitSeed) => {
        const options = { selfTradePrevention: stp, emitLevelChanges: true };
        const split = commands.length === 0 ? 0 : splitSeed % commands.length;
        const original = new OrderBook(spec, options);
        const rerun = new OrderBook(spec, options);
        const head = commands.slice(0, split);
        const tail = commands.slice(split);
        assert.equal(
          JSON.stringify(head.map((cmd) => original.execute(cmd))),
          JSON.stringify(head.map((cmd) => rerun.execute(cmd))),
        );
        const restored = OrderBook.restore(spec, options, original.openOrders(), original.state());
        assert.equal(restored.checksum(), original.checksum());
        assert.equal(
          JSON.stringify(tail.map((cmd) => restored.execute(cmd))),
          JSON.stringify(tail.map((cmd) => original.execute(cmd))),
        );
      }),
      RUNS,
    );
  });
});

describe('level changes', () => {
  test('applied to a copy of the book, they reproduce the full book after every command', () => {
    fc.assert(
      fc.property(scenario, ({ spec, stp, commands }) => {
        const book = new OrderBook(spec, { selfTradePrevention: stp, emitLevelChanges: true });
        const copy = { buy: new Map<number, number>(), sell: new Map<number, number>() };
        for (const cmd of commands) {
          for (const event of book.execute(cmd)) {
            if (event.type !== 'level') continue;
            if (event.quantity === 0) copy[event.side].delete(event.price);
            else copy[event.side].set(event.price, event.quantity);
          }
          const { bids, asks } = book.snapshot(FULL_DEPTH);
          assert.deepEqual(copy.buy, new Map(bids.map((level) => [level.price, level.quantity])));
          assert.deepEqual(copy.sell, new Map(asks.map((level) => [level.price, level.quantity])));
        }
      }),
      RUNS,
    );
  });
});
