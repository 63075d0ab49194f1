import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type TextMapSetter,
} from '@opentelemetry/api';
import {
  InterceptingCall,
  status,
  type Interceptor,
  type Metadata,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { counter, histogram, LATENCY_BUCKETS, type Registry } from '../../telemetry/index.js';
import { GRPC_CODE_NAMES, grpcCodeName } from './code-names.js';
import { methodLabels } from './method-labels.js';

/**
 * The client side of internal gRPC calls: `grpc_client_*` metrics with go-grpc-prometheus
 * names and labels, a client span per call, and the W3C trace context injected into the
 * request metadata, so the callee's server span joins the caller's trace.
 */

const metadataSetter: TextMapSetter<Metadata> = {
  set: (carrier, key, value) => {
    carrier.set(key, value);
  },
};

const tracer = trace.getTracer('trading-platform/grpc-client');

export class GrpcClientMetrics {
  readonly started;
  readonly handled;
  readonly handling;

  constructor(registry: Registry) {
    const labelNames = ['grpc_type', 'grpc_service', 'grpc_method'] as const;
    this.started = counter(registry, {
      name: 'grpc_client_started_total',
      help: 'RPCs started by this process as a client.',
      labelNames,
    });
    this.handled = counter(registry, {
      name: 'grpc_client_handled_total',
      help: 'RPCs this process made that completed, by status code.',
      labelNames: [...labelNames, 'grpc_code'] as const,
    });
    this.handling = histogram(registry, {
      name: 'grpc_client_handling_seconds',
      help: 'Time from the start of a client RPC to its status arriving.',
      labelNames,
      buckets: LATENCY_BUCKETS,
    });
  }

  /** Zero-valued series for every method of a service this process calls. */
  initialize(definition: ServiceDefinition): void {
    for (const method of Object.values(definition)) {
      const labels = methodLabels(method);
      this.started.inc(labels, 0);
      this.handling.zero(labels);
      for (const code of GRPC_CODE_NAMES) this.handled.inc({ ...labels, grpc_code: code }, 0);
    }
  }
}

export function clientObservabilityInterceptor(metrics: GrpcClientMetrics): Interceptor {
  return (options, nextCall) => {
    const labels = methodLabels(options.method_definition);
    const { grpc_service: service, grpc_method: method } = labels;
    const startedAt = process.hrtime.bigint();
    const span = tracer.startSpan(`${service}/${method}`, {
      kind: SpanKind.CLIENT,
      attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method },
    });
    return new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        propagation.inject(trace.setSpan(context.active(), span), metadata, metadataSetter);
        metrics.started.inc(labels);
        next(metadata, {
          onReceiveStatus(received, nextStatus) {
            metrics.handled.inc({ ...labels, grpc_code: grpcCodeName(received.code) });
            metrics.handling.observe(labels, Number(process.hrtime.bigint() - startedAt) / 1e9);
            span.setAttribute('rpc.grpc.status_code', received.code);
            if (received.code !== status.OK) {
              span.setStatus({ code: SpanStatusCode.ERROR, message: received.details });
            }
            span.end();
            nextStatus(received);
          },
        });
      },
    });
  };
}
