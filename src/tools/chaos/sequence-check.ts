/** What a client saw go wrong in the seqs of its streams. */
export interface SequenceFindings {
  /** A seq skipped, or a resume that started past the client's position. */
  gaps: number;
  /** A seq seen again, or a resume that started before the client's position. */
  duplicates: number;
  /** Resumes answered with a fresh snapshot instead of the entries missed. */
  notRecovered: number;
}

/**
 * A client's positions per stream, checked against docs/protocol.md: each call's first message
 * of a stream is its start (a resume at the client's position, or a fresh start that replaces
 * the client's state), then seqs follow one by one.
 */
export class SequenceCheck {
  readonly findings: SequenceFindings = { gaps: 0, duplicates: 0, notRecovered: 0 };
  readonly #positions = new Map<string, { epoch: bigint; seq: bigint }>();
  #started = new Set<string>();

  /** A new call begins: the next message of each stream is its start message. */
  newCall(): void {
    this.#started = new Set();
  }

  /**
   * Checks a message; false when it is not to be applied: a repeat, or a message of the
   * connection rather than of a stream (a heartbeat, a quality change, a Reconnect: `stream`
   * empty). `firstSeq` is set on a conflated book delta, which stands for firstSeq..seq.
   */
  accept(message: {
    stream: string;
    epoch: bigint;
    seq: bigint;
    recovered: boolean;
    firstSeq?: bigint;
  }): boolean {
    const { stream, seq, epoch } = message;
    if (stream === '') return false;
    const had = this.#positions.get(stream);
    if (!this.#started.has(stream)) {
      this.#started.add(stream);
      if (message.recovered) {
        const at = had?.seq ?? 0n;
        if (seq > at) this.findings.gaps += 1;
        if (seq < at) this.findings.duplicates += 1;
      } else if (had !== undefined) {
        this.findings.notRecovered += 1;
      }
    } else if (had !== undefined) {
      if (seq <= had.seq) {
        this.findings.duplicates += 1;
        return false;
      }
      const first =
        message.firstSeq !== undefined && message.firstSeq > 0n ? message.firstSeq : seq;
      if (first !== had.seq + 1n) this.findings.gaps += 1;
    }
    this.#positions.set(stream, { epoch, seq });
    return true;
  }

  /** What the client sends to resume. */
  positions(): { stream: string; epoch: bigint; seq: bigint }[] {
    return [...this.#positions].map(([stream, { epoch, seq }]) => ({ stream, epoch, seq }));
  }

  seq(stream: string): bigint {
    return this.#positions.get(stream)?.seq ?? 0n;
  }
}
