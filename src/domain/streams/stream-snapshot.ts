import type { Balance } from '../accounts/balance.js';
import type { SequencedBook } from './book-replica.js';

/**
 * The state a stream starts from when it cannot resume: a book, the user's balances, or a
 * ticker (the payload of the ticker stream's entry at the snapshot's seq).
 */
export type StreamSnapshot =
  | { readonly kind: 'book'; readonly book: SequencedBook }
  | { readonly kind: 'balances'; readonly balances: readonly Balance[] }
  | { readonly kind: 'ticker'; readonly payload: string };
