/**
 * Schema names end up in `SET search_path`, `CREATE SCHEMA` and connection options, where bind
 * parameters are not allowed. Accepting only plain lower-case identifiers keeps that safe
 * without quoting rules to get wrong.
 */
const PLAIN_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

export function assertIdentifier(name: string): string {
  if (!PLAIN_IDENTIFIER.test(name)) {
    throw new RangeError(
      `invalid schema name "${name}": use 1-63 lower-case letters, digits or _ , not starting with a digit`,
    );
  }
  return name;
}
