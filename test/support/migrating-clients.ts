import { createClient, type Client as ConnectClient, type Transport } from '@connectrpc/connect';
import { WebSocket } from 'ws';
import {
  EnhancedConnectionManager,
  type BookView,
  type ReconnectReason,
  type TransportKind,
  type WebSocketLike,
} from '../../src/client/index.js';
import {
  MarketDataService,
  type SubscribeResponse,
} from '../../src/gen/trading/v1/market_data_pb.js';
import { SessionService, type OpenStreamResponse } from '../../src/gen/trading/v1/session_pb.js';
import { ConnectStreamRecorder, TappedStream } from './stream-client.js';

/** What a client needs to know of a pod to reach it. */
export interface Pod {
  readonly httpUrl: string;
  readonly grpcAddress: string;
}

/** Node 20 has no global WebSocket: the SDK's transport runs on the `ws` package's. */
export const openSocket = (url: string): WebSocketLike =>
  new WebSocket(url) as unknown as WebSocketLike;

/** Where a load balancer sends a new connection: the test moves it before it kills a pod. */
export class Ingress {
  constructor(public target: Pod) {}
}

/** Passes a stream's messages on, answering its heartbeats as every client must. */
async function* answeringHeartbeats<T extends SubscribeResponse | OpenStreamResponse>(
  messages: AsyncIterable<T>,
  session: ConnectClient<typeof SessionService>,
): AsyncGenerator<T> {
  for await (const message of messages) {
    if (message.event.case === 'heartbeat') {
      const heartbeatId = message.event.value.id;
      // A lost answer is a missed beat for the server, as for any client.
      session.pong({ sessionId: message.sessionId, heartbeatId }).catch(() => undefined);
    }
    yield message;
  }
}

/**
 * A client written from docs/protocol.md with Connect's generated clients, on any transport:
 * BTC-USD's book and trades and the user's private stream. When a pod's calls have ended (after
 * their Reconnect's delay, or with the connection), it opens them again through the ingress
 * with its session ids and positions. Each pair of calls is recorded.
 */
export class ResumingClient {
  readonly market: ConnectStreamRecorder<SubscribeResponse>[] = [];
  readonly own: ConnectStreamRecorder<OpenStreamResponse>[] = [];

  constructor(
    private readonly to: (pod: Pod) => Transport,
    private readonly ingress: Ingress,
    private readonly accessToken: string,
  ) {}

  /** Opens both calls on the ingress's pod, from the positions of the previous pair if any. */
  open(): void {
    const via = this.to(this.ingress.target);
    const market = createClient(MarketDataService, via);
    const session = createClient(SessionService, via);
    const [lastMarket, lastOwn] = [this.market.at(-1), this.own.at(-1)];
    this.market.push(
      new ConnectStreamRecorder((signal) =>
        answeringHeartbeats(
          market.subscribe(
            {
              symbols: ['BTC-USD'],
              sessionId: lastMarket?.messages[0]?.sessionId ?? '',
              positions: lastMarket?.positions() ?? [],
            },
            { signal },
          ),
          session,
        ),
      ),
    );
    this.own.push(
      new ConnectStreamRecorder((signal) =>
        answeringHeartbeats(
          session.openStream(
            {
              sessionId: lastOwn?.messages[0]?.sessionId ?? '',
              positions: lastOwn?.positions() ?? [],
            },
            { signal, headers: { authorization: `Bearer ${this.accessToken}` } },
          ),
          session,
        ),
      ),
    );
  }

  /** Waits for the current calls to end (the pod went away), then opens them again. */
  async resume(timeoutMs: number): Promise<void> {
    for (const call of [this.market.at(-1), this.own.at(-1)]) {
      await call?.until(
        () => call.ended || call.error !== undefined,
        `the ${call === this.market.at(-1) ? 'market' : 'private'} call to end`,
        timeoutMs,
      );
    }
    this.open();
  }

  close(): void {
    for (const call of [...this.market, ...this.own]) call.cancel();
  }
}

/** One change of the SDK client's status to `reconnecting`: why, when, and when it retries. */
export interface Reconnecting {
  readonly reason: ReconnectReason | undefined;
  readonly at: number;
  readonly retryAt: number;
}

/**
 * The SDK's EnhancedConnectionManager as an app runs it, its stream calls going through the
 * ingress (a new call goes to the ingress's pod of the moment) and recorded on the way, with
 * what it tells the app: trades, executions, its verified book and its reconnects.
 */
export class SdkClient {
  readonly manager: EnhancedConnectionManager;
  readonly market: TappedStream<SubscribeResponse>[] = [];
  readonly own: TappedStream<OpenStreamResponse>[] = [];
  readonly reconnecting: Reconnecting[] = [];
  /** Epoch ms of each change of status to `connecting`. */
  readonly connecting: number[] = [];
  readonly tradeSeqs: bigint[] = [];
  readonly fills: string[] = [];
  book: BookView | undefined;

  constructor(
    kind: TransportKind,
    to: (pod: Pod) => Transport,
    ingress: Ingress,
    unary: Transport,
  ) {
    const transports = new Map<Pod, Transport>();
    // One transport per pod, so a WebSocket's in-band pong finds the socket of its session.
    const current = () => {
      const pod = ingress.target;
      const made = transports.get(pod) ?? to(pod);
      transports.set(pod, made);
      return made;
    };
    const added = <T extends SubscribeResponse | OpenStreamResponse>(calls: TappedStream<T>[]) => {
      const call = new TappedStream<T>();
      calls.push(call);
      return call;
    };
    const routed: Transport = {
      unary: (...args) => current().unary(...args),
      stream: async (method, signal, timeoutMs, header, input, contextValues) => {
        const call = method.name === 'Subscribe' ? added(this.market) : added(this.own);
        try {
          const response = await current().stream(
            method,
            signal,
            timeoutMs,
            header,
            input,
            contextValues,
          );
          return { ...response, message: call.tap(response.message) };
        } catch (error) {
          call.refused(error);
          throw error;
        }
      },
    };
    this.manager = new EnhancedConnectionManager({
      transports: [{ kind, transport: routed }],
      unary,
      symbols: ['BTC-USD'],
      environment: { storage: undefined },
    });
    let status = this.manager.state.status;
    this.manager.on('state', (state) => {
      const changed = state.status !== status;
      status = state.status;
      if (changed && state.status === 'reconnecting') {
        const retryAt = state.nextRetryAt ?? 0;
        this.reconnecting.push({ reason: state.lastReconnectReason, at: Date.now(), retryAt });
      } else if (changed && state.status === 'connecting') {
        this.connecting.push(Date.now());
      }
    });
    this.manager.on('trade', ({ seq }) => this.tradeSeqs.push(seq));
    this.manager.on('execution', (report) => {
      this.fills.push(...report.fills.map((fill) => fill.tradeId));
    });
    this.manager.on('book', ({ book }) => {
      this.book = book;
    });
  }

  close(): void {
    this.manager.close();
  }
}
