/**
 * Every PromQL expression of deploy/ (the Grafana dashboard's panels and the alerting rules) run
 * through a real Prometheus' query API while it scrapes a real `rtmp-actors monitor` process
 * watching nginx-rtmp fed by ffmpeg: each must be accepted, and the core panels must show data.
 * The rules file is also loaded into that Prometheus, whose own evaluation must report no error.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNginxRtmp, stopAll, waitFor, type NginxRtmp } from '../helpers';
import { startPrometheus, type Prometheus, type PromSample } from '../helpers/prometheus';
import { ROOT, startMonitor, startPublishers, writeTargets, type MonitorProcess } from './fixtures';
import { dashboardQueries, ruleExpressions, type Query } from './promql';

const RULES = join(ROOT, 'deploy', 'prometheus', 'rtmp-actors.rules.yaml');
const DASHBOARD = join(ROOT, 'deploy', 'grafana', 'rtmp-actors-monitor.json');
const PANELS = dashboardQueries(DASHBOARD);
const RULE_EXPRS = ruleExpressions(RULES);

/**
 * Panels that may rightly be empty here: they show only what went wrong (stalls, reconnects,
 * failures) or counters whose increase needs a failure first, or only Enhanced RTMP multitrack
 * streams (ffmpeg publishes none). Every other panel must show data.
 */
const MAY_BE_EMPTY = [
  /^Stalls /,
  /^Reconnects /,
  /^Failures by reason /,
  /^Track bitrate /,
  /^Track codecs /,
];

jest.setTimeout(180_000);

describe('the dashboard and alert queries on a real Prometheus scraping a real monitor', () => {
  let nginx: NginxRtmp;
  let prometheus: Prometheus;
  let monitor: MonitorProcess;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rtmp-actors-deploy-'));
    nginx = await startNginxRtmp();
    await startPublishers(nginx, ['q0', 'q1']);
    const base = `rtmp://127.0.0.1:${nginx.port}/live`;
    const targets = writeTargets(join(dir, 'targets.yaml'), [
      { id: 'cam-a', url: `${base}/q0`, labels: { site: 'paris' } },
      { id: 'cam-b', url: `${base}/q1`, labels: { site: 'lyon' } },
      // Nobody publishes it: a stream that is not up, for the "not up" panels and alert.
      { id: 'cam-c', url: `${base}/nobody`, labels: { site: 'lyon' } },
    ]);
    // One shard of one, as a one-replica StatefulSet runs it (it then exports rtmp_monitor_shard_info).
    monitor = await startMonitor(['--targets', targets, '--shard', '0/1']);
    prometheus = await startPrometheus({
      targets: [{ address: monitor.address, labels: { pod: 'rtmp-actors-monitor-0' } }],
      ruleFiles: [RULES],
    });
    expect(await prometheus.waitForTargetsUp(30_000)).toBe(true);
    // Rates need two scrapes of a flowing stream: wait until both live streams show a rate.
    const flowing = await waitFor(
      async () => {
        const r = await prometheus.query(
          'count(max by (id) (rate(rtmp_stream_received_bytes_total[1m])) > 0)',
        );
        const v = (r.data?.result as PromSample[] | undefined)?.[0]?.value[1];
        return Number(v) >= 2;
      },
      60_000,
      500,
    );
    if (!flowing) throw new Error(`no rates after 60 s; monitor:\n${monitor.proc.stderrTail()}`);
  });

  afterAll(async () => {
    await stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const run = async (q: Query): Promise<PromSample[] | undefined> => {
    const r = await prometheus.query(q.expr);
    if (r.status !== 'success') {
      throw new Error(`${q.name}: ${r.errorType}: ${r.error}\n  ${q.expr}`);
    }
    expect(r.status).toBe('success');
    return Array.isArray(r.data?.result) ? (r.data?.result as PromSample[]) : undefined;
  };

  it.each(PANELS.map((q) => [q.name, q] as const))(
    'dashboard query "%s" is valid PromQL and shows data',
    async (_name, q) => {
      const result = await run(q);
      if (MAY_BE_EMPTY.some((re) => re.test(q.name))) return;
      expect(result?.length ?? 0).toBeGreaterThan(0);
    },
  );

  it.each(RULE_EXPRS.map((q) => [q.name, q] as const))(
    "alert expression %s is valid PromQL on the monitor's series",
    async (_name, q) => {
      await run(q);
    },
  );

  it('shows the live streams up and the unpublished one not up, each id once, labelled with its site', async () => {
    // Polled: a scrape may land while a stream is between states on a busy machine.
    let seen = '';
    const expected = 'cam-a paris 1, cam-b lyon 1, cam-c lyon 0';
    const settled = await waitFor(
      async () => {
        const up = await run({ name: 'up by id', expr: 'max by (id, site) (rtmp_stream_up)' });
        seen = (up ?? [])
          .map((s) => `${s.metric.id} ${s.metric.site} ${s.value[1]}`)
          .sort()
          .join(', ');
        return seen === expected;
      },
      30_000,
      500,
    );
    expect(seen).toBe(expected);
    expect(settled).toBe(true);
    const downExpr = RULE_EXPRS.find((r) => r.name === 'RtmpStreamDown')?.expr ?? '';
    let down: string[] = [];
    await waitFor(
      async () => {
        down = ((await run({ name: 'RtmpStreamDown', expr: downExpr })) ?? []).map(
          (s) => s.metric.id,
        );
        return down.join() === 'cam-c';
      },
      30_000,
      500,
    );
    expect(down).toEqual(['cam-c']);
  });

  it('exports no series with a url label (URLs hold secrets)', async () => {
    const withUrl = await run({ name: 'url label', expr: '{__name__=~"rtmp_.+", url!=""}' });
    expect(withUrl).toEqual([]);
  });

  it('evaluates every alerting rule in Prometheus itself without an error', async () => {
    type Rules = {
      groups: Array<{
        rules: Array<{ name: string; health: string; lastError?: string; lastEvaluation: string }>;
      }>;
    };
    let rules: Rules['groups'][number]['rules'] = [];
    const evaluated = await waitFor(
      async () => {
        const r = await prometheus.api<Rules>('/api/v1/rules');
        rules = (r.data?.groups ?? []).flatMap((g) => g.rules);
        return rules.length > 0 && rules.every((x) => !x.lastEvaluation.startsWith('0001'));
      },
      30_000,
      250,
    );
    expect(evaluated).toBe(true);
    expect(rules.map((r) => r.name).sort()).toEqual(RULE_EXPRS.map((r) => r.name).sort());
    for (const r of rules)
      expect({ rule: r.name, health: r.health, error: r.lastError ?? '' }).toEqual({
        rule: r.name,
        health: 'ok',
        error: '',
      });
  });
});
