import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MediaMessage } from '../../src/io/media';
import type { AmfValue } from '../../src/protocol/amf/types';
import { StreamStats, timestampDelta, type StreamEvent } from '../../src/monitor/stats';

const WRAP = 2 ** 32;

/** A clock the test moves by hand. */
function fakeClock(start = 1_700_000_000_000): { now: () => number; set: (t: number) => void } {
  let t = start;
  return { now: () => t, set: (v) => (t = v) };
}

function video(timestamp: number, payload: Uint8Array): MediaMessage {
  return { type: 'Video', timestamp, streamId: 1, payload };
}

function audio(timestamp: number, payload: Uint8Array): MediaMessage {
  return { type: 'Audio', timestamp, streamId: 1, payload };
}

function data(values: AmfValue[]): MediaMessage {
  return { type: 'Data', amf: 0, name: String(values[0]), values, timestamp: 0, streamId: 1 };
}

/** A classic AVC coded frame of `size` bytes (key or inter). */
function avcFrame(size: number, key: boolean): Uint8Array {
  const b = new Uint8Array(size);
  b[0] = key ? 0x17 : 0x27;
  b[1] = 1;
  return b;
}

/** A raw AAC frame of `size` bytes. */
function aacFrame(size: number): Uint8Array {
  const b = new Uint8Array(size);
  b[0] = 0xaf;
  b[1] = 1;
  return b;
}

/** AAC sequence header: AAC-LC, 48 kHz, stereo. */
const AAC_SEQUENCE_HEADER = Uint8Array.from([0xaf, 0x00, 0x11, 0x90]);

interface FeedOptions {
  stats: StreamStats;
  clock: ReturnType<typeof fakeClock>;
  /** Media duration to feed (ms). */
  durationMs: number;
  /** First media timestamp (wraps at 2^32). */
  firstTs?: number;
  /** Wall time at the first message. */
  startWall: number;
  /** Wall ms per media ms: 1 real time, 0.5 a 2x burst, 1.25 slower than real time. */
  pace?: number;
  /** Added to every audio timestamp. */
  audioOffsetMs?: number;
  /** Media time the feed starts at (to continue a previous feed). */
  fromMs?: number;
}

/**
 * Feeds a 30 fps video with a keyframe every 2 s (4167-byte frames: 1 Mbit/s) and a 128 kbit/s
 * audio track (320 bytes every 20 ms), in timestamp order, moving the clock to each message.
 */
function feed(o: FeedOptions): void {
  const { stats, clock, durationMs, firstTs = 0, startWall, pace = 1, audioOffsetMs = 0 } = o;
  const from = o.fromMs ?? 0;
  const events: { t: number; kind: 'video' | 'audio'; key: boolean }[] = [];
  for (let f = Math.ceil((from * 30) / 1000); (f * 1000) / 30 < from + durationMs; f++) {
    events.push({ t: (f * 1000) / 30, kind: 'video', key: f % 60 === 0 });
  }
  for (let a = Math.ceil(from / 20); a * 20 < from + durationMs; a++) {
    events.push({ t: a * 20, kind: 'audio', key: false });
  }
  events.sort((x, y) => x.t - y.t);
  for (const e of events) {
    clock.set(startWall + Math.round((e.t - from) * pace));
    const offset = e.kind === 'audio' ? audioOffsetMs : 0;
    const ts = (firstTs + Math.round(e.t) + offset) % WRAP;
    stats.onMedia(e.kind === 'audio' ? audio(ts, aacFrame(320)) : video(ts, avcFrame(4167, e.key)));
  }
}

function relativeError(actual: number, expected: number): number {
  return Math.abs(actual - expected) / expected;
}

/** The first video tag body of small.flv (its AVC sequence header), read with the bare minimum. */
function firstVideoTagOfSmallFlv(): Uint8Array {
  const flv = readFileSync(join(__dirname, '..', 'fixtures', 'media', 'small.flv'));
  let p = 13; // FLV header (9) + PreviousTagSize0 (4)
  while (p + 11 <= flv.length) {
    const type = flv[p];
    const size = flv.readUIntBE(p + 1, 3);
    if (type === 9) return new Uint8Array(flv.subarray(p + 11, p + 11 + size));
    p += 11 + size + 4;
  }
  throw new Error('small.flv has no video tag');
}

describe('StreamStats', () => {
  function setup(options: { stallMs?: number } = {}) {
    const clock = fakeClock();
    const events: StreamEvent[] = [];
    const stats = new StreamStats({
      id: 'cam1',
      clock: clock.now,
      onEvent: (e) => events.push(e),
      ...options,
    });
    return { clock, stats, events, t0: clock.now() };
  }

  it('measures a 30 fps, 2 s GOP, 1 Mbit/s video and 128 kbit/s audio stream', () => {
    const { clock, stats, t0 } = setup();
    stats.onState('playing');
    stats.onMedia(audio(0, AAC_SEQUENCE_HEADER));
    feed({ stats, clock, durationMs: 10_000, startWall: t0 });
    const s = stats.snapshot();
    expect(relativeError(s.videoBitrate ?? NaN, 1_000_000)).toBeLessThan(0.03);
    expect(relativeError(s.audioBitrate ?? NaN, 128_000)).toBeLessThan(0.03);
    expect(s.fps).toBeGreaterThan(29);
    expect(s.fps).toBeLessThan(31);
    expect(s.keyframeInterval).toBeCloseTo(2, 2);
    expect(s.videoCodec).toBe('avc');
    expect(s.videoFourCc).toBeUndefined();
    expect(s.audioCodec).toBe('aac');
    expect(s.audioSampleRate).toBe(48000);
    expect(s.audioChannels).toBe(2);
    expect(s.health).toBe('healthy');
    expect(s.state).toBe('playing');
    expect(s.bytesReceived).toBe(300 * 4167 + 500 * 320 + AAC_SEQUENCE_HEADER.length);
    expect(s.messagesReceived).toBe(300 + 500 + 1);
    expect(s.lastMediaAgeMs).toBe(0);
  });

  it('reads the stream’s bitrate, not the burst’s, when a server delivers its GOP cache at once', () => {
    const { clock, stats, t0 } = setup();
    // 2 s of cached media arrive at t0 in one burst, then the live edge at real-time pace.
    feed({ stats, clock, durationMs: 2000, startWall: t0, pace: 0 });
    feed({ stats, clock, durationMs: 1000, startWall: t0, fromMs: 2000 });
    const s = stats.snapshot();
    expect(relativeError(s.videoBitrate ?? NaN, 1_000_000)).toBeLessThan(0.1);
    expect(relativeError(s.audioBitrate ?? NaN, 128_000)).toBeLessThan(0.1);
    expect(relativeError(s.fps ?? NaN, 30)).toBeLessThan(0.1);
  });

  it('reads 30 fps one second into a fresh stream that started mid-second, in media and arrival rate', () => {
    const clock = fakeClock(1_700_000_000_600);
    const stats = new StreamStats({ id: 'cam1', clock: clock.now });
    const t0 = clock.now();
    clock.set(t0 + 2000); // the play took 2 s to start: that time is not part of the rates
    feed({ stats, clock, durationMs: 1000, startWall: t0 + 2000 });
    clock.set(t0 + 3000);
    const s = stats.snapshot();
    expect(relativeError(s.fps ?? NaN, 30)).toBeLessThan(0.05);
    expect(relativeError(s.arrivalFps ?? NaN, 30)).toBeLessThan(0.05);
    expect(relativeError(s.videoBitrate ?? NaN, 1_000_000)).toBeLessThan(0.05);
  });

  it('reads the same after 2 s and 5 s; before MIN_RATE_SPAN_MS only the timestamps give a rate', () => {
    const { clock, stats, t0 } = setup();
    feed({ stats, clock, durationMs: 300, startWall: t0 + 250 });
    expect(relativeError(stats.snapshot().fps ?? NaN, 30)).toBeLessThan(0.05);
    expect(stats.snapshot().arrivalFps).toBeUndefined();
    expect(stats.snapshot().videoBitrate).toBeUndefined();
    let from = 300;
    for (const until of [2000, 5000]) {
      feed({ stats, clock, durationMs: until - from, startWall: t0 + 250 + from, fromMs: from });
      from = until;
      const s = stats.snapshot();
      expect(relativeError(s.fps ?? NaN, 30)).toBeLessThan(0.05);
      expect(relativeError(s.arrivalFps ?? NaN, 30)).toBeLessThan(0.05);
    }
  });

  it('shows a publisher that falls behind real time: media rate 30 fps, arrival rate 24', () => {
    const { clock, stats, t0 } = setup();
    // 1.25 wall ms per media ms: 30 frames of media arrive every 1.25 s.
    feed({ stats, clock, durationMs: 10_000, startWall: t0, pace: 1.25 });
    const s = stats.snapshot();
    expect(relativeError(s.fps ?? NaN, 30)).toBeLessThan(0.03);
    expect(relativeError(s.arrivalFps ?? NaN, 24)).toBeLessThan(0.05);
  });

  it('says awaitingFirstFrame, not flowing, and is not healthy until audio or video arrived', () => {
    const { clock, stats, events, t0 } = setup();
    stats.onState('flowing');
    stats.onMedia(data(['onMetaData', { width: 1280, height: 720 }]));
    let s = stats.snapshot();
    expect(s.state).toBe('awaitingFirstFrame');
    expect(s.health).toBe('starting');
    feed({ stats, clock, durationMs: 100, startWall: t0 + 10 });
    s = stats.snapshot();
    expect(s.state).toBe('flowing');
    expect(s.health).toBe('healthy');
    expect(events.filter((e) => e.event === 'state').map((e) => e.state)).toEqual([
      'awaitingFirstFrame',
      'flowing',
    ]);
  });

  it('counts failures by reason, keeps the last reason until media flows again, and tells each one', () => {
    const { clock, stats, events, t0 } = setup();
    stats.onFailure('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1');
    stats.onFailure('ECONNREFUSED');
    stats.onFailure('MAX_CONNECTIONS', 'maxConnections 2 reached (--max-connections 2)');
    let s = stats.snapshot();
    expect(s.failures).toEqual({ ECONNREFUSED: 2, MAX_CONNECTIONS: 1 });
    expect(s.reason).toBe('MAX_CONNECTIONS');
    expect(s.reasonMessage).toContain('--max-connections 2');
    expect(events.filter((e) => e.event === 'failure').map((e) => e.reason)).toEqual([
      'ECONNREFUSED',
      'ECONNREFUSED',
      'MAX_CONNECTIONS',
    ]);
    stats.onState('flowing');
    feed({ stats, clock, durationMs: 100, startWall: t0 });
    s = stats.snapshot();
    expect(s.reason).toBeUndefined();
    expect(s.failures).toEqual({ ECONNREFUSED: 2, MAX_CONNECTIONS: 1 });
  });

  it('lets rates fall to zero once the window has passed without media', () => {
    const { clock, stats, t0 } = setup();
    feed({ stats, clock, durationMs: 3000, startWall: t0 });
    clock.set(clock.now() + 6000);
    const s = stats.snapshot();
    expect(s.videoBitrate).toBe(0);
    expect(s.audioBitrate).toBe(0);
    expect(s.fps).toBe(0);
    expect(s.lastMediaAgeMs).toBe(6000);
  });

  it('reads the picture size from the AVC sequence header of small.flv', () => {
    const { stats } = setup();
    stats.onMedia(video(0, firstVideoTagOfSmallFlv()));
    const s = stats.snapshot();
    expect([s.width, s.height]).toEqual([640, 360]);
    expect(s.videoCodec).toBe('avc');
    // A sequence header is not a frame, and no time has been observed: no rate yet.
    expect(s.fps).toBeUndefined();
    expect(s.arrivalFps).toBeUndefined();
  });

  it('reads the picture size from onMetaData, directly or through @setDataFrame', () => {
    const direct = setup().stats;
    direct.onMedia(data(['onMetaData', { width: 1280, height: 720, framerate: 30 }]));
    expect([direct.snapshot().width, direct.snapshot().height]).toEqual([1280, 720]);

    const wrapped = setup().stats;
    wrapped.onMedia(data(['@setDataFrame', 'onMetaData', { width: 1920, height: 1080 }]));
    expect([wrapped.snapshot().width, wrapped.snapshot().height]).toEqual([1920, 1080]);
  });

  it('prefers the configuration record over onMetaData for the picture size', () => {
    const { stats } = setup();
    stats.onMedia(data(['onMetaData', { width: 1280, height: 720 }]));
    stats.onMedia(video(0, firstVideoTagOfSmallFlv()));
    expect([stats.snapshot().width, stats.snapshot().height]).toEqual([640, 360]);
  });

  it('reports the FourCC of Enhanced RTMP video', () => {
    const { stats } = setup();
    // IsExHeader | key frame | CodedFrames, 'hvc1', composition time 0, one byte of data.
    stats.onMedia(video(0, Uint8Array.from([0x91, 0x68, 0x76, 0x63, 0x31, 0, 0, 0, 0])));
    const s = stats.snapshot();
    expect(s.videoFourCc).toBe('hvc1');
    expect(s.videoCodec).toBe('hevc');
  });

  it('reports positive drift when media arrives faster than real time, negative when slower', () => {
    const fast = setup();
    feed({ ...fast, durationMs: 10_000, startWall: fast.t0, pace: 0.5 });
    const fastDrift = fast.stats.snapshot().driftMs ?? NaN;
    expect(fastDrift).toBeGreaterThan(4900);
    expect(fastDrift).toBeLessThan(5100);

    const slow = setup();
    feed({ ...slow, durationMs: 10_000, startWall: slow.t0, pace: 1.25 });
    const slowDrift = slow.stats.snapshot().driftMs ?? NaN;
    expect(slowDrift).toBeLessThan(-2400);
    expect(slowDrift).toBeGreaterThan(-2600);

    const realTime = setup();
    feed({ ...realTime, durationMs: 10_000, startWall: realTime.t0 });
    expect(Math.abs(realTime.stats.snapshot().driftMs ?? NaN)).toBeLessThanOrEqual(1);
  });

  it('reports positive A/V skew when audio timestamps lead video, negative when they lag', () => {
    const lead = setup();
    feed({ ...lead, durationMs: 5000, startWall: lead.t0, audioOffsetMs: 300, firstTs: 1000 });
    const leadSkew = lead.stats.snapshot().avSkewMs ?? NaN;
    expect(leadSkew).toBeGreaterThan(250);
    expect(leadSkew).toBeLessThan(350);

    const lag = setup();
    feed({ ...lag, durationMs: 5000, startWall: lag.t0, audioOffsetMs: -300, firstTs: 1000 });
    const lagSkew = lag.stats.snapshot().avSkewMs ?? NaN;
    expect(lagSkew).toBeLessThan(-250);
    expect(lagSkew).toBeGreaterThan(-350);
  });

  it('does not jump when timestamps wrap around 2^32', () => {
    const { clock, stats, t0 } = setup();
    const firstTs = WRAP - 3000; // wraps 3 s into a 10 s feed
    feed({ stats, clock, durationMs: 10_000, startWall: t0, firstTs, audioOffsetMs: 0 });
    const s = stats.snapshot();
    expect(s.keyframeInterval).toBeCloseTo(2, 2);
    expect(Math.abs(s.driftMs ?? NaN)).toBeLessThanOrEqual(1);
    expect(Math.abs(s.avSkewMs ?? NaN)).toBeLessThan(40);
    expect(relativeError(s.videoBitrate ?? NaN, 1_000_000)).toBeLessThan(0.03);

    // A 2x burst across the wrap: media time keeps advancing past it.
    const burst = setup();
    feed({ ...burst, durationMs: 10_000, startWall: burst.t0, firstTs, pace: 0.5 });
    expect(burst.stats.snapshot().driftMs).toBeGreaterThan(4900);

    // Audio (300 ms ahead) has wrapped, video not yet: the skew is still +300 ms.
    const between = setup();
    feed({ ...between, durationMs: 2850, startWall: between.t0, firstTs, audioOffsetMs: 300 });
    const skew = between.stats.snapshot().avSkewMs ?? NaN;
    expect(skew).toBeGreaterThan(250);
    expect(skew).toBeLessThan(350);
  });

  it('computes timestamp deltas modulo 2^32', () => {
    expect(timestampDelta(5, WRAP - 5)).toBe(10);
    expect(timestampDelta(WRAP - 5, 5)).toBe(-10);
    expect(timestampDelta(2000, 1000)).toBe(1000);
  });

  it('turns stalled after stallMs without media, counts the stall once, and recovers', () => {
    const { clock, stats, events, t0 } = setup({ stallMs: 3000 });
    expect(stats.snapshot().health).toBe('starting');
    stats.onState('playing');
    feed({ stats, clock, durationMs: 2000, startWall: t0 });
    const last = clock.now();
    expect(stats.snapshot().health).toBe('healthy');

    clock.set(last + 3000);
    expect(stats.snapshot().health).toBe('healthy');
    clock.set(last + 3001);
    const stalled = stats.snapshot();
    expect(stalled.health).toBe('stalled');
    expect(stalled.stalls).toBe(1);
    clock.set(last + 10_000);
    stats.onStall(); // the same gap, also seen by the session
    expect(stats.snapshot().stalls).toBe(1);
    expect(events.filter((e) => e.event === 'stall')).toHaveLength(1);
    expect(events.find((e) => e.event === 'stall')?.lastMediaAgeMs).toBe(3001);

    feed({ stats, clock, durationMs: 1000, fromMs: 2000, startWall: last + 10_000 });
    expect(stats.snapshot().health).toBe('healthy');
    expect(stats.snapshot().stalls).toBe(1);
  });

  it('derives down and failed health from the state', () => {
    const { clock, stats, events, t0 } = setup();
    stats.onState('playing');
    feed({ stats, clock, durationMs: 1000, startWall: t0 });
    stats.onState('reconnecting');
    expect(stats.snapshot().health).toBe('down');
    stats.onReconnect();
    stats.onState('playing');
    expect(stats.snapshot().health).toBe('starting');
    expect(stats.snapshot().reconnects).toBe(1);
    stats.onStatus('NetStream.Play.StreamNotFound');
    stats.onState('failed');
    const s = stats.snapshot();
    expect(s.health).toBe('failed');
    expect(s.lastStatus).toBe('NetStream.Play.StreamNotFound');
    expect(events.map((e) => e.event)).toEqual([
      'state',
      'state',
      'reconnect',
      'state',
      'status',
      'state',
    ]);
  });

  it('starts a new media timeline after a reconnect, so restarted timestamps cause no drift', () => {
    const { clock, stats, t0 } = setup();
    feed({ stats, clock, durationMs: 5000, startWall: t0, firstTs: 50_000 });
    stats.onReconnect();
    const restart = clock.now() + 2000;
    feed({ stats, clock, durationMs: 5000, startWall: restart, firstTs: 0 });
    const s = stats.snapshot();
    expect(Math.abs(s.driftMs ?? NaN)).toBeLessThanOrEqual(1);
    expect(s.keyframeInterval).toBeCloseTo(2, 2);
  });

  it('counts an unparseable video header without throwing', () => {
    const { stats } = setup();
    stats.onMedia(video(0, Uint8Array.from([0x17])));
    const s = stats.snapshot();
    expect(stats.badHeaders).toBe(1);
    expect(s.messagesReceived).toBe(1);
    expect(s.bytesReceived).toBe(1);
  });
});
