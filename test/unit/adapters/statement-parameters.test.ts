import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bigintColumn,
  booleanColumn,
  columnNames,
  instantColumn,
  namedStatement,
  textColumn,
  type Columns,
} from '../../../src/adapters/postgres/statement-parameters.js';

interface Row {
  readonly id: number;
  readonly name: string;
  readonly active: boolean;
  readonly at: Date;
}

const COLUMNS: Columns<Row> = {
  id: bigintColumn((r) => r.id),
  name: textColumn((r) => r.name),
  active: booleanColumn((r) => r.active),
  at: instantColumn((r) => r.at),
};

const statement = namedStatement<{ rows: Row[]; limit: number }>(
  'probe',
  (p) =>
    `SELECT * FROM ${p.unnest((input) => input.rows, COLUMNS)} AS r(${columnNames(COLUMNS)})
     LIMIT ${p.param('int', (input) => input.limit)}`,
);

const rows: Row[] = [
  { id: 1, name: 'a b', active: true, at: new Date('2026-01-01T00:00:00Z') },
  { id: 2, name: 'c', active: false, at: new Date('2026-01-02T00:00:00Z') },
];

test('numbers parameters in the order the statement declares them', () => {
  assert.equal(
    statement.text,
    `SELECT * FROM unnest($1::bigint[], $2::text[], $3::boolean[], $4::timestamptz[]) AS r(id, name, active, at)
     LIMIT $5::int`,
  );
});

test('gives each parameter the value of its column, in the same order', () => {
  assert.deepEqual(statement.values({ rows, limit: 10 }), [
    '{1,2}',
    '{"a b",c}',
    '{true,false}',
    '{2026-01-01T00:00:00.000Z,2026-01-02T00:00:00.000Z}',
    10,
  ]);
});
