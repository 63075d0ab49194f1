import { Counter, Gauge, Histogram } from 'prom-client';
import type {
  CounterConfiguration,
  GaugeConfiguration,
  HistogramConfiguration,
  Metric,
  Registry,
} from 'prom-client';

/**
 * Get-or-create helpers for metrics on an injected registry.
 *
 * Several adapters (two Redis clients, a pool and its policy, …) share one registry and the
 * same metric names; prom-client throws when a name is registered twice, so the second caller
 * gets the metric the first one created. A metric of the same name but another type or other
 * label names is a wiring bug, and fails loudly here instead of producing a broken series.
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

export function getOrCreateCounter<L extends string = string>(
  registry: Registry,
  config: Config<CounterConfiguration<L>>,
): Counter<L> {
  const existing = reuse(registry, config.name, config.labelNames, Counter);
  return (
    (existing as Counter<L> | undefined) ?? new Counter<L>({ ...config, registers: [registry] })
  );
}

export function getOrCreateGauge<L extends string = string>(
  registry: Registry,
  config: Config<GaugeConfiguration<L>>,
): Gauge<L> {
  const existing = reuse(registry, config.name, config.labelNames, Gauge);
  return (existing as Gauge<L> | undefined) ?? new Gauge<L>({ ...config, registers: [registry] });
}

export function getOrCreateHistogram<L extends string = string>(
  registry: Registry,
  config: Config<HistogramConfiguration<L>>,
): Histogram<L> {
  const existing = reuse(registry, config.name, config.labelNames, Histogram);
  return (
    (existing as Histogram<L> | undefined) ?? new Histogram<L>({ ...config, registers: [registry] })
  );
}
