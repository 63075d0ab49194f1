import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runLoad } from '../../src/tools/load/run-load.js';
import { startTestApp } from '../support/app.js';

/**
 * The load tool's own run against a platform whose simulator moves the book: ten SDK clients
 * split over WebSocket and gRPC-Web, two of them with a private stream, all receive book
 * updates and tickers with no gap, duplicate or checksum mismatch, and trades give latency
 * samples.
 */
test('npm run load: clients on both transports receive the moving book and ticker with no gap or duplicate', async () => {
  const app = await startTestApp({ SIMULATOR_ENABLED: 'true', SIMULATOR_RATE: '50' });
  try {
    const report = await runLoad({
      url: app.httpUrl,
      clients: 10,
      transports: ['websocket', 'grpc-web'],
      symbols: ['BTC-USD'],
      streams: ['book', 'trades', 'ticker'],
      durationMs: 3_000,
      privateClients: 2,
      connectTimeoutMs: 15_000,
    });
    assert.equal(report.connected, 10);
    assert.deepEqual(report.transports, { websocket: 5, 'grpc-web': 5 });
    assert.ok(report.book_updates >= 10, `book updates: ${report.book_updates}`);
    // The simulator's quotes move the top of the book, and each move is a ticker.
    assert.ok(report.ticker_updates >= 10, `ticker updates: ${report.ticker_updates}`);
    assert.ok(report.messages_per_s > 0);
    assert.equal(report.gaps, 0);
    assert.equal(report.duplicates, 0);
    assert.equal(report.checksum_mismatches, 0);
    assert.equal(report.resyncs, 0);
    assert.equal(report.private_streams, 2);
    if (report.trades > 0) assert.ok(report.latency_ms !== null && report.latency_ms.p50 >= 0);
  } finally {
    await app.stop();
  }
});
