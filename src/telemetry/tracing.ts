import type { IncomingMessage } from 'node:http';
import type { InstrumentationConfigMap } from '@opentelemetry/auto-instrumentations-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { registerInstrumentations, type Instrumentation } from '@opentelemetry/instrumentation';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import {
  DEFAULT_INSTRUMENTATIONS,
  INSTRUMENTATION_NAMES,
  type InstrumentationName,
  type SamplerSettings,
} from '../config/index.js';
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

/** Probes and scrapes: frequent and uninteresting, so logged at debug and never traced. */
export const OPERATIONAL_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

const isOperational = (request: IncomingMessage) =>
  OPERATIONAL_ROUTES.has((request.url ?? '').split('?', 1)[0] ?? '');

/** Our options for the instrumentations that need any; the others run as the package sets them. */
const INSTRUMENTATION_OPTIONS: InstrumentationConfigMap = {
  // Library spans only inside a traced call: a pool's idle pings are not worth a trace.
  '@opentelemetry/instrumentation-pg': { requireParentSpan: true },
  '@opentelemetry/instrumentation-ioredis': { requireParentSpan: true },
  '@opentelemetry/instrumentation-http': { ignoreIncomingRequestHook: isOperational },
};

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

/**
 * The instrumentations `startTracing` registers: those named in `settings.instrumentations`,
 * from @opentelemetry/auto-instrumentations-node. Each gets an explicit `enabled`, which wins
 * over the package's own reading of `OTEL_NODE_*_INSTRUMENTATIONS`: the config module has read
 * them already, with this service's default. Imported here, not at the top: the package loads
 * all 41 instrumentations, which a process with telemetry off (or a test) need not pay for.
 */
export async function createInstrumentations(
  settings: TracingSettings,
): Promise<Instrumentation[]> {
  const { getNodeAutoInstrumentations } = await import('@opentelemetry/auto-instrumentations-node');
  const enabled = new Set(settings.instrumentations ?? DEFAULT_INSTRUMENTATIONS);
  const configs = Object.fromEntries(
    INSTRUMENTATION_NAMES.map((name) => {
      const key = `@opentelemetry/instrumentation-${name}` as const;
      return [key, { ...INSTRUMENTATION_OPTIONS[key], enabled: enabled.has(name) }];
    }),
  ) as InstrumentationConfigMap; // the keys are the package's: indexing the options checks them
  return getNodeAutoInstrumentations(configs);
}

let active: NodeTracerProvider | undefined;

/**
 * Starts tracing for the process. Built on NodeTracerProvider rather than NodeSDK on purpose:
 * NodeSDK configures exporters from OTEL_* variables behind the config module's back, and
 * installs no tracer at all when nothing is exported, which would drop trace ids from logs.
 * gRPC spans come from our own interceptors (src/transport/grpc, src/shared/grpc) and HTTP
 * route spans from @fastify/otel (registered by the HTTP server), so neither `grpc` nor `http`
 * is instrumented by default: instrumentation-http wraps every request, probes included
 * (its cost: docs/benchmarks.md, "HTTP server overhead"). An operator who enables them gets
 * their spans too.
 */
export async function startTracing(settings: TracingSettings): Promise<void> {
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
  registerInstrumentations({ instrumentations: await createInstrumentations(settings) });
}

/** Flushes buffered spans; called last during shutdown. */
export async function shutdownTracing(): Promise<void> {
  const provider = active;
  active = undefined;
  await provider?.shutdown();
}
