import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { status, type Client } from '@grpc/grpc-js';
import {
  MarketDataService,
  type SubscribeResponse,
} from '../../src/gen/trading/v1/market_data_pb.js';
import { SessionService } from '../../src/gen/trading/v1/session_pb.js';
import { ConnectionQuality } from '../../src/gen/trading/v1/stream_pb.js';
import { sample, startTestApp, type TestApp } from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { subscribe, type StreamRecorder } from '../support/stream-client.js';

/** Answers every heartbeat of `recorder` with SessionService.Pong, as a client should. */
function answerHeartbeats(recorder: StreamRecorder<SubscribeResponse>, session: Client): void {
  recorder.call.on('data', (message: SubscribeResponse) => {
    if (message.event.case !== 'heartbeat') return;
    void unary(session, 'pong', {
      sessionId: message.sessionId,
      heartbeatId: message.event.value.id,
    });
  });
}

describe('heartbeats and connection quality over gRPC', () => {
  let app: TestApp;
  let market: Client;
  let session: Client;

  before(async () => {
    app = await startTestApp({
      STREAM_HEARTBEAT_INTERVAL_MS: '100',
      STREAM_IDLE_TIMEOUT_MS: '450',
    });
    market = grpcClient(app.grpcAddress, MarketDataService);
    session = grpcClient(app.grpcAddress, SessionService);
  });
  after(async () => {
    market.close();
    session.close();
    await app.stop();
  });

  test('a client answering heartbeats stays open, is measured and told its class', async () => {
    const recorder = subscribe<SubscribeResponse>(market, 'subscribe', { symbols: ['BTC-USD'] });
    answerHeartbeats(recorder, session);

    await recorder.until(
      () => recorder.messages.some((m) => m.event.case === 'quality'),
      'a quality change',
    );
    await new Promise((resolve) => setTimeout(resolve, 600)); // past the idle timeout
    recorder.call.cancel();

    const beats = recorder.messages.filter((m) => m.event.case === 'heartbeat');
    assert.ok(beats.length >= 5, `${beats.length} heartbeats`);
    assert.equal(beats[0]?.stream, '', 'a heartbeat belongs to no stream');
    const quality = recorder.messages.find((m) => m.event.case === 'quality');
    assert.equal(
      quality?.event.case === 'quality' && quality.event.value.quality,
      ConnectionQuality.EXCELLENT,
    );
    assert.equal(recorder.error, undefined, 'not closed by the idle timeout');
    const text = await app.registry.metrics();
    assert.ok((sample(text, 'stream_pongs_total', { result: 'accepted' }) ?? 0) >= 5);
    assert.ok(
      (sample(text, 'stream_connection_rtt_seconds_count', { transport: 'grpc' }) ?? 0) >= 5,
    );
  });

  test('a silent client is classed offline, then closed with UNAVAILABLE and a reason', async () => {
    const recorder = subscribe<SubscribeResponse>(market, 'subscribe', { symbols: ['BTC-USD'] });

    // `until` rethrows the stream's error: here that is the expected end.
    await recorder.until(() => false, 'the close', 5_000).catch(() => undefined);

    assert.equal(recorder.error?.code, status.UNAVAILABLE);
    assert.match(String(recorder.error), /no heartbeat answered/);
    const classes = recorder.messages.flatMap((m) =>
      m.event.case === 'quality' ? [m.event.value.quality] : [],
    );
    assert.deepEqual(classes, [ConnectionQuality.POOR, ConnectionQuality.OFFLINE]);
    const text = await app.registry.metrics();
    assert.ok((sample(text, 'stream_idle_disconnects_total', {}) ?? 0) >= 1);
  });

  test('a pong for a session streaming on no stream of this pod is refused', async () => {
    const answer = await unary(session, 'pong', { sessionId: 'not-here', heartbeatId: 1n });

    assert.equal(answer.error?.code, status.FAILED_PRECONDITION);
    assert.match(String(answer.error), /no stream on this pod/);
  });
});
