/**
 * PostgreSQL array literals (`{a,b,"c d"}`) for statements that take their rows as array
 * parameters (`unnest($1::bigint[], $2::text[], …)`), each built with one `join`.
 *
 * node-postgres encodes a JS array element by element: each is converted, run through two
 * regular expressions and wrapped in quotes, whatever it holds. An engine batch's write
 * passes some 40 arrays, built on the batch's critical path (docs/benchmarks.md, "Array
 * parameters built as literals"). Numbers, booleans and instants never need quoting, and most
 * text (symbols, sides, statuses, stream names) does not either: only what does is quoted here.
 * PostgreSQL parses the literal against the parameter's cast, so a value that does not fit
 * (a fraction for `bigint[]`) is refused there, as before.
 */

/** Elements that array_in reads back unchanged without quotes (and not the word NULL). */
const BARE = /^[A-Za-z0-9_.:+@/-]+$/;

/** An array of integers (number or bigint) or booleans. */
export function scalarArray(values: readonly (number | bigint | boolean)[]): string {
  return `{${values.join(',')}}`;
}

/** An array of text; `null` elements are SQL NULL. */
export function textArray(values: readonly (string | null)[]): string {
  let bare = true;
  for (const value of values) {
    if (value === null || !isBare(value)) {
      bare = false;
      break;
    }
  }
  return bare ? `{${values.join(',')}}` : `{${values.map(textElement).join(',')}}`;
}

/** An array of instants, for `timestamptz[]`. */
export function instantArray(values: readonly Date[]): string {
  return `{${values.map((value) => value.toISOString()).join(',')}}`;
}

function isBare(value: string): boolean {
  return BARE.test(value) && !(value.length === 4 && value.toUpperCase() === 'NULL');
}

function textElement(value: string | null): string {
  if (value === null) return 'NULL';
  return isBare(value) ? value : `"${value.replace(/[\\"]/g, '\\$&')}"`;
}
