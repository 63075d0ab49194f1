import { counter, type Registry } from '../../telemetry/index.js';
import { CLOSE_CODES, type CloseName } from './close-codes.js';

/**
 * The WebSocket transport's own metrics; the gateway counts its streams (`stream_connections`
 * with transport="websocket", quality, heartbeats) as for every transport.
 */
export function websocketMetrics(registry: Registry) {
  const closed = counter(registry, {
    name: 'stream_websocket_closed_total',
    help: 'WebSocket connections closed, by reason (client, going_away, malformed_frame, frame_flood, slow_consumer, ...; docs/protocol.md).',
    labelNames: ['reason'] as const,
  });
  const errorFrames = counter(registry, {
    name: 'stream_websocket_error_frames_total',
    help: 'Client frames refused with an error frame (the connection goes on), by status code.',
    labelNames: ['code'] as const,
  });
  for (const reason of Object.keys(CLOSE_CODES) as CloseName[]) closed.inc({ reason }, 0);
  return { closed, errorFrames };
}

export type WebSocketMetrics = ReturnType<typeof websocketMetrics>;
