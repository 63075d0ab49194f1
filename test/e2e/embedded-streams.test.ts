import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  MarketDataService,
  type SubscribeResponse,
} from '../../src/gen/trading/v1/market_data_pb.js';
import { grpcClient } from '../support/grpc.js';
import { spawnApp } from '../support/process.js';
import { ClientBook, subscribe } from '../support/stream-client.js';

/**
 * `npm start` as shipped: no DATABASE_URL or REDIS_URL (PGlite and the in-process twins), the
 * market simulator on. A public Subscribe sees the simulator's book move, as the README's
 * `buf curl` line shows.
 */
test('the embedded default streams the simulated BTC-USD book: a snapshot, then deltas that keep every checksum', async () => {
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
    const stream = subscribe<SubscribeResponse>(market, 'subscribe', { symbols: ['BTC-USD'] });
    await stream.until(
      () => stream.of('book.BTC-USD').filter((m) => m.event.case === 'delta').length >= 5,
      "the simulator's deltas",
      30_000,
    );
    stream.call.cancel();
    market.close();

    const book = new ClientBook();
    const messages = stream.of('book.BTC-USD');
    assert.equal(messages[0]?.event.case, 'snapshot');
    for (const message of messages) assert.ok(book.apply(message), `checksum at ${message.seq}`);
    assert.ok(book.bids.size > 0 && book.asks.size > 0, 'both sides quoted');
  } finally {
    app.child.kill('SIGTERM');
    await app.exited;
    await rm(dataDir, { recursive: true, force: true });
  }
});
