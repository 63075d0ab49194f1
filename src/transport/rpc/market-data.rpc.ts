import type { ServiceImpl } from '@connectrpc/connect';
import type { BookReplicas } from '../../domain/streams/book-replicas.js';
import type { StreamLog } from '../../domain/ports/stream-log.port.js';
import type { MarketDataService } from '../../gen/trading/v1/market_data_pb.js';
import { clientIpKey } from './call-context.js';
import type { StreamCalls } from './stream-calls.js';
import { orderBookMessage } from './stream-messages.js';

export interface MarketDataRpcDeps {
  /** The stream protocol core, shared with the WebSocket transport. */
  readonly calls: StreamCalls;
  readonly replicas: BookReplicas;
  readonly log: StreamLog;
  /**
   * Charges one `GetOrderBook` to the client address; throws `resource_exhausted` when over.
   * Unset: no limit.
   */
  readonly limitOrderBook?: (address: string) => Promise<void>;
}

/**
 * `trading.v1.MarketDataService`: public, no token; limits per call and per client address
 * instead (`limitOrderBook`, `StreamCalls.subscribe`).
 */
export function marketDataRpc(deps: MarketDataRpcDeps): ServiceImpl<typeof MarketDataService> {
  return {
    async getOrderBook(request, context) {
      deps.calls.knownSymbol(request.symbol);
      // After validation, so a typo costs nothing; before the snapshot, the part worth bounding.
      await deps.limitOrderBook?.(context.values.get(clientIpKey));
      const replica = await deps.replicas.get(request.symbol);
      const book = replica.snapshot(request.depth === 0 ? Infinity : request.depth);
      return { book: orderBookMessage(request.symbol, await deps.log.epoch(), book) };
    },

    async *subscribe(request, context) {
      const opened = await deps.calls.subscribe(request, {
        transport: context.protocolName,
        signal: context.signal,
        clientIp: context.values.get(clientIpKey),
      });
      yield* opened.messages;
    },
  };
}
