import type { Balance } from '../accounts/balance.js';
import type { SequencedBook } from './book-replica.js';

/** The state a stream starts from when it cannot resume: a book, or the user's balances. */
export type StreamSnapshot =
  | { readonly kind: 'book'; readonly book: SequencedBook }
  | { readonly kind: 'balances'; readonly balances: readonly Balance[] };
