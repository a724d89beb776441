/**
 * `createMonitor` embedded in a service, against the embedded RTMP server with looping publishers:
 * snapshots$, events$, add/remove, the registry merged into the host's, shards of a targets file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { createSession, type Session } from '../../src/client';
import { createMonitor, type MonitorEvent, type StreamSnapshot } from '../../src';
import { connectionBudget, FD_RESERVE } from '../../src/monitor/fdLimit';
import { shardOf } from '../../src/monitor/shard';
import { RtmpServer } from '../../src/server';
import { waitFor } from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

describe('createMonitor, embedded in a service', () => {
  let server: RtmpServer;
  let base: string;
  let publisher: Session;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rtmp-actors-create-monitor-'));
    server = new RtmpServer({ port: 0 });
    const { port } = await server.listen();
    base = `rtmp://127.0.0.1:${port}/live`;
    publisher = createSession({ url: base, streamsPerConnection: 'many' });
    publisher.publish('one', SMALL_FLV, { loop: true });
    publisher.publish('two', SMALL_FLV, { loop: true });
    expect(
      await waitFor(() => server.stats().streams.filter((s) => s.publishing).length === 2, 10_000),
    ).toBe(true);
  });

  afterAll(async () => {
    await publisher.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const players = (name: string): number =>
    server.stats().streams.find((s) => s.name === name)?.players ?? 0;

  it('streams snapshots and events by id, adds and removes targets, and exports a registry a host can merge', async () => {
    const monitor = createMonitor({
      targets: [{ id: 'cam-one', url: `${base}/one`, labels: { site: 'paris' } }],
      tickMs: 200,
    });
    const events: MonitorEvent[] = [];
    const latest = new Map<string, StreamSnapshot>();
    monitor.events$.subscribe((e) => events.push(e));
    monitor.snapshots$.subscribe((snaps) => {
      latest.clear();
      for (const s of snaps) latest.set(s.id, s);
    });
    try {
      expect(monitor.ready).toBe(true);
      expect(await waitFor(() => latest.get('cam-one')?.health === 'healthy', 10_000)).toBe(true);
      expect(latest.get('cam-one')?.labels).toEqual({ site: 'paris' });

      monitor.add({ id: 'cam-two', url: `${base}/two` });
      expect(() => monitor.add({ id: 'cam-two', url: `${base}/two` })).toThrow(/already watched/);
      expect(await waitFor(() => latest.get('cam-two')?.health === 'healthy', 10_000)).toBe(true);
      expect(events.some((e) => e.event === 'state' && e.id === 'cam-two')).toBe(true);
      expect(events.filter((e) => e.event === 'targets').map((e) => e.source)).toEqual([
        'list',
        'api',
      ]);

      const host = new Registry();
      const merged = Registry.merge([host, monitor.registry]);
      const text = await merged.metrics();
      expect(text).toContain('rtmp_stream_up{id="cam-one",site="paris"} 1');
      expect(text).toContain('rtmp_stream_up{id="cam-two"} 1');
      expect(text).toContain('rtmp_monitor_targets 2');
      // No targets file: no reload metrics that would read as a failing reload.
      expect(text).not.toContain('rtmp_monitor_targets_reload');

      expect(monitor.remove('cam-one')).toBe(true);
      expect(monitor.remove('cam-one')).toBe(false);
      expect(monitor.targets().map((t) => t.id)).toEqual(['cam-two']);
      // Stopped on the server (deleteStream), not merely forgotten.
      expect(await waitFor(() => players('one') === 0, 5000)).toBe(true);
      expect(await waitFor(() => !latest.has('cam-one'), 2000)).toBe(true);
    } finally {
      await monitor.close();
    }
    expect(monitor.ready).toBe(false);
    expect(await waitFor(() => players('two') === 0, 5000)).toBe(true);
  }, 30_000);

  it("reads the publisher's 30 fps and 1 Mbit/s from timestamps at once, and the arrival rate once the GOP-cache burst left the window", async () => {
    // small.flv: 30 fps, 1 Mbit/s video (ffprobe); the embedded server sends its GOP cache at once.
    const monitor = createMonitor({ targets: [{ id: 'rates', url: `${base}/one` }], tickMs: 250 });
    const seen: StreamSnapshot[] = [];
    monitor.snapshots$.subscribe((snaps) =>
      seen.push(...snaps.filter((s) => s.health === 'healthy')),
    );
    try {
      expect(await waitFor(() => seen.length > 0, 10_000)).toBe(true);
      const start = seen[0].at;
      // The window (5 s) and one more second.
      expect(await waitFor(() => seen[seen.length - 1].at - start > 6000, 15_000)).toBe(true);
      for (const s of seen.filter((x) => x.fps !== undefined && x.at - start >= 1000)) {
        expect(Math.abs((s.fps ?? 0) - 30) / 30).toBeLessThan(0.1);
      }
      const last = seen[seen.length - 1];
      expect(Math.abs((last.arrivalFps ?? 0) - 30) / 30).toBeLessThan(0.1);
      expect(Math.abs((last.videoBitrate ?? 0) - 1_000_000) / 1_000_000).toBeLessThan(0.15);
    } finally {
      await monitor.close();
    }
  }, 30_000);

  it('sets up at most maxStarting streams at once, the others reading queued, and starts them all', async () => {
    const monitor = createMonitor({
      targets: Array.from({ length: 6 }, (_, i) => ({
        id: `q-${i}`,
        url: `${base}/${i % 2 ? 'one' : 'two'}`,
      })),
      maxStarting: 2,
    });
    try {
      const states = monitor.snapshots().map((s) => s.state);
      expect(states.filter((s) => s === 'queued')).toHaveLength(4);
      expect(
        await waitFor(() => monitor.snapshots().every((s) => s.health === 'healthy'), 15_000),
      ).toBe(true);
    } finally {
      await monitor.close();
    }
  }, 30_000);

  it('watches only its shard of a targets file and says which shard it is', async () => {
    const file = path.join(dir, 'sharded.yaml');
    const ids = Array.from({ length: 30 }, (_, i) => `s-${i}`);
    writeFileSync(
      file,
      JSON.stringify({ streams: ids.map((id) => ({ id, url: `${base}/${id}` })) }),
    );
    const lines: string[] = [];
    const monitor = createMonitor({
      targetsFile: file,
      shard: { index: 1, count: 3, replicas: 1 },
      replayAfterMs: false,
      log: (l) => lines.push(l),
    });
    try {
      const mine = ids.filter((id) => shardOf(id, 3) === 1);
      expect(monitor.targets().map((t) => t.id)).toEqual(mine);
      expect(mine.length).toBeGreaterThan(0);
      expect(lines[0]).toMatch(
        /^targets: 30 loaded from .*sharded\.yaml, \d+ watched in shard 1\/3/,
      );
      const text = await monitor.registry.metrics();
      expect(text).toContain('rtmp_monitor_shard_info{shard="1",shards="3",replicas="1"} 1');
      expect(text).toContain(`rtmp_monitor_targets ${mine.length}`);
      expect(text).toContain('rtmp_monitor_targets_reload_success 1');
    } finally {
      await monitor.close();
    }
  }, 30_000);

  it('refuses a targets file it cannot use at the start, naming the entry', () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(
      file,
      'streams:\n  - id: a\n    url: rtmp://h/live/a\n  - id: a\n    url: rtmp://h/live/b\n',
    );
    expect(() => createMonitor({ targetsFile: file })).toThrow(
      'streams[1]: id "a" is already used by streams[0]',
    );
  });
});

describe('the connection budget', () => {
  it('is the file-descriptor limit less FD_RESERVE, or the explicit limit, and says which', () => {
    expect(connectionBudget(undefined, 1024)).toEqual({
      maxConnections: 1024 - FD_RESERVE,
      source: `the file-descriptor limit (ulimit -n 1024) less ${FD_RESERVE} kept for other files; raise ulimit -n or set --max-connections`,
    });
    expect(connectionBudget(10, 1024)).toEqual({
      maxConnections: 10,
      source: '--max-connections 10',
    });
  });
});
