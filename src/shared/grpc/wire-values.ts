import { DomainError } from '../../domain/errors.js';
import { fromPb } from './order-enums.js';

/** Values read from a message, checked as the domain needs them: bad ones name their field. */

/** An enum number the domain must know: anything else is invalid_argument naming the field. */
export function knownEnum<T extends string>(
  table: Readonly<Record<T, number>>,
  value: number,
  field: string,
): T {
  const name = fromPb(table, value);
  if (name === undefined) {
    throw new DomainError('invalid_argument', `${field} ${value} is not one the engine knows`, {
      field,
    });
  }
  return name;
}

/** An int64 as a domain number; beyond 2^53 it cannot be an id or amount here. */
export function safeInteger(value: bigint, field: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number)) {
    throw new DomainError('invalid_argument', `${field} ${value} is out of range`, { field });
  }
  return number;
}
