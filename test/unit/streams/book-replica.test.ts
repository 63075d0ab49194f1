import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { OrderBook, type EngineEvent } from '../../../src/engine/index.js';
import { BookReplica } from '../../../src/domain/streams/book-replica.js';

const SPEC = { symbol: 'T', tickSize: 1, lotSize: 1, minQuantity: 1, maxQuantity: 50 };

describe('BookReplica', () => {
  test('starts from a snapshot, sorted best first, tagged with its seq', () => {
    const replica = new BookReplica({
      seq: 4,
      bids: [
        { price: 99, quantity: 1 },
        { price: 100, quantity: 2 },
      ],
      asks: [
        { price: 103, quantity: 5 },
        { price: 101, quantity: 3 },
      ],
    });

    assert.deepEqual(replica.snapshot(1), {
      seq: 4,
      bids: [{ price: 100, quantity: 2 }],
      asks: [{ price: 101, quantity: 3 }],
      checksum: replica.checksum(),
    });
  });

  test('refuses a delta that does not follow its seq', () => {
    const replica = new BookReplica({ seq: 4, bids: [], asks: [] });

    assert.throws(() => replica.apply(6, []), /does not follow 4/);
  });

  test('property: applying the engine level changes keeps the book and checksum equal to the engine', () => {
    const command = fc.oneof(
      fc.record({
        kind: fc.constant('place' as const),
        side: fc.constantFrom('buy' as const, 'sell' as const),
        type: fc.constantFrom('limit' as const, 'limit' as const, 'market' as const),
        price: fc.integer({ min: 90, max: 110 }),
        quantity: fc.integer({ min: 1, max: 20 }),
      }),
      fc.record({ kind: fc.constant('cancel' as const), orderId: fc.integer({ min: 1, max: 60 }) }),
    );
    fc.assert(
      fc.property(fc.array(command, { maxLength: 120 }), (commands) => {
        const book = new OrderBook(SPEC, { emitLevelChanges: true });
        const replica = new BookReplica({ seq: 0, bids: [], asks: [] });
        let seq = 0;
        commands.forEach((c, i) => {
          const events: EngineEvent[] =
            c.kind === 'place'
              ? book.execute({
                  kind: 'place',
                  orderId: i + 1,
                  ownerId: i % 3,
                  side: c.side,
                  type: c.type,
                  timeInForce: c.type === 'market' ? 'IOC' : 'GTC',
                  price: c.type === 'market' ? 0 : c.price,
                  quantity: c.quantity,
                  postOnly: false,
                })
              : book.execute({ kind: 'cancel', orderId: c.orderId });
          const levels = events.flatMap((e) => (e.type === 'level' ? [e] : []));
          if (levels.length === 0) return;
          seq += 1;
          assert.equal(replica.apply(seq, levels), book.checksum());
        });
        const { bids, asks } = book.snapshot(Number.MAX_SAFE_INTEGER);
        assert.deepEqual(replica.snapshot(), { seq, bids, asks, checksum: book.checksum() });
      }),
      { numRuns: 200, seed: 5 },
    );
  });
});
