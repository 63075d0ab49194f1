import { DomainError, isDomainError } from '../../domain/errors.js';
import { sqlStateOf } from '../postgres/index.js';
import type { Pending } from './batch-queue.js';
import { PreviousBatchFailed } from './pipelined-transaction.js';
import { refusalOf, type Refusal } from './refused-command.js';

/** Another runner took the shard since this one's epoch: this one must stop writing. */
export class LostLeadership extends Error {}

/**
 * SQLSTATEs of a write that lost a race with another writer, rolled back, and that running
 * the batch again resolves: another shard committed the same (user, client order id) first
 * (unique violation; the new batch finds that order and replays it), or a deadlock.
 */
const LOST_RACE = new Set(['23505', '40P01']);

/**
 * What becomes of a batch that did not commit (the shard's books are rebuilt before the next
 * batch in every case):
 * - `fenced`: the shard lost leadership: it stops, and its commands fail with all that waits;
 * - `refused`: the database refused one command's data (`refused-command.ts`): the commands
 *   run again in halves until that one runs alone and fails by itself;
 * - `failed`: its callers get UNAVAILABLE, except `retry`: a batch that certainly rolled back
 *   through no fault of its own (the batch ahead failed, or it lost a race) runs once more
 *   instead. Only once: a cause that persists (a bug that trips a constraint every time) is
 *   not retried forever, and a race lost twice is taken as a refusal.
 */
export type BatchFailure =
  | { readonly kind: 'fenced' }
  | { readonly kind: 'refused'; readonly refusal: Refusal }
  | { readonly kind: 'failed'; readonly retry: readonly Pending[] };

export function batchFailure(error: unknown, batch: readonly Pending[]): BatchFailure {
  if (error instanceof LostLeadership) return { kind: 'fenced' };
  const rolledBack = error instanceof PreviousBatchFailed || LOST_RACE.has(sqlStateOf(error) ?? '');
  const retry = rolledBack ? batch.filter((item) => !item.retried) : [];
  const refusal = retry.length > 0 ? undefined : refusalOf(error);
  return refusal === undefined ? { kind: 'failed', retry } : { kind: 'refused', refusal };
}

export const unavailable = (message: string, cause?: unknown) =>
  new DomainError('unavailable', message, { dependency: 'postgres', retryAfterMs: 100, cause });

/** What the callers of a failed batch get: safe to retry, client order ids are idempotent. */
export const failedBatchError = (error: unknown): DomainError =>
  isDomainError(error) && error.code === 'unavailable'
    ? error
    : unavailable('the order could not be committed; retry with the same client_order_id', error);
