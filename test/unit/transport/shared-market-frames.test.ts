import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { ServerFrameSchema } from '../../../src/gen/trading/v1/websocket_pb.js';
import { subscribeMessage } from '../../../src/transport/rpc/stream-messages.js';
import {
  SharedMarketFrames,
  sessionIdField,
} from '../../../src/transport/websocket/shared-market-frames.js';

const entry = {
  stream: 'book.BTC-USD',
  seq: 7,
  payload: JSON.stringify({
    type: 'levels',
    levels: [{ side: 'buy', price: 100, quantity: 3 }],
    checksum: 42,
  }),
};
const delivery = (recovered: boolean) =>
  ({ kind: 'entry', stream: entry.stream, epoch: 2, seq: 7, recovered, entry }) as const;

describe('SharedMarketFrames', () => {
  it('decodes to the message each session would get, session_id included', () => {
    const frames = new SharedMarketFrames();
    for (const sessionId of ['a', '3f1c2a54-0000-4000-8000-000000000001', 'x'.repeat(200)]) {
      for (const recovered of [false, true]) {
        const bytes = frames.frame(delivery(recovered), 'pod-1', sessionIdField(sessionId));
        const frame = fromBinary(ServerFrameSchema, bytes).frame;
        assert.equal(frame.case, 'market');
        assert.deepEqual(
          frame.value,
          subscribeMessage(delivery(recovered), { sessionId, pod: 'pod-1' }),
        );
      }
    }
  });

  it('encodes an entry once for every session', () => {
    const frames = new SharedMarketFrames();
    const first = frames.frame(delivery(false), 'pod-1', sessionIdField('a'));
    const second = frames.frame(delivery(false), 'pod-1', sessionIdField('b'));
    // The body before session_id is the same bytes; only the length prefix and the tail differ.
    assert.deepEqual(first.subarray(2, first.length - 3), second.subarray(2, second.length - 3));
    assert.notDeepEqual(first, second);
  });
});
