import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
  type TextMapGetter,
} from '@opentelemetry/api';
import type { Metadata } from '@grpc/grpc-js';
import {
  ServerInterceptingCall,
  status,
  type ServerInterceptor,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import {
  counter,
  histogram,
  LATENCY_BUCKETS,
  type Logger,
  type Registry,
} from '../../telemetry/index.js';
import { GRPC_CODE_NAMES, grpcCodeName } from '../../shared/grpc/code-names.js';
import { DEPENDENCY_KEY, SHUTDOWN_DEPENDENCY } from '../../shared/grpc/error-metadata.js';
import {
  grpcType,
  methodLabels,
  parsePath,
  type GrpcType,
} from '../../shared/grpc/method-labels.js';

/**
 * One interceptor for every service on the server (ours, Health, reflection): the
 * `grpc_server_*` metrics dashboards expect (the go-grpc-prometheus names and labels), one
 * server span per call whose context the handler runs in, and one log line per call.
 */

interface MethodInfo {
  readonly service: string;
  readonly method: string;
  readonly type: GrpcType;
}

const metadataGetter: TextMapGetter<Metadata> = {
  keys: (carrier) => Object.keys(carrier.getMap()),
  get: (carrier, key) => {
    const values = carrier.get(key).filter((v): v is string => typeof v === 'string');
    return values.length === 0 ? undefined : values;
  },
};

/** Facts learnt while a call runs (who made it) that its log line should carry. */
interface CallState {
  readonly context: Context;
  userId?: string;
}

/**
 * A call's state, keyed by its Metadata object: that object travels unchanged from this
 * interceptor to the handler, whereas async context may not (grpc-js can run a handler after
 * an asynchronous step, and with telemetry off there is no context manager at all).
 */
const calls = new WeakMap<Metadata, CallState>();

/** The span context of the call whose request metadata this is. */
export const callContextFor = (metadata: Metadata): Context | undefined =>
  calls.get(metadata)?.context;

/** Records who is calling on the call's span and in its log line. */
export function annotateCall(metadata: Metadata, facts: { userId: string }): void {
  const state = calls.get(metadata);
  if (state === undefined) return;
  state.userId = facts.userId;
  trace.getSpan(state.context)?.setAttribute('enduser.id', facts.userId);
}

/** Calls that run often and say little: logged at debug instead of info. */
const QUIET_SERVICES = new Set(['grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection']);

export class GrpcServerMetrics {
  readonly started;
  readonly handled;
  readonly handling;
  readonly received;
  readonly sent;

  constructor(registry: Registry) {
    const labelNames = ['grpc_type', 'grpc_service', 'grpc_method'] as const;
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
    });
  }

  /** Creates zero-valued series for every method, so rates and ratios exist before traffic. */
  initialize(definition: ServiceDefinition): void {
    for (const method of Object.values(definition)) {
      const labels = methodLabels(method);
      this.started.inc(labels, 0);
      this.received.inc(labels, 0);
      this.sent.inc(labels, 0);
      this.handling.zero(labels);
      for (const code of GRPC_CODE_NAMES) this.handled.inc({ ...labels, grpc_code: code }, 0);
    }
  }
}

export function observabilityInterceptor(
  metrics: GrpcServerMetrics,
  logger: Logger,
): ServerInterceptor {
  const tracer = trace.getTracer('trading-platform/grpc');
  return (descriptor, call) => {
    const { service, method } = parsePath(descriptor.path);
    const info: MethodInfo = {
      service,
      method,
      type: grpcType(descriptor.requestStream, descriptor.responseStream),
    };
    const labels = { grpc_type: info.type, grpc_service: service, grpc_method: method };
    const startedAt = process.hrtime.bigint();
    metrics.started.inc(labels);

    let span: Span | undefined;
    let state: CallState | undefined;
    let spanContext: Context = ROOT_CONTEXT;
    let finished = false;
    /** `planned`: the server ended the call because it is shutting down (SHUTDOWN_DEPENDENCY). */
    const finish = (code: number, details: string | undefined, planned = false) => {
      if (finished) return;
      finished = true;
      const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
      const codeName = grpcCodeName(code);
      metrics.handled.inc({ ...labels, grpc_code: codeName });
      metrics.handling.observe(labels, seconds);
      if (span !== undefined) {
        span.setAttribute('rpc.grpc.status_code', code);
        if (isServerFault(code) && !planned)
          span.setStatus({ code: SpanStatusCode.ERROR, message: details ?? codeName });
        span.end();
      }
      const level =
        isServerFault(code) && !planned ? 'error' : QUIET_SERVICES.has(service) ? 'debug' : 'info';
      context.with(spanContext, () => {
        logger[level](
          {
            grpc_service: service,
            grpc_method: method,
            grpc_type: info.type,
            grpc_code: codeName,
            duration_ms: Math.round(seconds * 1e6) / 1e3,
            peer: call.getPeer(),
            ...(state?.userId === undefined ? {} : { user_id: state.userId }),
            ...(codeName === 'OK' ? {} : { grpc_message: details }),
          },
          'grpc call finished',
        );
      });
    };

    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            const parent = propagation.extract(ROOT_CONTEXT, metadata, metadataGetter);
            span = tracer.startSpan(
              `${service}/${method}`,
              {
                kind: SpanKind.SERVER,
                attributes: {
                  'rpc.system': 'grpc',
                  'rpc.service': service,
                  'rpc.method': method,
                },
              },
              parent,
            );
            spanContext = trace.setSpan(parent, span);
            state = { context: spanContext };
            calls.set(metadata, state);
            context.with(spanContext, () => {
              nextMetadata(metadata);
            });
          },
          onReceiveMessage(message, nextMessage) {
            metrics.received.inc(labels);
            context.with(spanContext, () => {
              nextMessage(message);
            });
          },
          onReceiveHalfClose(nextHalfClose) {
            context.with(spanContext, () => {
              nextHalfClose();
            });
          },
          onCancel() {
            finish(status.CANCELLED, 'cancelled by the client');
          },
        });
      },
      sendMessage(message, next) {
        metrics.sent.inc(labels);
        next(message);
      },
      sendStatus(statusObject, next) {
        const [dependency] = statusObject.metadata?.get(DEPENDENCY_KEY) ?? [];
        finish(
          statusObject.code,
          statusObject.details,
          statusObject.code === status.UNAVAILABLE && dependency === SHUTDOWN_DEPENDENCY,
        );
        next(statusObject);
      },
    });
  };
}

/** Codes that mean the server failed, as opposed to the caller asking for something wrong. */
const SERVER_FAULTS: ReadonlySet<number> = new Set([
  status.UNKNOWN,
  status.DEADLINE_EXCEEDED,
  status.UNIMPLEMENTED,
  status.INTERNAL,
  status.UNAVAILABLE,
  status.DATA_LOSS,
]);

export function isServerFault(code: number): boolean {
  return SERVER_FAULTS.has(code);
}
