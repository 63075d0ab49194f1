import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { refusalOf, refusedCommandError } from '../../../src/adapters/orders/refused-command.js';

/** What node-postgres rejects with when the server answers an error. */
const serverError = (code: string, fields: { constraint?: string } = {}) =>
  Object.assign(new Error('refused'), { severity: 'ERROR', code, ...fields });

describe('refusalOf', () => {
  test('a data exception is bad input', () => {
    assert.deepEqual(refusalOf(serverError('22021')), { kind: 'bad-input', sqlState: '22021' });
    assert.deepEqual(refusalOf(serverError('22P02')), { kind: 'bad-input', sqlState: '22P02' });
    assert.deepEqual(refusalOf(serverError('54000')), { kind: 'bad-input', sqlState: '54000' });
  });

  test('a CHECK on a column the command fills as given is bad input naming the field', () => {
    assert.deepEqual(
      refusalOf(serverError('23514', { constraint: 'orders_client_order_id_check' })),
      { kind: 'bad-input', sqlState: '23514', field: 'client_order_id' },
    );
  });

  test('any other constraint is the platform’s fault', () => {
    for (const [code, constraint] of [
      ['23514', 'balances_available_check'],
      ['23514', 'orders_check'],
      ['23503', 'orders_user_id_fkey'],
      ['23505', 'orders_user_id_client_order_id_key'],
    ] as const) {
      assert.deepEqual(refusalOf(serverError(code, { constraint })), {
        kind: 'constraint',
        sqlState: code,
      });
    }
  });

  test('races, server trouble and errors of our own are not refusals', () => {
    for (const code of ['40001', '40P01', '57014', '08006', 'XX000']) {
      assert.equal(refusalOf(serverError(code)), undefined, code);
    }
    assert.equal(refusalOf(new RangeError('engine event for unknown order 7')), undefined);
    assert.equal(refusalOf(Object.assign(new Error('reset'), { code: 'ECONNRESET' })), undefined);
  });
});

describe('refusedCommandError', () => {
  test('bad input is INVALID_ARGUMENT with the SQLSTATE and the field, never the value', () => {
    const cause = serverError('23514', { constraint: 'orders_client_order_id_check' });
    const error = refusedCommandError(
      { kind: 'bad-input', sqlState: '23514', field: 'client_order_id' },
      cause,
    );

    assert.equal(error.code, 'invalid_argument');
    assert.equal(error.field, 'client_order_id');
    assert.match(error.message, /\(SQLSTATE 23514\): client_order_id holds a value/);
    assert.equal(error.cause, cause);
  });

  test('a broken constraint is INTERNAL', () => {
    const error = refusedCommandError({ kind: 'constraint', sqlState: '23503' }, undefined);

    assert.equal(error.code, 'internal');
    assert.match(error.message, /SQLSTATE 23503/);
  });
});
