import type { TransportKind } from './transports.js';

export type ConnectionStatus =
  /** Not started, or closed. */
  | 'idle'
  /** A call is opening and nothing has arrived on it yet. */
  | 'connecting'
  /** Messages are flowing. */
  | 'connected'
  /** Waiting `nextRetryAt` before the next try. */
  | 'reconnecting'
  /** The browser says the network is down: nothing is tried until it is back. */
  | 'offline';

/** Connection classes, as the server's quality classifier names them. */
export type QualityClass = 'excellent' | 'good' | 'fair' | 'poor' | 'offline';

/** Why the last connection ended and the client reconnected. */
export type ReconnectReason =
  'error' | 'server-closed' | 'server-reconnect' | 'resync' | 'online' | 'transport-fallback';

export interface ConnectionState {
  readonly status: ConnectionStatus;
  readonly transport: TransportKind;
  /** The class the server reports, when it does; else undefined. */
  readonly serverQuality: QualityClass | undefined;
  /** The server's smoothed RTT and jitter of this connection, with its last QualityChange. */
  readonly serverRttMs: number | undefined;
  readonly serverJitterMs: number | undefined;
  readonly missedHeartbeats: number;
  /** The client's own class, from the RTT of its heartbeat answers. */
  readonly quality: QualityClass;
  /** The last round trips in ms, oldest first (for a sparkline). */
  readonly rttMs: readonly number[];
  /** When the next try is due (epoch ms), while reconnecting. */
  readonly nextRetryAt: number | undefined;
  /** Failures since the connection was last stable. */
  readonly attempt: number;
  readonly reconnects: number;
  readonly lastReconnectReason: ReconnectReason | undefined;
  readonly lastError: string | undefined;
  /** The pod serving the streams, and how often it changed across reconnects. */
  readonly pod: string | undefined;
  readonly migrations: number;
  /** Fresh snapshots taken where the client asked to resume (`recovered=false`). */
  readonly unrecovered: number;
  /** Resubscriptions for a snapshot after a seq gap or a checksum mismatch. */
  readonly gaps: number;
  readonly checksumMismatches: number;
  /** Repeated entries dropped (never applied twice). */
  readonly duplicates: number;
}

/** The client's view of its link from the round trip of heartbeat answers. */
export function classifyRtt(rttMs: number | undefined): QualityClass {
  if (rttMs === undefined) return 'good';
  if (rttMs < 100) return 'excellent';
  if (rttMs < 300) return 'good';
  if (rttMs < 1000) return 'fair';
  return 'poor';
}
