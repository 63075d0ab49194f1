import { randomUUID } from 'node:crypto';
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { context as otelContext, ROOT_CONTEXT, type Context } from '@opentelemetry/api';
import type { RawData, WebSocket } from 'ws';
import type { VerifiedToken } from '../../domain/auth/access-tokens.js';
import { SESSION_REVOKED } from '../../domain/auth/token-verifier.js';
import { DomainError, isDomainError } from '../../domain/errors.js';
import {
  MARKET_STREAM_KINDS,
  marketStream,
  userStream,
} from '../../domain/streams/stream-names.js';
import type { GatewayDelivery } from '../../domain/streams/stream-gateway.js';
import type { SubscribeRequest, SubscribeResponse } from '../../gen/trading/v1/market_data_pb.js';
import type { OpenStreamRequest, OpenStreamResponse } from '../../gen/trading/v1/session_pb.js';
import {
  ClientFrameSchema,
  ServerFrameSchema,
  type ClientFrame,
  type UnsubscribeRequest,
} from '../../gen/trading/v1/websocket_pb.js';
import type { Logger } from '../../telemetry/index.js';
import { STATUS_CODES } from '../rpc/status-codes.js';
import type { OpenedCall, StreamCall, StreamCalls } from '../rpc/stream-calls.js';
import { writeSoon } from './write-soon.js';
import {
  CLOSE_CODES,
  CLOSE_REASONS,
  closeNameOf,
  closeReasonText,
  type CloseName,
} from './close-codes.js';
import { FrameBudget } from './frame-budget.js';
import { frameTraceContext, startFrameSpan, type FrameSpan } from './frame-tracing.js';
import { binaryFrame, type FrameWire } from './frame-wire.js';
import { SharedMarketFrames } from './shared-market-frames.js';
import type { WebSocketMetrics } from './websocket.metrics.js';

/** The `transport` label of this transport's streams. */
export const WEBSOCKET_TRANSPORT = 'websocket';

export interface ConnectionDeps {
  /** The stream protocol core the gRPC and Connect handlers use too. */
  readonly calls: StreamCalls;
  readonly authenticate: (accessToken: string) => Promise<VerifiedToken>;
  /** Streams one connection may have open. */
  readonly maxSubscriptions: number;
  readonly frames: { readonly ratePerSec: number; readonly burst: number };
  /**
   * Past this many bytes waiting in the socket, a stream's writer waits for the socket to flush:
   * a slow client then backs up into the gateway's bounded queue (and is cut off there, 4509)
   * instead of into this process's memory.
   */
  readonly sendHighWaterBytes: number;
  readonly metrics: WebSocketMetrics;
  readonly logger: Logger;
  readonly now: () => number;
}

/** One subscribe or open_stream frame's streams, open (or opening) in the gateway. */
interface Open {
  readonly controller: AbortController;
  readonly streams: readonly string[];
  /** Unsubscribed while the open was still in progress. */
  readonly stopped: Set<string>;
  opened: OpenedCall<StreamResponse> | undefined;
}

/** What a connection uses of a `ws` socket; frames go out through its `FrameWire`. */
export type FrameSocket = Pick<WebSocket, 'on' | 'close'>;

type StreamResponse = SubscribeResponse | OpenStreamResponse;

type FrameCase = NonNullable<MessageInitShape<typeof ServerFrameSchema>['frame']>;

/** Every connection of the process shares the encoding of each market stream entry. */
const marketFrames = new SharedMarketFrames();

/**
 * One WebSocket client: decodes its frames, opens its streams through the shared core, writes
 * their messages as frames, renews its access token in-band, and closes with a precise code
 * when the client breaks the protocol. Heartbeats come from the gateway inside market and
 * user frames; the client's pong frames go back to the open that sent each one. A drain
 * reaches the client through `reconnect`.
 */
export class WebSocketConnection {
  readonly id = randomUUID();
  readonly #socket: FrameSocket;
  readonly #wire: FrameWire;
  readonly #deps: ConnectionDeps;
  readonly #log: Logger;
  readonly #budget: FrameBudget;
  readonly #openedAt: number;
  /**
   * Bytes waiting in the socket past which writing waits for a 'drain': the setting, but
   * never below the socket's own mark, under which no 'drain' comes and a wait would spin.
   */
  readonly #highWater: number;
  /** Stream name → the open carrying it; reserved before the open completes. */
  readonly #streams = new Map<string, Open>();
  /** Heartbeats written and not yet answered → the open they came from (ids are per pod). */
  readonly #heartbeats = new Map<bigint, Open>();
  /** Each open being written: stops writing it and releases its streams. */
  readonly #writers = new Set<() => void>();
  #auth: { readonly verified: VerifiedToken; readonly timer: NodeJS.Timeout } | undefined;
  /** Frames are handled one after another, so an authenticate precedes what follows it. */
  #chain: Promise<void> = Promise.resolve();
  #closing: { name: CloseName; reason: string } | undefined;
  #finished = false;
  /** The upgrade request's trace context: frames without their own traceparent join it. */
  #traceContext: Context = ROOT_CONTEXT;

  constructor(
    socket: FrameSocket,
    wire: FrameWire,
    readonly clientIp: string,
    deps: ConnectionDeps,
  ) {
    this.#socket = socket;
    this.#wire = wire;
    this.#deps = deps;
    this.#openedAt = deps.now();
    this.#highWater = Math.max(deps.sendHighWaterBytes, wire.socketHighWater);
    this.#log = deps.logger.child({ connection_id: this.id, client_ip: clientIp });
    this.#budget = new FrameBudget(deps.frames, deps.now);
  }

  /**
   * Starts serving; `bearer` is the token of an `Authorization` header on the upgrade, and
   * `traceContext` the trace its `traceparent` header names.
   */
  start(bearer: string | undefined, traceContext: Context = ROOT_CONTEXT): void {
    this.#traceContext = traceContext;
    this.#log.info({ authenticated: bearer !== undefined }, 'websocket connected');
    this.#socket.on('message', (data, isBinary) => {
      this.#onMessage(data, isBinary);
    });
    this.#socket.on('error', (error: Error & { code?: string }) => {
      this.#onSocketError(error);
    });
    this.#socket.on('close', (code, reason) => {
      this.#finish(code, reason.toString('utf8'));
    });
    if (bearer !== undefined) this.#enqueue(() => this.#authenticate(0, bearer, true));
  }

  /** The authenticated user, if any. */
  get userId(): string | undefined {
    return this.#auth?.verified.principal.userId;
  }

  /** Tells the client to reconnect after `delayMs` and resume, then closes (1001). */
  async reconnect(delayMs: number, reason: string): Promise<void> {
    await this.#send({ case: 'reconnect', value: { delayMs, reason } });
    this.close('going_away', reason);
  }

  /** Closes with the code of `name` and `reason` (cut to the 123 bytes a close frame holds). */
  close(name: CloseName, reason: string): void {
    if (this.#closing !== undefined || this.#finished) return;
    this.#closing = { name, reason };
    this.#stopAll();
    // What this turn sent goes out before the close frame, as it would have written at once.
    this.#wire.flush();
    this.#socket.close(CLOSE_CODES[name], closeReasonText(reason));
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.#closing !== undefined) return;
    if (!isBinary) {
      this.close('text_frame', 'text frames are not accepted: send binary trading.v1.ClientFrame');
      return;
    }
    if (!this.#budget.take()) {
      const { ratePerSec, burst } = this.#deps.frames;
      this.close('frame_flood', `more than ${burst} frames at once or ${ratePerSec}/s: slow down`);
      return;
    }
    let frame: ClientFrame;
    try {
      frame = fromBinary(ClientFrameSchema, bytesOf(data));
    } catch {
      this.close('malformed_frame', 'the frame is not a trading.v1.ClientFrame');
      return;
    }
    this.#enqueue(() => this.#handle(frame));
  }

  #enqueue(step: () => Promise<void> | void): void {
    this.#chain = this.#chain.then(step).catch((error: unknown) => {
      this.#log.error({ err: error }, 'websocket frame handling failed unexpectedly');
      this.close('internal', 'internal error: reconnect and resume');
    });
  }

  async #handle(frame: ClientFrame): Promise<void> {
    if (this.#closing !== undefined) return;
    const { requestId } = frame;
    const body = frame.frame;
    switch (body.case) {
      case 'subscribe':
        this.#subscribe(
          requestId,
          body.value,
          startFrameSpan(frameTraceContext(frame, this.#traceContext), 'subscribe', requestId),
        );
        return;
      case 'openStream':
        this.#openStream(
          requestId,
          body.value,
          startFrameSpan(frameTraceContext(frame, this.#traceContext), 'open_stream', requestId),
        );
        return;
      case 'unsubscribe':
        await this.#unsubscribe(requestId, body.value);
        return;
      case 'pong':
        this.#pong(body.value.heartbeatId);
        return;
      case 'authenticate':
        await this.#authenticate(requestId, body.value.accessToken, false);
        return;
      default:
        this.close(
          'unknown_frame',
          'unknown frame: expected subscribe, open_stream, unsubscribe, pong or authenticate',
        );
    }
  }

  #subscribe(requestId: number, request: SubscribeRequest, span: FrameSpan): void {
    const streams = this.#refusing(requestId, () => this.#deps.calls.marketStreams(request), span);
    if (streams === undefined || !this.#admits(requestId, streams, span)) return;
    this.#run(
      requestId,
      streams,
      (call) => this.#deps.calls.subscribe(request, { ...call, clientIp: this.clientIp }),
      (message) => ({ case: 'market', value: message }),
      true,
      span,
    );
  }

  #openStream(requestId: number, request: OpenStreamRequest, span: FrameSpan): void {
    const principal = this.#auth?.verified.principal;
    if (principal === undefined) {
      this.#refuse(
        requestId,
        new DomainError(
          'unauthenticated',
          'open_stream needs an access token: send an authenticate frame first (or "authorization: Bearer <token>" on the upgrade)',
        ),
        span,
      );
      return;
    }
    const owner = {
      userId: Number(principal.userId),
      authSessionId: principal.sessionId,
      tokenExpiresAtMs: this.#auth?.verified.expiresAtMs ?? 0,
    };
    if (!this.#admits(requestId, [userStream(owner.userId)], span)) return;
    this.#run(
      requestId,
      [userStream(owner.userId)],
      (call) => this.#deps.calls.openPrivate(request, owner, call),
      (message) => ({ case: 'user', value: message }),
      false,
      span,
    );
  }

  /** Refuses streams already open here, or past WS_MAX_SUBSCRIPTIONS for the connection. */
  #admits(requestId: number, streams: readonly string[], span: FrameSpan): boolean {
    span.streams(streams);
    const open = streams.filter((stream) => this.#streams.has(stream));
    if (open.length > 0) {
      this.#refuse(
        requestId,
        new DomainError(
          'failed_precondition',
          `already open on this connection: ${open.join(', ')}; unsubscribe first`,
        ),
        span,
      );
      return false;
    }
    const total = this.#streams.size + streams.length;
    const max = this.#deps.maxSubscriptions;
    if (total > max) {
      this.#refuse(
        requestId,
        new DomainError(
          'resource_exhausted',
          `${total} streams on one connection; at most ${max}: unsubscribe or open another connection`,
        ),
        span,
      );
      return false;
    }
    return true;
  }

  /**
   * Opens streams and writes their messages; not awaited, so a slow open (a snapshot being
   * read) holds back no other frame. A refusal answers with an error frame; a stream failing
   * later closes the connection (the client resumes from its positions). Market stream
   * entries (`shared`) are written as the frame every subscriber shares. The open runs in
   * the frame's span, so the gateway's spans and log lines join the client's trace.
   */
  #run<T extends StreamResponse>(
    requestId: number,
    streams: readonly string[],
    open: (call: StreamCall) => Promise<OpenedCall<T>>,
    frame: (message: T) => FrameCase,
    shared: boolean,
    span: FrameSpan,
  ): void {
    const entry: Open = {
      controller: new AbortController(),
      streams,
      stopped: new Set(),
      opened: undefined,
    };
    for (const stream of streams) this.#streams.set(stream, entry);
    const call: StreamCall = {
      transport: WEBSOCKET_TRANSPORT,
      signal: entry.controller.signal,
    };
    void otelContext.with(span.context, async () => {
      try {
        const opened = await open(call);
        span.opened(opened.sessionId);
        entry.opened = opened;
        if (entry.stopped.size > 0) opened.close([...entry.stopped]);
        await this.#write(entry, opened, frame, shared);
      } catch (error) {
        if (entry.controller.signal.aborted || this.#closing !== undefined) {
          span.cancelled();
          return;
        }
        span.failed(error);
        if (entry.opened === undefined && isDomainError(error)) {
          this.#refuse(requestId, error);
          return;
        }
        if (!isDomainError(error)) {
          this.#log.error({ err: error, streams }, 'websocket stream failed unexpectedly');
        }
        const name = closeNameOf(error);
        this.close(name, closeReasonOf(name, error));
      } finally {
        for (const stream of streams) {
          if (this.#streams.get(stream) === entry) this.#streams.delete(stream);
        }
      }
    });
  }

  /**
   * Writes an open's deliveries until its streams end: whenever some wait, all of them in one
   * socket write, once per tick (`writeSoon`), without a promise per message. Past
   * `sendHighWaterBytes` waiting in the socket it waits for the socket to flush. Resolves when the
   * streams end or the connection closes; rejects with what ended them otherwise.
   */
  #write<T extends StreamResponse>(
    entry: Open,
    opened: OpenedCall<T>,
    frame: (message: T) => FrameCase,
    shared: boolean,
  ): Promise<void> {
    const { reader, pod } = opened;
    const wire = this.#wire;
    return new Promise<void>((resolve, reject) => {
      let ended = false;
      const stop = () => {
        if (ended) return;
        ended = true;
        this.#writers.delete(stop);
        reader.release();
        resolve();
      };
      this.#writers.add(stop);
      const frameOf = (delivery: GatewayDelivery): Buffer => {
        if (shared && delivery.kind === 'entry') return marketFrames.frame(delivery, pod);
        const message = opened.message(delivery);
        if (message.event.case === 'heartbeat') this.#heartbeats.set(message.event.value.id, entry);
        return binaryFrame(encodeFrame(frame(message)));
      };
      const fail = (error: unknown) => {
        ended = true;
        this.#writers.delete(stop);
        reader.release();
        reject(error instanceof Error ? error : new Error(String(error)));
      };
      const schedule = () => {
        writeSoon(pump);
      };
      // A delivery that finds nothing waiting goes out in the turn of the log entry that made
      // it (one pass over the subscribers, like a plain broadcast), with whatever else this
      // turn sends to the same socket.
      const writeNow = (delivery: GatewayDelivery): boolean => {
        if (ended || this.#closing !== undefined || this.#finished) return false;
        if (wire.buffered >= this.#highWater) return false;
        try {
          wire.send(frameOf(delivery));
        } catch (error) {
          fail(error);
        }
        return true;
      };
      const frames: Buffer[] = [];
      const pump = () => {
        if (ended) return;
        if (this.#closing !== undefined || this.#finished) {
          stop();
          return;
        }
        let bytes = 0;
        try {
          for (;;) {
            if (wire.buffered + bytes >= this.#highWater) {
              wire.writeAll(frames, bytes);
              frames.length = 0;
              wire.whenDrained(schedule);
              return;
            }
            const delivery = reader.next();
            if (delivery === undefined) break;
            const bytesOf = frameOf(delivery);
            frames.push(bytesOf);
            bytes += bytesOf.length;
          }
        } catch (error) {
          // What was taken before the failure still goes out, as it would have one by one.
          wire.writeAll(frames, bytes);
          frames.length = 0;
          fail(error);
          return;
        }
        wire.writeAll(frames, bytes);
        frames.length = 0;
        if (reader.done) stop();
        else reader.whenReady(schedule);
      };
      reader.direct(writeNow);
      pump();
    });
  }

  /** A pong goes to the open whose heartbeat it answers; an unknown id is dropped. */
  #pong(heartbeatId: bigint): void {
    const entry = this.#heartbeats.get(heartbeatId);
    if (entry === undefined) return;
    this.#heartbeats.delete(heartbeatId);
    entry.opened?.pong(Number(heartbeatId));
  }

  async #unsubscribe(requestId: number, request: UnsubscribeRequest): Promise<void> {
    // Every stream of each symbol that this connection holds, whichever of them it asked for.
    const held = (symbol: string) =>
      MARKET_STREAM_KINDS.map((kind) => marketStream(kind, symbol)).filter((stream) =>
        this.#streams.has(stream),
      );
    const streams = request.symbols.flatMap(held);
    const missing = request.symbols.filter((symbol) => held(symbol).length === 0);
    if (request.symbols.length === 0 || missing.length > 0) {
      this.#refuse(
        requestId,
        new DomainError(
          'invalid_argument',
          request.symbols.length === 0
            ? 'symbols: name at least one symbol'
            : `not subscribed on this connection: ${missing.join(', ')}`,
          { field: 'symbols' },
        ),
      );
      return;
    }
    for (const stream of streams) {
      const entry = this.#streams.get(stream);
      if (entry === undefined) continue;
      this.#streams.delete(stream);
      entry.stopped.add(stream);
      entry.opened?.close([stream]);
      // Every stream of an open that has not finished opening: stop the open itself.
      if (entry.opened === undefined && entry.streams.every((s) => entry.stopped.has(s))) {
        entry.controller.abort(new Error('unsubscribed'));
      }
    }
    await this.#send({ case: 'ack', value: { requestId } });
  }

  /**
   * Verifies a token and holds it until it expires; then a connection with a private stream
   * closes (4401) unless a fresh token came first. A refused renewal leaves the current token.
   */
  async #authenticate(requestId: number, token: string, onUpgrade: boolean): Promise<void> {
    let verified: VerifiedToken;
    try {
      verified = await this.#deps.authenticate(token);
    } catch (error) {
      if (!isDomainError(error)) throw error;
      if (onUpgrade) this.close('unauthenticated', error.message);
      else this.#refuse(requestId, error);
      return;
    }
    const current = this.userId;
    if (current !== undefined && current !== verified.principal.userId && this.#hasPrivate()) {
      this.#refuse(
        requestId,
        new DomainError(
          'permission_denied',
          "the token is another user's than this connection's private stream; open another connection",
        ),
      );
      return;
    }
    // The gateway holds the private stream's expiry (in the session record, for every pod).
    const session = this.#privateOpen()?.opened?.sessionId;
    if (session !== undefined) {
      const renewed = await this.#refusingAsync(requestId, () =>
        this.#deps.calls.reauthenticate(session, verified),
      );
      if (!renewed) return;
    }
    if (this.#auth !== undefined) clearTimeout(this.#auth.timer);
    const timer = setTimeout(
      () => {
        this.#expired();
      },
      Math.max(0, verified.expiresAtMs - this.#deps.now()),
    );
    timer.unref();
    this.#auth = { verified, timer };
    this.#log.debug(
      { user_id: verified.principal.userId, expires_at_ms: verified.expiresAtMs },
      'websocket authenticated',
    );
    if (!onUpgrade) await this.#send({ case: 'ack', value: { requestId } });
  }

  /** The gateway ends the private stream itself (4401); the connection forgets the token. */
  #expired(): void {
    this.#auth = undefined;
  }

  #hasPrivate(): boolean {
    return this.#privateOpen() !== undefined;
  }

  #privateOpen(): Open | undefined {
    for (const [stream, entry] of this.#streams) if (stream.startsWith('orders.')) return entry;
    return undefined;
  }

  /** Runs `step`; a domain error becomes an error frame and undefined. */
  #refusing<T>(requestId: number, step: () => T, span: FrameSpan): T | undefined {
    try {
      return step();
    } catch (error) {
      if (!isDomainError(error)) throw error;
      this.#refuse(requestId, error, span);
      return undefined;
    }
  }

  /** Runs `step`; a domain error becomes an error frame and false. */
  async #refusingAsync(requestId: number, step: () => Promise<void>): Promise<boolean> {
    try {
      await step();
      return true;
    } catch (error) {
      if (!isDomainError(error)) throw error;
      this.#refuse(requestId, error);
      return false;
    }
  }

  #refuse(requestId: number, error: DomainError, span?: FrameSpan): void {
    span?.failed(error);
    this.#deps.metrics.errorFrames.inc({ code: error.code });
    this.#log.info(
      { request_id: requestId, code: error.code, err_msg: error.message },
      'websocket frame refused',
    );
    void this.#send({
      case: 'error',
      value: { requestId, code: STATUS_CODES[error.code], message: error.message },
    });
  }

  /** Writes one frame now, or once the socket has flushed if it is past its high-water mark. */
  async #send(frame: FrameCase): Promise<void> {
    if (this.#closing !== undefined || this.#finished) return;
    const bytes = binaryFrame(encodeFrame(frame));
    if (this.#wire.buffered >= this.#highWater) {
      await new Promise<void>((resolve) => {
        this.#wire.whenDrained(resolve);
      });
    }
    this.#wire.write(bytes);
  }

  /** ws closes the connection itself on these (1009 too big, 1002/1007 protocol errors). */
  #onSocketError(error: Error & { code?: string }): void {
    if (this.#closing !== undefined) return;
    if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      this.#closing = { name: 'message_too_big', reason: error.message };
    } else if (error.code?.startsWith('WS_ERR_') === true) {
      this.#closing = { name: 'malformed_frame', reason: error.message };
    } else {
      this.#log.debug({ err: error }, 'websocket socket error');
    }
    this.#stopAll();
  }

  #stopAll(): void {
    for (const entry of new Set(this.#streams.values())) {
      entry.controller.abort(new Error(this.#closing?.reason ?? 'connection closed'));
    }
    this.#streams.clear();
    for (const stop of [...this.#writers]) stop();
  }

  #finish(code: number, reason: string): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#stopAll();
    if (this.#auth !== undefined) clearTimeout(this.#auth.timer);
    this.#heartbeats.clear();
    const name: CloseName = this.#closing?.name ?? (code === 1001 ? 'going_away' : 'client');
    this.#deps.metrics.closed.inc({ reason: name });
    this.#log.info(
      {
        user_id: this.userId,
        code,
        reason: name,
        detail: this.#closing?.reason ?? reason,
        duration_ms: this.#deps.now() - this.#openedAt,
      },
      'websocket closed',
    );
  }
}

function encodeFrame(frame: FrameCase): Uint8Array {
  return toBinary(ServerFrameSchema, create(ServerFrameSchema, { frame }));
}

/** The gateway's reasons name unary RPCs; this transport's say what to do here instead. */
function closeReasonOf(name: CloseName, error: unknown): string {
  if (isDomainError(error) && error.message === SESSION_REVOKED) return error.message;
  return (
    CLOSE_REASONS[name] ?? (isDomainError(error) ? error.message : 'internal error: reconnect')
  );
}

function bytesOf(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}
