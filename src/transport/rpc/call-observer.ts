import {
  context as otelContext,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { Code } from '@connectrpc/connect';
import {
  counter,
  histogram,
  LATENCY_BUCKETS,
  type Logger,
  type Registry,
} from '../../telemetry/index.js';
import { GRPC_CODE_NAMES, grpcCodeName } from '../../shared/grpc/code-names.js';
import type { DescMethod } from '@bufbuild/protobuf';
import { grpcType, type GrpcType } from '../../shared/grpc/method-labels.js';

/**
 * What every RPC transport records per call, so dashboards count a call the same whether it
 * came over native gRPC, gRPC-Web or Connect: the `grpc_server_*` metrics (go-grpc-prometheus
 * names and labels, plus `transport`), one server span and one log line.
 */

/** How a call reached us: the protocol's name as Connect spells it (`HandlerContext.protocolName`). */
export type RpcTransport = 'grpc' | 'grpc-web' | 'connect';
export const RPC_TRANSPORTS: readonly RpcTransport[] = ['grpc', 'grpc-web', 'connect'];

export interface MethodLabels {
  readonly grpc_type: GrpcType;
  readonly grpc_service: string;
  readonly grpc_method: string;
}

/** The labels of a method from its protobuf-es descriptor. */
export function labelsOf(method: DescMethod): MethodLabels {
  const kind = method.methodKind;
  return {
    grpc_type: grpcType(
      kind === 'client_streaming' || kind === 'bidi_streaming',
      kind === 'server_streaming' || kind === 'bidi_streaming',
    ),
    grpc_service: method.parent.typeName,
    grpc_method: method.name,
  };
}

type CallLabels = MethodLabels & { readonly transport: RpcTransport };

/**
 * Messages sent per label set since the registry was last read, one map per registry (shared
 * by every caller that shares the registry): a streamed message costs an addition, not a label
 * hash, and prom-client gets the sums when scraped.
 */
const pendingSent = new WeakMap<Registry, Map<string, { labels: CallLabels; n: number }>>();

export class RpcServerMetrics {
  readonly started;
  readonly handled;
  readonly handling;
  readonly received;
  readonly sent;
  readonly #pendingSent: Map<string, { labels: CallLabels; n: number }>;

  constructor(registry: Registry) {
    let pending = pendingSent.get(registry);
    if (pending === undefined) {
      pending = new Map();
      pendingSent.set(registry, pending);
    }
    const unsent = pending;
    this.#pendingSent = unsent;
    const labelNames = ['grpc_type', 'grpc_service', 'grpc_method', 'transport'] as const;
    this.started = counter(registry, {
      name: 'grpc_server_started_total',
      help: 'RPCs started on the server.',
      labelNames,
    });
    this.handled = counter(registry, {
      name: 'grpc_server_handled_total',
      help: 'RPCs completed on the server, by status code.',
      labelNames: [...labelNames, 'grpc_code'] as const,
    });
    // No grpc_code label, like go-grpc-prometheus: keeps the series count per method fixed.
    this.handling = histogram(registry, {
      name: 'grpc_server_handling_seconds',
      help: 'Time from the start of an RPC to its status being sent.',
      labelNames,
      buckets: LATENCY_BUCKETS,
    });
    this.received = counter(registry, {
      name: 'grpc_server_msg_received_total',
      help: 'Messages received from clients.',
      labelNames,
    });
    this.sent = counter(registry, {
      name: 'grpc_server_msg_sent_total',
      help: 'Messages sent to clients.',
      labelNames,
      collect() {
        for (const slot of unsent.values()) {
          if (slot.n === 0) continue;
          this.inc(slot.labels, slot.n);
          slot.n = 0;
        }
      },
    });
  }

  /** Counts one message sent on calls with `labels` (see pendingSent). */
  sentCounter(labels: CallLabels): () => void {
    const key = `${labels.grpc_type}/${labels.grpc_service}/${labels.grpc_method}/${labels.transport}`;
    let slot = this.#pendingSent.get(key);
    if (slot === undefined) {
      slot = { labels, n: 0 };
      this.#pendingSent.set(key, slot);
    }
    const counted = slot;
    return () => {
      counted.n += 1;
    };
  }

  /** Creates zero-valued series for a method, so rates and ratios exist before traffic. */
  initialize(method: MethodLabels, transport: RpcTransport): void {
    const labels = { ...method, transport };
    this.started.inc(labels, 0);
    this.received.inc(labels, 0);
    this.sent.inc(labels, 0);
    this.handling.zero(labels);
    for (const code of GRPC_CODE_NAMES) this.handled.inc({ ...labels, grpc_code: code }, 0);
  }
}

/** Calls that run often and say little: logged at debug instead of info. */
const QUIET_SERVICES = new Set(['grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection']);

/** Codes that mean the server failed, as opposed to the caller asking for something wrong. */
const SERVER_FAULTS: ReadonlySet<number> = new Set([
  Code.Unknown,
  Code.DeadlineExceeded,
  Code.Unimplemented,
  Code.Internal,
  Code.Unavailable,
  Code.DataLoss,
]);

export function isServerFault(code: number): boolean {
  return SERVER_FAULTS.has(code);
}

export interface CallStart {
  readonly metrics: RpcServerMetrics;
  readonly logger: Logger;
  readonly method: MethodLabels;
  readonly transport: RpcTransport;
  /** The client's address: the peer's, or behind trusted proxies the one they forwarded. */
  readonly peer: string;
  /** The caller's trace context, if it sent one. */
  readonly parent: Context;
}

/** One call being observed, from its start to its status. */
export interface CallObservation {
  /** The call's span context: the handler runs in it, so its spans and logs join the trace. */
  readonly context: Context;
  received(): void;
  sent(): void;
  /** Records who is calling on the call's span and in its log line. */
  annotate(facts: { userId: string }): void;
  /**
   * Counts, logs and ends the span; only the first call counts. `planned`: the server ended
   * the call because it is shutting down, an UNAVAILABLE that is no fault.
   */
  finish(code: number, details: string | undefined, planned?: boolean): void;
}

const tracer = trace.getTracer('trading-platform/rpc');

export function observeCall(start: CallStart): CallObservation {
  const { metrics, logger, method, transport } = start;
  const labels = { ...method, transport };
  const countSent = metrics.sentCounter(labels);
  const startedAt = process.hrtime.bigint();
  metrics.started.inc(labels);
  const span: Span = tracer.startSpan(
    `${method.grpc_service}/${method.grpc_method}`,
    {
      kind: SpanKind.SERVER,
      attributes: {
        'rpc.system': transport === 'connect' ? 'connect_rpc' : 'grpc',
        'rpc.service': method.grpc_service,
        'rpc.method': method.grpc_method,
        'rpc.transport': transport,
        'client.address': start.peer,
      },
    },
    start.parent,
  );
  const spanContext = trace.setSpan(start.parent, span);
  let userId: string | undefined;
  let finished = false;
  return {
    context: spanContext,
    received: () => {
      metrics.received.inc(labels);
    },
    sent: countSent,
    annotate: (facts) => {
      userId = facts.userId;
      span.setAttribute('enduser.id', facts.userId);
    },
    finish: (code, details, planned = false) => {
      if (finished) return;
      finished = true;
      const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
      const codeName = grpcCodeName(code);
      metrics.handled.inc({ ...labels, grpc_code: codeName });
      metrics.handling.observe(labels, seconds);
      const fault = isServerFault(code) && !planned;
      span.setAttribute('rpc.grpc.status_code', code);
      if (fault) span.setStatus({ code: SpanStatusCode.ERROR, message: details ?? codeName });
      span.end();
      const level = fault ? 'error' : QUIET_SERVICES.has(method.grpc_service) ? 'debug' : 'info';
      otelContext.with(spanContext, () => {
        logger[level](
          {
            grpc_service: method.grpc_service,
            grpc_method: method.grpc_method,
            grpc_type: method.grpc_type,
            grpc_code: codeName,
            transport,
            duration_ms: Math.round(seconds * 1e6) / 1e3,
            peer: start.peer,
            ...(userId === undefined ? {} : { user_id: userId }),
            ...(codeName === 'OK' ? {} : { grpc_message: details }),
          },
          'grpc call finished',
        );
      });
    },
  };
}
