import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { Code } from '@connectrpc/connect';
import type { Client, Metadata } from '@grpc/grpc-js';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import { Side } from '../../src/gen/trading/v1/common_pb.js';
import { OrderService } from '../../src/gen/trading/v1/orders_pb.js';
import { sample, startTestApp, type TestApp } from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { placeRequest } from '../support/order-requests.js';
import { signUp } from '../support/stream-client.js';
import { closeFrameAfter, rawFrame, WsClient } from '../support/ws-client.js';

const BOOK = 'book.BTC-USD';
const tokenOf = (auth: Metadata) => String(auth.get('authorization')[0]).replace(/^Bearer /, '');

/**
 * Bad input on /ws: each offence closes its own connection with a precise code, or is
 * answered by an error frame where the connection can go on; a bystander subscribed
 * throughout keeps receiving, and the process serves on.
 */
describe('WebSocket bad input', () => {
  let app: TestApp;
  let orders: Client;
  let bystander: WsClient;
  const sockets: WsClient[] = [];
  const connect = async (headers?: Record<string, string>) => {
    const client = await WsClient.connect(app.httpUrl, headers);
    sockets.push(client);
    return client;
  };

  before(async () => {
    app = await startTestApp({
      WS_MAX_PAYLOAD_BYTES: '1024',
      WS_MAX_SUBSCRIPTIONS: '2',
      WS_FRAMES_PER_S: '5',
      WS_FRAMES_BURST: '20',
      AUTH_ACCESS_TOKEN_TTL_S: '3',
    });
    orders = grpcClient(app.grpcAddress, OrderService);
    bystander = await connect();
    bystander.send({ frame: { case: 'subscribe', value: { symbols: ['BTC-USD'] } } });
    await bystander.until(() => bystander.market(BOOK).length > 0, 'the bystander snapshot');
  });
  after(async () => {
    for (const socket of sockets) socket.close();
    orders.close();
    await app.stop();
  });

  test('a text frame closes with 4415', async () => {
    const ws = await connect();
    ws.socket.send('{"subscribe":{"symbols":["BTC-USD"]}}');
    const closed = await ws.closedWith();
    assert.equal(closed.code, 4415);
    assert.match(closed.reason, /binary/);
  });

  test('bytes that are not a ClientFrame close with 4400', async () => {
    const ws = await connect();
    ws.socket.send(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    assert.equal((await ws.closedWith()).code, 4400);
  });

  test('a frame with no known case (empty, or a field from a newer protocol) closes with 4422', async () => {
    const empty = await connect();
    const future = await connect();
    empty.send({ requestId: 7 });
    future.socket.send(Buffer.from([0xc8, 0x06, 0x01])); // field 100, varint 1
    for (const ws of [empty, future]) {
      const closed = await ws.closedWith();
      assert.equal(closed.code, 4422);
      assert.match(closed.reason, /unknown frame/);
    }
  });

  test('a frame over WS_MAX_PAYLOAD_BYTES closes with 1009 (Message Too Big)', async () => {
    const ws = await connect();
    ws.send({
      frame: { case: 'subscribe', value: { symbols: ['BTC-USD'], sessionId: 'x'.repeat(2_000) } },
    });
    const closed = await ws.closedWith();
    assert.equal(closed.code, 1009);
    assert.match(closed.reason, /more than 1024 bytes/);
  });

  test('a frame that breaks RFC 6455 closes with its protocol code and a reason saying what broke', async () => {
    const payload = new Uint8Array([1, 2, 3]);
    const cases = [
      [rawFrame(0x82, payload, false), 1002, /MASK must be set/],
      [rawFrame(0x83, payload), 1002, /invalid opcode 3/],
      [rawFrame(0x82 | 0x40, payload), 1002, /RSV1 must be clear/],
      [rawFrame(0x81, new Uint8Array([0xc3, 0x28])), 1007, /invalid UTF-8/],
    ] as const;
    for (const [bytes, code, reason] of cases) {
      const closed = await closeFrameAfter(app.httpPort, bytes);

      assert.equal(closed.code, code, closed.reason);
      assert.match(closed.reason, reason);
    }
  });

  test('a frame flood past WS_FRAMES_BURST closes with 4429', async () => {
    const ws = await connect();
    for (let i = 0; i < 40; i++) ws.send({ frame: { case: 'pong', value: { heartbeatId: 1n } } });
    const closed = await ws.closedWith();
    assert.equal(closed.code, 4429);
    assert.match(closed.reason, /20 frames at once or 5\/s/);
  });

  test('an unknown symbol or stream is an INVALID_ARGUMENT error frame; the connection goes on', async () => {
    const ws = await connect();
    ws.send({ requestId: 1, frame: { case: 'subscribe', value: { symbols: ['DOGE-EUR'] } } });
    ws.send({
      requestId: 2,
      frame: {
        case: 'subscribe',
        value: { symbols: ['BTC-USD'], positions: [{ stream: 'candles.BTC-USD', seq: 1n }] },
      },
    });
    ws.send({ requestId: 3, frame: { case: 'unsubscribe', value: { symbols: ['ETH-USD'] } } });
    await ws.until(() => ws.errors().length === 3, 'three refusals');
    ws.send({ requestId: 4, frame: { case: 'subscribe', value: { symbols: ['BTC-USD'] } } });
    await ws.until(() => ws.market(BOOK).length > 0, 'the snapshot');

    // A subscribe is answered once its streams are checked or opened, so answers to different
    // frames may come in any order: each names the request it answers.
    const errors = ws.errors().sort((a, b) => a.requestId - b.requestId);
    assert.deepEqual(
      errors.map((e) => [e.requestId, e.code]),
      [
        [1, Code.InvalidArgument],
        [2, Code.InvalidArgument],
        [3, Code.InvalidArgument],
      ],
    );
    assert.match(errors[0]?.message ?? '', /unknown symbol "DOGE-EUR"; traded: BTC-USD/);
    assert.match(errors[1]?.message ?? '', /unknown stream "candles.BTC-USD"/);
    assert.match(errors[2]?.message ?? '', /not subscribed on this connection: ETH-USD/);
    assert.equal(ws.closed, undefined);
    ws.close();
  });

  test('subscriptions past WS_MAX_SUBSCRIPTIONS, or twice, are refused by error frames', async () => {
    const { auth } = await signUp(app.grpcAddress, 'ws-greedy');
    const ws = await connect({ authorization: `Bearer ${tokenOf(auth)}` });
    ws.send({ requestId: 1, frame: { case: 'subscribe', value: { symbols: ['BTC-USD'] } } });
    ws.send({ requestId: 2, frame: { case: 'subscribe', value: { symbols: ['BTC-USD'] } } });
    ws.send({ requestId: 3, frame: { case: 'openStream', value: {} } });
    await ws.until(() => ws.errors().length === 2, 'two refusals');

    const [twice, tooMany] = ws.errors();
    assert.equal(twice?.code, Code.FailedPrecondition);
    assert.match(twice.message, /already open on this connection: book.BTC-USD, trades.BTC-USD/);
    assert.equal(tooMany?.code, Code.ResourceExhausted);
    assert.match(tooMany.message, /3 streams on one connection; at most 2/);
    assert.equal(ws.closed, undefined);
    ws.close();
  });

  test('an unsubscribe is acknowledged and its streams stop; the symbol can be subscribed again', async () => {
    const ws = await connect();
    ws.send({ requestId: 1, frame: { case: 'subscribe', value: { symbols: ['BTC-USD'] } } });
    await ws.until(() => ws.market(BOOK).length > 0, 'the snapshot');
    ws.send({ requestId: 2, frame: { case: 'unsubscribe', value: { symbols: ['BTC-USD'] } } });
    await ws.until(() => ws.acks().includes(2), 'the ack');
    const seen = ws.market().length;
    const { auth } = await signUp(app.grpcAddress, 'ws-unsubscriber');
    await place(auth, 59_000n);
    await bystander.until(
      () => bystander.market(BOOK).some((m) => m.event.case === 'delta'),
      'a delta',
    );
    assert.equal(ws.market().length, seen);
    ws.send({ requestId: 3, frame: { case: 'subscribe', value: { symbols: ['BTC-USD'] } } });
    await ws.until(() => ws.market(BOOK).length === 2, 'a second snapshot');
    assert.deepEqual(ws.errors(), []);
    ws.close();
  });

  test('a position from the future gets a fresh snapshot, recovered false', async () => {
    const ws = await connect();
    const epoch = bystander.market(BOOK)[0]?.epoch ?? 0n;
    ws.send({
      frame: {
        case: 'subscribe',
        value: { symbols: ['BTC-USD'], positions: [{ stream: BOOK, epoch, seq: 1_000_000n }] },
      },
    });
    await ws.until(() => ws.market(BOOK).length > 0, 'the start');
    const [start] = ws.market(BOOK);
    assert.equal(start?.recovered, false);
    assert.equal(start.event.case, 'snapshot');
    ws.close();
  });

  test('open_stream without a token is UNAUTHENTICATED; a bad token in a frame too; a bad header closes with 4401', async () => {
    const ws = await connect();
    ws.send({ requestId: 1, frame: { case: 'openStream', value: {} } });
    ws.send({ requestId: 2, frame: { case: 'authenticate', value: { accessToken: 'not-a-jwt' } } });
    await ws.until(() => ws.errors().length === 2, 'two refusals');
    const header = await connect({ authorization: 'Bearer not-a-jwt' });

    assert.deepEqual(
      ws.errors().map((e) => e.code),
      [Code.Unauthenticated, Code.Unauthenticated],
    );
    assert.match(ws.errors()[0]?.message ?? '', /send an authenticate frame first/);
    const closed = await header.closedWith();
    assert.equal(closed.code, 4401);
    assert.match(closed.reason, /access token is malformed/);
    ws.close();
  });

  test('a private stream whose token expires without renewal closes with 4401 saying so', async () => {
    const { auth } = await signUp(app.grpcAddress, 'ws-expiring');
    const ws = await connect();
    ws.send({ frame: { case: 'authenticate', value: { accessToken: tokenOf(auth) } } });
    ws.send({ frame: { case: 'openStream', value: {} } });
    await ws.until(() => ws.user().length > 0, 'the balances');
    const closed = await ws.closedWith(5_000);
    assert.equal(closed.code, 4401);
    assert.match(closed.reason, /access token expired: send an authenticate frame/);
  });

  test('a token renewed in-band keeps the private stream past the first expiry, until the new one expires', async () => {
    const username = 'ws-renewing';
    const { auth } = await signUp(app.grpcAddress, username);
    const firstExpiry = Date.now() + 3_000;
    const ws = await connect();
    ws.send({ frame: { case: 'authenticate', value: { accessToken: tokenOf(auth) } } });
    ws.send({ frame: { case: 'openStream', value: {} } });
    await ws.until(() => ws.user().length > 0, 'the balances');
    await sleep(1_100); // JWT expiry is in whole seconds: the next token must expire later
    ws.send({
      requestId: 9,
      frame: { case: 'authenticate', value: { accessToken: await login(username) } },
    });
    await ws.until(() => ws.acks().includes(9), 'the renewal');
    await sleep(firstExpiry - Date.now() + 200);

    assert.equal(ws.closed, undefined, 'open past the first token’s expiry');
    const closed = await ws.closedWith(5_000);
    assert.equal(closed.code, 4401);
  });

  test('the bystander received throughout, and each close was counted by reason', async () => {
    const { auth } = await signUp(app.grpcAddress, 'ws-last-maker');
    const before = bystander.market(BOOK).length;
    await place(auth, 58_000n);
    await bystander.until(() => bystander.market(BOOK).length > before, 'a new delta');

    assert.equal(bystander.closed, undefined);
    const metrics = await app.registry.metrics();
    for (const reason of ['text_frame', 'message_too_big', 'frame_flood']) {
      assert.equal(sample(metrics, 'stream_websocket_closed_total', { reason }), 1, reason);
    }
    assert.equal(
      sample(metrics, 'stream_websocket_closed_total', { reason: 'malformed_frame' }),
      5,
    );
    assert.equal(sample(metrics, 'stream_websocket_closed_total', { reason: 'unknown_frame' }), 2);
    assert.ok(
      (sample(metrics, 'stream_websocket_closed_total', { reason: 'unauthenticated' }) ?? 0) >= 2,
    );
    assert.ok(
      app.logs.find('websocket closed', { reason: 'frame_flood' })?.duration_ms !== undefined,
    );
    assert.equal(
      sample(metrics, 'stream_websocket_error_frames_total', { code: 'permission_denied' }),
      undefined,
    );
  });

  let orderCount = 0;
  async function place(auth: Metadata, price: bigint): Promise<void> {
    const placed = await unary(
      orders,
      'placeOrder',
      placeRequest(`hostile${++orderCount}`, { side: Side.BUY, price }),
      auth,
    );
    assert.equal(placed.error, null);
  }

  async function login(username: string): Promise<string> {
    const client = grpcClient(app.grpcAddress, AuthService);
    try {
      const answer = await unary<{ tokens: { accessToken: string } }>(client, 'login', {
        username,
        password: 'correct horse battery staple',
      });
      return answer.response?.tokens.accessToken ?? '';
    } finally {
      client.close();
    }
  }
});

describe('WebSocket connections per client address', () => {
  test('past WS_MAX_CONNECTIONS_PER_IP a connection closes with 4430; others are served', async () => {
    const app = await startTestApp({ WS_MAX_CONNECTIONS_PER_IP: '2' });
    const first = await WsClient.connect(app.httpUrl);
    const second = await WsClient.connect(app.httpUrl);
    const third = await WsClient.connect(app.httpUrl);
    const clients = [first, second, third];
    try {
      const closed = await third.closedWith();
      first.send({ frame: { case: 'subscribe', value: { symbols: ['BTC-USD'] } } });
      await first.until(() => first.market(BOOK).length > 0, 'the snapshot');

      assert.equal(closed.code, 4430);
      assert.match(closed.reason, /more than 2 connections from one address/);
      second.close();
      await second.closedWith();
      await sleep(50);
      const again = await WsClient.connect(app.httpUrl);
      clients.push(again);
      await sleep(100);
      assert.equal(again.closed, undefined, 'a freed slot is reusable');
    } finally {
      for (const client of clients) client.close();
      await app.stop();
    }
  });
});

describe('WebSocket heartbeats', () => {
  test('pong frames are measured; a client that never answers is closed with 4503 after the idle timeout', async () => {
    const app = await startTestApp({
      STREAM_HEARTBEAT_INTERVAL_MS: '100',
      STREAM_IDLE_TIMEOUT_MS: '450',
    });
    const answering = await WsClient.connect(app.httpUrl);
    const silent = await WsClient.connect(app.httpUrl);
    const answered = new Set<bigint>();
    answering.socket.on('message', () => {
      for (const message of answering.market()) {
        if (message.event.case !== 'heartbeat' || answered.has(message.event.value.id)) continue;
        answered.add(message.event.value.id);
        answering.send({ frame: { case: 'pong', value: { heartbeatId: message.event.value.id } } });
      }
    });
    try {
      for (const ws of [answering, silent]) {
        ws.send({ frame: { case: 'subscribe', value: { symbols: ['BTC-USD'] } } });
      }
      const closed = await silent.closedWith(5_000);
      await answering.until(() => answered.size >= 6, 'six heartbeats');

      assert.equal(closed.code, 4503);
      assert.match(closed.reason, /no heartbeat answered/);
      assert.equal(answering.closed, undefined);
      const metrics = await app.registry.metrics();
      assert.ok((sample(metrics, 'stream_pongs_total', { result: 'accepted' }) ?? 0) >= 5);
      assert.ok(
        (sample(metrics, 'stream_connection_rtt_seconds_count', { transport: 'websocket' }) ?? 0) >=
          5,
      );
    } finally {
      answering.close();
      silent.close();
      await app.stop();
    }
  });
});
