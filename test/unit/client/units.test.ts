import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { fieldErrorOf } from '../../../src/client/field-error.js';
import {
  formatAsset,
  formatPrice,
  formatQuantity,
  parseDecimal,
} from '../../../src/client/units.js';

test('balances are shown in dollars and BTC, not cents and satoshi', () => {
  assert.equal(formatAsset('USD', 100_000_000n), '$1,000,000.00');
  assert.equal(formatAsset('USD', 5n), '$0.05');
  assert.equal(formatAsset('BTC', 150_000_000n), '1.50000000 BTC');
  assert.equal(formatAsset('BTC', 1n), '0.00000001 BTC');
});

test('BTC-USD prices are dollars per BTC and quantities are lots of 0.01 BTC', () => {
  assert.equal(formatPrice('BTC-USD', 65_000n), '$65,000.00');
  assert.equal(formatQuantity('BTC-USD', 150n), '1.50 BTC');
  assert.equal(formatQuantity('BTC-USD', 1n), '0.01 BTC');
});

test('typed decimals become exact integers, or nothing when they do not fit the unit', () => {
  assert.equal(parseDecimal('0.25', 2), 25n);
  assert.equal(parseDecimal('65,000', 0), 65_000n);
  assert.equal(parseDecimal('.5', 2), 50n);
  assert.equal(parseDecimal('0.001', 2), undefined);
  assert.equal(parseDecimal('-1', 2), undefined);
  assert.equal(parseDecimal('', 2), undefined);
  assert.equal(parseDecimal('1e3', 2), undefined);
});

test('a refusal names its field from the error-field metadata or the message prefix', () => {
  const byPrefix = new ConnectError(
    'quantity: must be between 1 and 10000 lots',
    Code.InvalidArgument,
  );
  assert.deepEqual(fieldErrorOf(byPrefix), {
    field: 'quantity',
    message: 'must be between 1 and 10000 lots',
  });
  const byMetadata = new ConnectError(
    'insufficient balance: 650.00 USD needed',
    Code.FailedPrecondition,
    { 'error-field': 'price' },
  );
  assert.deepEqual(fieldErrorOf(byMetadata), {
    field: 'price',
    message: 'insufficient balance: 650.00 USD needed',
  });
  assert.deepEqual(fieldErrorOf(new ConnectError('engine unavailable', Code.Unavailable)), {
    field: undefined,
    message: 'engine unavailable',
  });
});
