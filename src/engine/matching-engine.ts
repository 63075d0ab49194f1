import { rejected, type EngineEvent } from './events.js';
import { OrderBook } from './order-book.js';
import type { BookState, EngineCommand, OpenOrder, OrderBookOptions, SymbolSpec } from './types.js';

/** Routes commands to the order book of their symbol; one engine per shard of symbols. */
export class MatchingEngine {
  private readonly books = new Map<string, OrderBook>();
  private readonly specs = new Map<string, SymbolSpec>();
  private readonly options: OrderBookOptions;

  constructor(specs: readonly SymbolSpec[], options: OrderBookOptions = {}) {
    this.options = options;
    for (const spec of specs) {
      if (this.books.has(spec.symbol)) {
        throw new RangeError(`symbol ${spec.symbol} is listed twice`);
      }
      this.specs.set(spec.symbol, spec);
      this.books.set(spec.symbol, new OrderBook(spec, options));
    }
  }

  execute(command: EngineCommand, out: EngineEvent[] = []): EngineEvent[] {
    const book = this.books.get(command.symbol);
    if (book === undefined) {
      out.push(
        rejected(
          command.kind,
          command.orderId,
          'unknown-symbol',
          `symbol ${command.symbol} is not traded here; known: ${[...this.books.keys()].join(', ')}`,
        ),
      );
      return out;
    }
    return book.execute(command, out);
  }

  book(symbol: string): OrderBook | undefined {
    return this.books.get(symbol);
  }

  symbols(): string[] {
    return [...this.books.keys()];
  }

  /** Replaces a symbol's book with one rebuilt from its open orders (see OrderBook.restore). */
  restoreBook(symbol: string, openOrders: readonly OpenOrder[], state: BookState): OrderBook {
    const spec = this.specs.get(symbol);
    if (spec === undefined) throw new RangeError(`symbol ${symbol} is not traded here`);
    const book = OrderBook.restore(spec, this.options, openOrders, state);
    this.books.set(symbol, book);
    return book;
  }
}
