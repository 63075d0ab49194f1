import { Code, ConnectError } from '@connectrpc/connect';
import { ReconnectReason as WireReason } from '../gen/trading/v1/stream_pb.js';
import type { ReconnectReason } from './connection-state.js';

/** Statuses a dropped connection or an unreachable service surfaces as. */
const NETWORK_CODES: ReadonlySet<Code> = new Set([
  Code.Unavailable,
  Code.Unknown,
  Code.DeadlineExceeded,
  Code.Canceled,
]);

/**
 * What the next call tells the server about why the last one ended (`reconnect_reason`, counted
 * in `stream_reconnects_total`): the client's own reason, and for a failed call its status.
 */
export function wireReconnectReason(reason: ReconnectReason, error?: unknown): WireReason {
  switch (reason) {
    case 'server-reconnect':
      return WireReason.DRAIN;
    case 'online':
      return WireReason.NETWORK;
    case 'resync':
      return WireReason.RESYNC;
    case 'transport-fallback':
      return WireReason.TRANSPORT_FALLBACK;
    case 'server-closed':
      return WireReason.ERROR;
    case 'error': {
      const code = error === undefined ? Code.Unknown : ConnectError.from(error).code;
      if (code === Code.ResourceExhausted) return WireReason.SLOW_CONSUMER;
      if (code === Code.Unauthenticated) return WireReason.TOKEN;
      return NETWORK_CODES.has(code) ? WireReason.NETWORK : WireReason.ERROR;
    }
  }
}
