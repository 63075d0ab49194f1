import type { Gauge, LabelValues, Registry } from 'prom-client';
import { gauge as getOrCreateGauge } from '../../telemetry/metrics.js';

/**
 * A 1/0 health signal on a shared gauge (`dependency_up{dependency}`, `redis_connection_up`).
 *
 * Several sources can report the same series (e.g. the rate-limit and the session Redis clients
 * both feed `dependency_up{dependency="redis"}`); the series is 1 only while every live source
 * is up, so one broken connection is never hidden by a healthy sibling. A disposed source stops
 * counting, and the series disappears with its last source (no stale "up" after shutdown).
 */
export interface UpSignal {
  set(up: boolean): void;
  isUp(): boolean;
  dispose(): void;
}

export interface UpSignalOptions<L extends string> {
  readonly registry: Registry;
  readonly name: string;
  readonly help: string;
  readonly labels?: LabelValues<L>;
}

interface Source {
  up: boolean;
}

const sourcesByGauge = new WeakMap<Gauge, Map<string, Set<Source>>>();

export function createUpSignal<L extends string>(options: UpSignalOptions<L>): UpSignal {
  const labels = options.labels ?? {};
  const gauge = getOrCreateGauge<L>(options.registry, {
    name: options.name,
    help: options.help,
    labelNames: Object.keys(labels) as L[],
  });
  const key = JSON.stringify(labels);
  let byLabels = sourcesByGauge.get(gauge);
  if (byLabels === undefined) {
    byLabels = new Map();
    sourcesByGauge.set(gauge, byLabels);
  }
  let sources = byLabels.get(key);
  if (sources === undefined) {
    sources = new Set();
    byLabels.set(key, sources);
  }
  const group = sources;
  const source: Source = { up: false };
  group.add(source);

  const publish = (): void => {
    if (group.size === 0) {
      gauge.remove(labels);
      return;
    }
    const allUp = [...group].every((s) => s.up);
    gauge.set(labels, allUp ? 1 : 0);
  };
  publish();

  return {
    set(up) {
      source.up = up;
      if (group.has(source)) publish();
    },
    isUp: () => source.up,
    dispose() {
      if (group.delete(source)) publish();
    },
  };
}
