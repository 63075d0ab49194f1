import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
  type Metric,
} from 'prom-client';

export { Registry } from 'prom-client';

export interface RegistrySettings {
  readonly version: string;
  readonly role: string;
}

/**
 * The process's metrics registry: prom-client default metrics plus `app_info`.
 * A registry per process (not the global one) keeps tests that start several apps apart.
 */
export function createMetricsRegistry(settings: RegistrySettings): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const info = new Gauge({
    name: 'app_info',
    help: 'Build and role of this process; always 1.',
    labelNames: ['version', 'role'] as const,
    registers: [registry],
  });
  info.set({ version: settings.version, role: settings.role }, 1);
  return registry;
}

/*
 * Metrics are declared by the module that records them, on an injected registry. Several
 * components (two Redis clients, a pool and its policy, two test apps) share one registry and
 * the same names; prom-client throws when a name is registered twice, so the second caller gets
 * the metric the first one created. The same name with another type or other label names is a
 * wiring bug, and fails loudly here instead of producing a broken series.
 */

type Config<C> = Omit<C, 'registers'>;
type Constructor<M> = abstract new (...args: never[]) => M;

const labelNamesOf = (metric: Metric): readonly string[] =>
  (metric as unknown as { labelNames?: readonly string[] }).labelNames ?? [];

function reuse<M extends Metric>(
  registry: Registry,
  name: string,
  labelNames: readonly string[] | undefined,
  type: Constructor<M>,
): M | undefined {
  const existing = registry.getSingleMetric(name);
  if (existing === undefined) return undefined;
  if (!(existing instanceof type)) {
    throw new Error(`metric ${name} is already registered with another type`);
  }
  const wanted = [...(labelNames ?? [])].sort().join(',');
  const actual = [...labelNamesOf(existing)].sort().join(',');
  if (wanted !== actual) {
    throw new Error(
      `metric ${name} is already registered with labels [${actual}], not [${wanted}]`,
    );
  }
  return existing;
}

export function counter<L extends string = string>(
  registry: Registry,
  config: Config<CounterConfiguration<L>>,
): Counter<L> {
  const existing = reuse(registry, config.name, config.labelNames, Counter);
  return (
    (existing as Counter<L> | undefined) ?? new Counter<L>({ ...config, registers: [registry] })
  );
}

export function gauge<L extends string = string>(
  registry: Registry,
  config: Config<GaugeConfiguration<L>>,
): Gauge<L> {
  const existing = reuse(registry, config.name, config.labelNames, Gauge);
  return (existing as Gauge<L> | undefined) ?? new Gauge<L>({ ...config, registers: [registry] });
}

export function histogram<L extends string = string>(
  registry: Registry,
  config: Config<HistogramConfiguration<L>>,
): Histogram<L> {
  const existing = reuse(registry, config.name, config.labelNames, Histogram);
  return (
    (existing as Histogram<L> | undefined) ?? new Histogram<L>({ ...config, registers: [registry] })
  );
}

/** Latency buckets (seconds) for RPCs and HTTP requests: 0.5 ms to 10 s. */
export const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
