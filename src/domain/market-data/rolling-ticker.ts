/**
 * A symbol's ticker: the last trade, the top of the book and the figures of a rolling 24-hour
 * window of trades, kept by the engine and published with each batch that changes them
 * (docs/protocol.md, "Tickers"). Pure: time comes in with each call, so the same trades give
 * the same figures on every leader, and a leader that restores the window from the fills
 * table publishes what its predecessor would have.
 *
 * The window is made of one bucket per minute that had trades. It starts on a whole minute,
 * 24 hours before the minute of "now", so it is 24 hours long plus the part of the current
 * minute that has passed (as Binance's rolling-window ticker). A bucket leaves it whole.
 */

export const TICKER_WINDOW_MS = 24 * 60 * 60 * 1_000;
export const TICKER_BUCKET_MS = 60 * 1_000;

/** The first instant the window ending at `nowMs` covers. */
export const windowStartMs = (nowMs: number): number =>
  Math.floor(nowMs / TICKER_BUCKET_MS) * TICKER_BUCKET_MS - TICKER_WINDOW_MS;

/** The trades of one minute (each bucket has at least one). */
export interface MinuteBucket {
  /** A multiple of TICKER_BUCKET_MS, ms since the epoch. */
  readonly startMs: number;
  /** Price of the minute's first trade, ticks. */
  readonly open: number;
  readonly high: number;
  readonly low: number;
  /** Lots traded. */
  readonly volume: number;
  /** What those lots cost, minor units of the quote asset. */
  readonly quoteVolume: bigint;
  readonly trades: number;
}

export interface TickerTrade {
  readonly price: number;
  readonly quantity: number;
  /** price × quantity in minor units of the quote asset (`quoteAmount` of the market). */
  readonly quoteAmount: bigint;
  readonly timeMs: number;
}

/** The best level of each side; price and quantity 0 for an empty side. */
export interface TopOfBook {
  readonly bidPrice: number;
  readonly bidQuantity: number;
  readonly askPrice: number;
  readonly askQuantity: number;
}

export interface TickerFigures extends TopOfBook {
  /** When these figures were taken (the engine batch's time): the window ends here. */
  readonly timeMs: number;
  readonly windowStartMs: number;
  /** The last trade ever, in or before the window; 0 before the first trade. */
  readonly lastPrice: number;
  readonly lastQuantity: number;
  /**
   * First, highest and lowest trade price in the window. With no trade in the window the
   * price has not moved in it: all three are the last price.
   */
  readonly open: number;
  readonly high: number;
  readonly low: number;
  /** Lots traded in the window. */
  readonly volume: number;
  /** Minor units of the quote asset traded in the window. */
  readonly quoteVolume: bigint;
  readonly trades: number;
  /** last - open, ticks. */
  readonly change: number;
  /** change / open in basis points (hundredths of a percent), rounded half away from zero. */
  readonly changeBp: number;
}

/** A window as stored (the fills table's trades per minute), and the last trade. */
export interface TickerState {
  /** Oldest first. */
  readonly buckets: readonly MinuteBucket[];
  readonly last: { readonly price: number; readonly quantity: number } | undefined;
}

type Bucket = { -readonly [K in keyof MinuteBucket]: MinuteBucket[K] };

export class RollingTicker {
  /** Oldest first, from `#head`: the buckets before it have left the window. */
  #buckets: Bucket[];
  #head = 0;
  #volume = 0;
  #quoteVolume = 0n;
  #trades = 0;
  #last: { price: number; quantity: number } | undefined;

  constructor(state: TickerState = { buckets: [], last: undefined }) {
    this.#buckets = state.buckets.map((bucket) => ({ ...bucket }));
    for (const bucket of this.#buckets) this.#add(bucket, 1);
    this.#last = state.last === undefined ? undefined : { ...state.last };
  }

  record(trade: TickerTrade): void {
    const startMs = Math.floor(trade.timeMs / TICKER_BUCKET_MS) * TICKER_BUCKET_MS;
    const newest = this.#buckets.at(-1);
    // A clock that stepped back (a new leader on another machine) adds to the newest minute,
    // so buckets stay in time order and leave the window in that order.
    if (newest !== undefined && this.#buckets.length > this.#head && startMs <= newest.startMs) {
      newest.high = Math.max(newest.high, trade.price);
      newest.low = Math.min(newest.low, trade.price);
      newest.volume += trade.quantity;
      newest.quoteVolume += trade.quoteAmount;
      newest.trades += 1;
    } else {
      this.#buckets.push({
        startMs,
        open: trade.price,
        high: trade.price,
        low: trade.price,
        volume: trade.quantity,
        quoteVolume: trade.quoteAmount,
        trades: 1,
      });
    }
    this.#volume += trade.quantity;
    this.#quoteVolume += trade.quoteAmount;
    this.#trades += 1;
    this.#last = { price: trade.price, quantity: trade.quantity };
  }

  /** Drops the buckets that have left the window at `nowMs`; true when there were any. */
  expire(nowMs: number): boolean {
    const start = windowStartMs(nowMs);
    let dropped = 0;
    for (let bucket = this.#buckets[this.#head]; bucket !== undefined && bucket.startMs < start;) {
      this.#add(bucket, -1);
      dropped += 1;
      bucket = this.#buckets[++this.#head];
    }
    // Spliced off in bulk once half the array has left, so a drop is O(1) amortised.
    if (this.#head > 0 && this.#head * 2 >= this.#buckets.length) {
      this.#buckets = this.#buckets.slice(this.#head);
      this.#head = 0;
    }
    return dropped > 0;
  }

  /** When the oldest bucket leaves the window (undefined: the window is empty). */
  nextExpiryMs(): number | undefined {
    const oldest = this.#buckets[this.#head];
    return oldest === undefined ? undefined : oldest.startMs + TICKER_WINDOW_MS + TICKER_BUCKET_MS;
  }

  /** The ticker at `nowMs` with the book's top as given; drops what has left the window. */
  figures(nowMs: number, top: TopOfBook): TickerFigures {
    this.expire(nowMs);
    const lastPrice = this.#last?.price ?? 0;
    const oldest = this.#buckets[this.#head];
    let open = lastPrice;
    let high = lastPrice;
    let low = lastPrice;
    if (oldest !== undefined) {
      open = oldest.open;
      high = oldest.high;
      low = oldest.low;
      for (let i = this.#head + 1; i < this.#buckets.length; i++) {
        const bucket = this.#buckets[i];
        if (bucket === undefined) continue;
        if (bucket.high > high) high = bucket.high;
        if (bucket.low < low) low = bucket.low;
      }
    }
    const change = lastPrice - open;
    return {
      timeMs: nowMs,
      windowStartMs: windowStartMs(nowMs),
      lastPrice,
      lastQuantity: this.#last?.quantity ?? 0,
      ...top,
      open,
      high,
      low,
      volume: this.#volume,
      quoteVolume: this.#quoteVolume,
      trades: this.#trades,
      change,
      changeBp: basisPoints(change, open),
    };
  }

  #add(bucket: MinuteBucket, sign: 1 | -1): void {
    this.#volume += sign * bucket.volume;
    this.#quoteVolume += BigInt(sign) * bucket.quoteVolume;
    this.#trades += sign * bucket.trades;
  }
}

/** `change / base` in basis points, rounded half away from zero, in integers (0 when base is 0). */
export function basisPoints(change: number, base: number): number {
  if (base <= 0) return 0;
  const magnitude = Math.floor((Math.abs(change) * 20_000 + base) / (2 * base));
  return change < 0 ? -magnitude : magnitude;
}
