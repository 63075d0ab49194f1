import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  basisPoints,
  RollingTicker,
  TICKER_BUCKET_MS,
  TICKER_WINDOW_MS,
  windowStartMs,
  type TickerTrade,
  type TopOfBook,
} from '../../../src/domain/market-data/rolling-ticker.js';

const T0 = Date.parse('2026-03-01T12:00:00Z');
const MINUTE = TICKER_BUCKET_MS;
const HOUR = 60 * MINUTE;
const NO_BOOK: TopOfBook = { bidPrice: 0, bidQuantity: 0, askPrice: 0, askQuantity: 0 };

/** A trade at `price` × `quantity`, costing price × quantity minor units (one per tick-lot). */
const trade = (timeMs: number, price: number, quantity: number): TickerTrade => ({
  timeMs,
  price,
  quantity,
  quoteAmount: BigInt(price * quantity),
});

describe('RollingTicker', () => {
  test('before any trade every figure is 0 and the book top is passed through', () => {
    const top = { bidPrice: 99, bidQuantity: 2, askPrice: 101, askQuantity: 3 };

    const figures = new RollingTicker().figures(T0, top);

    assert.deepEqual(figures, {
      timeMs: T0,
      windowStartMs: T0 - TICKER_WINDOW_MS,
      lastPrice: 0,
      lastQuantity: 0,
      ...top,
      open: 0,
      high: 0,
      low: 0,
      volume: 0,
      quoteVolume: 0n,
      trades: 0,
      change: 0,
      changeBp: 0,
    });
  });

  test('open, high, low, last, volumes, count and change follow the trades of the window', () => {
    const ticker = new RollingTicker();
    ticker.record(trade(T0, 100, 2));
    ticker.record(trade(T0 + 10 * MINUTE, 120, 1));
    ticker.record(trade(T0 + 10 * MINUTE + 5_000, 90, 4));
    ticker.record(trade(T0 + 2 * HOUR, 110, 3));

    const figures = ticker.figures(T0 + 3 * HOUR, NO_BOOK);

    assert.equal(figures.open, 100);
    assert.equal(figures.high, 120);
    assert.equal(figures.low, 90);
    assert.equal(figures.lastPrice, 110);
    assert.equal(figures.lastQuantity, 3);
    assert.equal(figures.volume, 10);
    assert.equal(figures.quoteVolume, 200n + 120n + 360n + 330n);
    assert.equal(figures.trades, 4);
    assert.equal(figures.change, 10);
    assert.equal(figures.changeBp, 1_000); // +10.00 %
  });

  test('a minute leaves the window whole, 24 hours after the minute it started', () => {
    const ticker = new RollingTicker();
    ticker.record(trade(T0 + 30_000, 100, 1)); // in the minute starting at T0
    ticker.record(trade(T0 + MINUTE, 105, 2)); // the next minute

    const justBefore = ticker.figures(T0 + TICKER_WINDOW_MS + MINUTE - 1, NO_BOOK);
    assert.equal(justBefore.trades, 2);
    assert.equal(justBefore.windowStartMs, T0);
    assert.equal(ticker.nextExpiryMs(), T0 + TICKER_WINDOW_MS + MINUTE);

    const after = ticker.figures(T0 + TICKER_WINDOW_MS + MINUTE, NO_BOOK);
    assert.equal(after.trades, 1);
    assert.equal(after.volume, 2);
    assert.equal(after.quoteVolume, 210n);
    assert.equal(after.open, 105);
    assert.equal(after.high, 105);
    assert.equal(after.low, 105);
    assert.equal(after.change, 0);
  });

  test('the high and low leave with their minute: the rest of the window sets them again', () => {
    const ticker = new RollingTicker();
    ticker.record(trade(T0, 500, 1)); // the high
    ticker.record(trade(T0 + HOUR, 10, 1)); // the low
    ticker.record(trade(T0 + 2 * HOUR, 200, 1));
    ticker.record(trade(T0 + 3 * HOUR, 150, 1));

    const first = ticker.figures(T0 + TICKER_WINDOW_MS + MINUTE, NO_BOOK);
    assert.deepEqual([first.open, first.high, first.low], [10, 200, 10]);

    const second = ticker.figures(T0 + TICKER_WINDOW_MS + HOUR + MINUTE, NO_BOOK);
    assert.deepEqual([second.open, second.high, second.low], [200, 200, 150]);
    assert.equal(second.change, -50);
    assert.equal(second.changeBp, -2_500);
  });

  test('an emptied window keeps the last trade and shows a price that has not moved', () => {
    const ticker = new RollingTicker();
    ticker.record(trade(T0, 100, 1));
    ticker.record(trade(T0 + 5 * MINUTE, 130, 7));

    assert.equal(ticker.expire(T0 + 2 * TICKER_WINDOW_MS), true);
    const figures = ticker.figures(T0 + 2 * TICKER_WINDOW_MS, NO_BOOK);

    assert.equal(ticker.nextExpiryMs(), undefined);
    assert.deepEqual(
      [figures.lastPrice, figures.lastQuantity, figures.open, figures.high, figures.low],
      [130, 7, 130, 130, 130],
    );
    assert.deepEqual([figures.volume, figures.quoteVolume, figures.trades], [0, 0n, 0]);
    assert.deepEqual([figures.change, figures.changeBp], [0, 0]);
  });

  test('expire says whether anything left, and nothing leaves before its time', () => {
    const ticker = new RollingTicker();
    ticker.record(trade(T0, 100, 1));

    assert.equal(ticker.expire(T0 + TICKER_WINDOW_MS), false);
    assert.equal(ticker.expire(T0 + TICKER_WINDOW_MS + MINUTE), true);
    assert.equal(ticker.expire(T0 + TICKER_WINDOW_MS + 2 * MINUTE), false);
  });

  test('a window restored from its stored minutes gives the figures of the one that recorded the trades', () => {
    const live = new RollingTicker();
    const trades = [
      trade(T0, 100, 2),
      trade(T0 + 20_000, 104, 1),
      trade(T0 + 3 * HOUR, 97, 5),
      trade(T0 + 3 * HOUR + 59_999, 99, 1),
    ];
    for (const t of trades) live.record(t);
    const restored = new RollingTicker({
      buckets: [
        { startMs: T0, open: 100, high: 104, low: 100, volume: 3, quoteVolume: 304n, trades: 2 },
        {
          startMs: T0 + 3 * HOUR,
          open: 97,
          high: 99,
          low: 97,
          volume: 6,
          quoteVolume: 584n,
          trades: 2,
        },
      ],
      last: { price: 99, quantity: 1 },
    });

    for (const at of [T0 + 4 * HOUR, T0 + TICKER_WINDOW_MS + MINUTE]) {
      assert.deepEqual(restored.figures(at, NO_BOOK), live.figures(at, NO_BOOK));
    }
  });

  test('a trade timed before the newest minute (a clock that stepped back) joins the newest minute', () => {
    const ticker = new RollingTicker();
    ticker.record(trade(T0 + 10 * MINUTE, 100, 1));
    ticker.record(trade(T0 + 9 * MINUTE, 80, 1));

    assert.equal(ticker.nextExpiryMs(), T0 + 10 * MINUTE + TICKER_WINDOW_MS + MINUTE);
    const figures = ticker.figures(T0 + 11 * MINUTE, NO_BOOK);
    assert.deepEqual([figures.open, figures.low, figures.trades], [100, 80, 2]);
  });

  test('a window over a day of trades every minute drops one minute per minute', () => {
    const ticker = new RollingTicker();
    const minutes = 2 * 24 * 60;
    for (let i = 0; i < minutes; i++) ticker.record(trade(T0 + i * MINUTE, 100 + (i % 7), 1));

    const figures = ticker.figures(T0 + (minutes - 1) * MINUTE, NO_BOOK);

    // The minutes from the window's start to the current one: 24 hours of them, plus the current.
    assert.equal(figures.trades, 24 * 60 + 1);
    assert.equal(figures.windowStartMs, T0 + (minutes - 1) * MINUTE - TICKER_WINDOW_MS);
  });
});

describe('basisPoints', () => {
  test('rounds half away from zero, in integers', () => {
    assert.equal(basisPoints(1, 8), 1_250); // 12.5 %
    assert.equal(basisPoints(1, 30_000), 0); // 0.33 bp
    assert.equal(basisPoints(1, 20_000), 1); // 0.5 bp rounds up
    assert.equal(basisPoints(-1, 20_000), -1); // and away from zero below it
    assert.equal(basisPoints(-325, 65_000), -50);
    assert.equal(basisPoints(5, 0), 0);
  });
});

test('windowStartMs is a whole minute 24 hours before the current minute', () => {
  assert.equal(windowStartMs(T0 + 59_999), T0 - TICKER_WINDOW_MS);
  assert.equal(windowStartMs(T0 + 60_000), T0 + MINUTE - TICKER_WINDOW_MS);
});
