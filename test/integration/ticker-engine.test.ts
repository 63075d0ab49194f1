import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Clock } from '../../src/domain/clock.js';
import type { PlaceOrderRequest } from '../../src/domain/orders/order-requests.js';
import type { StreamEntry } from '../../src/domain/ports/stream-log.port.js';
import { tickerPayload, type TickerPayload } from '../../src/domain/streams/stream-payloads.js';
import { OrdersHarness } from '../unit/orders/support/orders-harness.js';

const TICKER = 'ticker.BTC-USD';
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** A clock the test moves; the engine reads its time from it. */
class ManualClock implements Clock {
  constructor(public ms: number) {}
  now(): Date {
    return new Date(this.ms);
  }
}

let next = 0;
const order = (side: 'buy' | 'sell', price: number, quantity: number): PlaceOrderRequest => ({
  clientOrderId: `t-${++next}`,
  symbol: 'BTC-USD',
  side,
  type: 'limit',
  timeInForce: 'GTC',
  price: BigInt(price),
  quantity: BigInt(quantity),
  postOnly: false,
});

const parse = (entry: StreamEntry | undefined): TickerPayload =>
  tickerPayload.parse(JSON.parse(entry?.payload ?? 'null'));

/**
 * The engine's side of `ticker.<symbol>` on the real PostgreSQL: what its batches publish, what
 * a new leader restores from the fills, and the window rolling with no trade to carry it.
 */
describe('tickers published by the engine', () => {
  const clock = new ManualClock(Date.parse('2026-03-01T12:00:30Z'));
  const harness = new OrdersHarness(
    { batching: { maxBatchSize: 16, maxBatchDelayMs: 1 }, tickerRollCheckMs: 20 },
    { clock },
  );
  before(() => harness.start());
  after(() => harness.stop());

  const log = () => harness.orders.streamLog;
  /** Every ticker entry published so far (the relay has caught up), oldest first. */
  const tickers = async (): Promise<StreamEntry[]> => {
    for (let i = 0; i < 200 && (await harness.orders.relay.measure()).pending > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return log().read(TICKER, 0, 10_000);
  };
  /** The ticker entry `seq`, once published (a restarted module has a log of its own). */
  const untilSeq = async (seq: number): Promise<StreamEntry> => {
    for (let i = 0; i < 500; i++) {
      const [entry] = await log().read(TICKER, seq - 1, 1);
      if (entry !== undefined) return entry;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`no ticker entry ${seq}`);
  };
  const head = () => log().lastSeq(TICKER);

  test('a new leader publishes its ticker at once; each trading batch publishes the figures its trades imply', async () => {
    const first = await untilSeq(1);
    assert.equal(parse(first).trades, 0);
    const maker = await harness.user();
    const taker = await harness.user();
    await harness.orders.orders.place(maker, order('sell', 66_000, 3));
    await harness.orders.orders.place(maker, order('sell', 66_500, 2));
    await harness.orders.orders.place(maker, order('buy', 64_000, 2));
    clock.ms += 5 * MINUTE;
    await harness.orders.orders.place(taker, order('buy', 66_000, 2));
    clock.ms += MINUTE;
    await harness.orders.orders.place(taker, order('buy', 66_500, 3));

    const entries = await tickers();
    const last = parse(entries.at(-1));

    assert.deepEqual(
      entries.map((e) => e.seq),
      entries.map((_, i) => i + 1),
      'contiguous seqs',
    );
    assert.deepEqual(last, {
      type: 'ticker',
      timeMs: clock.ms,
      windowStartMs: Math.floor(clock.ms / MINUTE) * MINUTE - DAY,
      lastPrice: 66_500,
      lastQuantity: 2,
      bidPrice: 64_000,
      bidQuantity: 2,
      askPrice: 0,
      askQuantity: 0,
      open: 66_000,
      high: 66_500,
      low: 66_000,
      volume: 5,
      // 1 tick × 1 lot is 1 cent on BTC-USD.
      quoteVolume: String(66_000 * 3 + 66_500 * 2),
      trades: 3,
      change: 500,
      changeBp: 76, // 500 / 66,000 = 0.7576 %
    });
  });

  test('a new leader restores the 24h figures from the fills and publishes them unchanged', async () => {
    const seq = await head();
    const before = parse(await untilSeq(seq));

    await harness.restart();

    const restored = parse(await untilSeq(seq + 1));
    assert.deepEqual(restored, before);
  });

  test('a minute leaving the window publishes the ticker without a trade to carry it', async () => {
    const seq = await head();
    const traded = parse(await untilSeq(seq));

    // The first trade's minute (a minute before the last trade's) leaves; nothing else trades.
    clock.ms = Math.floor(traded.timeMs / MINUTE) * MINUTE - MINUTE + DAY + MINUTE;
    const rolled = parse(await untilSeq(seq + 1));

    assert.deepEqual(
      [rolled.trades, rolled.volume, rolled.quoteVolume, rolled.open, rolled.high, rolled.low],
      [2, 3, String(66_000 + 66_500 * 2), 66_000, 66_500, 66_000],
    );
    assert.equal(rolled.lastPrice, 66_500);

    clock.ms += MINUTE;
    const emptied = parse(await untilSeq(seq + 2));
    assert.deepEqual(
      [emptied.trades, emptied.volume, emptied.open, emptied.high, emptied.low, emptied.change],
      [0, 0, 66_500, 66_500, 66_500, 0],
    );
  });
});
