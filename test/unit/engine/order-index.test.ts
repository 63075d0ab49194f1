import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { BookOrder } from '../../../src/engine/book-order.js';
import { OrderIndex } from '../../../src/engine/order-index.js';

function order(orderId: number): BookOrder {
  const result = new BookOrder();
  result.orderId = orderId;
  return result;
}

describe('order index', () => {
  test('finds, counts and forgets orders by id', () => {
    const index = new OrderIndex(4);
    const a = order(1);
    const b = order(2);

    index.add(a);
    index.add(b);

    assert.equal(index.get(1), a);
    assert.equal(index.get(2), b);
    assert.equal(index.size, 2);
    assert.equal(index.delete(1), true);
    assert.equal(index.get(1), undefined);
    assert.equal(index.has(2), true);
    assert.equal(index.delete(1), false);
    assert.equal(index.size, 1);
  });

  test('finds nothing for ids no order can have', () => {
    const index = new OrderIndex();
    index.add(order(1));

    for (const id of [0, -1, 1.5, Number.NaN, 2 ** 53]) assert.equal(index.get(id), undefined);
    assert.equal(index.delete(0), false);
  });

  test('grows past its initial capacity', () => {
    const index = new OrderIndex(2);
    for (let id = 1; id <= 1_000; id++) index.add(order(id));

    assert.equal(index.size, 1_000);
    for (let id = 1; id <= 1_000; id++) assert.equal(index.get(id)?.orderId, id);
  });

  test('behaves like a Map for any sequence of adds and deletes, large ids included', () => {
    const id = fc.oneof(
      fc.integer({ min: 1, max: 64 }),
      fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    );
    const operation = fc.record({ add: fc.boolean(), id });
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 300, size: 'max' }), (operations) => {
        const index = new OrderIndex(4);
        const model = new Map<number, BookOrder>();
        for (const { add, id: orderId } of operations) {
          if (add && !model.has(orderId)) {
            const value = order(orderId);
            index.add(value);
            model.set(orderId, value);
          } else if (!add) {
            assert.equal(index.delete(orderId), model.delete(orderId));
          }
          assert.equal(index.size, model.size);
        }
        for (const [orderId, value] of model) assert.equal(index.get(orderId), value);
        assert.deepEqual(
          index
            .orders()
            .map((value) => value.orderId)
            .sort((a, b) => a - b),
          [...model.keys()].sort((a, b) => a - b),
        );
      }),
    );
  });
});
