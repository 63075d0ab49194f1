import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { ConnectionQuality, ReconnectReason } from '../../../src/gen/trading/v1/stream_pb.js';
import {
  EnhancedConnectionManager,
  Flag,
  type ConnectionManagerOptions,
  type KeyValueStorage,
  type TransportOption,
} from '../../../src/client/index.js';
import { MarketStream } from '../../../src/gen/trading/v1/market_data_pb.js';
import {
  blockedTransport,
  delta,
  FakePlatform,
  snapshot,
  start,
  ticker,
  trade,
  type PrivateMessage,
} from './fake-platform.js';

/** Lets the in-memory calls run: many turns of the event loop, no timers. */
async function flush(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

async function advance(ms: number): Promise<void> {
  mock.timers.tick(ms);
  await flush();
}

class MemoryStorage implements KeyValueStorage {
  readonly items = new Map<string, string>();
  getItem = (key: string) => this.items.get(key) ?? null;
  setItem = (key: string, value: string) => void this.items.set(key, value);
  removeItem = (key: string) => void this.items.delete(key);
}

const BOOK = { bids: [[64000, 2]] as [number, number][], asks: [[66000, 3]] as [number, number][] };

describe('EnhancedConnectionManager', () => {
  let platform: FakePlatform;
  let online: Flag;
  let visible: Flag;
  let storage: MemoryStorage;
  let managers: EnhancedConnectionManager[];

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    platform = new FakePlatform();
    online = new Flag(true);
    visible = new Flag(true);
    storage = new MemoryStorage();
    managers = [];
  });

  afterEach(() => {
    for (const manager of managers) manager.close();
    mock.timers.reset();
  });

  function manager(options: Partial<ConnectionManagerOptions> = {}, random = () => 0.5) {
    const created = new EnhancedConnectionManager({
      transports: [{ kind: 'grpc-web', transport: platform.transport }],
      symbols: ['BTC-USD'],
      environment: { online, visible, random, storage },
      ...options,
    });
    managers.push(created);
    return created;
  }

  test('reconnects with growing jittered delays between 0.5 s and 20 s, never sooner', async () => {
    const failed = new ConnectError('down', Code.Unavailable);
    for (let i = 0; i < 8; i++) platform.market.push({ messages: [], then: failed });
    const client = manager({}, () => 1);
    client.start();
    await flush();
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      const state = client.state;
      assert.equal(state.status, 'reconnecting');
      const delay = (state.nextRetryAt ?? 0) - Date.now();
      delays.push(delay);
      await advance(delay - 1);
      assert.equal(platform.subscribes.length, i + 1, 'no try before the delay');
      await advance(1);
    }
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 16000, 20000]);
  });

  test('a delay is never below the minimum, even with a random draw of 0', async () => {
    platform.market.push({ messages: [], then: new ConnectError('x', Code.Unavailable) });
    const client = manager({}, () => 0);
    client.start();
    await flush();
    assert.equal((client.state.nextRetryAt ?? 0) - Date.now(), 500);
  });

  test('the backoff starts again from the minimum after a stable period', async () => {
    const failed = new ConnectError('down', Code.Unavailable);
    const connects = { messages: [snapshot(1, BOOK.bids, BOOK.asks)], then: 'hang' } as const;
    platform.market.push({ messages: [], then: failed }, { messages: [], then: failed });
    platform.market.push(connects, connects, connects);
    const client = manager({ stablePeriodMs: 10_000 }, () => 1);
    client.start();
    await flush();
    await advance(500);
    await advance(1000);
    assert.equal(client.state.status, 'connected');
    await advance(9_999);
    platform.closeStreams();
    await flush();
    assert.equal(client.state.nextRetryAt! - Date.now(), 2000, 'not stable yet: still backing off');
    await advance(2000);
    await advance(10_000);
    platform.closeStreams();
    await flush();
    assert.equal(client.state.nextRetryAt! - Date.now(), 500);
  });

  test('falls back to WebSocket when gRPC-Web keeps failing, and remembers it for the tab', async () => {
    const websocket: TransportOption = { kind: 'websocket', transport: platform.transport };
    platform.market.push({ messages: [snapshot(1, BOOK.bids, BOOK.asks)], then: 'hang' });
    const client = manager({
      transports: [{ kind: 'grpc-web', transport: blockedTransport }, websocket],
      unary: platform.transport,
      fallbackAfterFailures: 2,
    });
    assert.equal(
      await client.register('ann', 'pw'),
      '7',
      'unary calls go over their own transport',
    );
    client.start();
    await flush();
    assert.equal(client.state.transport, 'grpc-web');
    await advance(client.state.nextRetryAt! - Date.now());
    assert.equal(client.state.lastReconnectReason, 'transport-fallback');
    await advance(client.state.nextRetryAt! - Date.now());
    assert.equal(client.state.status, 'connected');
    assert.equal(client.state.transport, 'websocket');
    assert.equal(storage.getItem('trading.transport'), 'websocket');
    assert.equal(client.book('BTC-USD')?.bids[0]?.price, 64000n);
  });

  test('a tab that fell back starts on WebSocket and retries gRPC-Web later', async () => {
    storage.setItem('trading.transport', 'websocket');
    const client = manager({
      transports: [
        { kind: 'grpc-web', transport: platform.transport },
        { kind: 'websocket', transport: platform.transport },
      ],
      retryPreferredAfterMs: 60_000,
    });
    platform.market.push({ messages: [], then: 'end' });
    client.start();
    await flush();
    assert.equal(client.state.transport, 'websocket');
    await advance(60_000);
    assert.equal(client.state.transport, 'grpc-web');
  });

  test('resumes from the last position on another pod and counts the migration', async () => {
    platform.market.push({
      messages: [
        snapshot(5, BOOK.bids, BOOK.asks),
        start('trades.BTC-USD', 3, false),
        delta(
          6,
          { bids: [[64100, 1]] },
          {
            bids: [
              [64100, 1],
              [64000, 2],
            ],
            asks: BOOK.asks,
          },
        ),
        trade(4, 't4'),
      ],
      then: 'end',
    });
    platform.market.push({
      messages: [
        start('book.BTC-USD', 6, true, 'pod-b'),
        delta(
          7,
          { asks: [[66000, 0]] },
          {
            bids: [
              [64100, 1],
              [64000, 2],
            ],
            asks: [],
          },
          'pod-b',
        ),
        start('trades.BTC-USD', 4, true, 'pod-b'),
        trade(5, 't5', 'pod-b'),
      ],
      then: 'hang',
    });
    const client = manager();
    const trades: string[] = [];
    client.on('trade', ({ trade: t }) => trades.push(t.tradeId));
    client.start();
    await flush();
    assert.equal(client.state.pod, 'pod-a');
    await advance(client.state.nextRetryAt! - Date.now());
    const resume = platform.subscribes[1];
    assert.equal(resume?.sessionId, 's-1');
    assert.deepEqual(
      resume.positions.map((p) => [p.stream, p.seq]),
      [
        ['book.BTC-USD', 6n],
        ['trades.BTC-USD', 4n],
      ],
    );
    assert.equal(client.state.status, 'connected');
    assert.equal(client.state.pod, 'pod-b');
    assert.equal(client.state.migrations, 1);
    assert.equal(client.state.unrecovered, 0);
    assert.deepEqual(trades, ['t4', 't5']);
    assert.deepEqual(client.book('BTC-USD')?.asks, []);
    assert.equal(client.book('BTC-USD')?.seq, 7n);
  });

  test('a seq gap drops the book and resubscribes for a snapshot', async () => {
    platform.market.push({
      messages: [
        snapshot(5, BOOK.bids, BOOK.asks),
        start('trades.BTC-USD', 3, false),
        delta(
          7,
          { bids: [[64100, 1]] },
          {
            bids: [
              [64100, 1],
              [64000, 2],
            ],
            asks: BOOK.asks,
          },
        ),
      ],
      then: 'hang',
    });
    const client = manager();
    const resyncs: string[] = [];
    client.on('resync', ({ stream, reason }) => resyncs.push(`${stream} ${reason}`));
    client.start();
    await flush();
    assert.deepEqual(resyncs, ['book.BTC-USD gap']);
    assert.equal(client.state.gaps, 1);
    assert.equal(client.book('BTC-USD'), undefined);
    assert.equal(client.state.status, 'reconnecting');
    assert.ok(client.state.nextRetryAt! - Date.now() >= 500, 'not a zero-delay resubscribe');
    await advance(client.state.nextRetryAt! - Date.now());
    const positions = platform.subscribes[1]?.positions.map((p) => p.stream);
    assert.deepEqual(positions, ['trades.BTC-USD'], 'the book asks for a snapshot, trades resume');
  });

  test('asks for the ticker stream when told to, and hands on each ticker, one after a gap too', async () => {
    platform.market.push({
      messages: [ticker(4, 65_000), ticker(5, 65_100), ticker(9, 65_300)],
      then: 'hang',
    });
    const client = manager({ streams: ['ticker'] });
    const seen: [bigint, bigint][] = [];
    client.on('ticker', (event) => seen.push([event.seq, event.ticker.lastPrice]));
    client.start();
    await flush();

    assert.deepEqual(platform.subscribes[0]?.streams, [MarketStream.TICKER]);
    // Each ticker is whole: nothing before seq 9 is needed to show it.
    assert.deepEqual(seen, [
      [4n, 65_000n],
      [5n, 65_100n],
      [9n, 65_300n],
    ]);
    assert.equal(client.state.gaps, 0);
    assert.equal(client.state.status, 'connected');
  });

  test('a conflated delta standing for several seqs applies to the book it follows', async () => {
    const after = { bids: [[64100, 3]] as [number, number][], asks: BOOK.asks };
    const conflated = delta(
      8,
      {
        bids: [
          [64100, 3],
          [64000, 0],
        ],
      },
      after,
    );
    if (conflated.event?.case === 'delta') conflated.event.value.firstSeq = 6n;
    platform.market.push({
      messages: [snapshot(5, BOOK.bids, BOOK.asks), conflated],
      then: 'hang',
    });
    const client = manager();
    client.start();
    await flush();
    assert.equal(client.state.gaps, 0);
    assert.equal(client.book('BTC-USD')?.seq, 8n);
    assert.deepEqual(client.book('BTC-USD')?.bids, [{ price: 64100n, quantity: 3n }]);
  });

  test('a conflated delta that starts after a missing seq is a gap', async () => {
    const conflated = delta(
      9,
      { bids: [[64100, 3]] },
      {
        bids: [
          [64100, 3],
          [64000, 2],
        ],
        asks: BOOK.asks,
      },
    );
    if (conflated.event?.case === 'delta') conflated.event.value.firstSeq = 7n;
    platform.market.push({
      messages: [snapshot(5, BOOK.bids, BOOK.asks), conflated],
      then: 'hang',
    });
    const client = manager();
    client.start();
    await flush();
    assert.equal(client.state.gaps, 1);
  });

  test("shows the server's class of the connection and its figures", async () => {
    platform.market.push({
      messages: [
        snapshot(5, BOOK.bids, BOOK.asks),
        {
          stream: '',
          pod: 'pod-a',
          event: {
            case: 'quality',
            value: {
              quality: ConnectionQuality.POOR,
              rttMs: 850,
              jitterMs: 120,
              missedHeartbeats: 1,
            },
          },
        },
      ],
      then: 'hang',
    });
    const client = manager();
    client.start();
    await flush();
    assert.equal(client.state.serverQuality, 'poor');
    assert.equal(client.state.serverRttMs, 850);
    assert.equal(client.state.serverJitterMs, 120);
    assert.equal(client.state.missedHeartbeats, 1);
    assert.equal(client.book('BTC-USD')?.seq, 5n, 'a control message moves no position');
  });

  test('a checksum mismatch drops the book and resubscribes', async () => {
    const wrong = delta(6, { bids: [[64100, 1]] }, { bids: [[1, 1]], asks: [] });
    platform.market.push({ messages: [snapshot(5, BOOK.bids, BOOK.asks), wrong], then: 'hang' });
    const client = manager();
    client.start();
    await flush();
    assert.equal(client.state.checksumMismatches, 1);
    assert.equal(client.book('BTC-USD'), undefined);
    await advance(client.state.nextRetryAt! - Date.now());
    assert.deepEqual(platform.subscribes[1]?.positions, []);
  });

  test('a resume answered with a fresh snapshot is surfaced as recovered=false', async () => {
    platform.market.push({ messages: [snapshot(5, BOOK.bids, BOOK.asks)], then: 'end' });
    platform.market.push({ messages: [snapshot(90, [[63000, 1]], [])], then: 'hang' });
    const client = manager();
    const resyncs: string[] = [];
    client.on('resync', ({ reason }) => resyncs.push(reason));
    client.start();
    await flush();
    await advance(client.state.nextRetryAt! - Date.now());
    assert.equal(platform.subscribes[1]?.positions[0]?.seq, 5n);
    assert.equal(client.state.unrecovered, 1);
    assert.deepEqual(resyncs, ['unrecovered']);
    assert.equal(client.book('BTC-USD')?.bids[0]?.price, 63000n);
  });

  /** A private stream message of user 7: its balances (a start, or a batch's update) or an execution. */
  function own(seq: number, event: 'balances' | 'execution'): PrivateMessage {
    return {
      stream: 'orders.7',
      epoch: 1n,
      seq: BigInt(seq),
      sessionId: 'p-1',
      pod: 'pod-a',
      event:
        event === 'balances'
          ? { case: 'balances', value: { balances: [{ asset: 'USD', available: BigInt(seq) }] } }
          : { case: 'execution', value: { order: { orderId: `o${seq}` } } },
    };
  }

  test('a balance update on the private stream is an entry after its execution, not a fresh start', async () => {
    platform.private.push(
      { messages: [own(1, 'balances'), own(2, 'execution'), own(3, 'balances')], then: 'end' },
      {
        messages: [{ ...own(3, 'balances'), event: { case: undefined }, recovered: true }],
        then: 'hang',
      },
    );
    const client = manager();
    const resyncs: string[] = [];
    const balances: bigint[] = [];
    client.on('resync', ({ stream, reason }) => resyncs.push(`${stream} ${reason}`));
    client.on('balances', (list) => balances.push(list[0]?.available ?? -1n));
    client.start();
    await client.signIn('ann', 'pw');
    await flush();
    await advance(client.state.nextRetryAt! - Date.now());

    assert.deepEqual(resyncs, []);
    assert.equal(client.state.unrecovered, 0);
    assert.deepEqual(balances, [1n, 3n]);
    assert.deepEqual(
      platform.opens[1]?.request.positions.map((p) => [p.stream, p.seq]),
      [['orders.7', 3n]],
    );
  });

  test('a private entry after a missing one is a gap, a balance update too', async () => {
    platform.private.push({ messages: [own(1, 'balances'), own(2, 'execution')], then: 'end' });
    platform.private.push({
      messages: [
        { ...own(2, 'execution'), event: { case: undefined }, recovered: true },
        own(4, 'balances'),
      ],
      then: 'hang',
    });
    const client = manager();
    const resyncs: string[] = [];
    client.on('resync', ({ stream, reason }) => resyncs.push(`${stream} ${reason}`));
    client.start();
    await client.signIn('ann', 'pw');
    await flush();
    await advance(client.state.nextRetryAt! - Date.now());

    assert.equal(client.state.gaps, 1);
    assert.deepEqual(resyncs, ['orders.7 gap']);
  });

  test("obeys the server's Reconnect delay", async () => {
    platform.market.push({
      messages: [
        snapshot(5, BOOK.bids, BOOK.asks),
        {
          stream: '',
          pod: 'pod-a',
          event: { case: 'reconnect', value: { delayMs: 7_300, reason: 'draining' } },
        },
      ],
      then: 'hang',
    });
    const client = manager();
    client.start();
    await flush();
    assert.equal(client.state.lastReconnectReason, 'server-reconnect');
    assert.equal(client.state.nextRetryAt! - Date.now(), 7_300);
    await advance(7_299);
    assert.equal(platform.subscribes.length, 1);
    await advance(1);
    assert.equal(platform.subscribes.length, 2);
  });

  test('tells the server why it reconnects: a drain, a slow consumer, a resync', async () => {
    platform.market.push(
      {
        messages: [
          snapshot(5, BOOK.bids, BOOK.asks),
          { stream: '', pod: 'pod-a', event: { case: 'reconnect', value: { delayMs: 1_000 } } },
        ],
        then: 'hang',
      },
      {
        messages: [start('book.BTC-USD', 5, true)],
        then: new ConnectError('fell behind', Code.ResourceExhausted),
      },
      {
        messages: [start('book.BTC-USD', 5, true), delta(7, {}, BOOK)],
        then: 'hang',
      },
    );
    const client = manager();
    client.start();
    await flush();
    for (let call = 1; call < 4; call++) await advance(client.state.nextRetryAt! - Date.now());

    assert.deepEqual(
      platform.subscribes.map((request) => [request.sessionId, request.reconnectReason]),
      [
        ['', ReconnectReason.UNSPECIFIED],
        ['s-1', ReconnectReason.DRAIN],
        ['s-1', ReconnectReason.SLOW_CONSUMER],
        ['s-1', ReconnectReason.RESYNC],
      ],
    );
  });

  test('a device back online says network', async () => {
    platform.market.push({ messages: [snapshot(5, BOOK.bids, BOOK.asks)], then: 'hang' });
    const client = manager();
    client.start();
    await flush();
    online.set(false);
    await flush();
    online.set(true);
    await flush();
    assert.equal(platform.subscribes[1]?.reconnectReason, ReconnectReason.NETWORK);
  });

  test('tries nothing while offline and reconnects at once when the network is back', async () => {
    platform.market.push({ messages: [snapshot(5, BOOK.bids, BOOK.asks)], then: 'hang' });
    const client = manager();
    client.start();
    await flush();
    online.set(false);
    await flush();
    assert.equal(client.state.status, 'offline');
    await advance(120_000);
    assert.equal(platform.subscribes.length, 1, 'no retry storm while offline');
    platform.market.push({ messages: [start('book.BTC-USD', 5, true)], then: 'hang' });
    online.set(true);
    await flush();
    assert.equal(platform.subscribes.length, 2);
    assert.equal(client.state.status, 'connected');
  });

  test('a page that becomes visible retries at once instead of waiting', async () => {
    platform.market.push({ messages: [], then: new ConnectError('x', Code.Unavailable) });
    const client = manager({}, () => 1);
    client.start();
    await flush();
    visible.set(false);
    visible.set(true);
    await flush();
    assert.equal(platform.subscribes.length, 2);
  });

  test('answers heartbeats with a pong and records the round trip', async () => {
    platform.market.push({
      messages: [
        snapshot(5, BOOK.bids, BOOK.asks),
        {
          stream: '',
          sessionId: 's-1',
          pod: 'pod-a',
          event: { case: 'heartbeat', value: { id: 42n } },
        },
      ],
      then: 'hang',
    });
    const client = manager();
    client.start();
    await flush();
    assert.deepEqual(
      platform.pongs.map((p) => [p.sessionId, p.heartbeatId]),
      [['s-1', 42n]],
    );
    assert.equal(client.state.rttMs.length, 1);
    assert.equal(client.state.quality, 'excellent');
  });

  test('refreshes the token before it expires, uses the rotated one and re-authenticates the stream', async () => {
    platform.accessTtlMs = 10_000;
    platform.private.push({
      messages: [
        {
          stream: 'orders.7',
          epoch: 1n,
          seq: 1n,
          sessionId: 'p-1',
          pod: 'pod-a',
          event: { case: 'balances', value: { balances: [] } },
        },
      ],
      then: 'hang',
    });
    const client = manager({ refreshMarginMs: 2_000 });
    client.start();
    await client.signIn('ann', 'pw');
    await flush();
    assert.equal(platform.opens[0]?.authorization, 'Bearer access-1');
    await advance(7_999);
    assert.equal(platform.refreshes.length, 0);
    await advance(1);
    assert.deepEqual(
      platform.refreshes.map((r) => r.refreshToken),
      ['refresh-1'],
    );
    assert.deepEqual(
      platform.reauths.map((r) => [r.sessionId, r.accessToken]),
      [['p-1', 'access-2']],
    );
    await advance(8_000);
    assert.deepEqual(
      platform.refreshes.map((r) => r.refreshToken),
      ['refresh-1', 'refresh-2'],
    );
    assert.equal(client.authState.status, 'signed-in');
  });

  test('a reloaded tab signs in again from its remembered refresh token, once', async () => {
    storage.setItem(
      'trading.session',
      JSON.stringify({ userId: '7', username: 'ann', refresh: 'refresh-0' }),
    );
    const client = manager();
    const restored = await Promise.all([client.restoreSession(), client.restoreSession()]);
    assert.deepEqual(restored, [true, true]);
    assert.deepEqual(
      platform.refreshes.map((r) => r.refreshToken),
      ['refresh-0'],
    );
    assert.equal(client.authState.status, 'signed-in');
    assert.match(storage.getItem('trading.session') ?? '', /refresh-1/);
  });

  test('a refused refresh ends signed out, once, without a loop', async () => {
    platform.accessTtlMs = 10_000;
    platform.refreshFails = new ConnectError('refresh token reused', Code.Unauthenticated);
    const client = manager({ refreshMarginMs: 2_000 });
    const states: string[] = [];
    client.on('auth', (auth) => states.push(auth.status));
    client.start();
    await client.signIn('ann', 'pw');
    await advance(8_000);
    await advance(60_000);
    assert.equal(platform.refreshes.length, 1);
    assert.deepEqual(states, ['signed-in', 'signed-out']);
    const auth = client.authState;
    assert.ok(auth.status === 'signed-out' && auth.reason?.includes('session expired'));
    assert.equal(storage.getItem('trading.session'), null);
  });

  test('a refresh failing for a transient reason is retried a few times, then signs out', async () => {
    platform.accessTtlMs = 10_000;
    platform.refreshFails = new ConnectError('down', Code.Unavailable);
    const client = manager({ refreshMarginMs: 2_000, maxRefreshRetries: 3 });
    client.start();
    await client.signIn('ann', 'pw');
    await advance(8_000);
    for (let i = 0; i < 10; i++) await advance(10_000);
    assert.equal(platform.refreshes.length, 4);
    assert.equal(client.authState.status, 'signed-out');
  });
});
