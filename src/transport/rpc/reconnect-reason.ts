import type { ReconnectReason as ReasonLabel } from '../../domain/streams/stream.metrics.js';
import { ReconnectReason } from '../../gen/trading/v1/stream_pb.js';

const LABELS: Readonly<Record<ReconnectReason, ReasonLabel>> = {
  [ReconnectReason.UNSPECIFIED]: 'unspecified',
  [ReconnectReason.DRAIN]: 'drain',
  [ReconnectReason.NETWORK]: 'network',
  [ReconnectReason.SLOW_CONSUMER]: 'slow_consumer',
  [ReconnectReason.TOKEN]: 'token',
  [ReconnectReason.ERROR]: 'error',
  [ReconnectReason.RESYNC]: 'resync',
  [ReconnectReason.TRANSPORT_FALLBACK]: 'transport_fallback',
};

/**
 * A request's `reconnect_reason` as the metric label. Proto3 enums are open: a number this
 * release does not know (a newer client) counts as `unspecified`, keeping the label bounded.
 */
export function reconnectReasonOf(reason: ReconnectReason): ReasonLabel {
  return (LABELS as Partial<Record<number, ReasonLabel>>)[reason] ?? 'unspecified';
}
