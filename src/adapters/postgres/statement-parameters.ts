import { instantArray, scalarArray, textArray } from './array-literal.js';

/**
 * Statements whose parameters are numbered where the SQL uses them. Each placeholder (`$n::type`)
 * comes from declaring the parameter with the function that computes its value, so the text and
 * the values list are built from one declaration and cannot disagree: a parameter can be
 * neither misnumbered nor forgotten. Rows passed as one array per column (`unnest`) are
 * declared as a column list, from which the array parameters and the column names both come.
 */

/** One column of rows, passed as an array parameter: its element type and its literal. */
export interface ArrayColumn<Row> {
  readonly type: 'bigint' | 'boolean' | 'text' | 'timestamptz';
  readonly literal: (rows: readonly Row[]) => string;
}

/** Columns by name, in the order of the statement's column list. */
export type Columns<Row> = Readonly<Record<string, ArrayColumn<Row>>>;

/** A column's values; a loop, as `rows.map` calls a callback it cannot inline here more slowly. */
function valuesOf<Row, T>(rows: readonly Row[], value: (row: Row) => T): T[] {
  const values = new Array<T>(rows.length);
  for (let i = 0; i < rows.length; i++) values[i] = value(rows[i] as Row);
  return values;
}

export const bigintColumn = <Row>(value: (row: Row) => number | bigint): ArrayColumn<Row> => ({
  type: 'bigint',
  literal: (rows) => scalarArray(valuesOf(rows, value)),
});

export const booleanColumn = <Row>(value: (row: Row) => boolean): ArrayColumn<Row> => ({
  type: 'boolean',
  literal: (rows) => scalarArray(valuesOf(rows, value)),
});

export const textColumn = <Row>(value: (row: Row) => string): ArrayColumn<Row> => ({
  type: 'text',
  literal: (rows) => textArray(valuesOf(rows, value)),
});

export const instantColumn = <Row>(value: (row: Row) => Date): ArrayColumn<Row> => ({
  type: 'timestamptz',
  literal: (rows) => instantArray(valuesOf(rows, value)),
});

/** `a, b, c`: the names of `columns`, for a column list or an alias. */
export const columnNames = (columns: Columns<never>): string => Object.keys(columns).join(', ');

/** The parameters of one statement, numbered in the order they are declared. */
export class StatementParameters<Input> {
  readonly #values: ((input: Input) => unknown)[] = [];

  /** Declares a parameter; returns its placeholder, which the SQL may use more than once. */
  param(type: string, value: (input: Input) => unknown): string {
    this.#values.push(value);
    return `$${this.#values.length}::${type}`;
  }

  /** `unnest($a::t[], $b::u[], …)`: the rows `rowsOf` picks, one array per column. */
  unnest<Row>(rowsOf: (input: Input) => readonly Row[], columns: Columns<Row>): string {
    const arrays = Object.values(columns).map((column) =>
      this.param(`${column.type}[]`, (input) => column.literal(rowsOf(input))),
    );
    return `unnest(${arrays.join(', ')})`;
  }

  values(input: Input): unknown[] {
    const values = this.#values;
    const result = new Array<unknown>(values.length);
    for (let i = 0; i < values.length; i++)
      result[i] = (values[i] as (input: Input) => unknown)(input);
    return result;
  }
}

/** A named statement (prepared once per connection) and the values of one execution. */
export interface NamedStatement<Input> {
  readonly name: string;
  readonly text: string;
  readonly values: (input: Input) => unknown[];
}

/** Builds a named statement's text once, declaring its parameters as `sql` uses them. */
export function namedStatement<Input>(
  name: string,
  sql: (parameters: StatementParameters<Input>) => string,
): NamedStatement<Input> {
  const parameters = new StatementParameters<Input>();
  const text = sql(parameters);
  return { name, text, values: (input) => parameters.values(input) };
}
