/**
 * The sequenced history of every stream (market data, a user's execution reports): Redis
 * Streams in production, an in-process twin for the embedded mode and unit tests.
 *
 * Entries are keyed by their `seq` (contiguous per stream, from 1), so appending an entry that
 * is already there is a harmless no-op: a relay that crashed mid-publish simply publishes again.
 */
export interface StreamEntry {
  readonly stream: string;
  readonly seq: number;
  /** JSON text of the message. */
  readonly payload: string;
}

/** Receives the live entries of one stream, in seq order. */
export type TailListener = (entry: StreamEntry) => void;

export interface StreamLog {
  /**
   * Appends entries in order. An entry whose seq is not above the stream's last seq is skipped
   * (already published). Resolves to how many were new.
   */
  append(entries: readonly StreamEntry[]): Promise<number>;
  /** Entries of `stream` with seq > `afterSeq`, oldest first, at most `limit`. */
  read(stream: string, afterSeq: number, limit: number): Promise<StreamEntry[]>;
  /** The last seq appended to `stream`, 0 when it has none. */
  lastSeq(stream: string): Promise<number>;
  /**
   * Live entries of `stream`: once the promise resolves, `listener` gets every entry appended
   * after that, in seq order (and maybe a few appended just before: callers drop seqs they
   * have). One reader per stream per process feeds every listener. Resolves to the unsubscribe.
   */
  tail(stream: string, listener: TailListener): Promise<() => void>;
  /**
   * Identifies this history: it changes only when the history is lost (the log's storage was
   * wiped), so a position from another epoch cannot be replayed.
   */
  epoch(): Promise<number>;
}
