import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { ServerFrameSchema } from '../../../src/gen/trading/v1/websocket_pb.js';
import { subscribeMessage } from '../../../src/transport/rpc/stream-messages.js';
import { SharedMarketFrames } from '../../../src/transport/websocket/shared-market-frames.js';

const entry = {
  stream: 'book.BTC-USD',
  seq: 7,
  payload: JSON.stringify({
    type: 'levels',
    levels: [{ side: 'buy', price: 100, quantity: 3 }],
    checksum: 42,
  }),
};
const delivery = (recovered: boolean, epoch = 2) =>
  ({ kind: 'entry', stream: entry.stream, epoch, seq: 7, recovered, entry }) as const;

/** The ServerFrame inside an unmasked binary WebSocket frame with a one-byte length. */
function serverFrame(bytes: Uint8Array) {
  assert.equal(bytes[0], 0x82, 'FIN and the binary opcode');
  assert.equal(bytes[1], bytes.length - 2, 'unmasked, a 7-bit length');
  return fromBinary(ServerFrameSchema, bytes.subarray(2)).frame;
}

describe('SharedMarketFrames', () => {
  it('is the WebSocket frame of the message every subscriber gets, without a session id', () => {
    const frames = new SharedMarketFrames();
    for (const recovered of [false, true]) {
      const frame = serverFrame(frames.frame(delivery(recovered), 'pod-1'));
      assert.equal(frame.case, 'market');
      assert.deepEqual(
        frame.value,
        subscribeMessage(delivery(recovered), { sessionId: 'any session', pod: 'pod-1' }),
      );
      assert.equal(frame.value.sessionId, '');
      assert.equal(frame.value.recovered, recovered);
    }
  });

  it('builds an entry once: every subscriber is written the same buffer', () => {
    const frames = new SharedMarketFrames();
    assert.equal(frames.frame(delivery(false), 'pod-1'), frames.frame(delivery(false), 'pod-1'));
    assert.notEqual(frames.frame(delivery(false), 'pod-1'), frames.frame(delivery(true), 'pod-1'));
  });

  it('builds the entry again for another epoch of the history', () => {
    const frames = new SharedMarketFrames();
    const before = serverFrame(frames.frame(delivery(false, 2), 'pod-1'));
    const after = serverFrame(frames.frame(delivery(false, 3), 'pod-1'));
    assert.equal(before.case === 'market' && before.value.epoch, 2n);
    assert.equal(after.case === 'market' && after.value.epoch, 3n);
  });
});
