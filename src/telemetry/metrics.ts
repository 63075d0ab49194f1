import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
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
 * Metrics are declared by the module that records them. These helpers return the metric
 * already registered under the same name, so two components sharing a registry (or a
 * component created twice in tests) never throw "already registered".
 */

export function counter<L extends string>(
  registry: Registry,
  config: Omit<CounterConfiguration<L>, 'registers'>,
): Counter<L> {
  const existing = registry.getSingleMetric(config.name);
  if (existing instanceof Counter) return existing;
  return new Counter({ ...config, registers: [registry] });
}

export function gauge<L extends string>(
  registry: Registry,
  config: Omit<GaugeConfiguration<L>, 'registers'>,
): Gauge<L> {
  const existing = registry.getSingleMetric(config.name);
  if (existing instanceof Gauge) return existing;
  return new Gauge({ ...config, registers: [registry] });
}

export function histogram<L extends string>(
  registry: Registry,
  config: Omit<HistogramConfiguration<L>, 'registers'>,
): Histogram<L> {
  const existing = registry.getSingleMetric(config.name);
  if (existing instanceof Histogram) return existing;
  return new Histogram({ ...config, registers: [registry] });
}

/** Latency buckets (seconds) for RPCs and HTTP requests: 0.5 ms to 10 s. */
export const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
