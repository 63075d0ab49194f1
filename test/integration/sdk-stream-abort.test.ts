import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, createClient, type Transport } from '@connectrpc/connect';
import {
  connectTransport,
  EnhancedConnectionManager,
  grpcWebTransport,
} from '../../src/client/index.js';
import { MarketDataService } from '../../src/gen/trading/v1/market_data_pb.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { collectGarbage } from '../support/gc.js';
import { ConnectStreamRecorder, SIGN_UP_PASSWORD, until } from '../support/stream-client.js';

/**
 * A stopped stream of the SDK's fetch transports (gRPC-Web, Connect) ends, on the server too,
 * after a garbage collection has taken the fetch's `Request`: Node's fetch follows the abort
 * signal through a weak reference to it (docs/library-workarounds.md).
 */
describe("the SDK's fetch transports end a stopped stream after a garbage collection", () => {
  let app: TestApp;

  before(async () => {
    app = await startTestApp({
      // A steady flow of messages; and no idle timeout to end a stream the client left.
      STREAM_HEARTBEAT_INTERVAL_MS: '300',
      STREAM_IDLE_TIMEOUT_MS: '3600000',
    });
  });
  after(async () => {
    await app.stop();
  });

  /** Streams open on the server over `transport` (the label of `stream_connections`). */
  async function openStreams(transport: string): Promise<number> {
    let open = 0;
    for (const line of (await app.registry.metrics()).split('\n')) {
      if (line.startsWith('stream_connections{') && line.includes(`transport="${transport}"`)) {
        open += Number(line.slice(line.lastIndexOf(' ') + 1));
      }
    }
    return open;
  }

  async function untilOpenStreams(transport: string, count: number, what: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const open = await openStreams(transport);
      if (open === count) return;
      if (Date.now() > deadline) {
        assert.fail(`${what}: ${open} ${transport} streams open on the server, not ${count}`);
      }
      await sleep(20);
    }
  }

  test("a closed manager's gRPC-Web streams, market and private, end on the server", async () => {
    const manager = new EnhancedConnectionManager({
      transports: [grpcWebTransport(app.httpUrl)],
      unary: connectTransport(app.httpUrl),
      symbols: ['BTC-USD'],
      environment: { storage: undefined },
    });
    await manager.register('sdk-abort-manager', SIGN_UP_PASSWORD);
    await manager.signIn('sdk-abort-manager', SIGN_UP_PASSWORD);
    const openBefore = await openStreams('grpc-web');
    manager.start();
    await untilOpenStreams('grpc-web', openBefore + 2, 'the market and private streams');
    await until(() => manager.state.status === 'connected', 'the manager connected');

    collectGarbage();
    manager.close();

    await untilOpenStreams('grpc-web', openBefore, 'after the manager closed');
  });

  const sdkTransports: [string, (baseUrl: string) => Transport][] = [
    ['grpc-web', (baseUrl) => grpcWebTransport(baseUrl).transport],
    ['connect', connectTransport],
  ];
  for (const [kind, transportFor] of sdkTransports) {
    test(`an aborted ${kind} subscription ends on the server and delivers nothing more`, async () => {
      const market = createClient(MarketDataService, transportFor(app.httpUrl));
      const openBefore = await openStreams(kind);
      const call = new ConnectStreamRecorder((signal) =>
        market.subscribe({ symbols: ['BTC-USD'] }, { signal }),
      );
      await call.until(() => call.messages.length >= 3, 'the snapshots and a heartbeat');
      await untilOpenStreams(kind, openBefore + 1, 'the subscription');

      collectGarbage();
      call.cancel();
      const delivered = call.messages.length;

      await untilOpenStreams(kind, openBefore, 'after the abort');
      await until(() => call.error !== undefined || call.ended, 'the call to end');
      assert.equal(call.error?.code, Code.Canceled);
      assert.equal(call.messages.length, delivered, 'messages delivered after the abort');
    });
  }
});
