import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressKey } from '../../src/domain/address-key.js';

test('two IPv6 addresses in one /64 share a key; another /64 has its own', () => {
  const first = addressKey('2001:db8:1:2::1');

  assert.equal(first, '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:DB8:1:2:ffff:ffff:ffff:fffe'), first);
  assert.equal(addressKey('2001:0db8:0001:0002:0000:0000:0000:0009'), first);
  assert.notEqual(addressKey('2001:db8:1:3::1'), first);
});

test('an IPv4 address is its own key, also when a dual-stack socket maps it', () => {
  assert.equal(addressKey('203.0.113.7'), '203.0.113.7');
  assert.equal(addressKey('::ffff:203.0.113.7'), '203.0.113.7');
  assert.notEqual(addressKey('203.0.113.8'), addressKey('203.0.113.7'));
});

test('whatever is not an address shares one key', () => {
  assert.equal(addressKey('unknown'), addressKey('203.0.113.7, junk'));
  assert.notEqual(addressKey('unknown'), addressKey('203.0.113.7'));
});
