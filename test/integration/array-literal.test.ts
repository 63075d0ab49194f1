import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import pg from 'pg';
import { instantArray, scalarArray, textArray } from '../../src/adapters/postgres/array-literal.js';
import { DATABASE_URL } from '../unit/orders/support/orders-harness.js';

/** Text as hostile to an array literal as it gets (PostgreSQL text holds anything but NUL). */
const text = fc.oneof(
  fc.string({
    unit: fc.constantFrom(
      ...['a', 'Z', '0', '_', '.', '-', ':', '@', '/', '+', ' ', '\t', '\n', '"', '\\', "'"],
      ...['{', '}', ',', '(', ')', 'N', 'U', 'L', 'l', 'é', '€', '💥'],
    ),
  }),
  fc.string({ unit: 'grapheme' }).filter((s) => !s.includes('\0')),
  fc.constantFrom('NULL', 'null', 'Null', '', ' ', '""', '{}', 'a,b'),
);

describe('array literals, read back by PostgreSQL', () => {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  before(() => client.connect());
  after(() => client.end());

  async function readBack(literal: string, type: string): Promise<unknown> {
    const { rows } = await client.query<{ v: unknown }>(`SELECT $1::${type} AS v`, [literal]);
    return rows[0]?.v;
  }

  test('text, NULLs included, comes back element for element', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.option(text, { nil: null }), { maxLength: 12 }), async (xs) => {
        assert.deepEqual(await readBack(textArray(xs), 'text[]'), xs);
      }),
      { numRuns: 400 },
    );
  });

  test('bigints to the int8 extremes, numbers and booleans come back unchanged', async () => {
    const int8 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    await fc.assert(
      fc.asyncProperty(
        fc.array(int8, { maxLength: 12 }),
        fc.array(fc.maxSafeInteger(), { maxLength: 12 }),
        fc.array(fc.boolean(), { maxLength: 12 }),
        async (bigs, numbers, flags) => {
          // pg returns int8 as text: the exact digits.
          assert.deepEqual(await readBack(scalarArray(bigs), 'bigint[]'), bigs.map(String));
          assert.deepEqual(await readBack(scalarArray(numbers), 'bigint[]'), numbers.map(String));
          assert.deepEqual(await readBack(scalarArray(flags), 'boolean[]'), flags);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('instants come back as the same instants', async () => {
    const instant = fc.date({
      min: new Date('1970-01-01T00:00:00Z'),
      max: new Date('2200-01-01T00:00:00Z'),
      noInvalidDate: true,
    });
    await fc.assert(
      fc.asyncProperty(fc.array(instant, { maxLength: 12 }), async (dates) => {
        const back = (await readBack(instantArray(dates), 'timestamptz[]')) as Date[];
        assert.deepEqual(
          back.map((d) => d.getTime()),
          dates.map((d) => d.getTime()),
        );
      }),
      { numRuns: 200 },
    );
  });

  test('a value the cast cannot take is refused by PostgreSQL, not rounded', async () => {
    await assert.rejects(readBack(scalarArray([1, 1.5]), 'bigint[]'), /invalid input syntax/);
  });
});
