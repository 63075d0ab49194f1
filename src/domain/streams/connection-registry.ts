import type { StreamMetrics } from './stream.metrics.js';
import type { PongOutcome, StreamConnection } from './stream-connection.js';

/**
 * The stream connections open on this pod, by session id, so a pong that arrives outside its
 * stream (the unary `SessionService.Pong`) finds the connection it answers. A session may hold
 * several streams (Subscribe and OpenStream); heartbeat ids are unique on the pod, so the id
 * names the one.
 */
export class ConnectionRegistry {
  readonly #bySession = new Map<string, Set<StreamConnection>>();
  readonly #metrics: StreamMetrics;
  #lastHeartbeatId = 0;

  constructor(metrics: StreamMetrics) {
    this.#metrics = metrics;
  }

  /** Heartbeat ids for this pod's connections. */
  readonly nextHeartbeatId = (): number => {
    this.#lastHeartbeatId += 1;
    return this.#lastHeartbeatId;
  };

  add(connection: StreamConnection): void {
    let set = this.#bySession.get(connection.sessionId);
    if (set === undefined) {
      set = new Set();
      this.#bySession.set(connection.sessionId, set);
    }
    set.add(connection);
  }

  remove(connection: StreamConnection): void {
    const set = this.#bySession.get(connection.sessionId);
    set?.delete(connection);
    if (set?.size === 0) this.#bySession.delete(connection.sessionId);
  }

  /** Hands a pong to its connection; `unknown_session` when the session streams elsewhere. */
  pong(sessionId: string, heartbeatId: number): PongOutcome | 'unknown_session' {
    const set = this.#bySession.get(sessionId);
    if (set === undefined) {
      this.#metrics.pongs.inc({ result: 'unknown_session' });
      return 'unknown_session';
    }
    for (const connection of set) {
      if (connection.awaits(heartbeatId)) return connection.pong(heartbeatId);
    }
    this.#metrics.pongs.inc({ result: 'late' });
    return 'late';
  }

  get size(): number {
    let n = 0;
    for (const set of this.#bySession.values()) n += set.size;
    return n;
  }
}
