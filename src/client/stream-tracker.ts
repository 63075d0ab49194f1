/** Where the client is in one stream (docs/protocol.md, "Every message"). */
export interface Position {
  readonly stream: string;
  readonly epoch: bigint;
  readonly seq: bigint;
}

/** What a stream message means for the client's position in that stream. */
export type Accepted =
  /** The call's start message, a fresh snapshot: replace the stream's state. */
  | { readonly kind: 'fresh'; readonly hadPosition: boolean }
  /** The call's start message, resuming at the client's position: keep the state. */
  | { readonly kind: 'resumed' }
  /** The next entry after the position. */
  | { readonly kind: 'next' }
  /** An entry at or before the position: already applied, dropped. */
  | { readonly kind: 'duplicate' }
  /** An entry after a missing one: the state is no longer right. */
  | { readonly kind: 'gap'; readonly expected: bigint };

export interface StreamMessage {
  readonly stream: string;
  readonly epoch: bigint;
  readonly seq: bigint;
  readonly recovered: boolean;
  /** On a conflated book delta: the first seq it stands for (it ends at `seq`); else 0. */
  readonly firstSeq?: bigint;
}

/**
 * The client's positions per stream, which it sends back to resume, and the check of every
 * message against them: each call begins each stream with one start message, then entries
 * in contiguous seq order.
 */
export class StreamTracker {
  readonly #positions = new Map<string, Position>();
  readonly #started = new Set<string>();

  /** A new call begins: each stream's next message is its start message. */
  beginCall(streams: readonly string[]): void {
    for (const stream of streams) this.#started.delete(stream);
  }

  positions(streams: readonly string[]): Position[] {
    return streams.flatMap((stream) => {
      const position = this.#positions.get(stream);
      return position === undefined ? [] : [position];
    });
  }

  /** Drops a stream's position, so the next call asks for a fresh snapshot of it. */
  forget(stream: string): void {
    this.#positions.delete(stream);
    this.#started.delete(stream);
  }

  /**
   * `whole`: the message carries the stream's whole state (a ticker), so one that follows a
   * gap is applied all the same: nothing before it is needed.
   */
  accept(message: StreamMessage, whole = false): Accepted {
    const { stream, epoch, seq } = message;
    const position = this.#positions.get(stream);
    if (!this.#started.has(stream)) {
      this.#started.add(stream);
      this.#positions.set(stream, { stream, epoch, seq });
      if (message.recovered && position?.seq === seq) {
        return { kind: 'resumed' };
      }
      return { kind: 'fresh', hadPosition: position !== undefined };
    }
    const last = position?.seq ?? 0n;
    if (seq <= last) return { kind: 'duplicate' };
    // A conflated delta holds the latest value of every level changed from firstSeq to seq,
    // so it applies to a book at any seq in firstSeq - 1 .. seq - 1.
    const from = message.firstSeq !== undefined && message.firstSeq > 0n ? message.firstSeq : seq;
    if (from > last + 1n && !whole) return { kind: 'gap', expected: last + 1n };
    this.#positions.set(stream, { stream, epoch, seq });
    return { kind: 'next' };
  }
}
