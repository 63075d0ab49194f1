import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { DomainError, MAX_ERROR_MESSAGE } from '../../src/domain/errors.js';
import { contractName, parseRequest, text } from '../../src/domain/validation.js';

const refusal = (schema: z.ZodType, input: unknown): DomainError => {
  try {
    parseRequest(schema, input);
  } catch (error) {
    assert.ok(error instanceof DomainError);
    return error;
  }
  assert.fail('expected a refusal');
};

test('text PostgreSQL cannot store is refused, naming the field as the contract does', () => {
  const schema = z.object({ clientOrderId: text(64) });

  for (const bad of ['a\u0000b', 'lone \ud800 high', 'lone \udc00 low']) {
    const error = refusal(schema, { clientOrderId: bad });
    assert.equal(error.code, 'invalid_argument');
    assert.equal(error.field, 'client_order_id');
    assert.match(error.message, /^client_order_id: must not contain NUL/);
  }
  assert.deepEqual(parseRequest(schema, { clientOrderId: 'emoji 🚀 ok' }), {
    clientOrderId: 'emoji 🚀 ok',
  });
});

test('text has a length bound and, when required, a floor', () => {
  const schema = z.object({ symbol: text(32, { required: true }) });

  assert.match(refusal(schema, { symbol: 'X'.repeat(100_000) }).message, /at most 32 characters/);
  assert.match(refusal(schema, { symbol: '' }).message, /^symbol: is required/);
});

test('an error message is bounded, whatever it quotes', () => {
  const error = new DomainError('invalid_argument', `bad: ${'X'.repeat(100_000)}`);

  assert.equal(error.message.length, MAX_ERROR_MESSAGE);
  assert.ok(error.message.endsWith('…'));
});

test('field names are the contract names', () => {
  assert.equal(contractName('clientOrderId'), 'client_order_id');
  assert.equal(contractName('symbol'), 'symbol');
});
