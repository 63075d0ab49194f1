import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  MarketDataService,
  MarketStream,
  type SubscribeResponse,
} from '../../src/gen/trading/v1/market_data_pb.js';
import { grpcClient } from '../support/grpc.js';
import { spawnApp } from '../support/process.js';
import { ClientBook, subscribe } from '../support/stream-client.js';

/**
 * `npm start` as shipped: no DATABASE_URL or REDIS_URL (PGlite and the in-process twins), the
 * market simulator on. A public Subscribe sees the simulator's book move, and its ticker, as
 * the README's `buf curl` lines show.
 */
test('the embedded default streams the simulated BTC-USD book and ticker: a snapshot, then deltas that keep every checksum, and tickers that follow the book', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'tp-embedded-streams-'));
  const app = await spawnApp({
    DATA_DIR: dataDir,
    SIMULATOR_ENABLED: 'true',
    SIMULATOR_RATE: '50',
    LOG_LEVEL: 'info',
    TELEMETRY_ENABLED: 'false',
  });
  try {
    await app.waitForLog('app started', 60_000);
    assert.ok(
      app.lines.some((l) => l.msg === 'postgres: using embedded PGlite (DATABASE_URL unset)'),
    );
    const market = grpcClient(app.grpcAddress, MarketDataService);
    const stream = subscribe<SubscribeResponse>(market, 'subscribe', {
      symbols: ['BTC-USD'],
      streams: [MarketStream.BOOK, MarketStream.TRADES, MarketStream.TICKER],
    });
    await stream.until(
      () =>
        stream.of('book.BTC-USD').filter((m) => m.event.case === 'delta').length >= 5 &&
        stream.of('ticker.BTC-USD').length >= 3,
      "the simulator's deltas and tickers",
      30_000,
    );
    stream.call.cancel();
    market.close();

    const book = new ClientBook();
    const messages = stream.of('book.BTC-USD');
    assert.equal(messages[0]?.event.case, 'snapshot');
    for (const message of messages) assert.ok(book.apply(message), `checksum at ${message.seq}`);
    assert.ok(book.bids.size > 0 && book.asks.size > 0, 'both sides quoted');
    const tickers = stream.of('ticker.BTC-USD');
    assert.ok(
      tickers.every((m) => m.event.case === 'ticker'),
      'a snapshot, then whole tickers',
    );
    const seqs = tickers.map((m) => m.seq);
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => (seqs[0] ?? 0n) + BigInt(i)),
    );
    // A ticker's best bid and ask are the book's top at the ticker's time: both sides quoted.
    const last = tickers.at(-1)?.event;
    assert.ok(last?.case === 'ticker' && last.value.bestBid > 0n && last.value.bestAsk > 0n);
  } finally {
    app.child.kill('SIGTERM');
    await app.exited;
    await rm(dataDir, { recursive: true, force: true });
  }
});
