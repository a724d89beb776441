/**
 * Prometheus exposition of stream snapshots: per-stream gauges and counters labelled
 * { stream, url } (the url redacted by the caller), and a small node:http server for GET /metrics.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import type { StreamSnapshot } from './stats';

const LABELS = ['stream', 'url'] as const;
type Label = (typeof LABELS)[number];
type Labels = Record<Label, string>;

type GaugeField = (s: StreamSnapshot) => number | undefined;
type CounterField = 'stalls' | 'reconnects' | 'bytesReceived' | 'messagesReceived';

const GAUGES: readonly (readonly [name: string, help: string, value: GaugeField])[] = [
  [
    'rtmp_stream_up',
    '1 while the stream is healthy (media flowing), else 0',
    (s) => (s.health === 'healthy' ? 1 : 0),
  ],
  [
    'rtmp_stream_video_bitrate_bits',
    'Video bitrate over the sliding window, bits per second',
    (s) => s.videoBitrate,
  ],
  [
    'rtmp_stream_audio_bitrate_bits',
    'Audio bitrate over the sliding window, bits per second',
    (s) => s.audioBitrate,
  ],
  ['rtmp_stream_fps', 'Video frames per second over the sliding window', (s) => s.fps],
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

function ms(v: number | undefined): number | undefined {
  return v === undefined ? undefined : v / 1000;
}

export interface StreamMetrics {
  readonly registry: Registry;
  /** Sets every series from the snapshots; series of streams no longer listed are removed. */
  update(snapshots: readonly StreamSnapshot[]): void;
}

/** Registers the stream metrics on `registry` (a fresh one by default). */
export function createMetrics(registry: Registry = new Registry()): StreamMetrics {
  const gauges = GAUGES.map(
    ([name, help, value]) =>
      [new Gauge({ name, help, labelNames: LABELS, registers: [registry] }), value] as const,
  );
  const counters = COUNTERS.map(
    ([name, help, field]) =>
      [new Counter({ name, help, labelNames: LABELS, registers: [registry] }), field] as const,
  );
  /** Per series key: its labels and the cumulative counter values already exported. */
  const known = new Map<string, { labels: Labels; counted: Record<CounterField, number> }>();

  const update = (snapshots: readonly StreamSnapshot[]): void => {
    const seen = new Set<string>();
    for (const s of snapshots) {
      const labels: Labels = { stream: s.name, url: s.url };
      const key = JSON.stringify([s.name, s.url]);
      seen.add(key);
      let entry = known.get(key);
      if (!entry) {
        entry = {
          labels,
          counted: { stalls: 0, reconnects: 0, bytesReceived: 0, messagesReceived: 0 },
        };
        known.set(key, entry);
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
    }
    for (const [key, entry] of known) {
      if (seen.has(key)) continue;
      for (const [gauge] of gauges) gauge.remove(entry.labels);
      for (const [counter] of counters) counter.remove(entry.labels);
      known.delete(key);
    }
  };

  return { registry, update };
}

export interface MetricsServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 for any free port. */
  port: number;
  registry: Registry;
}

export interface MetricsServer {
  /** The port actually bound. */
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `GET /metrics` from `registry` in the Prometheus text format. */
export function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { host = '127.0.0.1', port, registry } = options;
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' });
      res.end('method not allowed\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`${err instanceof Error ? err.message : String(err)}\n`);
      },
    );
  };
  const server = createServer(handle);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const bound = (server.address() as AddressInfo).port;
      resolve({
        port: bound,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((err) => (err ? fail(err) : done()));
            server.closeAllConnections();
          }),
      });
    });
  });
}
