// Building blocks every dashboard shares: the datasource, the label matchers the variables
// apply, the target-narrowing variables themselves, panel id allocation and the house style of
// time series and stat panels. Dashboards built from these look and filter alike, so a link
// from one to another (with `includeVars`) keeps the same job/namespace/role/pod selection.
import {
  DashboardBuilder,
  DashboardCursorSync,
  DashboardLinkBuilder,
  DashboardLinkType,
  DatasourceVariableBuilder,
  MappingType,
  QueryVariableBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  VariableRefresh,
  VariableSort,
  type ValueMapping,
} from '@grafana/grafana-foundation-sdk/dashboard';
import {
  BigValueColorMode,
  BigValueGraphMode,
  LegendDisplayMode,
  LegendPlacement,
  ReduceDataOptionsBuilder,
  SortOrder,
  TooltipDisplayMode,
  VisibilityMode,
  VizLegendOptionsBuilder,
  VizTooltipOptionsBuilder,
} from '@grafana/grafana-foundation-sdk/common';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatPanelBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as StateTimelinePanelBuilder } from '@grafana/grafana-foundation-sdk/statetimeline';
import { PanelBuilder as TimeseriesPanelBuilder } from '@grafana/grafana-foundation-sdk/timeseries';

export const datasource = { type: 'prometheus', uid: '${datasource}' };

/** Label matchers every panel applies, so the variables narrow every query the same way. */
export const target = 'job=~"$job", namespace=~"$namespace", pod=~"$pod"';

export const rate = (selectorWithName: string): string =>
  `rate(${selectorWithName}[$__rate_interval])`;

export function query(refId: string, expr: string, legend: string): DataqueryBuilder {
  return new DataqueryBuilder().refId(refId).expr(expr).legendFormat(legend).range();
}

/**
 * Panel ids must be unique and stable so links to `viewPanel=<id>` survive regeneration. Panels
 * added to a shipped dashboard take theirs from a second allocator that starts after the last
 * id in use, so inserting a row in the middle does not renumber the panels below it.
 */
export class PanelIds {
  constructor(private next = 1) {}
  take(): number {
    return this.next++;
  }
}

/** Field overrides that make one series stand out: red, thick, filled. */
export const alarming = [
  { id: 'color', value: { mode: 'fixed', fixedColor: 'red' } },
  { id: 'custom.lineWidth', value: 3 },
  { id: 'custom.fillOpacity', value: 30 },
];

export function timeseries(
  ids: PanelIds,
  title: string,
  description: string,
  unit: string,
  queries: DataqueryBuilder[],
  width = 12,
): TimeseriesPanelBuilder {
  return new TimeseriesPanelBuilder()
    .id(ids.take())
    .title(title)
    .description(description)
    .datasource(datasource)
    .unit(unit)
    .min(0)
    .span(width)
    .height(8)
    .fillOpacity(10)
    .targets(queries)
    .legend(
      new VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(LegendDisplayMode.Table)
        .placement(LegendPlacement.Bottom)
        .calcs(['mean', 'max', 'lastNotNull'])
        .sortBy('Max')
        .sortDesc(true),
    )
    .tooltip(
      new VizTooltipOptionsBuilder().mode(TooltipDisplayMode.Multi).sort(SortOrder.Descending),
    );
}

export function stat(
  ids: PanelIds,
  title: string,
  description: string,
  unit: string,
  queries: DataqueryBuilder[],
  thresholds: { value: number | null; color: string }[] = [{ value: null, color: 'green' }],
): StatPanelBuilder {
  return new StatPanelBuilder()
    .id(ids.take())
    .title(title)
    .description(description)
    .datasource(datasource)
    .unit(unit)
    .span(4)
    .height(4)
    .targets(queries)
    .colorMode(BigValueColorMode.Value)
    .graphMode(BigValueGraphMode.Area)
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .thresholds(new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps(thresholds));
}

/** circuit_breaker_state as names: the Dependencies dashboard and the api → engine row. */
export const breakerStates: ValueMapping[] = [
  {
    type: MappingType.ValueToText,
    options: {
      '0': { text: 'closed', color: 'green', index: 0 },
      '1': { text: 'half-open', color: 'yellow', index: 1 },
      '2': { text: 'open', color: 'red', index: 2 },
    },
  },
];

/** Colours that match the value mappings, for when a value falls between them. */
export const steps = (...colors: [number | null, string][]): ThresholdsConfigBuilder =>
  new ThresholdsConfigBuilder()
    .mode(ThresholdsMode.Absolute)
    .steps(colors.map(([value, color]) => ({ value, color })));

/** One row per series, coloured by its mapped state (breaker, health, leadership). */
export function stateTimeline(
  ids: PanelIds,
  title: string,
  description: string,
  expr: string,
  legend: string,
  mappings: ValueMapping[],
  width: number,
): StateTimelinePanelBuilder {
  return new StateTimelinePanelBuilder()
    .id(ids.take())
    .title(title)
    .description(description)
    .datasource(datasource)
    .span(width)
    .height(8)
    .targets([query('A', expr, legend)])
    .mappings(mappings)
    .showValue(VisibilityMode.Never)
    .mergeValues(true)
    .rowHeight(0.8)
    .fillOpacity(80)
    .legend(
      new VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(LegendDisplayMode.List)
        .placement(LegendPlacement.Bottom),
    );
}

export function datasourceVariable(): DatasourceVariableBuilder {
  return new DatasourceVariableBuilder('datasource')
    .label('Data source')
    .type('prometheus')
    .current({ text: 'default', value: 'default' });
}

/** A multi-value `label_values` variable with "All" preselected. */
export function labelValuesVariable(
  name: string,
  label: string,
  source: string,
  allValue = '.*',
): QueryVariableBuilder {
  // `allValue` ".*" also matches series that lack the label (e.g. no `namespace`/`pod` when
  // scraping a process on a laptop).
  return new QueryVariableBuilder(name)
    .label(label)
    .datasource(datasource)
    .query(`label_values(${source}, ${name})`)
    .definition(`label_values(${source}, ${name})`)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .allValue(allValue)
    .current({ text: 'All', value: '$__all' });
}

/** The variables behind `target`, each narrowing the next: job, namespace, role, pod. */
export function targetVariables(): QueryVariableBuilder[] {
  return [
    // "All" jobs still means this platform's jobs, not every job exposing grpc_* metrics.
    labelValuesVariable('job', 'Job', 'app_info{job=~"trading-platform.*"}', 'trading-platform.*'),
    labelValuesVariable('namespace', 'Namespace', 'app_info{job=~"$job"}'),
    labelValuesVariable('role', 'Role', 'app_info{job=~"$job", namespace=~"$namespace"}'),
    // No custom allValue: "All" expands to the listed pods, so picking a role narrows every
    // panel to that role's pods (only app_info carries the `role` label).
    new QueryVariableBuilder('pod')
      .label('Pod')
      .datasource(datasource)
      .query('label_values(app_info{job=~"$job", namespace=~"$namespace", role=~"$role"}, pod)')
      .definition(
        'label_values(app_info{job=~"$job", namespace=~"$namespace", role=~"$role"}, pod)',
      )
      .refresh(VariableRefresh.OnTimeRangeChanged)
      .sort(VariableSort.NaturalAsc)
      .multi(true)
      .includeAll(true)
      .current({ text: 'All', value: '$__all' }),
  ];
}

/** A dropdown of the other trading platform dashboards, keeping time range and variables. */
export function platformDashboardsLink(): DashboardLinkBuilder {
  return new DashboardLinkBuilder('Trading platform')
    .type(DashboardLinkType.Dashboards)
    .tags(['trading-platform'])
    .asDropdown(true)
    .includeVars(true)
    .keepTime(true);
}

/**
 * A dashboard in the house style: UTC, last 3 hours, 30 s refresh, shared crosshair, the link
 * to the other platform dashboards and the datasource variable.
 */
export function platformDashboard(
  title: string,
  uid: string,
  description: string,
  tags: string[],
  // The v1 schema is what file provisioning loads on every current Grafana; the SDK marks it
  // deprecated in favour of v2, which still needs feature toggles.
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- see above
): DashboardBuilder {
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- see above
  return new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(tags)
    .editable()
    .tooltip(DashboardCursorSync.Crosshair)
    .time({ from: 'now-3h', to: 'now' })
    .refresh('30s')
    .timezone('utc')
    .link(platformDashboardsLink())
    .withVariable(datasourceVariable());
}
