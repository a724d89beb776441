import { Registry } from 'prom-client';
import { createMetrics, startMetricsServer } from '../../src/monitor/metrics';
import type { StreamSnapshot } from '../../src/monitor/stats';

function snapshot(overrides: Partial<StreamSnapshot> = {}): StreamSnapshot {
  return {
    id: 'cam1',
    labels: { site: 'paris' },
    at: 0,
    state: 'flowing',
    health: 'healthy',
    reason: undefined,
    reasonMessage: undefined,
    failures: {},
    videoBitrate: 1_000_000,
    audioBitrate: 128_000,
    fps: 30,
    arrivalFps: 29,
    keyframeInterval: 2,
    videoCodec: 'avc',
    videoFourCc: undefined,
    audioCodec: 'aac',
    audioFourCc: undefined,
    width: 640,
    height: 360,
    audioSampleRate: 48000,
    audioChannels: 2,
    lastMediaAgeMs: 250,
    driftMs: -120,
    avSkewMs: 40,
    stalls: 1,
    reconnects: 0,
    bytesReceived: 5000,
    messagesReceived: 10,
    lastStatus: undefined,
    ...overrides,
  };
}

const LABELS = '{id="cam1",site="paris"}';

describe('createMetrics', () => {
  it('exports each snapshot figure as a labelled series in Prometheus units', async () => {
    const metrics = createMetrics();
    metrics.update([snapshot()]);
    const text = await metrics.registry.metrics();
    expect(text).toContain(`rtmp_stream_up${LABELS} 1`);
    expect(text).toContain(`rtmp_stream_video_bitrate_bits${LABELS} 1000000`);
    expect(text).toContain(`rtmp_stream_audio_bitrate_bits${LABELS} 128000`);
    expect(text).toContain(`rtmp_stream_fps${LABELS} 30`);
    expect(text).toContain(`rtmp_stream_arrival_fps${LABELS} 29`);
    expect(text).toContain('rtmp_stream_state{id="cam1",site="paris",state="flowing"} 1');
    expect(text).not.toContain('url=');
    expect(text).not.toContain('stream=');
    expect(text).toContain(`rtmp_stream_keyframe_interval_seconds${LABELS} 2`);
    expect(text).toContain(`rtmp_stream_last_media_age_seconds${LABELS} 0.25`);
    expect(text).toContain(`rtmp_stream_drift_seconds${LABELS} -0.12`);
    expect(text).toContain(`rtmp_stream_av_skew_seconds${LABELS} 0.04`);
    expect(text).toContain(`rtmp_stream_video_width_pixels${LABELS} 640`);
    expect(text).toContain(`rtmp_stream_video_height_pixels${LABELS} 360`);
    expect(text).toContain(`rtmp_stream_stalls_total${LABELS} 1`);
    expect(text).toContain(`rtmp_stream_reconnects_total${LABELS} 0`);
    expect(text).toContain(`rtmp_stream_received_bytes_total${LABELS} 5000`);
    expect(text).toContain('# TYPE rtmp_stream_received_bytes_total counter');
  });

  it('advances counters to the latest cumulative totals and marks an unhealthy stream down', async () => {
    const metrics = createMetrics(new Registry());
    metrics.update([snapshot()]);
    metrics.update([snapshot({ bytesReceived: 12_000, stalls: 2, health: 'stalled' })]);
    const text = await metrics.registry.metrics();
    expect(text).toContain(`rtmp_stream_received_bytes_total${LABELS} 12000`);
    expect(text).toContain(`rtmp_stream_stalls_total${LABELS} 2`);
    expect(text).toContain(`rtmp_stream_up${LABELS} 0`);
    // A fresh StreamStats for the same stream: the counter starts over instead of going backwards.
    metrics.update([snapshot({ bytesReceived: 100 })]);
    expect(await metrics.registry.metrics()).toContain(
      `rtmp_stream_received_bytes_total${LABELS} 100`,
    );
  });

  it('drops series of unknown values and of streams no longer monitored', async () => {
    const metrics = createMetrics();
    metrics.update([snapshot({ keyframeInterval: undefined }), snapshot({ id: 'cam2' })]);
    let text = await metrics.registry.metrics();
    expect(text).not.toContain(`rtmp_stream_keyframe_interval_seconds${LABELS}`);
    expect(text).toContain('rtmp_stream_keyframe_interval_seconds{id="cam2"');
    metrics.update([snapshot({ id: 'cam2' })]);
    text = await metrics.registry.metrics();
    expect(text).not.toContain('id="cam1"');
    expect(text).toContain('id="cam2"');
  });

  it('counts failures by reason and keeps one state series per stream', async () => {
    const metrics = createMetrics();
    metrics.update([snapshot({ state: 'creating', health: 'starting' })]);
    metrics.update([
      snapshot({
        state: 'failed',
        health: 'failed',
        reason: 'MAX_CONNECTIONS',
        failures: { MAX_CONNECTIONS: 1 },
      }),
    ]);
    metrics.update([
      snapshot({
        state: 'failed',
        health: 'failed',
        failures: { MAX_CONNECTIONS: 1, ECONNREFUSED: 3 },
      }),
    ]);
    const text = await metrics.registry.metrics();
    expect(text).toContain(
      'rtmp_stream_failures_total{id="cam1",site="paris",reason="MAX_CONNECTIONS"} 1',
    );
    expect(text).toContain(
      'rtmp_stream_failures_total{id="cam1",site="paris",reason="ECONNREFUSED"} 3',
    );
    expect(text).toContain('rtmp_stream_state{id="cam1",site="paris",state="failed"} 1');
    expect(text).not.toContain('state="creating"');
  });

  it('takes label names that appear later, and labels streams without them by id alone', async () => {
    const metrics = createMetrics();
    metrics.update([snapshot({ labels: {} })]);
    metrics.update([
      snapshot({ labels: {}, bytesReceived: 6000 }),
      snapshot({ id: 'cam2', labels: { room: 'b' } }),
    ]);
    const text = await metrics.registry.metrics();
    expect(text).toContain('rtmp_stream_received_bytes_total{id="cam1"} 6000');
    expect(text).toContain('rtmp_stream_up{id="cam2",room="b"} 1');
  });
});

describe('startMetricsServer', () => {
  it('serves the registry at GET /metrics over HTTP', async () => {
    const metrics = createMetrics();
    metrics.update([snapshot()]);
    const server = await startMetricsServer({ port: 0, registry: metrics.registry });
    try {
      expect(server.port).toBeGreaterThan(0);
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(metrics.registry.contentType);
      expect(await res.text()).toContain(`rtmp_stream_video_bitrate_bits${LABELS} 1000000`);
      const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
      expect(health.status).toBe(200);
      await health.text();
      const missing = await fetch(`http://127.0.0.1:${server.port}/other`);
      expect(missing.status).toBe(404);
      await missing.text();
    } finally {
      await server.close();
    }
  });
});
