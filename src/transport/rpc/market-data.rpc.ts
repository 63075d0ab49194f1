import type { ServiceImpl } from '@connectrpc/connect';
import { DomainError } from '../../domain/errors.js';
import type { BookReplicas } from '../../domain/streams/book-replicas.js';
import type { StreamGateway } from '../../domain/streams/stream-gateway.js';
import { bookStream, tradeStream } from '../../domain/streams/stream-names.js';
import type { StreamLog } from '../../domain/ports/stream-log.port.js';
import type { MarketDataService } from '../../gen/trading/v1/market_data_pb.js';
import { orderBookMessage, subscribeMessage } from './stream-messages.js';
import { positionsOf } from './stream-positions.js';

export interface MarketDataRpcDeps {
  readonly gateway: StreamGateway;
  readonly replicas: BookReplicas;
  readonly log: StreamLog;
  /** Symbols with a book. */
  readonly symbols: ReadonlySet<string>;
  /** Streams one Subscribe call may ask for (two per symbol: book and trades). */
  readonly maxSubscriptions: number;
}

/** `trading.v1.MarketDataService`: public, no token; limits per call instead. */
export function marketDataRpc(deps: MarketDataRpcDeps): ServiceImpl<typeof MarketDataService> {
  const known = (symbol: string) => {
    if (!deps.symbols.has(symbol)) {
      throw new DomainError(
        'invalid_argument',
        `unknown symbol "${symbol}"; traded: ${[...deps.symbols].join(', ')}`,
        { field: 'symbol' },
      );
    }
  };
  return {
    async getOrderBook(request) {
      known(request.symbol);
      const replica = await deps.replicas.get(request.symbol);
      const book = replica.snapshot(request.depth === 0 ? Infinity : request.depth);
      return { book: orderBookMessage(request.symbol, await deps.log.epoch(), book) };
    },

    async *subscribe(request, context) {
      if (request.symbols.length === 0) {
        throw new DomainError('invalid_argument', 'symbols: name at least one symbol', {
          field: 'symbols',
        });
      }
      const symbols = [...new Set(request.symbols)];
      for (const symbol of symbols) known(symbol);
      const streams = symbols.flatMap((symbol) => [bookStream(symbol), tradeStream(symbol)]);
      if (streams.length > deps.maxSubscriptions) {
        throw new DomainError(
          'resource_exhausted',
          `${streams.length} streams asked for (book and trades per symbol); at most ${deps.maxSubscriptions} per call`,
        );
      }
      const opened = await deps.gateway.open({
        streams,
        positions: positionsOf(request.positions),
        sessionId: request.sessionId,
        userId: undefined,
        transport: context.protocolName,
        signal: context.signal,
      });
      for await (const delivery of opened.messages) yield subscribeMessage(delivery, opened);
    },
  };
}
