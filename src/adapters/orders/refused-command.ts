import { DomainError } from '../../domain/errors.js';
import { sqlStateOf } from '../postgres/index.js';

/**
 * PostgreSQL refused a batch for the data of one of its commands, not for the state of the
 * server or a race. `bad-input`: the data cannot be stored (class 22 data exception, such as
 * 22021 for a NUL in a text or 22P02 for a number it cannot read; 54000, a text too long to
 * index; a CHECK on an `orders` column the command fills as given, `field`). `constraint`: any
 * other integrity constraint (class 23), which the planning should have kept: the platform's
 * fault. Serialization failures, deadlocks and connection trouble are not refusals: the same
 * commands can succeed when run again.
 */
export interface Refusal {
  readonly kind: 'bad-input' | 'constraint';
  readonly sqlState: string;
  /** The request field whose column refused it, when PostgreSQL names one. */
  readonly field?: string;
}

const PROGRAM_LIMIT_EXCEEDED = '54000';
const CHECK_VIOLATION = '23514';

/** The columns of `orders` a place stores as it was asked, by their CHECK constraint's name. */
const INPUT_CHECKS: ReadonlyMap<string, string> = new Map(
  ['client_order_id', 'side', 'type', 'time_in_force', 'price', 'quantity'].map((column) => [
    `orders_${column}_check`,
    column,
  ]),
);

export function refusalOf(error: unknown): Refusal | undefined {
  const sqlState = sqlStateOf(error);
  if (sqlState === undefined) return undefined;
  if (sqlState.startsWith('22') || sqlState === PROGRAM_LIMIT_EXCEEDED) {
    return { kind: 'bad-input', sqlState };
  }
  if (!sqlState.startsWith('23')) return undefined;
  const field = sqlState === CHECK_VIOLATION ? INPUT_CHECKS.get(constraintOf(error)) : undefined;
  return field === undefined
    ? { kind: 'constraint', sqlState }
    : { kind: 'bad-input', sqlState, field };
}

const constraintOf = (error: unknown): string =>
  typeof error === 'object' && error !== null && 'constraint' in error
    ? String(error.constraint)
    : '';

/**
 * The answer to the one command the database refused once it ran alone. Never PostgreSQL's own
 * message: it can quote the refused value, which may be any size.
 */
export function refusedCommandError(refusal: Refusal, cause: unknown): DomainError {
  const { sqlState, field } = refusal;
  if (refusal.kind === 'constraint') {
    return new DomainError(
      'internal',
      `the command could not be stored (SQLSTATE ${sqlState}); nothing of it was done`,
      { cause },
    );
  }
  const where = field ?? 'a field';
  return new DomainError(
    'invalid_argument',
    `this command's data could not be stored (SQLSTATE ${sqlState}): ${where} holds a value ` +
      'the database refuses, such as a NUL character or a text too long; nothing of it was done',
    { cause, ...(field === undefined ? {} : { field }) },
  );
}
