import type { Logger } from '../../telemetry/index.js';

/** One open stream connection as the drain sees it, whatever its transport. */
export interface DrainableConnection {
  readonly transport: string;
  /** Tells the client the server is going away and when its stream will end. */
  reconnect(delayMs: number, reason: string): void;
  /** Ends the stream (the client resumes elsewhere from its positions). */
  close(): void;
}

export interface StreamDrainDeps {
  /** Reconnects are spread uniformly over this many milliseconds. */
  readonly windowMs: number;
  /** A float in [0, 1); injected so tests see exact delays. */
  readonly random: () => number;
  /** Injected so tests need no real time. */
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
  /** Observes how long a drain took, in seconds (`stream_drain_seconds`). */
  readonly observe: (seconds: number) => void;
  readonly logger: Logger;
}

export const DRAIN_REASON =
  'the server is going away; resume on another server from your positions';

/**
 * The stream connections open on this process, registered by every transport (gRPC, Connect,
 * WebSocket), and their drain: each gets a `Reconnect` with its own delay drawn across the
 * window and its stream ends when that delay has passed, so clients come back to the other
 * pods spread out rather than all at once. The drain runs after readiness has failed and load
 * balancers have let go of this pod, so no reconnect lands here.
 */
export class StreamDrain {
  readonly #deps: StreamDrainDeps;
  readonly #open = new Set<DrainableConnection>();
  readonly #closing = new Set<Promise<void>>();
  #startedAt: number | undefined;

  constructor(deps: StreamDrainDeps) {
    this.#deps = deps;
  }

  get size(): number {
    return this.#open.size;
  }

  /** Registers a connection; the returned function removes it (call it when the stream ends). */
  add(connection: DrainableConnection): () => void {
    this.#open.add(connection);
    // Opened while draining (a client the balancer had not yet moved): it gets its turn too.
    if (this.#startedAt !== undefined) this.#schedule(connection, this.#remainingMs());
    return () => {
      this.#open.delete(connection);
    };
  }

  /** Resolves once every connection has been told and closed, within the window. */
  async drain(): Promise<void> {
    if (this.#startedAt !== undefined) {
      await Promise.all(this.#closing);
      return;
    }
    const { logger, windowMs, now, observe } = this.#deps;
    this.#startedAt = now();
    const connections = [...this.#open];
    logger.info({ connections: connections.length, window_ms: windowMs }, 'stream drain started');
    for (const connection of connections) this.#schedule(connection, windowMs);
    // Connections added while waiting schedule themselves; wait for those as well.
    while (this.#closing.size > 0) await Promise.all(this.#closing);
    const seconds = (now() - this.#startedAt) / 1_000;
    observe(seconds);
    logger.info({ connections: connections.length, duration_s: seconds }, 'stream drain finished');
  }

  #remainingMs(): number {
    return Math.max(0, this.#deps.windowMs - (this.#deps.now() - (this.#startedAt ?? 0)));
  }

  #schedule(connection: DrainableConnection, spanMs: number): void {
    const delayMs = Math.floor(this.#deps.random() * spanMs);
    connection.reconnect(delayMs, DRAIN_REASON);
    const closing = this.#deps.sleep(delayMs).then(() => {
      if (this.#open.delete(connection)) connection.close();
    });
    this.#closing.add(closing);
    void closing.finally(() => this.#closing.delete(closing));
  }
}
