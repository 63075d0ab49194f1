import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Code } from '@connectrpc/connect';
import type { Client, Metadata } from '@grpc/grpc-js';
import { Side } from '../../src/gen/trading/v1/common_pb.js';
import { MarketDataService } from '../../src/gen/trading/v1/market_data_pb.js';
import { ReconnectReason } from '../../src/gen/trading/v1/stream_pb.js';
import { sample, type TestApp } from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { ClientBook, signUp } from '../support/stream-client.js';
import { startStreamDeployment, type StreamDeployment } from '../support/stream-deployment.js';
import { WsClient } from '../support/ws-client.js';

const BOOK = 'book.BTC-USD';
const TRADES = 'trades.BTC-USD';

const tokenOf = (auth: Metadata) => String(auth.get('authorization')[0]).replace(/^Bearer /, '');

/**
 * The streams over WebSocket at /ws, across pods as in streams.test.ts: an engine (ROLE=all)
 * and two stream pods sharing PostgreSQL and Redis. The resume test shuts stream-1 down, so
 * the tests after it use stream-2.
 */
describe('streams over WebSocket, across pods', () => {
  let deployment: StreamDeployment<readonly [TestApp, TestApp]>;
  let engine: TestApp;
  let pod1: TestApp;
  let pod2: TestApp;
  const grpcClients: Client[] = [];
  const sockets: WsClient[] = [];
  const connect = async (app: TestApp, headers?: Record<string, string>) => {
    const client = await WsClient.connect(app.httpUrl, headers);
    sockets.push(client);
    return client;
  };

  before(async () => {
    deployment = await startStreamDeployment(['stream-1', 'stream-2']);
    ({ engine } = deployment);
    [pod1, pod2] = deployment.pods;
  });
  after(async () => {
    for (const socket of sockets) socket.close();
    for (const client of grpcClients) client.close();
    await deployment.stop();
  });

  const head = (stream: string) => deployment.head(stream);
  const place = (auth: Metadata, side: Side, price: bigint, quantity = 1n) =>
    deployment.place(auth, side, price, quantity);

  test('a book kept from the snapshot and deltas of binary frames verifies every checksum; trades arrive', async () => {
    const { auth } = await signUp(engine.grpcAddress, 'ws-book-maker');
    const taker = await signUp(engine.grpcAddress, 'ws-book-taker');
    await place(auth, Side.BUY, 64_000n, 2n);
    await place(auth, Side.SELL, 66_000n, 3n);
    const ws = await connect(pod1);

    ws.send({ requestId: 1, frame: { case: 'subscribe', value: { symbols: ['BTC-USD'] } } });
    await ws.until(() => ws.market(BOOK).length > 0, 'the snapshot');
    for (let i = 0; i < 6; i++) {
      const buy = i % 2 === 0;
      await place(auth, buy ? Side.BUY : Side.SELL, BigInt(buy ? 64_100 + i : 65_900 - i));
    }
    await place(taker.auth, Side.BUY, 66_000n, 4n);
    const last = await head(BOOK);
    await ws.until(() => ws.market(BOOK).at(-1)?.seq === last, `book seq ${last}`);

    const book = new ClientBook();
    const checks = ws.market(BOOK).map((message) => book.apply(message));
    const market = grpcClient(pod1.grpcAddress, MarketDataService);
    grpcClients.push(market);
    const final = await unary<{ book: { seq: bigint; checksum: number } }>(market, 'getOrderBook', {
      symbol: 'BTC-USD',
    });

    assert.equal(ws.market(BOOK)[0]?.event.case, 'snapshot');
    // The start names the session; live entries leave it out, the same bytes for everyone.
    const [start, ...entries] = ws.market(BOOK);
    assert.notEqual(start?.sessionId, '');
    assert.ok(entries.length > 0 && entries.every((m) => m.sessionId === '' && m.pod !== ''));
    assert.ok(checks.every(Boolean), `checksums: ${checks.join(',')}`);
    assert.equal(book.seq, final.response?.book.seq);
    assert.equal(book.checksum(), final.response?.book.checksum);
    assert.ok(ws.market(TRADES).some((m) => m.event.case === 'trade'));
    const metrics = await pod1.registry.metrics();
    assert.equal(sample(metrics, 'stream_connections', { transport: 'websocket' }), 1);
    ws.close();
  });

  test('the private stream carries the caller’s own orders, authenticated by a frame or by the upgrade header', async () => {
    const trader = await signUp(engine.grpcAddress, 'ws-private-trader');
    const byFrame = await connect(pod1);
    const byHeader = await connect(pod1, { authorization: `Bearer ${tokenOf(trader.auth)}` });

    // A browser cannot set headers: it authenticates in-band before opening the stream.
    byFrame.send({
      requestId: 1,
      frame: { case: 'authenticate', value: { accessToken: tokenOf(trader.auth) } },
    });
    byFrame.send({ requestId: 2, frame: { case: 'openStream', value: {} } });
    byHeader.send({ requestId: 1, frame: { case: 'openStream', value: {} } });
    await byFrame.until(() => byFrame.user().length > 0, 'the balances');
    await byHeader.until(() => byHeader.user().length > 0, 'the balances');
    await place(trader.auth, Side.BUY, 61_000n);
    for (const ws of [byFrame, byHeader]) {
      await ws.until(() => ws.user().some((m) => m.event.case === 'execution'), 'the order');
    }

    for (const ws of [byFrame, byHeader]) {
      const [start, execution] = ws.user();
      assert.equal(start?.stream, `orders.${trader.userId}`);
      assert.equal(start.event.case, 'balances');
      assert.equal(execution?.event.case, 'execution');
      assert.equal(execution.event.value.order?.price, 61_000n);
      assert.deepEqual(ws.errors(), []);
    }
    assert.deepEqual(byFrame.acks(), [1]);
    byFrame.close();
    byHeader.close();
  });

  test('a client resumes on another pod after its pod goes away: no gap, no duplicate, recovered, migrated', async () => {
    const trader = await signUp(engine.grpcAddress, 'ws-migrating-trader');
    const own = `orders.${trader.userId}`;
    const first = await connect(pod1);
    first.send({ frame: { case: 'subscribe', value: { symbols: ['BTC-USD'] } } });
    first.send({ frame: { case: 'authenticate', value: { accessToken: tokenOf(trader.auth) } } });
    first.send({ frame: { case: 'openStream', value: {} } });
    await first.until(
      () => first.market(BOOK).length > 0 && first.user(own).length > 0,
      'both starts',
    );
    await place(trader.auth, Side.BUY, 63_000n);
    await place(trader.auth, Side.SELL, 67_000n);
    await first.until(() => first.user(own).length >= 3, 'two execution reports');
    await first.until(() => first.market(BOOK).length >= 3, 'two deltas');

    await pod1.shutdown.run('killed by the test');
    const closed = await first.closedWith();
    // Missed while no pod serves the client.
    await place(trader.auth, Side.BUY, 63_100n);
    await place(trader.auth, Side.SELL, 63_000n);

    const second = await connect(pod2);
    // The market resume says why it is back, as the SDK does; the private one does not.
    second.send({
      frame: {
        case: 'subscribe',
        value: {
          symbols: ['BTC-USD'],
          sessionId: first.market()[0]?.sessionId ?? '',
          positions: WsClient.positions(first.market()),
          reconnectReason: ReconnectReason.DRAIN,
        },
      },
    });
    second.send({ frame: { case: 'authenticate', value: { accessToken: tokenOf(trader.auth) } } });
    second.send({
      frame: {
        case: 'openStream',
        value: {
          sessionId: first.user(own)[0]?.sessionId ?? '',
          positions: WsClient.positions(first.user(own)),
        },
      },
    });
    const ownHead = await head(`orders.${trader.userId}`);
    await second.until(
      () => second.user(own).at(-1)?.seq === ownHead,
      'the missed execution reports',
    );
    const bookHead = await head(BOOK);
    await second.until(() => second.market(BOOK).at(-1)?.seq === bookHead, 'the missed deltas');
    await second.until(() => second.market(TRADES).length > 0, 'the trades start');
    // A first subscription (no session id) is no reconnect.
    const newcomer = await connect(pod2);
    newcomer.send({ frame: { case: 'subscribe', value: { symbols: ['BTC-USD'] } } });
    await newcomer.until(() => newcomer.market(BOOK).length > 0, "the newcomer's snapshot");
    newcomer.close();

    assert.equal(closed.code, 1001);
    assert.ok(
      first.market().some((m) => m.event.case === 'reconnect'),
      'the drain told the client to reconnect',
    );
    for (const [before, after] of [
      [first.market(BOOK), second.market(BOOK)],
      [first.market(TRADES), second.market(TRADES)],
      [first.user(own), second.user(own)],
    ] as const) {
      const [start, ...rest] = after;
      assert.equal(start?.recovered, true, `${start?.stream} recovered`);
      assert.equal(start.event.case, undefined);
      assert.equal(start.seq, before.at(-1)?.seq);
      assert.equal(start.pod, 'stream-2');
      assert.equal(before[0]?.pod, 'stream-1');
      const seqs = [...before.slice(1), ...rest].map((m) => m.seq);
      const from = before[0].seq;
      assert.deepEqual(
        seqs,
        seqs.map((_, i) => from + 1n + BigInt(i)),
        `${start.stream} contiguous, no duplicate`,
      );
    }
    const book = new ClientBook();
    for (const message of [...first.market(BOOK), ...second.market(BOOK)]) {
      assert.ok(book.apply(message), `checksum at ${message.seq}`);
    }
    assert.equal(second.market()[0]?.sessionId, first.market()[0]?.sessionId);
    const metrics = await pod2.registry.metrics();
    assert.equal(sample(metrics, 'session_migrations_total', { result: 'migrated' }), 2);
    assert.equal(sample(metrics, 'stream_resume_total', { result: 'replayed' }), 3);
    assert.equal(sample(metrics, 'stream_reconnects_total', { reason: 'drain' }), 1);
    assert.equal(sample(metrics, 'stream_reconnects_total', { reason: 'unspecified' }), 1);
    const reconnects = metrics
      .split('\n')
      .filter((line) => line.startsWith('stream_reconnects_total{'))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
    assert.equal(reconnects, 2, 'the newcomer is not counted');
    second.close();
  });

  test("another user's private stream is an error frame PERMISSION_DENIED, and the connection goes on", async () => {
    const eve = await signUp(engine.grpcAddress, 'ws-eve');
    const ws = await connect(pod2);
    ws.send({
      requestId: 1,
      frame: { case: 'authenticate', value: { accessToken: tokenOf(eve.auth) } },
    });
    ws.send({
      requestId: 2,
      frame: {
        case: 'openStream',
        value: { positions: [{ stream: 'orders.1', epoch: 0n, seq: 0n }] },
      },
    });
    await ws.until(() => ws.errors().length > 0, 'the refusal');
    ws.send({ requestId: 3, frame: { case: 'openStream', value: {} } });
    await ws.until(() => ws.user().length > 0, 'her own stream');

    const [error] = ws.errors();
    assert.equal(error?.requestId, 2);
    assert.equal(error.code, Code.PermissionDenied);
    assert.match(error.message, /belongs to another user/);
    assert.equal(ws.user()[0]?.stream, `orders.${eve.userId}`);
    assert.equal(ws.closed, undefined);
    ws.close();
  });
});
