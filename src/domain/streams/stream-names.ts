/**
 * Stream names as the engine's outbox writes them: `book.<symbol>`, `trades.<symbol>`,
 * `ticker.<symbol>`, `orders.<userId>`.
 */
export type StreamKind = 'book' | 'trades' | 'ticker' | 'orders';

/** The public streams of a symbol, in the order a Subscribe opens them. */
export type MarketStreamKind = Exclude<StreamKind, 'orders'>;
export const MARKET_STREAM_KINDS: readonly MarketStreamKind[] = ['book', 'trades', 'ticker'];

export interface StreamName {
  readonly kind: StreamKind;
  /** The symbol, or the user id for `orders`. */
  readonly key: string;
}

export const bookStream = (symbol: string) => `book.${symbol}`;
export const tradeStream = (symbol: string) => `trades.${symbol}`;
export const tickerStream = (symbol: string) => `ticker.${symbol}`;
export const userStream = (userId: number) => `orders.${userId}`;
export const marketStream = (kind: MarketStreamKind, symbol: string) => `${kind}.${symbol}`;

const KINDS: ReadonlySet<string> = new Set<StreamKind>(['book', 'trades', 'ticker', 'orders']);

/**
 * The kind of a stream name already checked to be one of ours (`book` for any other): read
 * per message, so no parsing and no allocation.
 */
export function kindOfStream(name: string): StreamKind {
  if (name.startsWith('book.')) return 'book';
  if (name.startsWith('trades.')) return 'trades';
  if (name.startsWith('ticker.')) return 'ticker';
  return name.startsWith('orders.') ? 'orders' : 'book';
}

/** The kind and key of a stream name, or undefined for a name that is none of ours. */
export function parseStreamName(name: string): StreamName | undefined {
  const dot = name.indexOf('.');
  const kind = name.slice(0, dot);
  const key = name.slice(dot + 1);
  if (dot <= 0 || key === '' || !KINDS.has(kind)) return undefined;
  return { kind: kind as StreamKind, key };
}
