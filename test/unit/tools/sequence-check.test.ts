import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SequenceCheck } from '../../../src/tools/chaos/sequence-check.js';

const at = (seq: number, recovered = false) => ({
  stream: 'book.BTC-USD',
  epoch: 1n,
  seq: BigInt(seq),
  recovered,
});

test('a fresh start then contiguous seqs, and a resume at the position, find nothing', () => {
  const check = new SequenceCheck();
  check.newCall();
  for (const seq of [5, 6, 7]) assert.equal(check.accept(at(seq)), true);
  check.newCall();
  for (const seq of [7, 8, 9]) check.accept(at(seq, true));
  assert.deepEqual(check.findings, { gaps: 0, duplicates: 0, notRecovered: 0 });
  assert.deepEqual(check.positions(), [{ stream: 'book.BTC-USD', epoch: 1n, seq: 9n }]);
});

test('a skipped seq is a gap; a repeated one a duplicate, dropped', () => {
  const check = new SequenceCheck();
  check.newCall();
  check.accept(at(1));
  check.accept(at(3));
  assert.equal(check.accept(at(3)), false);
  assert.deepEqual(check.findings, { gaps: 1, duplicates: 1, notRecovered: 0 });
  assert.equal(check.seq('book.BTC-USD'), 3n);
});

test('a resume that starts past or before the position is a gap or a duplicate', () => {
  const check = new SequenceCheck();
  check.newCall();
  check.accept(at(10));
  check.newCall();
  check.accept(at(12, true));
  check.newCall();
  check.accept(at(11, true));
  assert.deepEqual(check.findings, { gaps: 1, duplicates: 1, notRecovered: 0 });
});

test('a fresh snapshot where a resume was asked for counts as not recovered', () => {
  const check = new SequenceCheck();
  check.newCall();
  check.accept(at(10));
  check.newCall();
  check.accept(at(40));
  assert.deepEqual(check.findings, { gaps: 0, duplicates: 0, notRecovered: 1 });
});

test('a conflated delta follows the book by its first seq; connection messages are no position', () => {
  const check = new SequenceCheck();
  check.newCall();
  check.accept(at(10));
  assert.equal(check.accept({ ...at(15), firstSeq: 11n }), true);
  assert.equal(check.accept({ stream: '', epoch: 0n, seq: 0n, recovered: false }), false);
  check.accept({ ...at(20), firstSeq: 17n });
  assert.deepEqual(check.findings, { gaps: 1, duplicates: 0, notRecovered: 0 });
  assert.equal(check.seq('book.BTC-USD'), 20n);
});
