/** PromQL extracted from deploy/: the dashboard's panel queries and the alerting rules' expressions. */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export interface Query {
  /** Where it comes from: panel title and refId, or the alert name. */
  name: string;
  expr: string;
}

/** Grafana's variables, replaced as Grafana would with "All" selected and a 1 s scrape interval. */
const GRAFANA_VARIABLES: ReadonlyArray<readonly [RegExp, string]> = [
  [/\$__rate_interval\b/g, '1m'],
  [/\$__interval\b/g, '15s'],
  [/\$__range\b/g, '1h'],
  [/\$\{?id\}?(?![\w])/g, '.*'],
];

interface Panel {
  title?: string;
  targets?: Array<{ expr?: string; refId?: string }>;
  panels?: Panel[];
}

/** Every `expr` of every panel (rows' nested panels included), with Grafana's variables filled in. */
export function dashboardQueries(file: string): Query[] {
  const dash = JSON.parse(readFileSync(file, 'utf8')) as { panels: Panel[] };
  const out: Query[] = [];
  const walk = (panels: Panel[]): void => {
    for (const p of panels) {
      for (const t of p.targets ?? []) {
        if (!t.expr) continue;
        let expr = t.expr;
        for (const [re, value] of GRAFANA_VARIABLES) expr = expr.replace(re, value);
        out.push({ name: `${p.title ?? '?'} [${t.refId ?? '?'}]`, expr });
      }
      walk(p.panels ?? []);
    }
  };
  walk(dash.panels);
  return out;
}

/** Every alerting (and recording) rule's expression. */
export function ruleExpressions(file: string): Query[] {
  const doc = parse(readFileSync(file, 'utf8')) as {
    groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }>;
  };
  return doc.groups.flatMap((g) =>
    g.rules.map((r) => ({ name: r.alert ?? r.record ?? '?', expr: r.expr.trim() })),
  );
}
