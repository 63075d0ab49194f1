import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { toJson } from '@bufbuild/protobuf';
import { status, type Client, type Metadata } from '@grpc/grpc-js';
import { Side } from '../../src/gen/trading/v1/common_pb.js';
import {
  MarketDataService,
  MarketStream,
  TickerSchema,
  type SubscribeResponse,
  type Ticker,
} from '../../src/gen/trading/v1/market_data_pb.js';
import { sample, type TestApp } from '../support/app.js';
import { grpcClient } from '../support/grpc.js';
import { signUp, subscribe } from '../support/stream-client.js';
import { startStreamDeployment, type StreamDeployment } from '../support/stream-deployment.js';
import { WsClient } from '../support/ws-client.js';

const TICKER = 'ticker.BTC-USD';
const TICKER_ONLY = { symbols: ['BTC-USD'], streams: [MarketStream.TICKER] };

const tickerOf = (message: SubscribeResponse | undefined): Ticker => {
  if (message?.event.case !== 'ticker') throw new Error(`no ticker: ${message?.event.case}`);
  return message.event.value;
};
const json = (ticker: Ticker) => toJson(TickerSchema, ticker);

/**
 * `ticker.<symbol>` end to end: an engine (ROLE=all) and a stream pod (ROLE=stream) sharing
 * PostgreSQL and Redis, read over native gRPC and over /ws.
 */
describe('the ticker stream over gRPC and WebSocket', () => {
  let deployment: StreamDeployment<readonly [TestApp]>;
  let engine: TestApp;
  let pod: TestApp;
  let market: Client;
  const sockets: WsClient[] = [];

  before(async () => {
    deployment = await startStreamDeployment(['stream-1']);
    ({ engine } = deployment);
    [pod] = deployment.pods;
    market = grpcClient(pod.grpcAddress, MarketDataService);
  });
  after(async () => {
    for (const socket of sockets) socket.close();
    market.close();
    await deployment.stop();
  });

  const head = () => deployment.head(TICKER);
  const place = (auth: Metadata, side: Side, price: bigint, quantity = 1n) =>
    deployment.place(auth, side, price, quantity);

  test('a gRPC subscriber starts from the ticker as it stands, then gets the figures the trades imply', async () => {
    const maker = await signUp(engine.grpcAddress, 'ticker-maker');
    const taker = await signUp(engine.grpcAddress, 'ticker-taker');
    await place(maker.auth, Side.SELL, 66_000n, 3n);
    await place(maker.auth, Side.SELL, 66_500n, 2n);
    await place(maker.auth, Side.BUY, 64_000n, 2n);
    const stream = subscribe<SubscribeResponse>(market, 'subscribe', TICKER_ONLY);
    await stream.until(() => stream.of(TICKER).length > 0, 'the start');
    const [start] = stream.of(TICKER);

    await place(taker.auth, Side.BUY, 66_000n, 2n);
    await place(taker.auth, Side.BUY, 66_500n, 3n);
    const last = await head();
    await stream.until(() => stream.of(TICKER).at(-1)?.seq === last, `ticker seq ${last}`);
    stream.call.cancel();

    // The start is the snapshot: the whole ticker at its seq, before any trade.
    assert.equal(start?.recovered, false);
    assert.deepEqual(
      [tickerOf(start).bestAsk, tickerOf(start).bestAskQuantity, tickerOf(start).bestBid],
      [66_000n, 3n, 64_000n],
    );
    assert.equal(tickerOf(start).tradeCount24h, 0n);
    assert.deepEqual(
      stream.messages.filter((m) => m.stream !== '').map((m) => m.stream),
      stream.of(TICKER).map(() => TICKER),
      'only the ticker stream was opened',
    );
    const seqs = stream.of(TICKER).map((m) => m.seq);
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => start.seq + BigInt(i)),
      'contiguous seqs',
    );
    const ticker = tickerOf(stream.of(TICKER).at(-1));
    const { timeUnixMs, windowStartUnixMs, ...figures } = json(ticker) as Record<string, unknown>;
    assert.deepEqual(figures, {
      symbol: 'BTC-USD',
      lastPrice: '66500',
      lastQuantity: '2',
      bestBid: '64000',
      bestBidQuantity: '2',
      // bestAsk 0 (no asks left) is omitted, as proto3 JSON omits defaults.
      open24h: '66000',
      high24h: '66500',
      low24h: '66000',
      volume24h: '5',
      quoteVolume24h: String(66_000 * 3 + 66_500 * 2),
      priceChange24h: '500',
      priceChangeBps24h: 76,
      tradeCount24h: '3',
    });
    assert.ok(Number(timeUnixMs) - Number(windowStartUnixMs) >= 24 * 3_600_000);
    const metrics = await pod.registry.metrics();
    assert.ok((sample(metrics, 'stream_messages_sent_total', { kind: 'ticker' }) ?? 0) >= 3);
  });

  test('over /ws the ticker is the same message, for the same seq, as over gRPC', async () => {
    const taker = await signUp(engine.grpcAddress, 'ticker-ws-taker');
    const maker = await signUp(engine.grpcAddress, 'ticker-ws-maker');
    const ws = await WsClient.connect(pod.httpUrl);
    sockets.push(ws);
    ws.send({ requestId: 1, frame: { case: 'subscribe', value: TICKER_ONLY } });
    await ws.until(() => ws.market(TICKER).length > 0, 'the start');
    const grpcStart = subscribe<SubscribeResponse>(market, 'subscribe', TICKER_ONLY);
    await grpcStart.until(() => grpcStart.of(TICKER).length > 0, 'the gRPC start');
    grpcStart.call.cancel();

    await place(maker.auth, Side.SELL, 65_000n, 1n);
    await place(taker.auth, Side.BUY, 65_000n, 1n);
    const last = await head();
    await ws.until(() => ws.market(TICKER).at(-1)?.seq === last, `ticker seq ${last}`);

    const [wsStart] = ws.market(TICKER);
    assert.equal(wsStart?.seq, grpcStart.of(TICKER)[0]?.seq);
    assert.deepEqual(json(tickerOf(wsStart)), json(tickerOf(grpcStart.of(TICKER)[0])));
    const traded = tickerOf(ws.market(TICKER).at(-1));
    assert.deepEqual([traded.lastPrice, traded.lastQuantity], [65_000n, 1n]);
    assert.equal(traded.tradeCount24h, tickerOf(wsStart).tradeCount24h + 1n);

    ws.send({ requestId: 2, frame: { case: 'unsubscribe', value: { symbols: ['BTC-USD'] } } });
    await ws.until(() => ws.acks().includes(2), 'the unsubscribe ack');
  });

  test('a resume replays every missed ticker with recovered=true, or gives a fresh snapshot with recovered=false', async () => {
    const maker = await signUp(engine.grpcAddress, 'ticker-resume-maker');
    const first = subscribe<SubscribeResponse>(market, 'subscribe', TICKER_ONLY);
    await first.until(() => first.of(TICKER).length > 0, 'the start');
    first.call.cancel();
    const sessionId = first.of(TICKER)[0]?.sessionId ?? '';
    const [position] = first.positions();
    // Missed while away: two new best bids.
    await place(maker.auth, Side.BUY, 64_500n);
    await place(maker.auth, Side.BUY, 64_600n);
    const last = await head();

    const resumed = subscribe<SubscribeResponse>(market, 'subscribe', {
      ...TICKER_ONLY,
      sessionId,
      positions: [position],
    });
    await resumed.until(() => resumed.of(TICKER).at(-1)?.seq === last, `ticker seq ${last}`);
    const fromOtherEpoch = subscribe<SubscribeResponse>(market, 'subscribe', {
      ...TICKER_ONLY,
      positions: [{ ...position, epoch: (position?.epoch ?? 0n) + 1n }],
    });
    await fromOtherEpoch.until(() => fromOtherEpoch.of(TICKER).length > 0, 'the fresh start');
    const fromTheFuture = subscribe<SubscribeResponse>(market, 'subscribe', {
      ...TICKER_ONLY,
      positions: [{ ...position, seq: last + 100n }],
    });
    await fromTheFuture.until(() => fromTheFuture.of(TICKER).length > 0, 'the fresh start');
    for (const call of [resumed, fromOtherEpoch, fromTheFuture]) call.call.cancel();

    const [start, ...replayed] = resumed.of(TICKER);
    assert.equal(start?.recovered, true);
    assert.equal(start.event.case, undefined, 'a resume brings no snapshot');
    assert.equal(start.seq, position?.seq);
    assert.deepEqual(
      replayed.map((m) => [m.seq, m.recovered, m.event.case]),
      replayed.map((_, i) => [(position?.seq ?? 0n) + 1n + BigInt(i), true, 'ticker']),
    );
    assert.equal(tickerOf(replayed.at(-1)).bestBid, 64_600n);
    for (const fresh of [fromOtherEpoch, fromTheFuture]) {
      const [snapshot] = fresh.of(TICKER);
      assert.equal(snapshot?.recovered, false);
      assert.equal(snapshot.seq, last);
      assert.deepEqual(json(tickerOf(snapshot)), json(tickerOf(replayed.at(-1))));
    }
  });

  test('a stream kind that does not exist is INVALID_ARGUMENT naming the field', async () => {
    const stream = subscribe<SubscribeResponse>(market, 'subscribe', {
      symbols: ['BTC-USD'],
      streams: [MarketStream.UNSPECIFIED],
    });
    await stream.until(() => stream.error !== undefined, 'the refusal').catch(() => undefined);

    assert.equal(stream.error?.code, status.INVALID_ARGUMENT);
    assert.match(stream.error.message, /MARKET_STREAM_TICKER/);
    assert.deepEqual(stream.error.metadata?.get('error-field'), ['streams']);
  });
});
