import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { websocketTransport, type WebSocketLike } from '../../../src/client/websocket-transport.js';
import { MarketDataService } from '../../../src/gen/trading/v1/market_data_pb.js';
import { SessionService } from '../../../src/gen/trading/v1/session_pb.js';
import { ReconnectSchema } from '../../../src/gen/trading/v1/stream_pb.js';
import {
  ClientFrameSchema,
  ServerFrameSchema,
  type ClientFrame,
} from '../../../src/gen/trading/v1/websocket_pb.js';

/** A WebSocket the test plays the server of. */
class FakeSocket implements WebSocketLike {
  binaryType = 'blob';
  readonly sent: ClientFrame[] = [];
  closed: number | undefined;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(readonly url: string) {}

  send(data: Uint8Array): void {
    this.sent.push(fromBinary(ClientFrameSchema, data));
  }
  close(code = 1000): void {
    this.closed = code;
  }
  open(): void {
    this.onopen?.({});
  }
  receive(frame: MessageInitShape<typeof ServerFrameSchema>): void {
    const bytes = toBinary(ServerFrameSchema, create(ServerFrameSchema, frame));
    this.onmessage?.({
      data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
    });
  }
  end(code: number, reason = ''): void {
    this.onclose?.({ code, reason });
  }
}

function harness() {
  const sockets: FakeSocket[] = [];
  const option = websocketTransport('ws://platform/ws', (url) => {
    const socket = new FakeSocket(url);
    sockets.push(socket);
    return socket;
  });
  return { sockets, option, market: createClient(MarketDataService, option.transport) };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

test('a Subscribe call is one socket: the subscribe frame out, market frames in, 1001 ends it', async () => {
  const { sockets, market } = harness();
  const iterator = market
    .subscribe({ symbols: ['BTC-USD'], sessionId: 's-1' })
    [Symbol.asyncIterator]();
  const next = iterator.next();
  await tick();
  const socket = sockets[0]!;
  assert.equal(socket.binaryType, 'arraybuffer');
  socket.open();
  assert.equal(socket.sent[0]?.frame.case, 'subscribe');
  assert.deepEqual(
    socket.sent[0].frame.value,
    create(ClientFrameSchema, {
      frame: { case: 'subscribe', value: { symbols: ['BTC-USD'], sessionId: 's-1' } },
    }).frame.value,
  );
  socket.receive({
    frame: {
      case: 'market',
      value: { stream: 'trades.BTC-USD', seq: 7n, sessionId: 's-2', pod: 'p' },
    },
  });
  const first = await next;
  assert.ok(first.done !== true);
  assert.equal(first.value.seq, 7n);
  socket.end(1001, 'going away');
  assert.equal((await iterator.next()).done, true);
});

test('the token goes in an authenticate frame before open_stream, never in the URL', async () => {
  const { sockets, option } = harness();
  const session = createClient(SessionService, option.transport);
  const iterator = session
    .openStream({}, { headers: { authorization: 'Bearer tok-1' } })
    [Symbol.asyncIterator]();
  void iterator.next();
  await tick();
  const socket = sockets[0]!;
  socket.open();
  assert.deepEqual(
    socket.sent.map((frame) => frame.frame.case),
    ['authenticate', 'openStream'],
  );
  assert.equal(
    socket.sent[0]?.frame.case === 'authenticate' && socket.sent[0].frame.value.accessToken,
    'tok-1',
  );
  assert.ok(!socket.url.includes('tok-1'));
});

test("a tracing interceptor's traceparent goes in the subscribe frame (no headers on a WebSocket)", async () => {
  const { sockets, market } = harness();
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const iterator = market
    .subscribe({ symbols: ['BTC-USD'] }, { headers: { traceparent, tracestate: 'v=1' } })
    [Symbol.asyncIterator]();
  void iterator.next();
  await tick();
  const socket = sockets[0]!;
  socket.open();
  assert.equal(socket.sent[0]?.frame.case, 'subscribe');
  assert.equal(socket.sent[0].traceparent, traceparent);
  assert.equal(socket.sent[0].tracestate, 'v=1');
  assert.ok(!socket.url.includes(traceparent));
});

test('Pong and Reauthenticate travel in-band on the socket of their session', async () => {
  const { sockets, option, market } = harness();
  const session = createClient(SessionService, option.transport);
  const iterator = market.subscribe({ symbols: ['BTC-USD'] })[Symbol.asyncIterator]();
  const first = iterator.next();
  await tick();
  const socket = sockets[0]!;
  socket.open();
  socket.receive({
    frame: {
      case: 'market',
      value: { sessionId: 's-9', event: { case: 'heartbeat', value: { id: 3n } } },
    },
  });
  await first;
  await session.pong({ sessionId: 's-9', heartbeatId: 3n });
  assert.equal(socket.sent.at(-1)?.frame.case, 'pong');

  const renewed = session.reauthenticate({ sessionId: 's-9', accessToken: 'tok-2' });
  await tick();
  const frame = socket.sent.at(-1)!;
  assert.equal(frame.frame.case, 'authenticate');
  socket.receive({ frame: { case: 'ack', value: { requestId: frame.requestId } } });
  await renewed;

  const refused = session.reauthenticate({ sessionId: 's-9', accessToken: 'someone-else' });
  await tick();
  socket.receive({
    frame: {
      case: 'error',
      value: {
        requestId: socket.sent.at(-1)!.requestId,
        code: Code.PermissionDenied,
        message: 'another user',
      },
    },
  });
  await assert.rejects(refused, (error) => ConnectError.from(error).code === Code.PermissionDenied);

  await assert.rejects(
    session.pong({ sessionId: 'nobody', heartbeatId: 1n }),
    (error) => ConnectError.from(error).code === Code.FailedPrecondition,
  );
});

test('a socket that closes abnormally fails the call with the matching status', async () => {
  const { sockets, market } = harness();
  const iterator = market.subscribe({ symbols: ['BTC-USD'] })[Symbol.asyncIterator]();
  const next = iterator.next();
  await tick();
  sockets[0]!.end(4509, 'slow consumer');
  await assert.rejects(next, (error) => {
    const connect = ConnectError.from(error);
    return connect.code === Code.ResourceExhausted && connect.message.includes('4509');
  });
});

test('a reconnect frame is delivered as the call’s Reconnect message', async () => {
  const { sockets, market } = harness();
  const iterator = market.subscribe({ symbols: ['BTC-USD'] })[Symbol.asyncIterator]();
  const next = iterator.next();
  await tick();
  sockets[0]!.open();
  sockets[0]!.receive({
    frame: { case: 'reconnect', value: { delayMs: 1234, reason: 'draining' } },
  });
  const result = await next;
  assert.ok(result.done !== true);
  const message = result.value;
  assert.deepEqual(message.event, {
    case: 'reconnect',
    value: create(ReconnectSchema, { delayMs: 1234, reason: 'draining' }),
  });
});

test('unary methods other than Pong and Reauthenticate are not carried', async () => {
  const { option } = harness();
  await assert.rejects(
    createClient(MarketDataService, option.transport).getOrderBook({ symbol: 'BTC-USD' }),
    (error) => ConnectError.from(error).code === Code.Unimplemented,
  );
});
