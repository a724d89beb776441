/**
 * Three shards over one targets file, as the StatefulSet runs them: three `rtmp-actors monitor
 * --targets F --shard i/3` processes against nginx-rtmp fed by live ffmpeg publishers, and a real
 * Prometheus scraping all three. Every target must be up exactly once; with --replicas 2 exactly
 * twice, and once in the max per id that the dashboard and the alerts take.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNginxRtmp, stopAll, waitFor, type NginxRtmp } from '../helpers';
import { startPrometheus, type Prometheus, type PromSample } from '../helpers/prometheus';
import {
  startMonitor,
  startPublishers,
  writeTargets,
  type MonitorProcess,
  type Target,
} from './fixtures';

/** Targets over few publishers: distinct play URLs (a query string) of the same live streams. */
const TARGETS = 30;
const PUBLISHERS = 3;
const SHARDS = 3;

jest.setTimeout(240_000);

describe('three monitor shards over one targets file, scraped by a real Prometheus', () => {
  let nginx: NginxRtmp;
  let prometheus: Prometheus;
  let dir: string;
  const monitors: MonitorProcess[] = [];
  const targets: Target[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rtmp-actors-shards-'));
    nginx = await startNginxRtmp();
    const names = Array.from({ length: PUBLISHERS }, (_, i) => `shard-pub${i}`);
    await startPublishers(nginx, names);
    for (let i = 0; i < TARGETS; i++) {
      targets.push({
        id: `cam-${String(i).padStart(3, '0')}`,
        url: `rtmp://127.0.0.1:${nginx.port}/live/${names[i % PUBLISHERS]}?viewer=${i}`,
        labels: { site: i % 2 === 0 ? 'paris' : 'lyon' },
      });
    }
    const file = writeTargets(join(dir, 'targets.yaml'), targets);
    for (let shard = 0; shard < SHARDS; shard++) {
      monitors.push(await startMonitor(['--targets', file, '--shard', `${shard}/${SHARDS}`]));
    }
    prometheus = await startPrometheus({
      targets: monitors.map((m, shard) => ({
        address: m.address,
        labels: { pod: `rtmp-actors-monitor-${shard}` },
      })),
    });
    expect(await prometheus.waitForTargetsUp(30_000)).toBe(true);
  });

  afterAll(async () => {
    await stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const vector = async (expr: string): Promise<PromSample[]> => {
    const r = await prometheus.query(expr);
    if (r.status !== 'success') throw new Error(`${expr}: ${r.errorType}: ${r.error}`);
    return (r.data?.result ?? []) as PromSample[];
  };
  const scalarOf = async (expr: string): Promise<number> => {
    const v = await vector(expr);
    return v.length === 0 ? 0 : Number(v[0].value[1]);
  };

  it('sees every target up, each id exported by exactly one shard', async () => {
    let up = 0;
    const allUp = await waitFor(
      async () => (up = await scalarOf('count(rtmp_stream_up == 1)')) === TARGETS,
      90_000,
      500,
    );
    if (!allUp) {
      const logs = monitors.map((m, i) => `shard ${i}:\n${m.proc.stderrTail().slice(-1500)}`);
      throw new Error(`${up}/${TARGETS} up after 90 s\n${logs.join('\n')}`);
    }
    expect(up).toBe(TARGETS);
    expect(await vector('count by (id) (rtmp_stream_up) > 1')).toEqual([]);
    const ids = (await vector('rtmp_stream_up')).map((s) => s.metric.id).sort();
    expect(ids).toEqual(targets.map((t) => t.id).sort());
  });

  it('splits the targets among the three shards, each watching only its own share', async () => {
    const perShard = await vector('count by (pod) (rtmp_stream_up)');
    expect(perShard).toHaveLength(SHARDS);
    const sum = perShard.reduce((n, s) => n + Number(s.value[1]), 0);
    expect(sum).toBe(TARGETS);
    // Each shard's own count of its targets agrees with what it exports.
    expect(await scalarOf('sum(rtmp_monitor_targets)')).toBe(TARGETS);
    const info = await vector('rtmp_monitor_shard_info');
    expect(info.map((s) => `${s.metric.pod} ${s.metric.shard}/${s.metric.shards}`).sort()).toEqual(
      monitors.map((_, i) => `rtmp-actors-monitor-${i} ${i}/${SHARDS}`),
    );
  });
});

describe('three monitor shards with --replicas 2, scraped by a real Prometheus', () => {
  let nginx: NginxRtmp;
  let prometheus: Prometheus;
  let dir: string;
  const targets: Target[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rtmp-actors-replicas-'));
    nginx = await startNginxRtmp();
    await startPublishers(nginx, ['replica-pub']);
    for (let i = 0; i < 12; i++) {
      targets.push({
        id: `cam-${i}`,
        url: `rtmp://127.0.0.1:${nginx.port}/live/replica-pub?viewer=${i}`,
      });
    }
    const file = writeTargets(join(dir, 'targets.yaml'), targets);
    const monitors: MonitorProcess[] = [];
    for (let shard = 0; shard < SHARDS; shard++) {
      monitors.push(
        await startMonitor(['--targets', file, '--shard', `${shard}/${SHARDS}`, '--replicas', '2']),
      );
    }
    prometheus = await startPrometheus({
      targets: monitors.map((m, shard) => ({
        address: m.address,
        labels: { pod: `rtmp-actors-monitor-${shard}` },
      })),
    });
    expect(await prometheus.waitForTargetsUp(30_000)).toBe(true);
  });

  afterAll(async () => {
    await stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('watches every target from two pods, and the max per id counts each target once', async () => {
    const count = async (expr: string): Promise<number> => {
      const r = await prometheus.query(expr);
      if (r.status !== 'success') throw new Error(`${expr}: ${r.error}`);
      const v = (r.data?.result ?? []) as PromSample[];
      return v.length === 0 ? 0 : Number(v[0].value[1]);
    };
    expect(
      await waitFor(
        async () => (await count('count(rtmp_stream_up == 1)')) === 2 * targets.length,
        90_000,
        500,
      ),
    ).toBe(true);
    expect(await count('count(max by (id) (rtmp_stream_up) == 1)')).toBe(targets.length);
    expect(await count('count(count by (id) (rtmp_stream_up) != 2)')).toBe(0);
  });
});
