import { randomUUID } from 'node:crypto';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { Logger } from '../../telemetry/index.js';
import type { VerifiedToken } from '../auth/access-tokens.js';
import { DomainError } from '../errors.js';
import type { SessionStore } from '../ports/session-store.port.js';
import type { StreamLog } from '../ports/stream-log.port.js';
import type { StreamSnapshots } from '../ports/stream-snapshots.port.js';
import type { BookReplicas } from './book-replicas.js';
import { LiveFanout } from './live-fanout.js';
import type { ConnectionRegistry } from './connection-registry.js';
import {
  StreamConnection,
  realEvery,
  type ConnectionSettings,
  type Every,
  type GatewayDelivery,
  type PongOutcome,
} from './stream-connection.js';
import type { StreamDrain } from './stream-drain.js';
import { kindOfStream, parseStreamName } from './stream-names.js';
import type { StreamSnapshot } from './stream-snapshot.js';
import type { ReconnectReason, StreamMetrics } from './stream.metrics.js';
import {
  StreamSubscription,
  type Snapshot,
  type StreamPosition,
  type SubscriptionLimits,
} from './stream-subscription.js';

export type { GatewayDelivery } from './stream-connection.js';
export type { StreamSnapshot } from './stream-snapshot.js';

export interface GatewayDeps {
  readonly log: StreamLog;
  readonly snapshots: StreamSnapshots;
  readonly replicas: BookReplicas;
  readonly sessions: SessionStore;
  readonly limits: SubscriptionLimits;
  /** Heartbeats, quality, send-queue bounds and conflation of each connection. */
  readonly connection: ConnectionSettings;
  readonly connections: ConnectionRegistry;
  readonly sessionTtlSeconds: number;
  /** This process's name: stored with the session, sent with every message. */
  readonly pod: string;
  readonly metrics: StreamMetrics;
  readonly logger: Logger;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
  /** Timers of heartbeats and conflation; injected so tests can drive them. */
  readonly every?: Every;
  readonly newSessionId?: () => string;
  /** Where every open connection registers, so a shutdown can drain them (none: no drain). */
  readonly drain?: StreamDrain;
  /** What a drained stream ends with: UNAVAILABLE, marked as a shutdown for the transport. */
  readonly goingAway?: () => Error;
  /** Runs `fn` after `ms`; returns a cancel. Injected so tests control token expiry. */
  readonly setTimer?: (fn: () => void, ms: number) => () => void;
}

export interface OpenRequest {
  /** Stream names, already checked by the caller against what it may read. */
  readonly streams: readonly string[];
  readonly positions: readonly StreamPosition[];
  /** From an earlier open; empty for a new session. */
  readonly sessionId: string;
  /** Why the client reconnects, as it says; counted when it sends a session id. */
  readonly reconnectReason?: ReconnectReason;
  /** The authenticated caller; undefined on public market data. */
  readonly userId: number | undefined;
  /** When the caller's access token expires (ms since the epoch); private streams end then unless renewed. */
  readonly tokenExpiresAtMs?: number;
  /** grpc, grpc-web, connect, websocket: a label of `stream_connections`. */
  readonly transport: string;
  /** Aborted when the client goes away or the server shuts down. */
  readonly signal: AbortSignal;
}

export interface OpenStreams {
  readonly sessionId: string;
  readonly pod: string;
  /**
   * Each stream's start, then its entries, in order per stream, with heartbeats and quality
   * changes between them; ends when the signal aborts (or the client is cut off). Read
   * synchronously: a transport takes whatever waits in one go, with no promise per message.
   */
  readonly reader: DeliveryReader;
  /** The client's answer to a heartbeat, for a transport that carries it in-band. */
  pong(heartbeatId: number): PongOutcome;
  /**
   * Stops some of the streams (a WebSocket unsubscribe): nothing more of them is delivered,
   * and the reader is done once every stream is stopped.
   */
  close(streams: readonly string[]): void;
}

/** Synchronous reading of an open's deliveries. */
export interface DeliveryReader {
  /**
   * The next delivery to write, or undefined when none waits. Throws what ended the streams
   * (then they are closed, as when `release` is called).
   */
  next(): GatewayDelivery | undefined;
  /** Nothing more will come: the streams ended and everything was taken. */
  readonly done: boolean;
  /** Calls `wake` once, when a delivery waits or the streams end (at once if either is so). */
  whenReady(wake: () => void): void;
  /**
   * Offers each delivery that arrives while none waits to `take` as it comes, counted when
   * taken (true); one not taken (false) waits for `next`. For a transport that can write at
   * once, in the turn that produced the delivery.
   */
  direct(take: (delivery: GatewayDelivery) => boolean): void;
  /** The transport stops reading: closes the streams; idempotent. */
  release(): void;
}

const tracer = trace.getTracer('trading-platform/streams');

/**
 * Opens a client's streams on this pod: checks positions, records the session (noticing a
 * migration from another pod), starts one subscription per stream into one bounded queue, and
 * measures what happens. Transport-free: gRPC, Connect and WebSocket adapters write what its
 * `reader` hands them.
 */
export class StreamGateway {
  readonly #deps: GatewayDeps;
  readonly #log: Logger;
  readonly #fanout: LiveFanout;

  constructor(deps: GatewayDeps) {
    this.#deps = deps;
    const log = deps.logger.child({ component: 'stream-gateway' });
    this.#log = log;
    this.#fanout = new LiveFanout(
      deps.log,
      (error, stream) => {
        log.error({ err: error, stream }, 'stream subscription failed on a live entry');
      },
      deps.metrics.tallies.live,
    );
  }

  /**
   * Who may read which stream: `orders.<id>` only its owner (PERMISSION_DENIED otherwise, also
   * for a position of such a stream); anything unknown is INVALID_ARGUMENT.
   */
  authorize(streams: readonly string[], positions: readonly StreamPosition[], userId?: number) {
    for (const name of [...streams, ...positions.map((p) => p.stream)]) {
      const parsed = parseStreamName(name);
      if (parsed === undefined) {
        this.#reject();
        throw new DomainError('invalid_argument', `unknown stream "${name}"`, { field: 'stream' });
      }
      if (parsed.kind === 'orders' && (userId === undefined || parsed.key !== String(userId))) {
        this.#reject();
        throw new DomainError(
          'permission_denied',
          `stream ${name} belongs to another user; a private stream is its owner's only`,
        );
      }
    }
    const wanted = new Set(streams);
    for (const position of positions) {
      if (!wanted.has(position.stream)) {
        this.#reject();
        throw new DomainError(
          'invalid_argument',
          `a position for ${position.stream}, which this call does not subscribe to`,
          { field: 'positions' },
        );
      }
    }
  }

  async open(request: OpenRequest): Promise<OpenStreams> {
    const { metrics, pod, connections } = this.#deps;
    // Counted before anything can refuse it: a reconnect storm shows even while resumes fail.
    const reconnectReason =
      request.sessionId === '' ? undefined : (request.reconnectReason ?? 'unspecified');
    if (reconnectReason !== undefined) {
      metrics.reconnects.inc({ reason: reconnectReason });
      // On the transport's span of the call (gRPC, Connect, a /ws frame), which this runs in.
      trace.getActiveSpan()?.setAttribute('stream.reconnect_reason', reconnectReason);
    }
    this.authorize(request.streams, request.positions, request.userId);
    const sessionId = await this.#session(request);
    const connection = new StreamConnection({
      sessionId,
      transport: request.transport,
      settings: this.#deps.connection,
      metrics,
      logger: this.#deps.logger,
      now: this.#deps.now,
      every: this.#deps.every ?? realEvery,
      nextHeartbeatId: connections.nextHeartbeatId,
    });
    const positions = new Map(request.positions.map((p) => [p.stream, p]));
    const subscriptions = new Map<string, StreamSubscription<StreamSnapshot>>();
    const stopped = new Set<string>();
    const closeAll = () => {
      for (const subscription of subscriptions.values()) subscription.close();
      connections.remove(connection);
      connection.close();
    };
    request.signal.addEventListener('abort', closeAll, { once: true });
    try {
      for (const stream of request.streams) {
        subscriptions.set(stream, await this.#subscribe(stream, positions.get(stream), connection));
      }
    } catch (error) {
      closeAll();
      throw error;
    }
    connections.add(connection);
    connection.start();
    const goingAway = this.#deps.goingAway ?? defaultGoingAway;
    const unregister = this.#deps.drain?.add({
      transport: request.transport,
      reconnect: (delayMs, reason) => {
        connection.reconnect(delayMs, reason);
      },
      close: () => {
        connection.fail(goingAway());
      },
    });
    const stopExpiry =
      request.tokenExpiresAtMs === undefined
        ? undefined
        : this.#watchExpiry(sessionId, request.tokenExpiresAtMs, (error) => {
            connection.fail(error);
          });
    const openedAt = this.#deps.now();
    this.#log.info(
      {
        session_id: sessionId,
        streams: request.streams,
        transport: request.transport,
        ...(reconnectReason === undefined ? {} : { reconnect_reason: reconnectReason }),
      },
      'stream opened',
    );
    const log = this.#log;
    const { sent } = metrics.tallies;
    let finished = false;
    const finish = (failure: unknown) => {
      if (finished) return;
      finished = true;
      unregister?.();
      stopExpiry?.();
      request.signal.removeEventListener('abort', closeAll);
      connection.release();
      closeAll();
      log.info(
        {
          session_id: sessionId,
          duration_ms: Date.now() - openedAt,
          reason: closeReason(request.signal, failure),
        },
        'stream closed',
      );
    };
    /** The next delivery to write, counted; undefined when none waits. */
    const next = (): GatewayDelivery | undefined => {
      for (;;) {
        const delivery = connection.take();
        if (
          delivery === undefined ||
          delivery.kind === 'heartbeat' ||
          delivery.kind === 'quality' ||
          delivery.kind === 'reconnect'
        ) {
          return delivery;
        }
        // Queued before an unsubscribe: the client no longer wants it.
        if (stopped.has(delivery.stream)) continue;
        sent[kindOfStream(delivery.stream)] += 1;
        return delivery;
      }
    };
    const reader: DeliveryReader = {
      next: () => {
        try {
          return next();
        } catch (error) {
          finish(error);
          throw error;
        }
      },
      get done() {
        return connection.done;
      },
      whenReady: (wake) => {
        connection.whenReady(wake);
      },
      direct: (take) => {
        connection.direct((delivery) => {
          if (
            delivery.kind === 'heartbeat' ||
            delivery.kind === 'quality' ||
            delivery.kind === 'reconnect'
          ) {
            return take(delivery);
          }
          // Of a stream unsubscribed meanwhile (a conflated message folded before): dropped,
          // as `next` skips it. A stopped stream's subscription delivers no entry.
          if (delivery.kind !== 'entry' && stopped.has(delivery.stream)) return true;
          if (!take(delivery)) return false;
          sent[kindOfStream(delivery.stream)] += 1;
          return true;
        });
      },
      release: () => {
        finish(undefined);
      },
    };
    return {
      sessionId,
      pod,
      reader,
      pong: (heartbeatId) => connection.pong(heartbeatId),
      close: (streams) => {
        for (const stream of streams) {
          subscriptions.get(stream)?.close();
          stopped.add(stream);
        }
        if (request.streams.every((stream) => stopped.has(stream))) closeAll();
      },
    };
  }

  /** A pong that came outside its stream (the unary `SessionService.Pong`). */
  pong(sessionId: string, heartbeatId: number): PongOutcome | 'unknown_session' {
    return this.#deps.connections.pong(sessionId, heartbeatId);
  }

  /**
   * Hands a fresh access token to a private session's streams, on any pod: the session record
   * (shared by every pod) takes the later expiry, and each stream reads it when its own token
   * runs out. Only the session's owner may (PERMISSION_DENIED otherwise).
   */
  async reauthenticate(sessionId: string, token: VerifiedToken): Promise<void> {
    const { sessions, metrics, now } = this.#deps;
    const stored = sessionId === '' ? undefined : await sessions.get(sessionId);
    if (stored === undefined) {
      metrics.reauthentications.inc({ result: 'unknown' });
      throw new DomainError(
        'not_found',
        `no session "${sessionId}" (expired or never issued): open the stream again with this token and your positions`,
        { field: 'session_id' },
      );
    }
    if (stored.userId === undefined || String(stored.userId) !== token.principal.userId) {
      metrics.reauthentications.inc({ result: 'denied' });
      throw new DomainError(
        'permission_denied',
        "this session belongs to another user (or is public); a token renews only its own user's session",
      );
    }
    const tokenExpiresAtMs = Math.max(stored.tokenExpiresAtMs ?? 0, token.expiresAtMs);
    await sessions.put(
      { ...stored, tokenExpiresAtMs, updatedAtMs: now() },
      this.#deps.sessionTtlSeconds,
    );
    metrics.reauthentications.inc({ result: 'ok' });
    this.#log.info(
      { session_id: sessionId, token_expires_at: new Date(tokenExpiresAtMs).toISOString() },
      'session reauthenticated',
    );
  }

  /**
   * Ends a private stream when its token expires, unless the session record says a later token
   * was handed in meanwhile (then waits for that one). Returns a stop for when the stream ends.
   */
  #watchExpiry(sessionId: string, expiresAtMs: number, end: (error: Error) => void): () => void {
    const { sessions, now, metrics } = this.#deps;
    const setTimer = this.#deps.setTimer ?? defaultTimer;
    let cancel: (() => void) | undefined;
    const stopped = new AbortController();
    const isStopped = () => stopped.signal.aborted;
    const arm = (at: number) => {
      cancel = setTimer(() => void check(at), Math.max(0, at - now()));
    };
    const check = async (at: number) => {
      if (isStopped()) return;
      let later: number | undefined;
      try {
        later = (await sessions.get(sessionId))?.tokenExpiresAtMs;
      } catch (error) {
        // Without the record the renewal cannot be seen: a reconnect with a fresh token can.
        end(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      if (isStopped()) return;
      if (at > now()) {
        arm(at); // a timer cut at its longest delay
        return;
      }
      if (later !== undefined && later > now()) {
        arm(later);
        return;
      }
      metrics.tokenExpiries.inc();
      this.#log.info({ session_id: sessionId }, 'stream token expired');
      end(
        new DomainError(
          'unauthenticated',
          `the access token of this stream expired at ${new Date(Math.max(at, later ?? 0)).toISOString()}: before a token expires, send a fresh one (AuthService/Refresh) with SessionService/Reauthenticate and this session_id, or reopen the stream with a fresh token and your positions`,
        ),
      );
    };
    arm(expiresAtMs);
    return () => {
      stopped.abort();
      cancel?.();
    };
  }

  #reject(): void {
    this.#deps.metrics.resumes.inc({ result: 'rejected' });
  }

  /**
   * Stores the session with this pod's name before streaming: a pod killed a moment later
   * still leaves the record (and the client holds its positions).
   */
  async #session(request: OpenRequest): Promise<string> {
    const { sessions, pod, metrics } = this.#deps;
    let id = request.sessionId;
    let storedExpiry: number | undefined;
    if (id !== '') {
      const stored = await sessions.get(id);
      storedExpiry = stored?.tokenExpiresAtMs;
      if (stored !== undefined && stored.userId !== request.userId) {
        throw new DomainError('permission_denied', 'this session belongs to another user');
      }
      if (stored === undefined) {
        metrics.migrations.inc({ result: 'unknown' });
        this.#log.info({ session_id: id }, 'session unknown or expired; a new one is issued');
        id = '';
      } else if (stored.pod !== pod) {
        metrics.migrations.inc({ result: 'migrated' });
        tracer
          .startSpan('session.migrate', {
            attributes: { 'session.id': id, 'session.from_pod': stored.pod, 'session.to_pod': pod },
          })
          .end();
        this.#log.info({ session_id: id, from_pod: stored.pod, to_pod: pod }, 'session migrated');
      }
    }
    if (id === '') id = (this.#deps.newSessionId ?? randomUUID)();
    await sessions.put(
      {
        id,
        userId: request.userId,
        pod,
        streams: [...request.streams],
        updatedAtMs: this.#deps.now(),
        // A later token handed in with Reauthenticate stays good when the stream reconnects.
        ...(request.tokenExpiresAtMs === undefined
          ? {}
          : { tokenExpiresAtMs: Math.max(request.tokenExpiresAtMs, storedExpiry ?? 0) }),
      },
      this.#deps.sessionTtlSeconds,
    );
    return id;
  }

  /** One stream's subscription, in a span naming how it started. */
  async #subscribe(
    stream: string,
    position: StreamPosition | undefined,
    connection: StreamConnection,
  ): Promise<StreamSubscription<StreamSnapshot>> {
    const { log, limits, sleep, metrics } = this.#deps;
    return tracer.startActiveSpan(
      position === undefined ? 'stream.subscribe' : 'stream.resume',
      { attributes: { 'stream.name': stream } },
      async (span) => {
        try {
          const subscription = await StreamSubscription.open<StreamSnapshot>(
            { log, limits, sleep, fanout: this.#fanout, snapshot: (name) => this.#snapshot(name) },
            stream,
            position,
            {
              deliver: (delivery) => {
                if (delivery.kind === 'start') {
                  span.setAttributes({
                    'stream.recovered': delivery.recovered,
                    'stream.seq': delivery.seq,
                    'stream.outcome': delivery.recovered ? 'replayed' : (delivery.reason ?? ''),
                  });
                  if (position !== undefined) {
                    metrics.resumes.inc({ result: delivery.recovered ? 'replayed' : 'snapshot' });
                    if (delivery.recovered) metrics.replayed.observe(delivery.replayed);
                  }
                }
                connection.deliver(delivery);
              },
              fail: (error) => {
                connection.fail(error);
              },
              direct: connection,
            },
          );
          return subscription;
        } catch (error) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
          throw error;
        } finally {
          span.end();
        }
      },
    );
  }

  async #snapshot(stream: string): Promise<Snapshot<StreamSnapshot>> {
    const parsed = parseStreamName(stream);
    switch (parsed?.kind) {
      case 'book': {
        const book = (await this.#deps.replicas.get(parsed.key)).snapshot();
        return { seq: book.seq, value: { kind: 'book', book } };
      }
      case 'orders': {
        const { seq, balances } = await this.#deps.snapshots.balances(Number(parsed.key));
        return { seq, value: { kind: 'balances', balances } };
      }
      case 'ticker': {
        // Each entry is the whole ticker, so the log's last one is the snapshot: no database
        // read, and every pod serves the same bytes for the same seq.
        const { log } = this.#deps;
        const seq = await log.lastSeq(stream);
        const [last] = seq === 0 ? [] : await log.read(stream, seq - 1, 1);
        return {
          seq,
          value: last?.seq === seq ? { kind: 'ticker', payload: last.payload } : undefined,
        };
      }
      default:
        // Trades have no state: a fresh start begins at the end of the log.
        return { seq: await this.#deps.log.lastSeq(stream), value: undefined };
    }
  }
}

const defaultGoingAway = () =>
  new DomainError('unavailable', 'the server is shutting down; reconnect to continue', {
    retryAfterMs: 0,
  });

/** setTimeout's longest delay; a later expiry is checked then and re-armed. */
const MAX_TIMER_MS = 2_147_483_647;

function defaultTimer(fn: () => void, ms: number): () => void {
  const timer = setTimeout(fn, Math.min(ms, MAX_TIMER_MS));
  timer.unref();
  return () => {
    clearTimeout(timer);
  };
}

function closeReason(signal: AbortSignal, failure: unknown): string {
  if (failure instanceof Error) return failure.message;
  if (!signal.aborted) return 'ended';
  return signal.reason instanceof Error ? signal.reason.message : 'cancelled';
}
