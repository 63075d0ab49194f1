import type { Redis } from 'ioredis';
import type { StreamEntry, TailListener } from '../../domain/ports/stream-log.port.js';
import type { Logger } from '../../telemetry/index.js';
import { TailListeners, type TailSubscription } from './tail-listeners.js';

export interface RedisStreamTailOptions {
  /** The shared connection: positions new streams and unblocks the reader. */
  readonly redis: Redis;
  /** Prepended to stream names (after the connection's own key prefix). */
  readonly keyPrefix: string;
  readonly payloadField: string;
  /** Where a newly tailed stream starts: its last seq. */
  readonly lastSeq: (stream: string) => Promise<number>;
  /**
   * How long one XREAD waits for entries. Default 1,000 ms: also the longest a stream tailed
   * while an XREAD was already on its way waits to be read (its UNBLOCK may arrive first).
   */
  readonly blockMs?: number;
  /** Entries per stream per XREAD. Default 1,000. */
  readonly batch?: number;
  /** Wait after a failed XREAD (Redis down). Default 500 ms. */
  readonly retryDelayMs?: number;
  readonly logger?: Logger;
}

/**
 * One reader for every tailed stream of this process: a single XREAD BLOCK over all of them on
 * a dedicated connection (a blocked connection can do nothing else), fanned out to listeners
 * in process. A newly tailed stream interrupts the block (CLIENT UNBLOCK), so it is read at once.
 */
export class RedisStreamTail {
  readonly #options: RedisStreamTailOptions;
  readonly #blockMs: number;
  readonly #listeners = new TailListeners();
  /** Last entry id read per tailed stream. */
  readonly #positions = new Map<string, string>();
  #reader: Redis | undefined;
  #readerId: number | undefined;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #closed = false;

  constructor(options: RedisStreamTailOptions) {
    this.#options = options;
    this.#blockMs = options.blockMs ?? 1_000;
  }

  async tail(stream: string, listener: TailListener): Promise<() => void> {
    if (this.#closed) throw new Error('the stream tail is closed');
    const subscription = this.#listeners.add(stream, listener);
    try {
      if (!this.#positions.has(stream)) {
        const last = await this.#options.lastSeq(stream);
        // Another caller may have positioned it meanwhile; either position covers what is
        // appended after now.
        if (!this.#positions.has(stream) && subscription.current()) {
          this.#positions.set(stream, `${last}-0`);
          await this.#restartRead();
        }
      }
    } catch (error) {
      this.#remove(stream, subscription);
      throw error;
    }
    return () => {
      this.#remove(stream, subscription);
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#positions.clear();
    this.#wake?.();
    const reader = this.#reader;
    if (reader !== undefined) reader.disconnect();
    await this.#loop;
  }

  /** Read through a call: the loop's awaits let close() change it behind the compiler's back. */
  #isClosed(): boolean {
    return this.#closed;
  }

  #remove(stream: string, subscription: TailSubscription): void {
    // The stream's last listener: dropped from the next XREAD; a late reply finds no listener.
    if (subscription.remove()) this.#positions.delete(stream);
  }

  /** Starts the loop, or makes a blocked XREAD return so the next one includes new streams. */
  async #restartRead(): Promise<void> {
    if (this.#loop === undefined) {
      this.#loop = this.#run();
      return;
    }
    if (this.#wake !== undefined) {
      this.#wake();
      return;
    }
    if (this.#readerId !== undefined) {
      await this.#options.redis.client('UNBLOCK', this.#readerId);
    }
  }

  #connect(): Redis {
    if (this.#reader !== undefined) return this.#reader;
    const base = this.#options.redis;
    // The block must not count as a slow command.
    const reader = base.duplicate({
      commandTimeout: this.#blockMs + (base.options.commandTimeout ?? 1_000),
      connectionName: `${base.options.connectionName ?? 'trading-platform'}/tail`,
    });
    reader.on('error', (error: Error) => {
      this.#options.logger?.debug({ err: error }, 'stream tail connection error');
    });
    reader.on('ready', () => {
      this.#readerId = undefined;
    });
    this.#reader = reader;
    return reader;
  }

  async #run(): Promise<void> {
    const prefix = (this.#options.redis.options.keyPrefix ?? '') + this.#options.keyPrefix;
    while (!this.#closed) {
      if (this.#positions.size === 0) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = undefined;
        continue;
      }
      try {
        const reader = this.#connect();
        if (reader.status !== 'ready') {
          // 'end' as well: close() disconnects a reader that may never get ready.
          await new Promise((resolve) => {
            reader.once('ready', resolve);
            reader.once('end', resolve);
          });
          if (this.#isClosed()) break;
        }
        this.#readerId ??= await reader.client('ID');
        const streams = [...this.#positions.keys()];
        const ids = streams.map((stream) => this.#positions.get(stream) ?? '0-0');
        const reply = await reader.xread(
          'COUNT',
          this.#options.batch ?? 1_000,
          'BLOCK',
          this.#blockMs,
          'STREAMS',
          ...streams.map((stream) => this.#options.keyPrefix + stream),
          ...ids,
        );
        for (const [key, rows] of reply ?? []) this.#dispatch(key.slice(prefix.length), rows);
      } catch (error) {
        if (this.#isClosed()) break;
        this.#options.logger?.warn({ err: error }, 'stream tail read failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, this.#options.retryDelayMs ?? 500));
      }
    }
  }

  #dispatch(stream: string, rows: [id: string, fields: string[]][]): void {
    const listeners = this.#listeners.of(stream);
    if (listeners === undefined || !this.#positions.has(stream)) return;
    const field = this.#options.payloadField;
    for (const [id, fields] of rows) {
      const entry: StreamEntry = {
        stream,
        seq: Number(id.slice(0, id.indexOf('-'))),
        payload: fields[fields.indexOf(field) + 1] ?? '',
      };
      this.#positions.set(stream, id);
      for (const listener of listeners) {
        try {
          listener(entry);
        } catch (error) {
          this.#options.logger?.error({ err: error, stream }, 'stream tail listener failed');
        }
      }
    }
  }
}
