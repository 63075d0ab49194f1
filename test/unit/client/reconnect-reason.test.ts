import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { wireReconnectReason } from '../../../src/client/reconnect-reason.js';
import { SubscribeRequestSchema } from '../../../src/gen/trading/v1/market_data_pb.js';
import { ReconnectReason } from '../../../src/gen/trading/v1/stream_pb.js';
import { reconnectReasonOf } from '../../../src/transport/rpc/reconnect-reason.js';
import { RECONNECT_REASONS } from '../../../src/domain/streams/stream.metrics.js';

const failed = (code: Code) => new ConnectError('x', code);

test("a failed call's status says why the client reconnects", () => {
  const cases: [unknown, ReconnectReason][] = [
    [failed(Code.ResourceExhausted), ReconnectReason.SLOW_CONSUMER],
    [failed(Code.Unauthenticated), ReconnectReason.TOKEN],
    [failed(Code.Unavailable), ReconnectReason.NETWORK],
    [failed(Code.Unknown), ReconnectReason.NETWORK],
    [failed(Code.DeadlineExceeded), ReconnectReason.NETWORK],
    [failed(Code.Canceled), ReconnectReason.NETWORK],
    [new TypeError('fetch failed'), ReconnectReason.NETWORK],
    [failed(Code.Internal), ReconnectReason.ERROR],
    [failed(Code.InvalidArgument), ReconnectReason.ERROR],
  ];
  for (const [error, expected] of cases) {
    assert.equal(wireReconnectReason('error', error), expected, String(error));
  }
});

test("the client's other reasons map one to one", () => {
  assert.equal(wireReconnectReason('server-reconnect'), ReconnectReason.DRAIN);
  assert.equal(wireReconnectReason('online'), ReconnectReason.NETWORK);
  assert.equal(wireReconnectReason('resync'), ReconnectReason.RESYNC);
  assert.equal(wireReconnectReason('transport-fallback'), ReconnectReason.TRANSPORT_FALLBACK);
  assert.equal(wireReconnectReason('server-closed'), ReconnectReason.ERROR);
});

test('the server labels every reason it knows, and a number it does not as unspecified', () => {
  const known = Object.values(ReconnectReason).filter(
    (v): v is ReconnectReason => typeof v === 'number',
  );
  assert.deepEqual(
    known.map((reason) => reconnectReasonOf(reason)),
    [...RECONNECT_REASONS],
  );
  // A newer client's reason: proto3 enums are open, so any number may arrive.
  const fromNewerClient = fromBinary(SubscribeRequestSchema, new Uint8Array([0x20, 99]));
  assert.equal(reconnectReasonOf(fromNewerClient.reconnectReason), 'unspecified');
});
