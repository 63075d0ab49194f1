import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createRouterTransport, type Transport } from '@connectrpc/connect';
import { AuthService, type RefreshRequest } from '../../../src/gen/trading/v1/auth_pb.js';
import {
  MarketDataService,
  SubscribeResponseSchema,
  type SubscribeRequest,
} from '../../../src/gen/trading/v1/market_data_pb.js';
import {
  SessionService,
  type OpenStreamRequest,
  type PongRequest,
  type ReauthenticateRequest,
} from '../../../src/gen/trading/v1/session_pb.js';
import { OpenStreamResponseSchema } from '../../../src/gen/trading/v1/session_pb.js';
import { bookChecksum } from '../../../src/client/book-checksum.js';

export type MarketMessage = MessageInitShape<typeof SubscribeResponseSchema>;
export type PrivateMessage = MessageInitShape<typeof OpenStreamResponseSchema>;

/** What one call of a stream does: send these messages, then end, fail or stay open. */
export interface Script<M> {
  readonly messages: readonly M[];
  readonly then: 'end' | 'hang' | ConnectError;
}

type Level = readonly [price: number, quantity: number];
const levels = (list: readonly Level[]) =>
  list.map(([price, quantity]) => ({ price: BigInt(price), quantity: BigInt(quantity) }));

/** A book snapshot message at `seq` whose checksum is right. */
export function snapshot(seq: number, bids: Level[], asks: Level[], pod = 'pod-a'): MarketMessage {
  const checksum = bookChecksum(levels(bids), levels(asks));
  return {
    stream: 'book.BTC-USD',
    epoch: 1n,
    seq: BigInt(seq),
    pod,
    sessionId: 's-1',
    event: {
      case: 'snapshot',
      value: {
        symbol: 'BTC-USD',
        seq: BigInt(seq),
        bids: levels(bids),
        asks: levels(asks),
        checksum,
      },
    },
  };
}

/** A delta at `seq` carrying the checksum of `after`, the whole book once it applies. */
export function delta(
  seq: number,
  change: { bids?: Level[]; asks?: Level[] },
  after: { bids: Level[]; asks: Level[] },
  pod = 'pod-a',
): MarketMessage {
  return {
    stream: 'book.BTC-USD',
    epoch: 1n,
    seq: BigInt(seq),
    pod,
    sessionId: 's-1',
    event: {
      case: 'delta',
      value: {
        symbol: 'BTC-USD',
        bids: levels(change.bids ?? []),
        asks: levels(change.asks ?? []),
        checksum: bookChecksum(levels(after.bids), levels(after.asks)),
      },
    },
  };
}

/** A start message without an event (a resume, or the trades position). */
export function start(
  stream: string,
  seq: number,
  recovered: boolean,
  pod = 'pod-a',
): MarketMessage {
  return { stream, epoch: 1n, seq: BigInt(seq), recovered, pod, sessionId: 's-1' };
}

export function trade(seq: number, id: string, pod = 'pod-a'): MarketMessage {
  return {
    stream: 'trades.BTC-USD',
    epoch: 1n,
    seq: BigInt(seq),
    pod,
    sessionId: 's-1',
    event: {
      case: 'trade',
      value: { symbol: 'BTC-USD', tradeId: id, price: 65000n, quantity: 1n },
    },
  };
}

/** A whole ticker of BTC-USD at `seq`, its last trade at `lastPrice`. */
export function ticker(seq: number, lastPrice: number, recovered = false): MarketMessage {
  return {
    stream: 'ticker.BTC-USD',
    epoch: 1n,
    seq: BigInt(seq),
    recovered,
    pod: 'pod-a',
    sessionId: 's-1',
    event: { case: 'ticker', value: { symbol: 'BTC-USD', lastPrice: BigInt(lastPrice) } },
  };
}

async function* play<M>(
  script: Script<M> | undefined,
  signal: AbortSignal,
  hangups: Set<() => void>,
  schema: typeof SubscribeResponseSchema | typeof OpenStreamResponseSchema,
): AsyncGenerator<never> {
  const { messages, then } = script ?? { messages: [], then: 'hang' as const };
  for (const message of messages) {
    yield create(schema as typeof SubscribeResponseSchema, message as MarketMessage) as never;
  }
  if (then === 'end') return;
  if (then instanceof ConnectError) throw then;
  await new Promise<void>((resolve) => {
    hangups.add(resolve);
    signal.addEventListener('abort', () => {
      resolve();
    });
  });
}

/**
 * The platform as the client sees it, in memory (Connect's router transport): scripted
 * stream calls, and every request recorded for assertions.
 */
export class FakePlatform {
  readonly subscribes: SubscribeRequest[] = [];
  readonly opens: { request: OpenStreamRequest; authorization: string | null }[] = [];
  readonly pongs: PongRequest[] = [];
  readonly reauths: ReauthenticateRequest[] = [];
  readonly refreshes: RefreshRequest[] = [];
  readonly market: Script<MarketMessage>[] = [];
  readonly private: Script<PrivateMessage>[] = [];
  /** Access token lifetime and the refresh answer (a token pair, or an error). */
  accessTtlMs = 60_000;
  refreshFails: ConnectError | undefined;
  #issued = 0;
  readonly #hangups = new Set<() => void>();

  /** The server closes every open stream normally. */
  closeStreams(): void {
    for (const hangup of this.#hangups) hangup();
    this.#hangups.clear();
  }

  readonly transport: Transport = createRouterTransport(({ service }) => {
    service(MarketDataService, {
      subscribe: (request, context) => {
        this.subscribes.push(request);
        return play(this.market.shift(), context.signal, this.#hangups, SubscribeResponseSchema);
      },
      getOrderBook: () => ({}),
    });
    service(SessionService, {
      openStream: (request, context) => {
        this.opens.push({ request, authorization: context.requestHeader.get('authorization') });
        return play(this.private.shift(), context.signal, this.#hangups, OpenStreamResponseSchema);
      },
      pong: (request) => {
        this.pongs.push(request);
        return {};
      },
      reauthenticate: (request) => {
        this.reauths.push(request);
        return {};
      },
    });
    service(AuthService, {
      register: () => ({ userId: '7' }),
      login: () => ({ userId: '7', tokens: this.#tokens() }),
      refresh: (request) => {
        this.refreshes.push(request);
        if (this.refreshFails !== undefined) throw this.refreshFails;
        return { tokens: this.#tokens() };
      },
      logout: () => ({}),
    });
  });

  #tokens() {
    this.#issued += 1;
    return {
      accessToken: `access-${this.#issued}`,
      accessTokenExpiresAt: timestampFromMs(Date.now() + this.accessTtlMs),
      refreshToken: `refresh-${this.#issued}`,
      refreshTokenExpiresAt: timestampFromMs(Date.now() + 86_400_000),
    };
  }
}

/** A transport a proxy blocks: every call fails before anything arrives. */
export const blockedTransport: Transport = {
  unary: () => Promise.reject(new ConnectError('blocked by a proxy', Code.Unavailable)),
  stream: () => Promise.reject(new ConnectError('blocked by a proxy', Code.Unavailable)),
};
