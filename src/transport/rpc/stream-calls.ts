import type { VerifiedToken } from '../../domain/auth/access-tokens.js';
import { SESSION_REVOKED } from '../../domain/auth/token-verifier.js';
import { DomainError } from '../../domain/errors.js';
import type { MarketStreamsPerAddress } from '../../domain/streams/market-streams-per-address.js';
import type { PongOutcome } from '../../domain/streams/stream-connection.js';
import type {
  DeliveryReader,
  GatewayDelivery,
  StreamGateway,
} from '../../domain/streams/stream-gateway.js';
import {
  MARKET_STREAM_KINDS,
  marketStream,
  userStream,
  type MarketStreamKind,
} from '../../domain/streams/stream-names.js';
import {
  MarketStream,
  type SubscribeRequest,
  type SubscribeResponse,
} from '../../gen/trading/v1/market_data_pb.js';
import type { OpenStreamRequest, OpenStreamResponse } from '../../gen/trading/v1/session_pb.js';
import { privateMessage, subscribeMessage } from './stream-messages.js';
import { positionsOf } from './stream-positions.js';
import { reconnectReasonOf } from './reconnect-reason.js';

export interface StreamCallsDeps {
  readonly gateway: StreamGateway;
  /** Symbols with a book. */
  readonly symbols: ReadonlySet<string>;
  /** Streams one Subscribe call may ask for (each symbol's book, trades and ticker count one each). */
  readonly maxSubscriptions: number;
  /** Ends a private stream when its auth session is revoked (logout, refresh-token reuse). */
  readonly revocations?: RevocationWatch;
  /** Bounds on each client address's market data streams, on every transport; unset: none. */
  readonly perAddress?: MarketDataPerAddress;
}

/** What one client address may have of public market data. */
export interface MarketDataPerAddress {
  /** Streams open at once on this process. */
  readonly streams: MarketStreamsPerAddress;
  /** Subscribes over time, shared by every pod; throws `resource_exhausted` when over. */
  readonly limitSubscribe: (address: string) => Promise<void>;
}

/** Tells when an auth session is revoked (`Authentication`). */
export interface RevocationWatch {
  watchRevocation(sessionId: string, onRevoked: () => void): () => void;
}

/** Whose private stream, and how long its access token holds it open. */
export interface PrivateOwner {
  readonly userId: number;
  /** The auth session of the access token: its revocation ends the stream. */
  readonly authSessionId: string;
  readonly tokenExpiresAtMs: number;
}

/** How a transport carries one call: its name for metrics, and when the client has gone. */
export interface StreamCall {
  /** grpc, grpc-web, connect, websocket. */
  readonly transport: string;
  readonly signal: AbortSignal;
}

/** A market data call: whose address it comes from, for the per-address bounds. */
export interface MarketCall extends StreamCall {
  readonly clientIp: string;
}

/** A call's open streams, as protobuf messages. */
export interface OpenedCall<T> {
  readonly sessionId: string;
  readonly pod: string;
  readonly streams: readonly string[];
  readonly messages: AsyncIterable<T>;
  /**
   * The gateway's deliveries read synchronously, for a transport that encodes and writes them
   * itself (WebSocket: one frame per market entry for every subscriber, written in one go per
   * tick); read either this or `messages`, not both.
   */
  readonly reader: DeliveryReader;
  /** One delivery as the message `messages` would yield. */
  message(delivery: GatewayDelivery): T;
  /** Stops some of the streams; `messages` ends once all are stopped. */
  close(streams: readonly string[]): void;
  /** The client's answer to a heartbeat of this call, carried in-band (WebSocket). */
  pong(heartbeatId: number): PongOutcome;
}

/**
 * The stream protocol's request handling, shared by every transport: which streams a request
 * names, whether it may have them, and the gateway's deliveries as protobuf messages. gRPC,
 * Connect and gRPC-Web yield the messages from a handler; WebSocket writes them as frames.
 */
export class StreamCalls {
  readonly #deps: StreamCallsDeps;

  constructor(deps: StreamCallsDeps) {
    this.#deps = deps;
  }

  /** Throws `invalid_argument` for a symbol without a book. */
  knownSymbol(symbol: string): void {
    const { symbols } = this.#deps;
    if (!symbols.has(symbol)) {
      throw new DomainError(
        'invalid_argument',
        `unknown symbol "${symbol}"; traded: ${[...symbols].join(', ')}`,
        { field: 'symbol' },
      );
    }
  }

  /**
   * The streams a Subscribe opens: each of `kinds` (none: book and trades) of each of `symbols`,
   * checked, at most `maxSubscriptions`.
   */
  marketStreams(request: Pick<SubscribeRequest, 'symbols' | 'streams'>): string[] {
    const { symbols } = request;
    if (symbols.length === 0) {
      throw new DomainError('invalid_argument', 'symbols: name at least one symbol', {
        field: 'symbols',
      });
    }
    const unique = [...new Set(symbols)];
    for (const symbol of unique) this.knownSymbol(symbol);
    const kinds = streamKinds(request.streams);
    const streams = unique.flatMap((symbol) => kinds.map((kind) => marketStream(kind, symbol)));
    const max = this.#deps.maxSubscriptions;
    if (streams.length > max) {
      throw new DomainError(
        'resource_exhausted',
        `${streams.length} streams asked for (${kinds.join(', ')} of ${unique.length} symbols); at most ${max} per call`,
      );
    }
    return streams;
  }

  /**
   * A pong that came outside its stream (the unary `SessionService.Pong`); refused when the
   * session has no stream on this pod, so a client learns that its pongs go astray.
   */
  pong(sessionId: string, heartbeatId: number): void {
    if (this.#deps.gateway.pong(sessionId, heartbeatId) === 'unknown_session') {
      throw new DomainError(
        'failed_precondition',
        `session ${sessionId} has no stream on this pod; send Pong over the connection that carries the stream`,
      );
    }
  }

  /** A fresh token for a session's private stream, on whichever pod serves it. */
  reauthenticate(sessionId: string, token: VerifiedToken): Promise<void> {
    return this.#deps.gateway.reauthenticate(sessionId, token);
  }

  /**
   * `MarketDataService.Subscribe`: public, no caller; bounded per client address
   * (`perAddress`), the stream holding its address's slot until it ends.
   */
  async subscribe(
    request: SubscribeRequest,
    call: MarketCall,
  ): Promise<OpenedCall<SubscribeResponse>> {
    const streams = this.marketStreams(request);
    const { clientIp, ...streamCall } = call;
    const release = await this.#admitMarketStream(clientIp);
    let opened;
    try {
      opened = await this.#deps.gateway.open({
        ...streamCall,
        streams,
        positions: positionsOf(request.positions),
        sessionId: request.sessionId,
        reconnectReason: reconnectReasonOf(request.reconnectReason),
        userId: undefined,
      });
    } catch (error) {
      release();
      throw error;
    }
    // Whichever comes first: the transport's end of the call, or the end of its messages.
    if (call.signal.aborted) release();
    else call.signal.addEventListener('abort', release, { once: true });
    const gateway = opened;
    const message = (delivery: GatewayDelivery) => subscribeMessage(delivery, gateway);
    // A transport reads `messages` or `reader`, not both: either frees the slot when it ends.
    const reader = readerEnding(opened.reader, release);
    return {
      sessionId: opened.sessionId,
      pod: opened.pod,
      streams,
      messages: messagesOf(reader, message),
      reader,
      message,
      close: (names) => {
        opened.close(names);
      },
      pong: (heartbeatId) => opened.pong(heartbeatId),
    };
  }

  /** A slot for one more market data stream of `address`, and its release; or the refusal. */
  async #admitMarketStream(address: string): Promise<() => void> {
    const limits = this.#deps.perAddress;
    if (limits === undefined) return () => undefined;
    // The local bound first: a refusal under a flood then costs no round trip to Redis.
    const release = limits.streams.acquire(address);
    try {
      await limits.limitSubscribe(address);
    } catch (error) {
      release();
      throw error;
    }
    return release;
  }

  /**
   * `SessionService.OpenStream`: the caller's own `orders.<userId>`, which ends when its token
   * expires, unless renewed (`reauthenticate`), and with `unauthenticated` when its auth session
   * is revoked, on whichever transport and pod it is open.
   */
  async openPrivate(
    request: OpenStreamRequest,
    owner: PrivateOwner,
    call: StreamCall,
  ): Promise<OpenedCall<OpenStreamResponse>> {
    const { userId } = owner;
    const streams = [userStream(userId)];
    const revoked = new AbortController();
    const unwatch =
      this.#deps.revocations?.watchRevocation(owner.authSessionId, () => {
        revoked.abort(new Error('session revoked'));
      }) ?? (() => undefined);
    let opened;
    try {
      opened = await this.#deps.gateway.open({
        ...call,
        signal: AbortSignal.any([call.signal, revoked.signal]),
        streams,
        positions: positionsOf(request.positions),
        sessionId: request.sessionId,
        reconnectReason: reconnectReasonOf(request.reconnectReason),
        userId,
        tokenExpiresAtMs: owner.tokenExpiresAtMs,
      });
    } catch (error) {
      unwatch();
      throw revoked.signal.aborted ? new DomainError('unauthenticated', SESSION_REVOKED) : error;
    }
    const gateway = opened;
    const message = (delivery: GatewayDelivery) => privateMessage(delivery, gateway);
    const reader = readerEnding(gateway.reader, unwatch, revoked.signal);
    return {
      sessionId: gateway.sessionId,
      pod: gateway.pod,
      streams,
      messages: messagesOf(reader, message),
      reader,
      message,
      close: (names) => {
        gateway.close(names);
      },
      pong: (heartbeatId) => gateway.pong(heartbeatId),
    };
  }
}

const KIND_OF: Partial<Record<MarketStream, MarketStreamKind>> = {
  [MarketStream.BOOK]: 'book',
  [MarketStream.TRADES]: 'trades',
  [MarketStream.TICKER]: 'ticker',
};

/** The kinds a Subscribe asks for, in the order streams open; none asked: book and trades. */
function streamKinds(asked: readonly MarketStream[]): MarketStreamKind[] {
  if (asked.length === 0) return ['book', 'trades'];
  const kinds = new Set<MarketStreamKind>();
  for (const value of asked) {
    const kind = KIND_OF[value];
    if (kind === undefined) {
      throw new DomainError(
        'invalid_argument',
        `streams: ${value === MarketStream.UNSPECIFIED ? 'MARKET_STREAM_UNSPECIFIED' : `value ${value}`} is no stream; ask for MARKET_STREAM_BOOK, MARKET_STREAM_TRADES or MARKET_STREAM_TICKER (none: book and trades)`,
        { field: 'streams' },
      );
    }
    kinds.add(kind);
  }
  return MARKET_STREAM_KINDS.filter((kind) => kinds.has(kind));
}

/**
 * `reader`, calling `done` once when it ends (read to the end, failed, or released), always
 * before the reader itself is released. With `revoked`, it ends once that aborts, with the
 * `unauthenticated` error that says so.
 */
function readerEnding(
  reader: DeliveryReader,
  done: () => void,
  revoked?: AbortSignal,
): DeliveryReader {
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    done();
  };
  const refuseIfRevoked = () => {
    if (revoked?.aborted !== true) return;
    end();
    reader.release();
    throw new DomainError('unauthenticated', SESSION_REVOKED);
  };
  return {
    next() {
      refuseIfRevoked();
      let delivery: GatewayDelivery | undefined;
      try {
        delivery = reader.next();
      } catch (error) {
        end();
        refuseIfRevoked();
        throw error;
      }
      if (delivery === undefined && reader.done) {
        end();
        refuseIfRevoked();
      }
      return delivery;
    },
    get done() {
      return reader.done;
    },
    whenReady(wake) {
      reader.whenReady(wake);
    },
    // Once revoked, nothing is taken as it comes: `next` then says why the stream ends.
    direct(take) {
      reader.direct(
        revoked === undefined ? take : (delivery) => !revoked.aborted && take(delivery),
      );
    },
    release() {
      end();
      reader.release();
    },
  };
}

/**
 * A reader's deliveries as messages, for a transport that writes from an async iterable: one
 * generator, and a promise only when nothing waits. Releases the reader when left.
 */
async function* messagesOf<T>(
  reader: DeliveryReader,
  message: (delivery: GatewayDelivery) => T,
): AsyncGenerator<T> {
  try {
    for (;;) {
      const delivery = reader.next();
      if (delivery !== undefined) {
        yield message(delivery);
        continue;
      }
      if (reader.done) return;
      await new Promise<void>((resolve) => {
        reader.whenReady(resolve);
      });
    }
  } finally {
    reader.release();
  }
}
