import type { IncomingHttpHeaders } from 'node:http';
import {
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { isDomainError } from '../../domain/errors.js';
import type { ClientFrame } from '../../gen/trading/v1/websocket_pb.js';
import { isServerFault } from '../rpc/call-observer.js';
import { STATUS_CODES } from '../rpc/status-codes.js';

/**
 * Trace context on /ws: a subscribe or open_stream frame gets a server span that continues the
 * client's trace, taken from the frame's `traceparent` (browsers cannot set headers on a
 * WebSocket) or else from the upgrade request's `traceparent` header, so the gateway's
 * `stream.subscribe` / `stream.resume` spans and their log lines join it, as on gRPC and Connect.
 */

const tracer = trace.getTracer('trading-platform/websocket');

/** The trace context of the upgrade request's headers (ROOT_CONTEXT when it sent none). */
export function upgradeTraceContext(headers: IncomingHttpHeaders): Context {
  return propagation.extract(ROOT_CONTEXT, headers);
}

/** The frame's own trace context when it carries a valid one, else the upgrade's. */
export function frameTraceContext(frame: ClientFrame, upgrade: Context): Context {
  if (frame.traceparent === '') return upgrade;
  const carrier: Record<string, string> = { traceparent: frame.traceparent };
  if (frame.tracestate !== '') carrier.tracestate = frame.tracestate;
  const extracted = propagation.extract(ROOT_CONTEXT, carrier);
  // W3C Trace Context: a traceparent that does not parse is ignored, not refused.
  return trace.getSpanContext(extracted) === undefined ? upgrade : extracted;
}

/**
 * A span for one frame's open, from the frame to its streams being open or refused (not for
 * the streams' lifetime: a span is exported only once it ends).
 */
export interface FrameSpan {
  /** The context the open runs in: the span's, under the client's trace. */
  readonly context: Context;
  streams(names: readonly string[]): void;
  opened(sessionId: string): void;
  /** A refusal (an error frame) or a failure; only server faults mark the span an error. */
  failed(error: unknown): void;
  /** Unsubscribed, or the connection closed, before the streams were open. */
  cancelled(): void;
}

export function startFrameSpan(
  parent: Context,
  frame: 'subscribe' | 'open_stream',
  requestId: number,
): FrameSpan {
  const span: Span = tracer.startSpan(
    `WebSocket ${frame}`,
    {
      kind: SpanKind.SERVER,
      attributes: { 'websocket.frame': frame, 'websocket.request_id': requestId },
    },
    parent,
  );
  let ended = false;
  const end = () => {
    ended = true;
    span.end();
  };
  return {
    context: trace.setSpan(parent, span),
    streams: (names) => {
      span.setAttribute('stream.names', [...names]);
    },
    opened: (sessionId) => {
      if (ended) return;
      span.setAttribute('session.id', sessionId);
      end();
    },
    failed: (error) => {
      if (ended) return;
      const code = isDomainError(error) ? STATUS_CODES[error.code] : undefined;
      if (code !== undefined) span.setAttribute('rpc.grpc.status_code', code);
      if (code === undefined || isServerFault(code)) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
      }
      end();
    },
    cancelled: () => {
      if (ended) return;
      span.setAttribute('websocket.cancelled', true);
      end();
    },
  };
}
