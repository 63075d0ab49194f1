import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import zlib from 'node:zlib';
import fc from 'fast-check';
import {
  bookChecksum,
  checksumPayload,
  crc32,
  crc32Ascii,
  type BookSnapshot,
} from '../../../src/engine/index.js';
import { limit, newBook, seed } from './helpers.js';

// The worked example of docs/protocol.md, "Order book checksum".
const EXAMPLE: BookSnapshot = {
  bids: [
    { price: 10050, quantity: 5 },
    { price: 10040, quantity: 12 },
  ],
  asks: [
    { price: 10060, quantity: 7 },
    { price: 10075, quantity: 1 },
    { price: 10080, quantity: 20 },
  ],
};

describe('crc32', () => {
  test('gives the standard check value 0xCBF43926 for "123456789"', () => {
    assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
    assert.equal(crc32Ascii('123456789'), 0xcbf43926);
  });

  test('is 0 for no input', () => {
    assert.equal(crc32(new Uint8Array()), 0);
    assert.equal(crc32Ascii(''), 0);
  });

  test('agrees with zlib for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200, size: 'max' }), (bytes) => {
        assert.equal(crc32(bytes), zlib.crc32(bytes));
      }),
    );
  });

  test('refuses text that is not ASCII rather than hash it ambiguously', () => {
    assert.throws(() => crc32Ascii('é'), RangeError);
  });
});

describe('book checksum', () => {
  test('hashes the documented payload of the worked example', () => {
    assert.equal(checksumPayload(EXAMPLE), '10050:5:10060:7:10040:12:10075:1:10080:20');
    assert.equal(bookChecksum(EXAMPLE), 3444974343);
  });

  test('is what the order book reports for the same levels', () => {
    const book = newBook();
    seed(book, [
      limit('buy', 10050, 3),
      limit('buy', 10050, 2),
      limit('buy', 10040, 12),
      limit('sell', 10060, 7),
      limit('sell', 10075, 1),
      limit('sell', 10080, 20),
    ]);

    assert.deepEqual(book.snapshot(10), EXAMPLE);
    assert.equal(book.checksum(), 3444974343);
  });

  test('is 0 for an empty book', () => {
    assert.equal(newBook().checksum(), 0);
  });

  test('covers exactly the top 10 levels of each side', () => {
    const book = newBook();
    const orders = [];
    for (let i = 0; i < 12; i++) orders.push(limit('buy', 100 - i, 1), limit('sell', 101 + i, 1));
    seed(book, orders);
    const before = book.checksum();

    book.place(limit('buy', 88, 5, { ownerId: 99 })); // 13th bid: not covered
    assert.equal(book.checksum(), before);

    book.place(limit('sell', 110, 5, { ownerId: 99 })); // 10th ask: covered
    assert.notEqual(book.checksum(), before);
  });

  test('interleaves bids and asks level by level, so a lopsided book still hashes every level', () => {
    const payload = checksumPayload({
      bids: [{ price: 9, quantity: 1 }],
      asks: [
        { price: 10, quantity: 2 },
        { price: 11, quantity: 3 },
      ],
    });
    assert.equal(payload, '9:1:10:2:11:3');
  });
});
