import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatAmount } from '../../../src/domain/accounts/asset-amount.js';

test('an amount reads in the asset and in its minor unit', () => {
  assert.equal(formatAmount(65_000n, 'USD'), '650.00 USD (65000 cents)');
  assert.equal(formatAmount(5n, 'USD'), '0.05 USD (5 cents)');
  assert.equal(formatAmount(150_000_000n, 'BTC'), '1.50000000 BTC (150000000 satoshi)');
  assert.equal(formatAmount(-1n, 'BTC'), '-0.00000001 BTC (-1 satoshi)');
});

test('an asset without a known unit is shown in minor units', () => {
  assert.equal(formatAmount(42n, 'ETH'), '42 ETH minor units');
});
