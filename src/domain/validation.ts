import type { z } from 'zod';
import { DomainError } from './errors.js';

/**
 * Validates a request against its schema. The first problem becomes an `invalid_argument`
 * error naming the field, so a caller learns exactly what to fix.
 */
export function parseRequest<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const [issue] = result.error.issues;
  const field = issue?.path.map(String).join('.') ?? '';
  const message = issue?.message ?? 'invalid request';
  throw new DomainError('invalid_argument', field === '' ? message : `${field}: ${message}`, {
    field,
  });
}
