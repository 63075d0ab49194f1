import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isPostgresFailure } from '../../../src/adapters/postgres/pg-errors.js';

const serverError = (code: string): Error =>
  Object.assign(new Error(`sqlstate ${code}`), { code, severity: 'ERROR' });

describe('postgres failure classification', () => {
  test('connection, resource and shutdown errors are dependency failures', () => {
    for (const code of ['08006', '53300', '57P01', '57014', '58030', 'XX000']) {
      assert.equal(isPostgresFailure(serverError(code)), true, code);
    }
  });

  test('answers about the data are not', () => {
    for (const code of ['23505', '23514', '42P01', '40001', '40P01', '22P02']) {
      assert.equal(isPostgresFailure(serverError(code)), false, code);
    }
  });

  test('socket and driver errors are dependency failures', () => {
    assert.equal(
      isPostgresFailure(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' })),
      true,
    );
    assert.equal(isPostgresFailure(new Error('Connection terminated unexpectedly')), true);
    assert.equal(isPostgresFailure(new Error('timeout exceeded when trying to connect')), true);
  });

  test('programming errors are not', () => {
    assert.equal(isPostgresFailure(new TypeError('x is not a function')), false);
    assert.equal(isPostgresFailure('a string'), false);
  });
});
