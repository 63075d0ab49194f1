// Which metric series a dashboard queries, so a test can hold a dashboard to what the app
// actually exposes. Names are reported exactly as written in the PromQL (e.g.
// `grpc_server_handling_seconds_bucket`), because that is the series Prometheus must have.

/** Words that look like metric names in PromQL but are not. */
const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'and',
  'or',
  'unless',
  'atan2',
  'inf',
  'nan',
]);

/** Metric names an expression selects. Function names, labels and keywords are left out. */
export function metricsInExpr(expr: string): string[] {
  const names = new Set<string>();
  // `{__name__="x"}` selects x without writing it in front of the braces.
  for (const [, name] of expr.matchAll(/__name__\s*=\s*"([a-zA-Z_:][\w:]*)"/g))
    if (name) names.add(name);
  const rest = expr
    // Strings first: they may hold braces, brackets or words ("$1", "5..").
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // range and subquery durations, $__rate_interval
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' '); // dashboard variables outside selectors
  for (const match of rest.matchAll(/(?<![\w.:])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const [, name, call] = match;
    if (name && !call && !KEYWORDS.has(name.toLowerCase())) names.add(name);
  }
  return [...names];
}

/** The PromQL a Grafana variable runs, if it runs one (`label_values(metric, label)` → metric). */
function variableExpr(query: unknown): string | undefined {
  const text = typeof query === 'string' ? query : (query as { query?: unknown } | null)?.query;
  if (typeof text !== 'string') return undefined;
  const labelValues = /^\s*label_values\((.*),\s*\w+\s*\)\s*$/s.exec(text);
  if (labelValues) return labelValues[1];
  const queryResult = /^\s*query_result\((.*)\)\s*$/s.exec(text);
  if (queryResult) return queryResult[1];
  // label_names(), metrics(regex) and a bare label_values(label) select no particular metric.
  return /^\s*(?:label_names|metrics|label_values)\(/.test(text) ? undefined : text;
}

function* expressions(node: unknown, inTemplating = false): Generator<string> {
  if (Array.isArray(node)) {
    for (const item of node) yield* expressions(item, inTemplating);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const record = node as Record<string, unknown>;
  if (typeof record.expr === 'string') yield record.expr;
  if (inTemplating && record.type === 'query') {
    const expr = variableExpr(record.query);
    if (expr !== undefined) yield expr;
  }
  for (const [key, value] of Object.entries(record)) {
    if (key !== 'expr') yield* expressions(value, inTemplating || key === 'templating');
  }
}

/** The PromQL of every panel target and query variable, in document order. */
export function dashboardExpressions(dashboard: unknown): string[] {
  return [...expressions(dashboard)];
}

/** Every metric series a dashboard (panel targets and query variables) selects, sorted. */
export function queriedMetrics(dashboard: unknown): string[] {
  const names = new Set<string>();
  for (const expr of expressions(dashboard)) {
    for (const name of metricsInExpr(expr)) names.add(name);
  }
  return [...names].sort();
}

/**
 * Series names a Prometheus text exposition offers: every sample's name, plus the names a
 * `# TYPE` line promises, so a histogram with no observations yet (prom-client prints only
 * its HELP and TYPE until a label set is first observed) still counts as exposed.
 */
export function exposedMetrics(metricsText: string): Set<string> {
  const names = new Set<string>();
  for (const line of metricsText.split('\n')) {
    const type = /^#\s*TYPE\s+([a-zA-Z_:][\w:]*)\s+(\w+)/.exec(line);
    if (type?.[1] && type[2]) {
      const [, name, kind] = type;
      names.add(name);
      if (kind === 'histogram')
        for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
      if (kind === 'summary') for (const suffix of ['_sum', '_count']) names.add(name + suffix);
      continue;
    }
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{|\s)/.exec(line);
    if (sample?.[1]) names.add(sample[1]);
  }
  return names;
}

/** Metric series the dashboard queries that the exposition text does not offer. */
export function missingMetrics(dashboard: unknown, metricsText: string): string[] {
  const exposed = exposedMetrics(metricsText);
  return queriedMetrics(dashboard).filter((name) => !exposed.has(name));
}
