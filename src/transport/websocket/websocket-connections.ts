import type { CloseName } from './close-codes.js';
import type { WebSocketConnection } from './websocket-connection.js';

/**
 * The WebSocket connections open on this process, and how many each client address holds:
 * what a drain or heartbeat loop walks, and what WS_MAX_CONNECTIONS_PER_IP is checked against.
 */
export class WebSocketConnections implements Iterable<WebSocketConnection> {
  readonly #open = new Set<WebSocketConnection>();
  readonly #perIp = new Map<string, number>();

  constructor(readonly maxPerIp: number) {}

  get size(): number {
    return this.#open.size;
  }

  /** Whether `ip` may open one more connection. */
  admits(ip: string): boolean {
    return (this.#perIp.get(ip) ?? 0) < this.maxPerIp;
  }

  add(connection: WebSocketConnection): void {
    this.#open.add(connection);
    this.#perIp.set(connection.clientIp, (this.#perIp.get(connection.clientIp) ?? 0) + 1);
  }

  delete(connection: WebSocketConnection): void {
    if (!this.#open.delete(connection)) return;
    const left = (this.#perIp.get(connection.clientIp) ?? 1) - 1;
    if (left === 0) this.#perIp.delete(connection.clientIp);
    else this.#perIp.set(connection.clientIp, left);
  }

  closeAll(name: CloseName, reason: string): void {
    for (const connection of this.#open) connection.close(name, reason);
  }

  [Symbol.iterator](): Iterator<WebSocketConnection> {
    return this.#open.values();
  }
}
