import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { RangeSeries } from './prometheus.js';

/** The generated dashboards (dashboards/*.json, from dashboards/*.ts), whatever the cwd. */
const DASHBOARDS_DIR = new URL('../../../dashboards/', import.meta.url);

/** The dashboards a kill must show on: where clients' sessions go, and how their links fare. */
export const CHAOS_DASHBOARDS = ['sessions', 'connection-quality'] as const;

export interface PanelQueries {
  /** The dashboard's title less the "Trading platform / " every one of them starts with. */
  readonly dashboard: string;
  readonly title: string;
  /** Panel, or annotation: a marker on every panel of the dashboard. */
  readonly kind: 'panel' | 'annotation';
  readonly exprs: readonly string[];
}

/** What a Grafana time range gives the built-in variables of a query. */
export interface QueryWindow {
  readonly startS: number;
  readonly endS: number;
  readonly stepS: number;
  readonly scrapeIntervalS: number;
}

const target = z.object({ expr: z.string().optional() });
interface RawPanel {
  title?: string | undefined;
  type?: string | undefined;
  targets?: z.output<typeof target>[] | undefined;
  panels?: RawPanel[] | undefined;
}
const panel: z.ZodType<RawPanel> = z.lazy(() =>
  z.object({
    title: z.string().optional(),
    type: z.string().optional(),
    targets: z.array(target).optional(),
    panels: z.array(panel).optional(),
  }),
);
const dashboardSchema = z.object({
  title: z.string(),
  panels: z.array(panel),
  templating: z.object({
    list: z.array(
      z.object({
        name: z.string(),
        type: z.string(),
        includeAll: z.boolean().optional(),
        allValue: z.string().optional(),
      }),
    ),
  }),
  annotations: z
    .object({
      list: z.array(z.object({ name: z.string(), expr: z.string().optional() })).optional(),
    })
    .optional(),
});
type Dashboard = z.output<typeof dashboardSchema>;

/**
 * The PromQL of a dashboard's panels and annotations as Grafana would run it with every
 * variable at "All": `$job` and the others become their `allValue` (`.*` when none is set).
 */
export function dashboardQueries(json: unknown): PanelQueries[] {
  const dashboard = dashboardSchema.parse(json);
  const name = dashboard.title.replace(/^Trading platform \/ /, '');
  const all = allValues(dashboard);
  const resolve = (expr: string) =>
    expr.replace(/\$\{?(\w+)\}?/g, (text, variable: string) => all.get(variable) ?? text);
  const panels: PanelQueries[] = [];
  const visit = (list: readonly RawPanel[]) => {
    for (const p of list) {
      const exprs = (p.targets ?? []).flatMap((t) => (t.expr === undefined ? [] : [t.expr]));
      if (exprs.length > 0) {
        panels.push({
          dashboard: name,
          title: p.title ?? '(untitled)',
          kind: 'panel',
          exprs: exprs.map(resolve),
        });
      }
      visit(p.panels ?? []); // panels of a collapsed row
    }
  };
  visit(dashboard.panels);
  for (const annotation of dashboard.annotations?.list ?? []) {
    if (annotation.expr === undefined) continue;
    panels.push({
      dashboard: name,
      title: annotation.name,
      kind: 'annotation',
      exprs: [resolve(annotation.expr)],
    });
  }
  return panels;
}

function allValues(dashboard: Dashboard): Map<string, string> {
  const values = new Map<string, string>();
  for (const variable of dashboard.templating.list) {
    if (variable.includeAll === true) values.set(variable.name, variable.allValue ?? '.*');
  }
  return values;
}

/**
 * Grafana's built-in interval variables for a window, so a panel's query reads the same data
 * it would on screen: `$__rate_interval` is max(4 × scrape interval, step + scrape interval).
 */
export function withWindow(expr: string, window: QueryWindow): string {
  const seconds = (s: number) => `${Math.max(1, Math.round(s))}s`;
  const rateInterval = Math.max(4 * window.scrapeIntervalS, window.stepS + window.scrapeIntervalS);
  return expr
    .replaceAll('$__rate_interval', seconds(rateInterval))
    .replaceAll('$__range', seconds(window.endS - window.startS))
    .replaceAll('$__interval', seconds(window.stepS));
}

/**
 * Whether a query's answer over the window moved: a series whose value changed (NaN, the
 * answer of a quantile or ratio of nothing, counts as a value), or one that appeared or went
 * away within the window (a pod's line starting or ending). Constant lines, and no data at
 * all, did not move.
 */
export function seriesMoved(series: readonly RangeSeries[], window: QueryWindow): boolean {
  return series.some(({ values }) => {
    const first = values[0];
    const last = values.at(-1);
    if (first === undefined || last === undefined) return false;
    const partial = first[0] > window.startS + window.stepS || last[0] < window.endS - window.stepS;
    return partial || new Set(values.map(([, value]) => value)).size > 1;
  });
}

/** The panels and annotations of the chaos dashboards, from the generated JSON. */
export async function chaosDashboardQueries(): Promise<PanelQueries[]> {
  const all = await Promise.all(
    CHAOS_DASHBOARDS.map(async (name) => {
      const text = await readFile(new URL(`${name}.json`, DASHBOARDS_DIR), 'utf8');
      return dashboardQueries(JSON.parse(text));
    }),
  );
  return all.flat();
}
