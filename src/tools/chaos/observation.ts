import {
  chaosDashboardQueries,
  seriesMoved,
  withWindow,
  type QueryWindow,
} from './dashboard-panels.js';
import type { ChaosPrometheus } from './prometheus.js';

/** What Prometheus saw of a chaos run: the alerts, and which dashboard panels moved. */
export interface Observation {
  /** Alerts that reached `firing` during the run, by name. */
  readonly alertsFired: string[];
  /** Alerts whose condition held (`pending`) but not for their `for:`, by name. */
  readonly alertsPending: string[];
  /** Every panel of the chaos dashboards, as "Dashboard / Panel", with whether it moved. */
  readonly panels: { readonly name: string; readonly moved: boolean }[];
  /** Annotations that marked something in the window (a pod started, draining, unreachable). */
  readonly annotationsMarked: string[];
  /** Queries Prometheus refused, with its message: a dashboard bug, not a quiet panel. */
  readonly queryErrors: string[];
}

/** About 200 points over the window, never finer than the scrape interval. */
export function queryWindow(startS: number, endS: number, scrapeIntervalS: number): QueryWindow {
  const stepS = Math.max(scrapeIntervalS, Math.ceil((endS - startS) / 200));
  return { startS, endS, stepS, scrapeIntervalS };
}

/**
 * Reads the run back from Prometheus: the `ALERTS` series (every rule evaluation of a pending
 * or firing alert writes one) over the window, and each panel and annotation of the Sessions
 * & pod migrations and Connection quality dashboards evaluated over it as Grafana would.
 */
export async function observeRun(
  prometheus: ChaosPrometheus,
  window: QueryWindow,
): Promise<Observation> {
  const span = `${Math.max(1, Math.round(window.endS - window.startS))}s`;
  const seen = await prometheus.query(
    `max by (alertname, alertstate) (max_over_time(ALERTS[${span}]))`,
    window.endS,
  );
  const states = (state: string) =>
    new Set(seen.filter((s) => s.metric.alertstate === state).map((s) => s.metric.alertname ?? ''));
  const fired = states('firing');
  const pending = [...states('pending')].filter((name) => !fired.has(name));

  const panels: Observation['panels'] = [];
  const annotationsMarked: string[] = [];
  const queryErrors: string[] = [];
  for (const panel of await chaosDashboardQueries()) {
    const name = `${panel.dashboard} / ${panel.title}`;
    let moved = false;
    let marked = false;
    for (const expr of panel.exprs) {
      try {
        const series = await prometheus.queryRange(
          withWindow(expr, window),
          window.startS,
          window.endS,
          window.stepS,
        );
        moved ||= seriesMoved(series, window);
        marked ||= series.some((s) => s.values.length > 0);
      } catch (error) {
        queryErrors.push(`${name}: ${String(error)}`);
      }
    }
    if (panel.kind === 'panel') panels.push({ name, moved });
    else if (marked) annotationsMarked.push(name);
  }
  return {
    alertsFired: [...fired].sort(),
    alertsPending: pending.sort(),
    panels,
    annotationsMarked,
    queryErrors,
  };
}
