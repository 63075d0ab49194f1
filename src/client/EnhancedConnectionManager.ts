import { Code, ConnectError, createClient, type Client, type Transport } from '@connectrpc/connect';
import { AccountService } from '../gen/trading/v1/account_pb.js';
import type { Balance } from '../gen/trading/v1/account_pb.js';
import { AuthService } from '../gen/trading/v1/auth_pb.js';
import {
  MarketDataService,
  MarketStream,
  type SubscribeResponse,
  type Ticker,
  type Trade,
} from '../gen/trading/v1/market_data_pb.js';
import { OrderService } from '../gen/trading/v1/orders_pb.js';
import {
  SessionService,
  type ExecutionReport,
  type OpenStreamResponse,
} from '../gen/trading/v1/session_pb.js';
import {
  ConnectionQuality,
  ReconnectReason as WireReconnectReason,
} from '../gen/trading/v1/stream_pb.js';
import { Backoff, DEFAULT_BACKOFF } from './backoff.js';
import { ClientBook, type BookView } from './client-book.js';
import {
  classifyRtt,
  type ConnectionState,
  type QualityClass,
  type ReconnectReason,
} from './connection-state.js';
import { defaultEnvironment, type ClientEnvironment } from './environment.js';
import { Emitter } from './event-emitter.js';
import { wireReconnectReason } from './reconnect-reason.js';
import { StreamTracker, type Accepted, type StreamMessage } from './stream-tracker.js';
import { TokenKeeper, type AuthState } from './token-keeper.js';
import { authorizingTransport, type TransportKind, type TransportOption } from './transports.js';

export interface ConnectionManagerOptions {
  /**
   * Stream transports in order of preference; the next is used when one keeps failing. They
   * carry MarketDataService and SessionService (streams, pongs, re-authentication).
   */
  readonly transports: readonly TransportOption[];
  /**
   * Unary calls (auth, orders, balances). Connect's protocol is plain HTTP POSTs, which pass
   * proxies that break gRPC-Web's streaming; defaults to the first stream transport.
   */
  readonly unary?: Transport;
  /** Symbols whose market data to stream. */
  readonly symbols: readonly string[];
  /** Which streams of each symbol (default: book and trades). */
  readonly streams?: readonly MarketStreamKind[];
  readonly environment?: Partial<ClientEnvironment>;
  readonly backoff?: { readonly minMs: number; readonly maxMs: number };
  /** Connected this long, the backoff starts again from its minimum. */
  readonly stablePeriodMs?: number;
  /** Failed tries in a row, with nothing received, before falling back to the next transport. */
  readonly fallbackAfterFailures?: number;
  /** After a fallback, the preferred transport is tried again this much later. */
  readonly retryPreferredAfterMs?: number;
  readonly refreshMarginMs?: number;
  readonly maxRefreshRetries?: number;
}

/** The public streams of a symbol (docs/protocol.md, "Streams"). */
export type MarketStreamKind = 'book' | 'trades' | 'ticker';

const MARKET_STREAMS: Record<MarketStreamKind, MarketStream> = {
  book: MarketStream.BOOK,
  trades: MarketStream.TRADES,
  ticker: MarketStream.TICKER,
};

/** Why the app should know that a stream's state was replaced. */
export type ResyncReason = 'gap' | 'checksum' | 'unrecovered';

export interface ConnectionEvents {
  state: ConnectionState;
  auth: AuthState;
  /** A symbol's book after a verified change (or its removal: `book` undefined on resync). */
  book: { readonly symbol: string; readonly book: BookView | undefined };
  trade: { readonly symbol: string; readonly seq: bigint; readonly trade: Trade };
  /** The trades stream started afresh: entries between the old and new position are unknown. */
  tradesRestarted: { readonly symbol: string; readonly seq: bigint };
  /** A symbol's whole ticker: replaces the one before. */
  ticker: { readonly symbol: string; readonly seq: bigint; readonly ticker: Ticker };
  execution: ExecutionReport;
  balances: readonly Balance[];
  resync: { readonly stream: string; readonly reason: ResyncReason };
}

const SERVER_QUALITY: Record<ConnectionQuality, QualityClass | undefined> = {
  [ConnectionQuality.UNSPECIFIED]: undefined,
  [ConnectionQuality.EXCELLENT]: 'excellent',
  [ConnectionQuality.GOOD]: 'good',
  [ConnectionQuality.FAIR]: 'fair',
  [ConnectionQuality.POOR]: 'poor',
  [ConnectionQuality.OFFLINE]: 'offline',
};

/** A server's Reconnect hint is floored at this, so even a 0 never makes a tight loop. */
const MIN_HINT_MS = 100;
const RTT_SAMPLES = 30;
const STORAGE_TRANSPORT = 'trading.transport';

/** One try at connecting: the calls it opened and what it has seen. */
interface Attempt {
  readonly controller: AbortController;
  readonly transport: TransportOption;
  received: boolean;
  ended: boolean;
  privateController: AbortController | undefined;
  privateSessionId: string | undefined;
}

/**
 * Owns one connection to the platform for an app (and for the load tool): the public market
 * data stream and, once signed in, the user's private stream, over gRPC-Web or a WebSocket
 * fallback. It reconnects with exponential backoff and full jitter, resumes each stream from
 * its last position on whichever pod answers, proves books by checksum, resubscribes on a gap,
 * answers heartbeats, refreshes tokens and tells the app all of it as typed events and state.
 */
export class EnhancedConnectionManager extends Emitter<ConnectionEvents> {
  readonly auth: Client<typeof AuthService>;
  readonly orders: Client<typeof OrderService>;
  readonly accounts: Client<typeof AccountService>;
  readonly session: Client<typeof SessionService>;
  readonly market: Client<typeof MarketDataService>;

  readonly #options: ConnectionManagerOptions;
  readonly #env: ClientEnvironment;
  readonly #backoff: Backoff;
  readonly #tracker = new StreamTracker();
  readonly #books = new Map<string, ClientBook>();
  readonly #tokens: TokenKeeper;
  readonly #unsubscribe: (() => void)[] = [];
  #state: ConnectionState;
  #transportIndex = 0;
  #failuresOnTransport = 0;
  #retryPreferredAt: number | undefined;
  #attempt: Attempt | undefined;
  #retryTimer: unknown;
  #stableTimer: unknown;
  #started = false;
  #marketSessionId = '';
  #privateSessionId = '';
  /** Why the last call ended, sent with the session ids on the next (the server counts it). */
  #reconnectReason = WireReconnectReason.UNSPECIFIED;

  constructor(options: ConnectionManagerOptions) {
    super();
    if (options.transports.length === 0) throw new Error('at least one transport is needed');
    this.#options = options;
    this.#env = { ...defaultEnvironment(), ...options.environment };
    this.#backoff = new Backoff({
      ...(options.backoff ?? DEFAULT_BACKOFF),
      random: this.#env.random,
    });
    const remembered = this.#env.storage?.getItem(STORAGE_TRANSPORT);
    const index = options.transports.findIndex((option) => option.kind === remembered);
    if (index > 0) {
      this.#transportIndex = index;
      this.#retryPreferredAt = this.#env.timers.now() + this.#retryPreferredAfterMs;
    }
    const unary = options.unary ?? options.transports[0]?.transport;
    if (unary === undefined) throw new Error('no unary transport');
    const authorized = (current: () => Transport) =>
      authorizingTransport({
        current,
        accessToken: () => this.#tokens.accessToken,
        refresh: () => this.#tokens.refresh(),
      });
    const calls = authorized(() => unary);
    const streams = authorized(() => this.#currentTransport().transport);
    // Auth calls carry no token and must not wait on a refresh (a refresh is one of them).
    this.auth = createClient(
      AuthService,
      authorizingTransport({
        current: () => unary,
        accessToken: () => undefined,
        refresh: () => Promise.resolve(false),
      }),
    );
    this.orders = createClient(OrderService, calls);
    this.accounts = createClient(AccountService, calls);
    this.session = createClient(SessionService, streams);
    this.market = createClient(MarketDataService, streams);
    this.#tokens = new TokenKeeper({
      auth: this.auth,
      timers: this.#env.timers,
      random: this.#env.random,
      storage: this.#env.storage,
      refreshMarginMs: options.refreshMarginMs ?? 60_000,
      maxRefreshRetries: options.maxRefreshRetries ?? 4,
      onChange: (auth) => {
        this.#onAuthChange(auth);
      },
      onRotated: (token) => {
        void this.#reauthenticate(token);
      },
    });
    this.#state = {
      status: 'idle',
      transport: this.#currentTransport().kind,
      serverQuality: undefined,
      serverRttMs: undefined,
      serverJitterMs: undefined,
      missedHeartbeats: 0,
      quality: 'offline',
      rttMs: [],
      nextRetryAt: undefined,
      attempt: 0,
      reconnects: 0,
      lastReconnectReason: undefined,
      lastError: undefined,
      pod: undefined,
      migrations: 0,
      unrecovered: 0,
      gaps: 0,
      checksumMismatches: 0,
      duplicates: 0,
    };
  }

  get state(): ConnectionState {
    return this.#state;
  }

  get authState(): AuthState {
    return this.#tokens.state;
  }

  /** The verified book of a symbol, if the client holds one. */
  book(symbol: string): BookView | undefined {
    return this.#books.get(symbol)?.view();
  }

  /** Starts connecting and watching the network and page visibility. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#unsubscribe.push(
      this.#env.online.subscribe((online) => {
        this.#onNetwork(online);
      }),
      this.#env.visible.subscribe((visible) => {
        if (visible && this.#state.status === 'reconnecting') this.#connectNow();
      }),
    );
    this.#connectNow();
  }

  /** Stops everything: calls, timers and listeners. */
  close(): void {
    this.#started = false;
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    this.#endAttempt();
    this.#env.timers.clearTimeout(this.#retryTimer);
    this.#env.timers.clearTimeout(this.#stableTimer);
    this.#tokens.close();
    this.#update({ status: 'idle', nextRetryAt: undefined, quality: 'offline' });
  }

  async register(username: string, password: string): Promise<string> {
    const response = await this.auth.register({ username, password });
    return response.userId;
  }

  signIn(username: string, password: string): Promise<void> {
    return this.#tokens.signIn(username, password);
  }

  /** Signs in from the refresh token this tab remembers; false when there is none or it failed. */
  restoreSession(): Promise<boolean> {
    return this.#tokens.restore();
  }

  signOut(): Promise<void> {
    return this.#tokens.signOut();
  }

  // --- connecting -------------------------------------------------------------------------

  get #retryPreferredAfterMs(): number {
    return this.#options.retryPreferredAfterMs ?? 5 * 60_000;
  }

  #currentTransport(): TransportOption {
    const option = this.#options.transports[this.#transportIndex];
    if (option === undefined) throw new Error('no transport at the current index');
    return option;
  }

  #connectNow(): void {
    this.#env.timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (!this.#started) return;
    if (!this.#env.online.current()) {
      this.#update({ status: 'offline', nextRetryAt: undefined, quality: 'offline' });
      return;
    }
    const retryAt = this.#retryPreferredAt;
    if (this.#transportIndex > 0 && retryAt !== undefined && this.#env.timers.now() >= retryAt) {
      // Try the preferred transport again; one failure sends the client back.
      this.#transportIndex = 0;
      this.#failuresOnTransport = (this.#options.fallbackAfterFailures ?? 2) - 1;
      this.#retryPreferredAt = undefined;
    }
    const attempt: Attempt = {
      controller: new AbortController(),
      transport: this.#currentTransport(),
      received: false,
      ended: false,
      privateController: undefined,
      privateSessionId: undefined,
    };
    this.#attempt = attempt;
    this.#update({
      status: 'connecting',
      transport: attempt.transport.kind,
      nextRetryAt: undefined,
    });
    void this.#pumpMarket(attempt);
    if (this.#tokens.state.status === 'signed-in') void this.#pumpPrivate(attempt);
  }

  #endAttempt(): Attempt | undefined {
    const attempt = this.#attempt;
    if (attempt === undefined) return undefined;
    this.#attempt = undefined;
    attempt.ended = true;
    attempt.controller.abort();
    this.#env.timers.clearTimeout(this.#stableTimer);
    return attempt;
  }

  /** An attempt ended: count it, maybe fall back, and schedule the next one. */
  #attemptEnded(attempt: Attempt, reason: ReconnectReason, error?: unknown, hintMs?: number): void {
    if (attempt !== this.#attempt || attempt.ended) return;
    this.#endAttempt();
    const message = error === undefined ? undefined : ConnectError.from(error).message;
    if (reason === 'error' && !attempt.received) {
      this.#failuresOnTransport += 1;
      const next = this.#transportIndex + 1;
      const limit = this.#options.fallbackAfterFailures ?? 2;
      if (this.#failuresOnTransport >= limit && next < this.#options.transports.length) {
        this.#transportIndex = next;
        this.#failuresOnTransport = 0;
        this.#retryPreferredAt = this.#env.timers.now() + this.#retryPreferredAfterMs;
        this.#env.storage?.setItem(STORAGE_TRANSPORT, this.#currentTransport().kind);
        reason = 'transport-fallback';
      }
    }
    this.#reconnectReason = wireReconnectReason(reason, error);
    this.#schedule(reason, message, hintMs);
  }

  #schedule(reason: ReconnectReason, error: string | undefined, hintMs?: number): void {
    if (!this.#started) return;
    if (!this.#env.online.current()) {
      this.#update({ status: 'offline', nextRetryAt: undefined, quality: 'offline' });
      return;
    }
    const delay = hintMs === undefined ? this.#backoff.next() : Math.max(MIN_HINT_MS, hintMs);
    this.#retryTimer = this.#env.timers.setTimeout(() => {
      this.#connectNow();
    }, delay);
    this.#update({
      status: 'reconnecting',
      nextRetryAt: this.#env.timers.now() + delay,
      attempt: this.#backoff.attempt,
      reconnects: this.#state.reconnects + 1,
      lastReconnectReason: reason,
      lastError: error ?? this.#state.lastError,
      quality: 'offline',
    });
  }

  #onNetwork(online: boolean): void {
    if (!online) {
      this.#endAttempt();
      this.#env.timers.clearTimeout(this.#retryTimer);
      this.#update({ status: 'offline', nextRetryAt: undefined, quality: 'offline' });
      return;
    }
    // The network is back: try at once, from the minimum delay if that fails.
    this.#backoff.reset();
    this.#reconnectReason = wireReconnectReason('online');
    this.#update({ lastReconnectReason: 'online' });
    this.#connectNow();
  }

  /** Something arrived on this attempt: it is connected; a different pod is a migration. */
  #alive(attempt: Attempt, pod: string): void {
    if (!attempt.received) {
      attempt.received = true;
      this.#failuresOnTransport = 0;
      const migrated = this.#state.pod !== undefined && pod !== '' && pod !== this.#state.pod;
      this.#update({
        status: 'connected',
        pod: pod === '' ? this.#state.pod : pod,
        migrations: this.#state.migrations + (migrated ? 1 : 0),
        quality: classifyRtt(this.#state.rttMs.at(-1)),
      });
      this.#stableTimer = this.#env.timers.setTimeout(() => {
        this.#backoff.reset();
        this.#update({ attempt: 0 });
      }, this.#options.stablePeriodMs ?? 10_000);
    }
  }

  // --- streams ------------------------------------------------------------------------------

  #kinds(): readonly MarketStreamKind[] {
    return this.#options.streams ?? ['book', 'trades'];
  }

  /** The stream names the server opens, in its order: each symbol's kinds, book first. */
  #marketStreams(): string[] {
    const kinds = (Object.keys(MARKET_STREAMS) as MarketStreamKind[]).filter((kind) =>
      this.#kinds().includes(kind),
    );
    return this.#options.symbols.flatMap((symbol) => kinds.map((kind) => `${kind}.${symbol}`));
  }

  async #pumpMarket(attempt: Attempt): Promise<void> {
    const streams = this.#marketStreams();
    this.#tracker.beginCall(streams);
    try {
      const messages = this.market.subscribe(
        {
          symbols: [...this.#options.symbols],
          streams: this.#kinds().map((kind) => MARKET_STREAMS[kind]),
          sessionId: this.#marketSessionId,
          positions: this.#tracker.positions(streams),
          reconnectReason: this.#reconnectReason,
        },
        { signal: attempt.controller.signal },
      );
      for await (const message of messages) {
        if (attempt.ended) return;
        this.#onMarket(attempt, message);
      }
      this.#attemptEnded(attempt, 'server-closed');
    } catch (error) {
      this.#attemptEnded(attempt, 'error', error);
    }
  }

  async #pumpPrivate(attempt: Attempt): Promise<void> {
    if (attempt.privateController !== undefined || this.#tokens.state.status !== 'signed-in') {
      return;
    }
    const stream = `orders.${this.#tokens.state.userId}`;
    const controller = new AbortController();
    attempt.privateController = controller;
    const signal = AbortSignal.any([attempt.controller.signal, controller.signal]);
    this.#tracker.beginCall([stream]);
    try {
      const messages = this.session.openStream(
        {
          sessionId: this.#privateSessionId,
          positions: this.#tracker.positions([stream]),
          reconnectReason: this.#reconnectReason,
        },
        { signal },
      );
      for await (const message of messages) {
        if (attempt.ended || controller.signal.aborted) return;
        this.#onPrivate(attempt, message);
      }
      if (!controller.signal.aborted) this.#attemptEnded(attempt, 'server-closed');
    } catch (error) {
      if (controller.signal.aborted) return;
      if (ConnectError.from(error).code === Code.Unauthenticated) {
        // The token was refused: a refresh either fixes it (reconnect) or signs out.
        if (!(await this.#tokens.refresh())) return;
      }
      this.#attemptEnded(attempt, 'error', error);
    }
  }

  /** Heartbeats and Reconnect hints are the same on both streams. */
  #control(
    attempt: Attempt,
    sessionId: string,
    event: SubscribeResponse['event'] | OpenStreamResponse['event'],
  ): boolean {
    if (event.case === 'heartbeat') {
      void this.#answerHeartbeat(sessionId, event.value.id);
      return true;
    }
    if (event.case === 'reconnect') {
      this.#attemptEnded(attempt, 'server-reconnect', undefined, event.value.delayMs);
      return true;
    }
    if (event.case === 'quality') {
      const { quality, rttMs, jitterMs, missedHeartbeats } = event.value;
      this.#update({
        serverQuality: SERVER_QUALITY[quality],
        serverRttMs: rttMs,
        serverJitterMs: jitterMs,
        missedHeartbeats,
      });
      return true;
    }
    return false;
  }

  #onMarket(attempt: Attempt, message: SubscribeResponse): void {
    this.#alive(attempt, message.pod);
    if (message.sessionId !== '') this.#marketSessionId = message.sessionId;
    const { event } = message;
    if (this.#control(attempt, message.sessionId, event)) return;
    const start = event.case === undefined || event.case === 'snapshot';
    const firstSeq = event.case === 'delta' ? event.value.firstSeq : 0n;
    const accepted = this.#accept(
      attempt,
      { ...message, firstSeq },
      start,
      event.case === 'ticker',
    );
    if (accepted === undefined) return;
    if (message.stream.startsWith('book.')) {
      const symbol = message.stream.slice('book.'.length);
      if (event.case === 'snapshot') {
        const book = new ClientBook(symbol);
        this.#books.set(symbol, book);
        const { bids, asks, checksum } = event.value;
        if (!book.snapshot(message.seq, bids, asks, checksum)) {
          this.#resync(attempt, message.stream, 'checksum');
          return;
        }
        this.emit('book', { symbol, book: book.view() });
      } else if (event.case === 'delta') {
        const book = this.#books.get(symbol);
        const { bids, asks, checksum } = event.value;
        if (!book?.delta(message.seq, bids, asks, checksum)) {
          this.#resync(attempt, message.stream, 'checksum');
          return;
        }
        this.emit('book', { symbol, book: book.view() });
      } else if (accepted.kind === 'fresh' || !this.#books.has(symbol)) {
        // A fresh start must bring a snapshot; without one the client has no book.
        this.#resync(attempt, message.stream, 'gap');
      }
    } else if (message.stream.startsWith('trades.')) {
      const symbol = message.stream.slice('trades.'.length);
      if (accepted.kind === 'fresh') {
        this.emit('tradesRestarted', { symbol, seq: message.seq });
      } else if (event.case === 'trade') {
        this.emit('trade', { symbol, seq: message.seq, trade: event.value });
      }
    } else if (message.stream.startsWith('ticker.') && event.case === 'ticker') {
      const symbol = message.stream.slice('ticker.'.length);
      this.emit('ticker', { symbol, seq: message.seq, ticker: event.value });
    }
  }

  #onPrivate(attempt: Attempt, message: OpenStreamResponse): void {
    this.#alive(attempt, message.pod);
    if (message.sessionId !== '') {
      this.#privateSessionId = message.sessionId;
      attempt.privateSessionId = message.sessionId;
    }
    const { event } = message;
    if (this.#control(attempt, message.sessionId, event)) return;
    // Only the call's first message opens the stream (the tracker knows which): `balances`
    // also follows every engine batch that moved the user's balances, so later in the call it
    // is an entry, and one past a missing seq is a gap (a server restart too: resubscribe).
    const accepted = this.#accept(attempt, message, false);
    if (accepted === undefined) return;
    if (event.case === 'balances') this.emit('balances', event.value.balances);
    else if (event.case === 'execution') this.emit('execution', event.value);
  }

  /**
   * Checks a message against the stream's position; undefined when it must not be applied.
   * `whole`: it carries the stream's whole state, so a gap before it does not matter.
   */
  #accept(
    attempt: Attempt,
    message: StreamMessage,
    start: boolean,
    whole = false,
  ): Accepted | undefined {
    if (start) this.#tracker.beginCall([message.stream]);
    const accepted = this.#tracker.accept(message, whole);
    switch (accepted.kind) {
      case 'duplicate':
        this.#update({ duplicates: this.#state.duplicates + 1 });
        return undefined;
      case 'gap':
        this.#resync(attempt, message.stream, 'gap');
        return undefined;
      case 'fresh':
        if (accepted.hadPosition) {
          // The client asked to resume and got a snapshot instead: say so, never hide it.
          this.#update({ unrecovered: this.#state.unrecovered + 1 });
          this.emit('resync', { stream: message.stream, reason: 'unrecovered' });
        }
        return accepted;
      default:
        return accepted;
    }
  }

  /** The stream's state is wrong: drop it and resubscribe for a snapshot (after a backoff delay). */
  #resync(attempt: Attempt, stream: string, reason: 'gap' | 'checksum'): void {
    this.#tracker.forget(stream);
    if (stream.startsWith('book.')) {
      const symbol = stream.slice('book.'.length);
      this.#books.delete(symbol);
      this.emit('book', { symbol, book: undefined });
    }
    this.#update(
      reason === 'gap'
        ? { gaps: this.#state.gaps + 1 }
        : { checksumMismatches: this.#state.checksumMismatches + 1 },
    );
    this.emit('resync', { stream, reason });
    this.#attemptEnded(attempt, 'resync');
  }

  // --- heartbeats and tokens ---------------------------------------------------------------

  async #answerHeartbeat(sessionId: string, heartbeatId: bigint): Promise<void> {
    const sentAt = this.#env.timers.now();
    try {
      await this.session.pong({ sessionId, heartbeatId });
    } catch {
      return; // A lost answer is a missed beat for the server; nothing to do here.
    }
    const rtt = this.#env.timers.now() - sentAt;
    const rttMs = [...this.#state.rttMs, rtt].slice(-RTT_SAMPLES);
    const quality: QualityClass =
      this.#state.status === 'connected' ? classifyRtt(rtt) : this.#state.quality;
    this.#update({ rttMs, quality });
  }

  async #reauthenticate(accessToken: string): Promise<void> {
    const sessionId = this.#attempt?.privateSessionId;
    if (sessionId === undefined) return;
    try {
      await this.session.reauthenticate({ sessionId, accessToken });
    } catch (error) {
      if (ConnectError.from(error).code === Code.Unimplemented) return;
      // The stream could not take the token in-band: reconnect it with the new one.
      const attempt = this.#attempt;
      if (attempt !== undefined) this.#attemptEnded(attempt, 'error', error);
    }
  }

  #onAuthChange(auth: AuthState): void {
    this.emit('auth', auth);
    const attempt = this.#attempt;
    if (attempt === undefined) return;
    if (auth.status === 'signed-in') {
      void this.#pumpPrivate(attempt);
    } else {
      attempt.privateController?.abort();
      attempt.privateController = undefined;
      attempt.privateSessionId = undefined;
      this.#privateSessionId = '';
    }
  }

  #update(change: Partial<ConnectionState>): void {
    this.#state = { ...this.#state, ...change };
    this.emit('state', this.#state);
  }

  /** The kind of transport in use now. */
  get transport(): TransportKind {
    return this.#currentTransport().kind;
  }
}
