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
  BookDeltaSchema,
  OrderBookSchema,
  type SubscribeResponse,
  SubscribeResponseSchema,
  TickerSchema,
  TradeSchema,
} from '../../gen/trading/v1/market_data_pb.js';
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
import { PB_SIDES } from '../../shared/grpc/order-enums.js';
import { sharedMessage } from '../../shared/grpc/shared-encoding.js';
import { reportToPb } from '../../shared/orders/order-messages.js';

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

/**
 * A sequenced message: its position, the session and pod serving it, and its event. A live
 * entry of a market stream carries no session id: every subscriber then gets the same bytes
 * (docs/protocol.md); the stream's start message and the connection's messages carry it.
 */
const sequenced = (
  delivery: { stream: string; epoch: number; seq: number; recovered: boolean },
  sessionId: string,
  pod: string,
  event: SubscribeResponse['event'],
): SubscribeResponse =>
  create(SubscribeResponseSchema, {
    stream: delivery.stream,
    epoch: BigInt(delivery.epoch),
    seq: BigInt(delivery.seq),
    recovered: delivery.recovered,
    sessionId,
    pod,
    event,
  });

/** What every private message carries: its position, and the session and pod serving it. */
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
): SubscribeResponse['event'] => ({
  case: 'delta',
  value: create(BookDeltaSchema, {
    symbol,
    bids: side(levels, 'buy'),
    asks: side(levels, 'sell'),
    checksum,
    firstSeq: firstSeq === undefined ? 0n : BigInt(firstSeq),
  }),
});

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
  const { sessionId, pod } = session;
  if (delivery.kind === 'entry') return entryMessage(delivery, pod);
  const symbol = parseStreamName(delivery.stream)?.key ?? '';
  if (delivery.kind === 'start') {
    return sequenced(
      delivery,
      sessionId,
      pod,
      startEvent(symbol, delivery.epoch, delivery.snapshot),
    );
  }
  return sequenced(
    delivery,
    sessionId,
    pod,
    bookDelta(symbol, delivery.levels, delivery.checksum, delivery.firstSeq),
  );
}

type EntryDelivery = Extract<GatewayDelivery, { readonly kind: 'entry' }>;

/** A log entry's messages, one per (epoch, recovered): the same for every subscriber. */
const entryMessages = new WeakMap<
  object,
  { epoch: number; pod: string; live?: SubscribeResponse; recovered?: SubscribeResponse }
>();

/** A market entry's message, built (and, for gRPC, encoded) once for every subscriber. */
function entryMessage(delivery: EntryDelivery, pod: string): SubscribeResponse {
  let slot = entryMessages.get(delivery.entry);
  if (slot?.epoch !== delivery.epoch || slot.pod !== pod) {
    slot = { epoch: delivery.epoch, pod };
    entryMessages.set(delivery.entry, slot);
  }
  const key = delivery.recovered ? 'recovered' : 'live';
  return (slot[key] ??= sharedMessage(buildEntryMessage(delivery, pod)));
}

function buildEntryMessage(delivery: EntryDelivery, pod: string): SubscribeResponse {
  const symbol = parseStreamName(delivery.stream)?.key ?? '';
  const { payload } = delivery.entry;
  if (delivery.stream.startsWith('book.')) {
    const delta = parseLevels(payload);
    return sequenced(delivery, '', pod, bookDelta(symbol, delta.levels, delta.checksum ?? 0));
  }
  if (delivery.stream.startsWith('ticker.')) {
    return sequenced(delivery, '', pod, {
      case: 'ticker',
      value: tickerMessage(symbol, parseTicker(payload)),
    });
  }
  const trade = parseTrade(payload);
  return sequenced(delivery, '', pod, {
    case: 'trade',
    value: create(TradeSchema, {
      symbol,
      tradeId: String(trade.tradeId),
      price: BigInt(trade.price),
      quantity: BigInt(trade.quantity),
      takerSide: PB_SIDES[trade.takerSide],
      timeUnixMs: BigInt(trade.timeMs ?? 0),
    }),
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
  return create(OpenStreamResponseSchema, {
    ...head,
    event: { case: 'execution', value: reportToPb(payload) },
  });
}
