import { z } from 'zod';
import { DomainError } from './errors.js';

/**
 * Text every store and log can carry: PostgreSQL refuses NUL in `text` (SQLSTATE 22021) and a
 * lone surrogate cannot be encoded as UTF-8, so both are refused here, before any batch or
 * query could fail on them. The length bound keeps every answer and log line that names the
 * value small.
 */
// eslint-disable-next-line no-control-regex -- NUL is exactly what must be found
const UNSTORABLE = /\u0000|\p{Cs}/u;

export function text(max: number, { required = false } = {}) {
  const base = z.string({ error: 'expected a string' });
  return (required ? base.min(1, { error: 'is required' }) : base)
    .max(max, { error: `must be at most ${max} characters` })
    .refine((value) => !UNSTORABLE.test(value), {
      error: 'must not contain NUL characters or unpaired surrogates',
      abort: true,
    });
}

/** `clientOrderId` → `client_order_id`: fields are named as the contract (the .proto) names them. */
export const contractName = (field: string): string =>
  field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

/**
 * Validates a request against its schema. The first problem becomes an `invalid_argument`
 * error naming the field, so a caller learns exactly what to fix.
 */
export function parseRequest<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const [issue] = result.error.issues;
  const field = issue?.path.map((part) => contractName(String(part))).join('.') ?? '';
  const message = issue?.message ?? 'invalid request';
  throw new DomainError('invalid_argument', field === '' ? message : `${field}: ${message}`, {
    field,
  });
}
