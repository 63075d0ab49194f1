import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DeliveryQueue } from '../../../src/domain/streams/delivery-queue.js';
import { isDomainError } from '../../../src/domain/errors.js';

function setup(bounds = { max: 10, maxBytes: 100 }) {
  const observed = { bytes: 0, overflows: 0 };
  const queue = new DeliveryQueue<string>(bounds, {
    queuedBytes: (delta) => {
      observed.bytes += delta;
    },
    overflowed: () => {
      observed.overflows += 1;
    },
  });
  return { queue, observed };
}

describe('DeliveryQueue read synchronously', () => {
  test('take hands items in order, then undefined while the queue is open', () => {
    const { queue, observed } = setup();
    queue.push('a', 10);
    queue.push('b', 20);
    assert.equal(observed.bytes, 30);
    assert.deepEqual([queue.take(), queue.take(), queue.take()], ['a', 'b', undefined]);
    assert.equal(observed.bytes, 0);
    assert.equal(queue.done, false);
  });

  test('whenReady wakes once, on the next push, or at once when something waits', () => {
    const { queue } = setup();
    let wakes = 0;
    queue.whenReady(() => (wakes += 1));
    assert.equal(wakes, 0);
    queue.push('a', 1);
    queue.push('b', 1);
    assert.equal(wakes, 1);
    queue.whenReady(() => (wakes += 1));
    assert.equal(wakes, 2);
  });

  test('an ended queue is done once what waits is taken, and wakes its reader', () => {
    const { queue } = setup();
    let woken = false;
    queue.whenReady(() => (woken = true));
    queue.push('a', 1);
    queue.end();
    assert.equal(woken, true);
    assert.equal(queue.done, false);
    assert.equal(queue.take(), 'a');
    assert.equal(queue.done, true);
    assert.equal(queue.take(), undefined);
  });

  test('a client too far behind is cut off: take throws RESOURCE_EXHAUSTED, what waited is dropped', () => {
    const { queue, observed } = setup({ max: 10, maxBytes: 25 });
    queue.push('a', 10);
    queue.push('b', 10);
    queue.push('c', 10);
    assert.equal(observed.overflows, 1);
    assert.equal(queue.done, true);
    assert.throws(
      () => queue.take(),
      (error: unknown) => isDomainError(error) && error.code === 'resource_exhausted',
    );
    queue.release();
    assert.equal(observed.bytes, 0);
  });

  test('release drops what waits and counts its bytes out', () => {
    const { queue, observed } = setup();
    queue.push('a', 10);
    queue.push('b', 10);
    queue.take();
    queue.release();
    assert.equal(observed.bytes, 0);
    assert.equal(queue.done, true);
    queue.push('c', 10);
    assert.equal(queue.take(), undefined);
    assert.equal(observed.bytes, 0);
  });
});
