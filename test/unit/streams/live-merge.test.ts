import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LiveMerge } from '../../../src/domain/streams/live-merge.js';

const entry = (seq: number) => ({ stream: 'book.BTC-USD', seq, payload: '{}' });

test('advance takes only the entry right after the last delivered seq; push handles the rest', () => {
  const merge = new LiveMerge(10);
  assert.equal(merge.advance(entry(1)), false, 'not started: buffered by push instead');
  merge.start(3, []);
  assert.equal(merge.advance(entry(4)), true);
  assert.equal(merge.last, 4);
  assert.equal(merge.advance(entry(4)), false, 'a repeat');
  assert.equal(merge.advance(entry(6)), false, 'a gap');
  assert.equal(merge.last, 4, 'nothing taken');
  assert.deepEqual(merge.push(entry(6)), { ok: false, missing: 5 });
});
