import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDomainError } from '../../../src/domain/errors.js';
import { MarketStreamsPerAddress } from '../../../src/domain/streams/market-streams-per-address.js';

const refusal = (error: unknown) =>
  isDomainError(error) &&
  error.code === 'resource_exhausted' &&
  error.message.startsWith('at most 2 open market data streams per address');

test('refuses the stream past the bound of an address, and counts the refusal', () => {
  let refused = 0;
  const limit = new MarketStreamsPerAddress(2, () => {
    refused += 1;
  });
  limit.acquire('203.0.113.1');
  limit.acquire('203.0.113.1');
  assert.throws(() => limit.acquire('203.0.113.1'), refusal);
  assert.equal(refused, 1);
  assert.equal(limit.openFor('203.0.113.1'), 2);
});

test('another address has slots of its own', () => {
  const limit = new MarketStreamsPerAddress(1);
  limit.acquire('203.0.113.1');
  assert.doesNotThrow(() => limit.acquire('203.0.113.2'));
});

test('a released stream frees its slot, once however often it is released', () => {
  const limit = new MarketStreamsPerAddress(2);
  const release = limit.acquire('203.0.113.1');
  limit.acquire('203.0.113.1');
  release();
  release();
  assert.equal(limit.openFor('203.0.113.1'), 1);
  limit.acquire('203.0.113.1');
  assert.throws(() => limit.acquire('203.0.113.1'), refusal);
});

test('addresses of one IPv6 /64 share a bound, an IPv4 client of a dual-stack socket is itself', () => {
  const limit = new MarketStreamsPerAddress(2);
  limit.acquire('2001:db8:1:2::1');
  limit.acquire('2001:db8:1:2:ffff::9');
  assert.throws(() => limit.acquire('2001:db8:1:2::3'), refusal);
  assert.doesNotThrow(() => limit.acquire('2001:db8:1:3::1'));
  limit.acquire('::ffff:198.51.100.7');
  assert.equal(limit.openFor('198.51.100.7'), 1);
});
