import { create } from '@bufbuild/protobuf';
import type { Balance } from '../../domain/accounts/balance.js';
import type { SequencedBook } from '../../domain/streams/book-replica.js';
import type { Quality } from '../../domain/streams/connection-quality.js';
import type {
  HeartbeatDelivery,
  QualityDelivery,
  ReconnectDelivery,
} from '../../domain/streams/stream-connection.js';
import type { GatewayDelivery } from '../../domain/streams/stream-gateway.js';
import type { StreamSnapshot } from '../../domain/streams/stream-snapshot.js';
import {
  cachedParser,
  levelsPayload,
  privatePayload,
  tickerPayload,
  tradePayload,
  type LevelChange,
  type TickerPayload,
} from '../../domain/streams/stream-payloads.js';
import { parseStreamName } from '../../domain/streams/stream-names.js';
import { BalanceSchema } from '../../gen/trading/v1/account_pb.js';
import { PriceLevelSchema } from '../../gen/trading/v1/common_pb.js';
import {
  OrderBookSchema,
  type SubscribeResponse,
  SubscribeResponseSchema,
  TickerSchema,
} from '../../gen/trading/v1/market_data_pb.js';
import { FillSchema, OrderSchema } from '../../gen/trading/v1/orders_pb.js';
import {
  OpenStreamResponseSchema,
  type OpenStreamResponse,
} from '../../gen/trading/v1/session_pb.js';
import {
  ConnectionQuality,
  HeartbeatSchema,
  QualityChangeSchema,
  ReconnectSchema,
} from '../../gen/trading/v1/stream_pb.js';
import { PB_SIDES, PB_STATUSES, PB_TYPES } from '../../shared/grpc/order-enums.js';

/**
 * Gateway deliveries as protobuf messages, shared by every transport. Payloads are parsed once
 * per entry (cached), not once per subscriber.
 */

const parseLevels = cachedParser(levelsPayload);
const parseTrade = cachedParser(tradePayload);
const parsePrivate = cachedParser(privatePayload);
const parseTicker = cachedParser(tickerPayload);

const levels = (list: readonly { price: number; quantity: number }[]) =>
  list.map((l) =>
    create(PriceLevelSchema, { price: BigInt(l.price), quantity: BigInt(l.quantity) }),
  );

export function orderBookMessage(symbol: string, epoch: number, book: SequencedBook) {
  return create(OrderBookSchema, {
    symbol,
    epoch: BigInt(epoch),
    seq: BigInt(book.seq),
    bids: levels(book.bids),
    asks: levels(book.asks),
    checksum: book.checksum,
  });
}

/** A ticker entry's payload as the wire's Ticker: the same fields, int64 as bigint. */
export function tickerMessage(symbol: string, ticker: TickerPayload) {
  return create(TickerSchema, {
    symbol,
    lastPrice: BigInt(ticker.lastPrice),
    lastQuantity: BigInt(ticker.lastQuantity),
    bestBid: BigInt(ticker.bidPrice),
    bestBidQuantity: BigInt(ticker.bidQuantity),
    bestAsk: BigInt(ticker.askPrice),
    bestAskQuantity: BigInt(ticker.askQuantity),
    open24h: BigInt(ticker.open),
    high24h: BigInt(ticker.high),
    low24h: BigInt(ticker.low),
    volume24h: BigInt(ticker.volume),
    quoteVolume24h: BigInt(ticker.quoteVolume),
    priceChange24h: BigInt(ticker.change),
    priceChangeBps24h: ticker.changeBp,
    tradeCount24h: BigInt(ticker.trades),
    timeUnixMs: BigInt(ticker.timeMs),
    windowStartUnixMs: BigInt(ticker.windowStartMs),
  });
}

/** A fresh start's snapshot as the event of its start message (none: the position only). */
function startEvent(
  symbol: string,
  epoch: number,
  snapshot: StreamSnapshot | undefined,
): SubscribeResponse['event'] {
  switch (snapshot?.kind) {
    case 'book':
      return { case: 'snapshot', value: orderBookMessage(symbol, epoch, snapshot.book) };
    case 'ticker':
      return { case: 'ticker', value: tickerMessage(symbol, parseTicker(snapshot.payload)) };
    default:
      return { case: undefined };
  }
}

const side = (changes: readonly LevelChange[], wanted: 'buy' | 'sell') =>
  levels(changes.filter((c) => c.side === wanted));

const PB_QUALITIES: Record<Quality, ConnectionQuality> = {
  excellent: ConnectionQuality.EXCELLENT,
  good: ConnectionQuality.GOOD,
  fair: ConnectionQuality.FAIR,
  poor: ConnectionQuality.POOR,
  offline: ConnectionQuality.OFFLINE,
};

type ConnectionDelivery = HeartbeatDelivery | QualityDelivery | ReconnectDelivery;

const isConnectionDelivery = (delivery: GatewayDelivery): delivery is ConnectionDelivery =>
  delivery.kind === 'heartbeat' || delivery.kind === 'quality' || delivery.kind === 'reconnect';

/**
 * A heartbeat, quality change or reconnect, the same event on every stream response. They
 * belong to the connection, not to a stream: `stream` is empty and `epoch`/`seq` 0, so a
 * client never takes one for a position.
 */
function connectionEvent(delivery: ConnectionDelivery) {
  if (delivery.kind === 'reconnect') {
    return {
      case: 'reconnect' as const,
      value: create(ReconnectSchema, { delayMs: delivery.delayMs, reason: delivery.reason }),
    };
  }
  return delivery.kind === 'heartbeat'
    ? {
        case: 'heartbeat' as const,
        value: create(HeartbeatSchema, {
          id: BigInt(delivery.id),
          serverTimeUnixMs: BigInt(delivery.serverTimeMs),
        }),
      }
    : {
        case: 'quality' as const,
        value: create(QualityChangeSchema, {
          quality: PB_QUALITIES[delivery.quality],
          rttMs: delivery.rttMs,
          jitterMs: delivery.jitterMs,
          missedHeartbeats: delivery.missedHeartbeats,
        }),
      };
}

/** What every sequenced message carries: its position, and the session and pod serving it. */
const headOf = (
  delivery: { stream: string; epoch: number; seq: number; recovered: boolean },
  session: { sessionId: string; pod: string },
) => ({
  stream: delivery.stream,
  epoch: BigInt(delivery.epoch),
  seq: BigInt(delivery.seq),
  recovered: delivery.recovered,
  sessionId: session.sessionId,
  pod: session.pod,
});

/** A book delta; a conflated one also says where its seq range starts. */
const bookDelta = (
  symbol: string,
  levels: Parameters<typeof side>[0],
  checksum: number,
  firstSeq?: number,
) =>
  ({
    case: 'delta',
    value: {
      symbol,
      bids: side(levels, 'buy'),
      asks: side(levels, 'sell'),
      checksum,
      ...(firstSeq === undefined ? {} : { firstSeq: BigInt(firstSeq) }),
    },
  }) as const;

/** A delivery of `book.*`, `trades.*` or `ticker.*` as a MarketDataService.Subscribe message. */
export function subscribeMessage(
  delivery: GatewayDelivery,
  session: { sessionId: string; pod: string },
): SubscribeResponse {
  if (isConnectionDelivery(delivery)) {
    return create(SubscribeResponseSchema, {
      sessionId: session.sessionId,
      pod: session.pod,
      event: connectionEvent(delivery),
    });
  }
  const symbol = parseStreamName(delivery.stream)?.key ?? '';
  const head = headOf(delivery, session);
  if (delivery.kind === 'start') {
    return create(SubscribeResponseSchema, {
      ...head,
      event: startEvent(symbol, delivery.epoch, delivery.snapshot),
    });
  }
  if (delivery.kind === 'conflated') {
    return create(SubscribeResponseSchema, {
      ...head,
      event: bookDelta(symbol, delivery.levels, delivery.checksum, delivery.firstSeq),
    });
  }
  const { payload } = delivery.entry;
  if (delivery.stream.startsWith('book.')) {
    const delta = parseLevels(payload);
    return create(SubscribeResponseSchema, {
      ...head,
      event: bookDelta(symbol, delta.levels, delta.checksum ?? 0),
    });
  }
  if (delivery.stream.startsWith('ticker.')) {
    return create(SubscribeResponseSchema, {
      ...head,
      event: { case: 'ticker', value: tickerMessage(symbol, parseTicker(payload)) },
    });
  }
  const trade = parseTrade(payload);
  return create(SubscribeResponseSchema, {
    ...head,
    event: {
      case: 'trade',
      value: {
        symbol,
        tradeId: String(trade.tradeId),
        price: BigInt(trade.price),
        quantity: BigInt(trade.quantity),
        takerSide: PB_SIDES[trade.takerSide],
        timeUnixMs: BigInt(trade.timeMs ?? 0),
      },
    },
  });
}

const balanceMessage = (b: Balance) =>
  create(BalanceSchema, { asset: b.asset, available: b.available, reserved: b.reserved });

/** A delivery of `orders.<userId>` as a SessionService.OpenStream message. */
export function privateMessage(
  delivery: GatewayDelivery,
  session: { sessionId: string; pod: string },
): OpenStreamResponse {
  if (isConnectionDelivery(delivery)) {
    return create(OpenStreamResponseSchema, {
      sessionId: session.sessionId,
      pod: session.pod,
      event: connectionEvent(delivery),
    });
  }
  if (delivery.kind === 'conflated') {
    throw new RangeError(`a private stream is never conflated (${delivery.stream})`);
  }
  const head = headOf(delivery, session);
  if (delivery.kind === 'start') {
    const snapshot = delivery.snapshot;
    return create(OpenStreamResponseSchema, {
      ...head,
      event:
        snapshot?.kind === 'balances'
          ? { case: 'balances', value: { balances: snapshot.balances.map(balanceMessage) } }
          : { case: undefined },
    });
  }
  const payload = parsePrivate(delivery.entry.payload);
  if (payload.type === 'balances') {
    return create(OpenStreamResponseSchema, {
      ...head,
      event: {
        case: 'balances',
        value: {
          balances: payload.balances.map((b) =>
            balanceMessage({
              asset: b.asset,
              available: BigInt(b.available),
              reserved: BigInt(b.reserved),
            }),
          ),
        },
      },
    });
  }
  const { order, fills } = payload;
  return create(OpenStreamResponseSchema, {
    ...head,
    event: {
      case: 'execution',
      value: {
        order: create(OrderSchema, {
          orderId: order.orderId,
          clientOrderId: order.clientOrderId,
          symbol: order.symbol,
          side: PB_SIDES[order.side],
          type: PB_TYPES[order.type],
          price: BigInt(order.price),
          quantity: BigInt(order.quantity),
          filledQuantity: BigInt(order.filled),
          status: PB_STATUSES[order.status],
          reason: order.reason,
        }),
        fills: fills.map((fill) =>
          create(FillSchema, {
            tradeId: String(fill.tradeId),
            orderId: order.orderId,
            price: BigInt(fill.price),
            quantity: BigInt(fill.quantity),
            maker: fill.maker,
          }),
        ),
      },
    },
  });
}
