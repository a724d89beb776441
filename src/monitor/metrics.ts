/**
 * Prometheus exposition of stream snapshots: per-stream gauges and counters labelled with the
 * target's `id` and its own labels (never the URL: it holds secrets and has high cardinality),
 * the monitor's own gauges (`rtmp_monitor_*`), and a small HTTP server (see ./http).
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { StreamSnapshot } from './stats';
import { startHttpServer, type HttpServer } from './http';

type Labels = Record<string, string>;

type GaugeField = (s: StreamSnapshot) => number | undefined;
type CounterField = 'stalls' | 'reconnects' | 'bytesReceived' | 'messagesReceived';

const GAUGES: readonly (readonly [name: string, help: string, value: GaugeField])[] = [
  [
    'rtmp_stream_up',
    '1 while the stream is healthy (audio or video arriving), else 0',
    (s) => (s.health === 'healthy' ? 1 : 0),
  ],
  [
    'rtmp_stream_video_bitrate_bits',
    'Video bitrate over the span observed (at most the window), bits per second',
    (s) => s.videoBitrate,
  ],
  [
    'rtmp_stream_audio_bitrate_bits',
    'Audio bitrate over the span observed (at most the window), bits per second',
    (s) => s.audioBitrate,
  ],
  [
    'rtmp_stream_fps',
    'Media frame rate: video frames per second of media time (timestamps) over the window',
    (s) => s.fps,
  ],
  [
    'rtmp_stream_arrival_fps',
    'Arrival frame rate: video frames per wall-clock second over the span observed',
    (s) => s.arrivalFps,
  ],
  [
    'rtmp_stream_keyframe_interval_seconds',
    'Mean distance between the last keyframes, media time',
    (s) => s.keyframeInterval,
  ],
  [
    'rtmp_stream_last_media_age_seconds',
    'Wall-clock time since the last audio or video message',
    (s) => ms(s.lastMediaAgeMs),
  ],
  [
    'rtmp_stream_drift_seconds',
    'Media time advanced minus wall time elapsed since the first media (positive: ahead)',
    (s) => ms(s.driftMs),
  ],
  [
    'rtmp_stream_av_skew_seconds',
    'Last audio timestamp minus last video timestamp',
    (s) => ms(s.avSkewMs),
  ],
  ['rtmp_stream_video_width_pixels', 'Picture width', (s) => s.width],
  ['rtmp_stream_video_height_pixels', 'Picture height', (s) => s.height],
];

const COUNTERS: readonly (readonly [name: string, help: string, field: CounterField])[] = [
  ['rtmp_stream_stalls_total', 'Times media stopped for longer than the stall limit', 'stalls'],
  ['rtmp_stream_reconnects_total', 'Times the stream was set up again', 'reconnects'],
  ['rtmp_stream_received_bytes_total', 'Audio and video payload bytes received', 'bytesReceived'],
  [
    'rtmp_stream_received_messages_total',
    'Audio, video and data messages received',
    'messagesReceived',
  ],
];

const STATE = 'rtmp_stream_state';
const FAILURES = 'rtmp_stream_failures_total';
/**
 * Per-track series, only for streams that carry Enhanced RTMP multitrack messages (a stream
 * without multitrack keeps exactly the series above and has none of these). Labels: the
 * stream's, plus `media` (video, audio) and `track` (the trackId, or 'other' past
 * StreamStatsOptions.maxTracks: at most maxTracks + 1 values a medium).
 */
const TRACK_BITRATE = 'rtmp_stream_track_bitrate_bits';
const TRACK_BYTES = 'rtmp_stream_track_received_bytes_total';
const TRACK_INFO = 'rtmp_stream_track_info';

function ms(v: number | undefined): number | undefined {
  return v === undefined ? undefined : v / 1000;
}

export interface StreamMetrics {
  readonly registry: Registry;
  /** Sets every series from the snapshots; series of streams no longer listed are removed. */
  update(snapshots: readonly StreamSnapshot[]): void;
}

interface KnownTrack {
  labels: Labels;
  bytes: number;
  /** Labels of its rtmp_stream_track_info series, when it has one. */
  info: Labels | undefined;
}

interface Known {
  labels: Labels;
  counted: Record<CounterField, number>;
  failures: Record<string, number>;
  state: string | undefined;
  tracks: Map<string, KnownTrack>;
}

/**
 * Registers the stream metrics on `registry` (a fresh one by default). Every series is labelled
 * `id` plus the target's labels; `rtmp_stream_state` adds `state` (1 for the current state; the
 * series of a state left is removed), `rtmp_stream_failures_total` adds `reason`. Targets with
 * label names not seen before re-register the metrics with the larger label set (values kept).
 * A multitrack stream also gets `rtmp_stream_track_*` series per track (see TRACK_BITRATE).
 */
export function createMetrics(registry: Registry = new Registry()): StreamMetrics {
  let labelNames: string[] = [];
  let gauges: Array<readonly [Gauge, GaugeField]> = [];
  let counters: Array<readonly [Counter, CounterField]> = [];
  let state: Gauge;
  let failures: Counter;
  let trackBitrate: Gauge;
  let trackBytes: Counter;
  let trackInfo: Gauge;
  /** Per stream id: its labels and the cumulative values already exported. */
  let known = new Map<string, Known>();

  const register = (names: string[]): void => {
    if (gauges.length > 0) {
      for (const [name] of [...GAUGES, ...COUNTERS]) registry.removeSingleMetric(name);
      registry.removeSingleMetric(STATE);
      registry.removeSingleMetric(FAILURES);
      registry.removeSingleMetric(TRACK_BITRATE);
      registry.removeSingleMetric(TRACK_BYTES);
      registry.removeSingleMetric(TRACK_INFO);
    }
    labelNames = names;
    const labelled = ['id', ...names];
    gauges = GAUGES.map(
      ([name, help, value]) =>
        [new Gauge({ name, help, labelNames: labelled, registers: [registry] }), value] as const,
    );
    counters = COUNTERS.map(
      ([name, help, field]) =>
        [new Counter({ name, help, labelNames: labelled, registers: [registry] }), field] as const,
    );
    state = new Gauge({
      name: STATE,
      help: "1 for the stream's current state (creating, requesting, flowing, retrying, failed...)",
      labelNames: [...labelled, 'state'],
      registers: [registry],
    });
    failures = new Counter({
      name: FAILURES,
      help: 'Refusals and failures of the stream, by reason (MAX_CONNECTIONS, a status code, REFUSED...)',
      labelNames: [...labelled, 'reason'],
      registers: [registry],
    });
    const tracked = [...labelled, 'media', 'track'];
    trackBitrate = new Gauge({
      name: TRACK_BITRATE,
      help: "A multitrack stream's track: bitrate of its own bytes over the span observed, bits per second",
      labelNames: tracked,
      registers: [registry],
    });
    trackBytes = new Counter({
      name: TRACK_BYTES,
      help: "A multitrack stream's track: payload bytes received",
      labelNames: tracked,
      registers: [registry],
    });
    trackInfo = new Gauge({
      name: TRACK_INFO,
      help: "A multitrack stream's track: its codec (FourCC, or codec name for classic tags); value always 1",
      labelNames: [...tracked, 'codec'],
      registers: [registry],
    });
    known = new Map();
  };
  register([]);

  const removeTrack = (t: KnownTrack): void => {
    trackBitrate.remove(t.labels);
    trackBytes.remove(t.labels);
    if (t.info) trackInfo.remove(t.info);
  };

  const updateTracks = (entry: Known, s: StreamSnapshot): void => {
    const seen = new Set<string>();
    for (const t of s.tracks ?? []) {
      const key = `${t.media}:${t.track}`;
      seen.add(key);
      let kt = entry.tracks.get(key);
      if (!kt) {
        kt = {
          labels: { ...entry.labels, media: t.media, track: t.track },
          bytes: 0,
          info: undefined,
        };
        entry.tracks.set(key, kt);
        trackBytes.inc(kt.labels, 0);
      }
      if (t.bitrate === undefined || !Number.isFinite(t.bitrate)) trackBitrate.remove(kt.labels);
      else trackBitrate.set(kt.labels, t.bitrate);
      if (t.bytesReceived < kt.bytes) {
        trackBytes.remove(kt.labels);
        trackBytes.inc(kt.labels, t.bytesReceived);
      } else if (t.bytesReceived > kt.bytes) {
        trackBytes.inc(kt.labels, t.bytesReceived - kt.bytes);
      }
      kt.bytes = t.bytesReceived;
      const codec = t.fourCc ?? t.codec;
      if (kt.info?.codec !== codec) {
        if (kt.info) trackInfo.remove(kt.info);
        kt.info = codec === undefined ? undefined : { ...kt.labels, codec };
        if (kt.info) trackInfo.set(kt.info, 1);
      }
    }
    for (const [key, kt] of entry.tracks) {
      if (seen.has(key)) continue;
      removeTrack(kt);
      entry.tracks.delete(key);
    }
  };

  const remove = (entry: Known): void => {
    for (const [gauge] of gauges) gauge.remove(entry.labels);
    for (const [counter] of counters) counter.remove(entry.labels);
    if (entry.state !== undefined) state.remove({ ...entry.labels, state: entry.state });
    for (const reason of Object.keys(entry.failures)) failures.remove({ ...entry.labels, reason });
    for (const t of entry.tracks.values()) removeTrack(t);
  };

  const update = (snapshots: readonly StreamSnapshot[]): void => {
    const names = new Set(labelNames);
    for (const s of snapshots) for (const n of Object.keys(s.labels)) names.add(n);
    if (names.size > labelNames.length) register([...names].sort());
    const seen = new Set<string>();
    for (const s of snapshots) {
      const labels: Labels = { id: s.id, ...s.labels };
      seen.add(s.id);
      let entry = known.get(s.id);
      if (entry && JSON.stringify(entry.labels) !== JSON.stringify(labels)) {
        remove(entry);
        entry = undefined;
      }
      if (!entry) {
        entry = {
          labels,
          counted: { stalls: 0, reconnects: 0, bytesReceived: 0, messagesReceived: 0 },
          failures: {},
          state: undefined,
          tracks: new Map(),
        };
        known.set(s.id, entry);
        for (const [counter] of counters) counter.inc(labels, 0);
      }
      for (const [gauge, value] of gauges) {
        const v = value(s);
        if (v === undefined || !Number.isFinite(v)) gauge.remove(labels);
        else gauge.set(labels, v);
      }
      for (const [counter, field] of counters) {
        const total = s[field];
        const before = entry.counted[field];
        if (total < before) {
          // A new StreamStats for the same stream: the counter starts over.
          counter.remove(labels);
          counter.inc(labels, total);
        } else if (total > before) {
          counter.inc(labels, total - before);
        }
        entry.counted[field] = total;
      }
      if (entry.state !== s.state) {
        if (entry.state !== undefined) state.remove({ ...labels, state: entry.state });
        state.set({ ...labels, state: s.state }, 1);
        entry.state = s.state;
      }
      for (const [reason, total] of Object.entries(s.failures)) {
        const before = entry.failures[reason] ?? 0;
        if (total > before) failures.inc({ ...labels, reason }, total - before);
        entry.failures[reason] = total;
      }
      updateTracks(entry, s);
    }
    for (const [id, entry] of known) {
      if (seen.has(id)) continue;
      remove(entry);
      known.delete(id);
    }
  };

  return { registry, update };
}

/** The monitor's own figures: targets and their reloads, and this process's shard. */
export interface MonitorMetrics {
  /** Targets this process watches now. */
  setTargets(count: number): void;
  /** A targets file (re)load: success (with its clock time, ms) or failure. */
  reloaded(ok: boolean, atMs: number): void;
  setShard(shard: { index: number; count: number; replicas: number }): void;
}

/**
 * The `rtmp_monitor_*` metrics. The reload ones exist only with a targets file (`file`): without
 * one, a `reload_success 0` would read as a failing reload.
 */
export function createMonitorMetrics(registry: Registry, file: boolean): MonitorMetrics {
  const targets = new Gauge({
    name: 'rtmp_monitor_targets',
    help: 'Targets this process watches (after sharding)',
    registers: [registry],
  });
  const reload = file
    ? {
        success: new Gauge({
          name: 'rtmp_monitor_targets_reload_success',
          help: '1 if the last (re)load of the targets file succeeded, else 0',
          registers: [registry],
        }),
        failures: new Counter({
          name: 'rtmp_monitor_targets_reload_failures_total',
          help: 'Loads of the targets file that failed (the last good targets were kept)',
          registers: [registry],
        }),
        lastSuccess: new Gauge({
          name: 'rtmp_monitor_targets_last_reload_success_timestamp_seconds',
          help: 'Time of the last successful load of the targets file, seconds since the epoch',
          registers: [registry],
        }),
      }
    : undefined;
  const shardInfo = new Gauge({
    name: 'rtmp_monitor_shard_info',
    help: "This process's shard: shard index, number of shards, replicas (value always 1)",
    labelNames: ['shard', 'shards', 'replicas'],
    registers: [registry],
  });
  targets.set(0);
  return {
    setTargets: (n) => targets.set(n),
    reloaded: (ok, atMs) => {
      if (!reload) return;
      reload.success.set(ok ? 1 : 0);
      if (ok) reload.lastSuccess.set(atMs / 1000);
      else reload.failures.inc();
    },
    setShard: (s) => {
      shardInfo.reset();
      shardInfo.set(
        { shard: String(s.index), shards: String(s.count), replicas: String(s.replicas) },
        1,
      );
    },
  };
}

export interface MetricsServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 for any free port. */
  port: number;
  registry: Registry;
}

export type MetricsServer = HttpServer;

/** Serves `GET /metrics` (and /healthz) from `registry`; see `startHttpServer` for the rest. */
export function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  return startHttpServer(options);
}
