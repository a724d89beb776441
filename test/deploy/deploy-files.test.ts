/**
 * The deployment files (deploy/) checked offline: the Kubernetes manifests parse and agree with
 * each other and with the CLI's real options, the alerting rules pass `promtool check rules` and
 * their unit tests (`promtool test rules`), and the dashboard is well-formed JSON whose every
 * panel has a query. deploy/queries-prometheus.test.ts runs the queries against a real Prometheus.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseTargets } from '../../src/monitor/targets';
import { shardFromHostname } from '../../src/monitor/shard';
import { MONITOR_DOWN_STATES } from '../../src/monitor/states';
import { requireTool, runCommand } from '../helpers';
import { dashboardQueries, ruleExpressions } from './promql';

const ROOT = resolve(__dirname, '..', '..');
const DEPLOY = join(ROOT, 'deploy');
const K8S = join(DEPLOY, 'kubernetes');
const RULES = join(DEPLOY, 'prometheus', 'rtmp-actors.rules.yaml');
const RULES_TEST = join(DEPLOY, 'prometheus', 'rtmp-actors.rules.test.yaml');
const DASHBOARD = join(DEPLOY, 'grafana', 'rtmp-actors-monitor.json');
const CLI = join(ROOT, 'bin', 'rtmp-actors');

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are walked as parsed YAML */
type Obj = Record<string, any>;

function yamlDocs(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  for (const d of docs) {
    if (d.errors.length > 0)
      throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
  }
  return docs.map((d) => d.toJS() as Obj).filter((d) => d !== null);
}

function manifests(): Obj[] {
  return readdirSync(K8S)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => yamlDocs(join(K8S, f)).map((d) => ({ ...d, __file: f })));
}

function byKind(kind: string): Obj {
  const found = manifests().filter((m) => m.kind === kind);
  expect(found).toHaveLength(1);
  return found[0];
}

/** The value after `--name` in an argv list (undefined when absent). */
function optionValue(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

describe('the Kubernetes manifests', () => {
  it('every file in deploy/kubernetes parses as YAML and names its kind and apiVersion', () => {
    const all = manifests();
    expect(all.map((m) => m.kind).sort()).toEqual(
      ['ConfigMap', 'Kustomization', 'PodMonitor', 'Service', 'StatefulSet', undefined].sort(),
    );
    for (const m of all) {
      if (m.__file === 'prometheus-scrape-config.yaml') continue;
      expect(typeof m.apiVersion).toBe('string');
    }
  });

  it('the kustomization lists every manifest beside it', () => {
    const k = byKind('Kustomization');
    const files = manifests()
      .filter((m) => m.kind && m.kind !== 'Kustomization')
      .map((m) => m.__file)
      .sort();
    expect([...k.resources].sort()).toEqual(files);
  });

  it("the StatefulSet's monitor arguments are options the CLI's --help lists", async () => {
    const sts = byKind('StatefulSet');
    const container = sts.spec.template.spec.containers[0];
    const args: string[] = container.args.map(String);
    expect(args[0]).toBe('monitor');
    const help = await runCommand(process.execPath, [CLI, 'monitor', '--help'], {
      timeoutMs: 30_000,
    });
    expect(help.code).toBe(0);
    const text = help.stdout.toString('utf8');
    const used = args.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0]);
    expect(used).toEqual(
      expect.arrayContaining(['--targets', '--shard-from-hostname', '--metrics']),
    );
    // The options the help lists, one per line under "Options:".
    const listed = new Set([...text.matchAll(/^\s+(?:-\w, )?(--[a-z][\w-]*)/gm)].map((m) => m[1]));
    for (const option of used) expect(listed).toContain(option);
  });

  it('the shard count, the replica count and the ShardMissing alert agree', () => {
    const sts = byKind('StatefulSet');
    const args: string[] = sts.spec.template.spec.containers[0].args.map(String);
    const shards = Number(optionValue(args, '--shard-from-hostname'));
    expect(shards).toBe(sts.spec.replicas);
    const rule = yamlDocs(RULES)[0]
      .groups.flatMap((g: Obj) => g.rules)
      .find((r: Obj) => r.alert === 'RtmpMonitorShardMissing');
    expect(rule.expr).toContain(`shards="${shards}"`);
    expect(rule.expr).toContain(`< ${shards}`);
  });

  it("each pod's name gives it its own shard: the StatefulSet's ordinals cover 0..N-1", () => {
    const sts = byKind('StatefulSet');
    const args: string[] = sts.spec.template.spec.containers[0].args.map(String);
    const n = Number(optionValue(args, '--shard-from-hostname'));
    const shards = Array.from({ length: sts.spec.replicas as number }, (_, ordinal) =>
      shardFromHostname(`${sts.metadata.name}-${ordinal}`, n),
    );
    expect(shards.map((s) => s.index)).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  it('the probes, the Service, the PodMonitor and the scrape config all reach the --metrics port', () => {
    const sts = byKind('StatefulSet');
    const pod = sts.spec.template;
    const container = pod.spec.containers[0];
    const args: string[] = container.args.map(String);
    const metrics = optionValue(args, '--metrics') ?? '';
    expect(metrics).toMatch(/^0\.0\.0\.0:\d+$/);
    const port = Number(metrics.split(':')[1]);
    const named = container.ports.find((p: Obj) => p.containerPort === port);
    expect(named?.name).toBe('metrics');
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(container.resources.requests).toEqual(
      expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }),
    );
    expect(pod.spec.terminationGracePeriodSeconds).toBeGreaterThan(0);

    const podLabels: Obj = pod.metadata.labels;
    const matches = (selector: Obj): boolean =>
      Object.entries(selector).every(([k, v]) => podLabels[k] === v);
    expect(matches(sts.spec.selector.matchLabels)).toBe(true);

    const svc = byKind('Service');
    expect(svc.spec.clusterIP).toBe('None');
    expect(svc.metadata.name).toBe(sts.spec.serviceName);
    expect(matches(svc.spec.selector)).toBe(true);
    expect(svc.spec.ports[0].targetPort).toBe('metrics');

    const pm = byKind('PodMonitor');
    expect(matches(pm.spec.selector.matchLabels)).toBe(true);
    expect(pm.spec.podMetricsEndpoints[0].port).toBe('metrics');
    // jobLabel takes the job from this pod label: the alerting rules select on it.
    const job = podLabels[pm.spec.jobLabel];
    expect(readFileSync(RULES, 'utf8')).toContain(`up{job="${job}"}`);

    const scrape = yamlDocs(join(K8S, 'prometheus-scrape-config.yaml'))[0].scrape_configs[0];
    expect(scrape.job_name).toBe(job);
    const keep = scrape.relabel_configs.filter((r: Obj) => r.action === 'keep');
    expect(keep.map((r: Obj) => r.regex)).toEqual([job, 'metrics']);
  });

  it('the ConfigMap holds a targets file with unique ids mounted where --targets reads it', () => {
    const sts = byKind('StatefulSet');
    const spec = sts.spec.template.spec;
    const args: string[] = spec.containers[0].args.map(String);
    const targetsPath = optionValue(args, '--targets') ?? '';
    const cm = byKind('ConfigMap');
    const mount = spec.containers[0].volumeMounts.find(
      (m: Obj) => m.mountPath === dirname(targetsPath),
    );
    expect(mount).toBeDefined();
    // A subPath mount is never refreshed by the kubelet: the file could not change at run time.
    expect(mount.subPath).toBeUndefined();
    const volume = spec.volumes.find((v: Obj) => v.name === mount.name);
    expect(volume.configMap.name).toBe(cm.metadata.name);
    const fileName = targetsPath.slice(dirname(targetsPath).length + 1);
    const targets = yamlDocs(join(K8S, 'configmap.yaml'))[0].data[fileName];
    expect(typeof targets).toBe('string');
    // The monitor's own parser accepts it (unique ids, RTMP URLs, allowed label names).
    const streams = parseTargets(targets, fileName);
    expect(streams.length).toBeGreaterThan(0);
    for (const s of streams) expect(s.url).toMatch(/^rtmps?:\/\//);
  });
});

describe('the alerting rules', () => {
  const promtool = (): string => requireTool('promtool', 'prometheus');

  it('pass promtool check rules', async () => {
    const r = await runCommand(promtool(), ['check', 'rules', RULES], { timeoutMs: 60_000 });
    expect(`${r.stdout.toString()}${r.stderr}`).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it('pass their unit tests (promtool test rules): each alert fires when it should and not before', async () => {
    const r = await runCommand(promtool(), ['test', 'rules', RULES_TEST], {
      timeoutMs: 60_000,
      cwd: dirname(RULES_TEST),
    });
    expect(`${r.stdout.toString()}${r.stderr}`).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it('every alert of the rules file has a unit test', () => {
    const alerts = yamlDocs(RULES)[0]
      .groups.flatMap((g: Obj) => g.rules)
      .map((r: Obj) => r.alert as string);
    const tested = new Set(
      yamlDocs(RULES_TEST)[0].tests.flatMap((t: Obj) =>
        t.alert_rule_test
          .filter((a: Obj) => a.exp_alerts.length > 0)
          .map((a: Obj) => a.alertname as string),
      ),
    );
    expect(alerts.length).toBeGreaterThanOrEqual(7);
    for (const a of alerts) expect(tested).toContain(a);
  });

  it('leave out of RtmpStreamStalled every state the monitor counts as not connected', () => {
    // The monitor's down states (the stream machine's `down`-tagged states and the monitor's own,
    // src/monitor/states.ts) and 'failed': a stream in one of them is down, not stalled. A state
    // tagged `down` in the machine must be added to the alert.
    const downStates = [...MONITOR_DOWN_STATES];
    expect(downStates.length).toBeGreaterThan(3);
    const stalled = ruleExpressions(RULES).find((r) => r.name === 'RtmpStreamStalled');
    const regex = /state=~"([^"]+)"/.exec(stalled?.expr ?? '')?.[1] ?? '';
    expect(regex.split('|').sort()).toEqual([...downStates, 'failed'].sort());
  });

  it('aggregate every per-stream alert by id, since replicas export the same stream', () => {
    for (const { name, expr } of ruleExpressions(RULES)) {
      if (!/rtmp_stream_/.test(expr)) continue;
      expect(`${name}: ${expr}`).toMatch(/(max|min) by \(id\)/);
    }
  });
});

describe('the Grafana dashboard', () => {
  it('is JSON with a Prometheus query in every panel, over our metric names', () => {
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Obj;
    expect(dash.uid).toBe('rtmp-actors-monitor');
    const queries = dashboardQueries(DASHBOARD);
    expect(queries.length).toBeGreaterThanOrEqual(20);
    const panels = (dash.panels as Obj[]).filter((p) => p.type !== 'row');
    for (const p of panels) expect(p.targets.length).toBeGreaterThan(0);
    const names = new Set(queries.flatMap((q) => q.expr.match(/rtmp_[a-z_]+/g) ?? []));
    for (const wanted of [
      'rtmp_stream_up',
      'rtmp_stream_state',
      'rtmp_stream_failures_total',
      'rtmp_stream_fps',
      'rtmp_stream_arrival_fps',
      'rtmp_stream_video_bitrate_bits',
      'rtmp_stream_audio_bitrate_bits',
      'rtmp_stream_stalls_total',
      'rtmp_stream_reconnects_total',
      'rtmp_stream_received_bytes_total',
      'rtmp_stream_track_bitrate_bits',
      'rtmp_stream_track_info',
      'rtmp_monitor_targets',
      'rtmp_monitor_targets_reload_success',
      'rtmp_monitor_shard_info',
    ]) {
      expect(names).toContain(wanted);
    }
  });
});
