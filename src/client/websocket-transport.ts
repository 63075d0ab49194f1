import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type MessageInitShape,
} from '@bufbuild/protobuf';
import { Code, ConnectError, type Transport } from '@connectrpc/connect';
import {
  MarketDataService,
  SubscribeResponseSchema,
  type SubscribeRequest,
} from '../gen/trading/v1/market_data_pb.js';
import {
  OpenStreamResponseSchema,
  PongResponseSchema,
  ReauthenticateResponseSchema,
  SessionService,
  type OpenStreamRequest,
} from '../gen/trading/v1/session_pb.js';
import { ClientFrameSchema, ServerFrameSchema } from '../gen/trading/v1/websocket_pb.js';

type FrameInit = MessageInitShape<typeof ClientFrameSchema>['frame'];
type TraceFields = Pick<MessageInitShape<typeof ClientFrameSchema>, 'traceparent' | 'tracestate'>;

const CODES = new Map<number, Code>(
  Object.values(Code)
    .filter((value): value is Code => typeof value === 'number')
    .map((code) => [code, code]),
);

/** A gRPC status number from the wire as Connect's Code. */
function statusCode(value: number): Code {
  return CODES.get(value) ?? Code.Unknown;
}
import type { TransportOption } from './transports.js';

/** What the transport needs of a WebSocket: the browser's, Node 22's, or the `ws` package's. */
export interface WebSocketLike {
  binaryType: string;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketFactory = (url: string) => WebSocketLike;

/** Close codes of /ws (docs/protocol.md, "WebSocket") as the status a gRPC call would end with. */
function closeCode(code: number): Code {
  switch (code) {
    case 4401:
      return Code.Unauthenticated;
    case 4400:
    case 4415:
    case 4422:
    case 1009:
      return Code.InvalidArgument;
    case 4429:
    case 4430:
    case 4509:
      return Code.ResourceExhausted;
    case 4500:
      return Code.Internal;
    default:
      return Code.Unavailable;
  }
}

/** Messages pushed by socket callbacks, pulled by the call's async iterator. */
class Inbox<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  #waiting: (() => void) | undefined;
  #done = false;
  #error: unknown;

  push(item: T): void {
    this.#items.push(item);
    this.#wake();
  }

  end(error?: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = error;
    this.#wake();
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const item = this.#items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.#done) {
        if (this.#error !== undefined) throw ConnectError.from(this.#error);
        return;
      }
      await new Promise<void>((resolve) => {
        this.#waiting = resolve;
      });
    }
  }
}

async function only<T>(input: AsyncIterable<T>): Promise<T> {
  for await (const message of input) return message;
  throw new ConnectError('a server-streaming call needs its request', Code.InvalidArgument);
}

/**
 * The WebSocket fallback (/ws) as a Connect Transport, so the same clients run on it: each
 * streaming call (Subscribe, OpenStream) is one socket carrying binary protobuf frames; the
 * bearer token goes in an `authenticate` frame (browsers cannot set headers on a WebSocket),
 * and Pong and Reauthenticate travel in-band on the socket of the session they name. Other
 * unary methods are not carried (they go over Connect's unary transport).
 */
export function websocketTransport(url: string, factory?: WebSocketFactory): TransportOption {
  const open: WebSocketFactory =
    factory ??
    ((target) => {
      const Native = (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
      if (Native === undefined) throw new ConnectError('no WebSocket here', Code.Unimplemented);
      return new Native(target);
    });
  const sockets = new Map<string, WebSocketLike>();
  const acks = new Map<number, { resolve: () => void; reject: (error: unknown) => void }>();
  let nextRequestId = 1;

  const send = (socket: WebSocketLike, frame: FrameInit, trace?: TraceFields): number => {
    const requestId = nextRequestId++;
    socket.send(
      toBinary(ClientFrameSchema, create(ClientFrameSchema, { requestId, frame, ...trace })),
    );
    return requestId;
  };
  const onSocket = (sessionId: string, method: string): WebSocketLike => {
    const socket = sockets.get(sessionId);
    if (socket === undefined) {
      throw new ConnectError(
        `${method}: no open WebSocket for this session`,
        Code.FailedPrecondition,
      );
    }
    return socket;
  };

  const transport: Transport = {
    async unary(method, _signal, _timeoutMs, _header, input) {
      const base = { stream: false as const, service: method.parent, method };
      const headers = { header: new Headers(), trailer: new Headers() };
      if (method.parent.typeName === SessionService.typeName && method.name === 'Pong') {
        const { sessionId = '', heartbeatId = 0n } = input as {
          sessionId?: string;
          heartbeatId?: bigint;
        };
        send(onSocket(sessionId, 'Pong'), { case: 'pong', value: { sessionId, heartbeatId } });
        return { ...base, ...headers, message: create(PongResponseSchema) } as never;
      }
      if (method.parent.typeName === SessionService.typeName && method.name === 'Reauthenticate') {
        const { sessionId = '', accessToken = '' } = input as {
          sessionId?: string;
          accessToken?: string;
        };
        const socket = onSocket(sessionId, 'Reauthenticate');
        await new Promise<void>((resolve, reject) => {
          acks.set(send(socket, { case: 'authenticate', value: { sessionId, accessToken } }), {
            resolve,
            reject,
          });
        });
        return { ...base, ...headers, message: create(ReauthenticateResponseSchema) } as never;
      }
      throw new ConnectError(
        `${method.parent.typeName}/${method.name} is not carried over WebSocket`,
        Code.Unimplemented,
      );
    },

    async stream(method, callSignal, _timeoutMs, header, input) {
      const signal = callSignal ?? new AbortController().signal;
      const market =
        method.parent.typeName === MarketDataService.typeName && method.name === 'Subscribe';
      const own =
        method.parent.typeName === SessionService.typeName && method.name === 'OpenStream';
      if (!market && !own) {
        throw new ConnectError(
          `${method.parent.typeName}/${method.name} is not carried over WebSocket`,
          Code.Unimplemented,
        );
      }
      const request = (await only(input)) as Partial<SubscribeRequest & OpenStreamRequest>;
      const headers = new Headers(header);
      const token = /^Bearer (.+)$/.exec(headers.get('authorization') ?? '')?.[1];
      // A tracing interceptor's headers, carried in the frame (no headers on a WebSocket).
      const trace: TraceFields = {
        traceparent: headers.get('traceparent') ?? '',
        tracestate: headers.get('tracestate') ?? '',
      };
      const inbox = new Inbox<unknown>();
      const sessions = new Set<string>();
      const socket = open(url);
      socket.binaryType = 'arraybuffer';
      const finish = (error?: unknown) => {
        for (const sessionId of sessions)
          if (sockets.get(sessionId) === socket) sockets.delete(sessionId);
        inbox.end(error);
      };
      const abort = () => {
        socket.close(1000);
        finish(new ConnectError('the call was canceled', Code.Canceled));
      };
      if (signal.aborted) abort();
      signal.addEventListener('abort', abort, { once: true });
      socket.onopen = () => {
        if (token !== undefined)
          send(socket, { case: 'authenticate', value: { accessToken: token } });
        if (market) send(socket, { case: 'subscribe', value: request }, trace);
        else send(socket, { case: 'openStream', value: request }, trace);
      };
      socket.onmessage = ({ data }) => {
        if (!(data instanceof ArrayBuffer)) return;
        const frame = fromBinary(ServerFrameSchema, new Uint8Array(data)).frame;
        switch (frame.case) {
          case 'market':
          case 'user':
            if (frame.value.sessionId !== '') {
              sessions.add(frame.value.sessionId);
              sockets.set(frame.value.sessionId, socket);
            }
            inbox.push(frame.value);
            return;
          case 'reconnect': {
            // As a message of the call, like the other transports deliver it.
            const schema: DescMessage = market ? SubscribeResponseSchema : OpenStreamResponseSchema;
            inbox.push(
              create(schema as typeof SubscribeResponseSchema, {
                event: { case: 'reconnect', value: frame.value },
              }),
            );
            return;
          }
          case 'ack':
            acks.get(frame.value.requestId)?.resolve();
            acks.delete(frame.value.requestId);
            return;
          case 'error': {
            const error = new ConnectError(frame.value.message, statusCode(frame.value.code));
            const pending = acks.get(frame.value.requestId);
            acks.delete(frame.value.requestId);
            if (pending !== undefined) pending.reject(error);
            else {
              socket.close(1000);
              finish(error);
            }
            return;
          }
          default:
            return;
        }
      };
      socket.onerror = () => undefined; // onclose follows with the code
      socket.onclose = ({ code, reason }) => {
        signal.removeEventListener('abort', abort);
        finish(
          code === 1000 || code === 1001
            ? undefined
            : new ConnectError(
                `WebSocket closed (${code}${reason === '' ? '' : `: ${reason}`})`,
                closeCode(code),
              ),
        );
      };
      return {
        stream: true,
        service: method.parent,
        method,
        header: new Headers(),
        trailer: new Headers(),
        message: inbox,
      } as never;
    },
  };
  return { kind: 'websocket', transport };
}

/** ws:// or wss:// for /ws on the same origin as an http(s) base URL. */
export function websocketUrl(baseUrl: string): string {
  const url = new URL('/ws', baseUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}
