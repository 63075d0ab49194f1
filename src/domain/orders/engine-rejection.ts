import type { RejectCode } from '../../engine/index.js';
import { DomainError, type DomainErrorCode } from '../errors.js';

/**
 * The one place an engine rejection becomes a domain error. Malformed input is
 * `invalid_argument`; a valid request the book's current state refuses (band, post-only,
 * an order that is already done) is `failed_precondition`.
 */
const CODES: Record<RejectCode, DomainErrorCode> = {
  'invalid-order-id': 'invalid_argument',
  'duplicate-order-id': 'internal',
  'invalid-owner-id': 'internal',
  'invalid-side': 'invalid_argument',
  'invalid-order-type': 'invalid_argument',
  'invalid-time-in-force': 'invalid_argument',
  'invalid-post-only': 'invalid_argument',
  'invalid-quantity': 'invalid_argument',
  'lot-size': 'invalid_argument',
  'quantity-below-min': 'invalid_argument',
  'quantity-above-max': 'invalid_argument',
  'invalid-price': 'invalid_argument',
  'tick-size': 'invalid_argument',
  'price-out-of-band': 'failed_precondition',
  'post-only-would-take': 'failed_precondition',
  'unknown-order': 'failed_precondition',
  'amend-no-change': 'invalid_argument',
  'amend-below-filled': 'failed_precondition',
  'unknown-symbol': 'invalid_argument',
};

export const engineRejection = (code: RejectCode, reason: string): DomainError =>
  new DomainError(CODES[code], reason);
