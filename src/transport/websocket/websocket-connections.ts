import { addressKey } from '../../domain/address-key.js';
import type { CloseName } from './close-codes.js';
import type { WebSocketConnection } from './websocket-connection.js';

/**
 * The WebSocket connections open on this process, and how many each client address holds
 * (an IPv6 client's /64 counts as one address, address-key.ts): what a drain or heartbeat loop
 * walks, and what WS_MAX_CONNECTIONS_PER_IP is checked against.
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
    return (this.#perIp.get(addressKey(ip)) ?? 0) < this.maxPerIp;
  }

  add(connection: WebSocketConnection): void {
    this.#open.add(connection);
    const key = addressKey(connection.clientIp);
    this.#perIp.set(key, (this.#perIp.get(key) ?? 0) + 1);
  }

  delete(connection: WebSocketConnection): void {
    if (!this.#open.delete(connection)) return;
    const key = addressKey(connection.clientIp);
    const left = (this.#perIp.get(key) ?? 1) - 1;
    if (left === 0) this.#perIp.delete(key);
    else this.#perIp.set(key, left);
  }

  closeAll(name: CloseName, reason: string): void {
    for (const connection of this.#open) connection.close(name, reason);
  }

  [Symbol.iterator](): Iterator<WebSocketConnection> {
    return this.#open.values();
  }
}
