import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { registerInstrumentations, type Instrumentation } from '@opentelemetry/instrumentation';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { InstrumentationName, SamplerSettings } from '../config/index.js';
import { createSampler } from './sampler.js';

export interface TracingSettings {
  readonly serviceName: string;
  readonly version: string;
  readonly role: string;
  readonly podName: string;
  /** OTLP/gRPC endpoint; when unset spans are still created (for log correlation) but not exported. */
  readonly otlpEndpoint: string | undefined;
  readonly sampler: SamplerSettings;
  /** `OTEL_RESOURCE_ATTRIBUTES`; the attributes set here take precedence. */
  readonly resourceAttributes?: Readonly<Record<string, string>>;
  /** Which library instrumentations to register (`OTEL_NODE_*_INSTRUMENTATIONS`). */
  readonly instrumentations?: readonly InstrumentationName[];
}

/** Library spans only inside a traced call: a pool's idle pings are not worth a trace. */
const INSTRUMENTATIONS = {
  pg: () => new PgInstrumentation({ requireParentSpan: true }),
  ioredis: () => new IORedisInstrumentation({ requireParentSpan: true }),
} satisfies Record<InstrumentationName, () => Instrumentation>;

/** The resource every span carries: the operator's attributes, then the process's own. */
export function tracingResource(settings: TracingSettings): Resource {
  return resourceFromAttributes({
    ...settings.resourceAttributes,
    [ATTR_SERVICE_NAME]: settings.serviceName,
    [ATTR_SERVICE_VERSION]: settings.version,
    'service.instance.id': settings.podName,
    'k8s.pod.name': settings.podName,
    'app.role': settings.role,
  });
}

/** The instrumentations `startTracing` registers. */
export function createInstrumentations(settings: TracingSettings): Instrumentation[] {
  return (settings.instrumentations ?? ['pg', 'ioredis']).map((name) => INSTRUMENTATIONS[name]());
}

let active: NodeTracerProvider | undefined;

/**
 * Starts tracing for the process. Built on NodeTracerProvider rather than NodeSDK on purpose:
 * NodeSDK configures exporters from OTEL_* variables behind the config module's back, and
 * installs no tracer at all when nothing is exported, which would drop trace ids from logs.
 * gRPC server spans come from our own interceptor (src/transport/grpc), not from
 * instrumentation-grpc, so each call has exactly one server span. HTTP server spans come from
 * @fastify/otel (registered by the HTTP server), not instrumentation-http: the latter wraps
 * every request, probes included, and halved /healthz throughput in bench:http.
 */
export function startTracing(settings: TracingSettings): void {
  if (active !== undefined) return;
  const spanProcessors: SpanProcessor[] =
    settings.otlpEndpoint === undefined
      ? []
      : [new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.otlpEndpoint }))];
  active = new NodeTracerProvider({
    resource: tracingResource(settings),
    spanProcessors,
    sampler: createSampler(settings.sampler),
  });
  active.register();
  registerInstrumentations({ instrumentations: createInstrumentations(settings) });
}

/** Flushes buffered spans; called last during shutdown. */
export async function shutdownTracing(): Promise<void> {
  const provider = active;
  active = undefined;
  await provider?.shutdown();
}
