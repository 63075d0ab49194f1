import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BatchQueue } from '../../../src/adapters/orders/batch-queue.js';
import type { OrderCommand } from '../../../src/domain/orders/order-engine.port.js';

const place = (userId: number, clientOrderId: string): OrderCommand => ({
  kind: 'place',
  userId,
  clientOrderId,
  symbol: 'BTC-USD',
  side: 'buy',
  type: 'limit',
  timeInForce: 'GTC',
  price: 100,
  quantity: 1,
  postOnly: false,
});

const cancel = (userId: number, orderId: number): OrderCommand => ({
  kind: 'cancel',
  userId,
  symbol: 'BTC-USD',
  orderId,
});

const ignore = () => undefined;

function queueOf(...commands: OrderCommand[]): BatchQueue {
  const queue = new BatchQueue();
  for (const command of commands) queue.add(command, ignore, ignore);
  return queue;
}

const ids = (batch: readonly { command: OrderCommand }[]) =>
  batch.map(({ command }) =>
    command.kind === 'place' ? command.clientOrderId : `cancel ${command.orderId}`,
  );

/** A promise and its resolver, standing for a batch's outcome. */
function outcome() {
  let settle!: () => void;
  const settled = new Promise<void>((resolve) => {
    settle = resolve;
  });
  return { settled, settle };
}

describe('BatchQueue', () => {
  test('takes commands in submission order, up to the batch size', () => {
    const queue = queueOf(place(1, 'a'), place(1, 'b'), place(1, 'c'));

    const { batch } = queue.take(2);

    assert.deepEqual(ids(batch), ['a', 'b']);
    assert.equal(queue.size(), 1);
  });

  test('holds a repeat of a place whose batch is still committing, and not after', async () => {
    const queue = queueOf(place(1, 'a'));
    const first = queue.take(10);
    const committing = outcome();
    queue.committing(first.batch, committing.settled);
    queue.add(place(1, 'a'), ignore, ignore);
    queue.add(place(2, 'a'), ignore, ignore);

    const during = queue.take(10);
    committing.settle();
    await committing.settled;
    const after = queue.take(10);

    assert.deepEqual(ids(during.batch), ['a']);
    assert.equal(during.batch[0]?.command.userId, 2, "another user's id is no repeat");
    assert.equal(during.heldRepeats, 1);
    assert.deepEqual(ids(after.batch), ['a']);
    assert.equal(after.batch[0]?.command.userId, 1);
  });

  test('puts retried commands back in their places and marks them retried', () => {
    const queue = queueOf(place(1, 'a'), place(1, 'b'), place(1, 'c'));
    const { batch } = queue.take(2);

    queue.requeue(batch);

    const again = queue.take(10).batch;
    assert.deepEqual(ids(again), ['a', 'b', 'c']);
    assert.deepEqual(
      again.map((item) => item.retried),
      [true, true, false],
    );
  });

  test('runs a refused batch in halves, each alone and before anything else', () => {
    const queue = queueOf(place(1, 'a'), place(1, 'b'), place(1, 'c'), cancel(1, 9));
    const refused = queue.take(3).batch;
    queue.add(place(1, 'd'), ignore, ignore);

    const fresh = queue.isolate(refused);

    assert.equal(fresh, 3);
    assert.deepEqual(ids(queue.take(10).batch), ['a', 'b']);
    assert.deepEqual(ids(queue.take(10).batch), ['c']);
    assert.deepEqual(ids(queue.take(10).batch), ['cancel 9', 'd']);
  });

  test('counts only commands isolated for the first time when a half is refused again', () => {
    const queue = queueOf(place(1, 'a'), place(1, 'b'), place(1, 'c'), place(1, 'd'));
    queue.isolate(queue.take(4).batch);
    const half = queue.take(10).batch;

    const fresh = queue.isolate(half);

    assert.equal(fresh, 0);
    assert.deepEqual(ids(queue.take(10).batch), ['a']);
    assert.deepEqual(ids(queue.take(10).batch), ['b']);
    assert.deepEqual(ids(queue.take(10).batch), ['c', 'd']);
  });

  test('takeAll empties the queue, isolation groups included', () => {
    const queue = queueOf(place(1, 'a'), place(1, 'b'), place(1, 'c'));
    queue.isolate(queue.take(2).batch);

    const all = queue.takeAll();
    queue.add(place(1, 'e'), ignore, ignore);

    assert.deepEqual(ids(all), ['a', 'b', 'c']);
    assert.deepEqual(ids(queue.take(10).batch), ['e']);
  });
});
