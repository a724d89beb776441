import { Registry } from 'prom-client';
import type { MediaMessage } from '../../src/io/media';
import { createMetrics } from '../../src/monitor/metrics';
import { renderTable, snapshotObject } from '../../src/monitor/render';
import { StreamStats } from '../../src/monitor/stats';
import { writeExAudioBody, writeExVideoBody, type ExTrack } from '../../src/protocol/flv';

function fakeClock(start = 1_700_000_000_000): {
  now: () => number;
  advance: (ms: number) => void;
} {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/** A ManyTracks avc1 frame: one track per size, each payload `size` bytes. */
function manyTracksVideo(ts: number, sizes: number[], fourCcs?: string[]): MediaMessage {
  const tracks: ExTrack[] = sizes.map((size, trackId) => ({
    trackId,
    fourCc: fourCcs?.[trackId] ?? 'avc1',
    payload: new Uint8Array(size),
    ...((fourCcs?.[trackId] ?? 'avc1') === 'avc1' ? { compositionTime: 0 } : {}),
  }));
  const payload = writeExVideoBody({
    frameType: ts % 1000 === 0 ? 'key' : 'inter',
    packetType: 'codedFrames',
    multitrack: fourCcs ? 'manyTracksManyCodecs' : 'manyTracks',
    tracks,
  });
  return { type: 'Video', timestamp: ts, streamId: 1, payload };
}

function manyTracksAudio(ts: number, sizes: number[]): MediaMessage {
  const payload = writeExAudioBody({
    packetType: 'codedFrames',
    multitrack: 'manyTracks',
    tracks: sizes.map((size, trackId) => ({
      trackId,
      fourCc: 'mp4a',
      payload: new Uint8Array(size),
    })),
  });
  return { type: 'Audio', timestamp: ts, streamId: 1, payload };
}

function classicVideo(ts: number, size: number): MediaMessage {
  const payload = new Uint8Array(size);
  payload[0] = 0x27;
  payload[1] = 1;
  return { type: 'Video', timestamp: ts, streamId: 1, payload };
}

/** Feeds 3 s at 25 fps video and 50 audio messages a second, in real time. */
function feed(
  stats: StreamStats,
  clock: ReturnType<typeof fakeClock>,
  video: (ts: number) => MediaMessage,
  audio?: (ts: number) => MediaMessage,
): void {
  for (let ts = 0; ts < 3000; ts += 20) {
    if (ts % 40 === 0) stats.onMedia(video(ts));
    if (audio) stats.onMedia(audio(ts));
    clock.advance(20);
  }
}

describe('per-track monitoring of Enhanced RTMP multitrack streams', () => {
  it('reports each track with its codec and the bitrate of its own bytes', () => {
    const clock = fakeClock();
    const stats = new StreamStats({ id: 'mt', clock: clock.now });
    stats.onState('flowing');
    // Track 0: 1000 bytes a frame, track 1: 250 → 200 and 50 kbit/s at 25 fps.
    feed(
      stats,
      clock,
      (ts) => manyTracksVideo(ts, [1000, 250]),
      (ts) => manyTracksAudio(ts, [100, 20]),
    );
    const snap = stats.snapshot();
    const tracks = snap.tracks ?? [];
    expect(tracks.map((t) => [t.media, t.track, t.codec, t.fourCc])).toEqual([
      ['audio', '0', 'aac', 'mp4a'],
      ['audio', '1', 'aac', 'mp4a'],
      ['video', '0', 'avc', 'avc1'],
      ['video', '1', 'avc', 'avc1'],
    ]);
    const rate = (media: string, track: string): number =>
      tracks.find((t) => t.media === media && t.track === track)?.bitrate ?? NaN;
    expect(rate('video', '0')).toBeCloseTo(200_000, -4);
    expect(rate('video', '1')).toBeCloseTo(50_000, -3);
    expect(rate('audio', '0')).toBeCloseTo(40_000, -3);
    expect(rate('audio', '1')).toBeCloseTo(8_000, -3);
    // The stream's own bitrate still counts every byte, framing included.
    expect(snap.videoBitrate ?? 0).toBeGreaterThan(rate('video', '0') + rate('video', '1'));
    expect(tracks.find((t) => t.track === '1' && t.media === 'video')?.bytesReceived).toBe(
      75 * 250,
    );
  });

  it('shows no tracks for a stream without multitrack', () => {
    const clock = fakeClock();
    const stats = new StreamStats({ id: 'plain', clock: clock.now });
    feed(stats, clock, (ts) => classicVideo(ts, 500));
    expect(stats.snapshot().tracks).toBeUndefined();
  });

  it('counts messages without multitrack as track 0 once the stream has shown multitrack (FFmpeg sends track 0 so)', () => {
    const clock = fakeClock();
    const stats = new StreamStats({ id: 'mixed', clock: clock.now });
    const oneTrackHevc = (ts: number): MediaMessage => ({
      type: 'Video',
      timestamp: ts,
      streamId: 1,
      payload: writeExVideoBody({
        frameType: 'inter',
        packetType: 'codedFrames',
        multitrack: 'oneTrack',
        tracks: [{ trackId: 1, fourCc: 'hvc1', compositionTime: 0, payload: new Uint8Array(300) }],
      }),
    });
    feed(stats, clock, (ts) => (ts % 80 === 0 ? classicVideo(ts, 500) : oneTrackHevc(ts)));
    const tracks = stats.snapshot().tracks ?? [];
    expect(tracks.map((t) => [t.track, t.codec, t.fourCc])).toEqual([
      ['0', 'avc', undefined],
      ['1', 'hevc', 'hvc1'],
    ]);
  });

  it('lists at most maxTracks tracks of a medium by id and adds the rest up as other', () => {
    const clock = fakeClock();
    const stats = new StreamStats({ id: 'many', clock: clock.now, maxTracks: 2 });
    feed(stats, clock, (ts) => manyTracksVideo(ts, [10, 10, 10, 10, 10]));
    const tracks = stats.snapshot().tracks ?? [];
    expect(tracks.map((t) => t.track)).toEqual(['0', '1', 'other']);
    expect(tracks[2].bytesReceived).toBe(3 * tracks[0].bytesReceived);
  });

  it('exports rtmp_stream_track_* series with a track label for a multitrack stream only', async () => {
    const clock = fakeClock();
    const multi = new StreamStats({ id: 'mt', labels: { site: 'x' }, clock: clock.now });
    const plain = new StreamStats({ id: 'plain', labels: { site: 'x' }, clock: clock.now });
    feed(multi, clock, (ts) => manyTracksVideo(ts, [400, 100], ['avc1', 'av01']));
    feed(plain, clock, (ts) => classicVideo(ts, 500));
    const metrics = createMetrics(new Registry());
    metrics.update([multi.snapshot(), plain.snapshot()]);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(
      /rtmp_stream_track_info\{id="mt",site="x",media="video",track="0",codec="avc1"\} 1/,
    );
    expect(text).toMatch(
      /rtmp_stream_track_info\{id="mt",site="x",media="video",track="1",codec="av01"\} 1/,
    );
    expect(text).toMatch(
      /rtmp_stream_track_received_bytes_total\{id="mt",site="x",media="video",track="1"\} 7500/,
    );
    expect(text).toMatch(
      /rtmp_stream_track_bitrate_bits\{id="mt",site="x",media="video",track="0"\} \d+/,
    );
    expect(text).not.toMatch(/rtmp_stream_track_\w+\{id="plain"/);
    // The stream-level series of both streams are as before: no track label.
    expect(text).toMatch(/rtmp_stream_video_bitrate_bits\{id="mt",site="x"\} \d+/);
    expect(text).toMatch(/rtmp_stream_video_bitrate_bits\{id="plain",site="x"\} \d+/);
    // A stream that goes away takes its track series with it.
    metrics.update([plain.snapshot()]);
    expect(await metrics.registry.metrics()).not.toMatch(/id="mt"/);
  });

  it('shows the codec of every track in the table and the tracks in JSON', () => {
    const clock = fakeClock();
    const stats = new StreamStats({ id: 'mt', clock: clock.now });
    stats.onState('flowing');
    feed(
      stats,
      clock,
      (ts) => manyTracksVideo(ts, [400, 100, 50], ['avc1', 'avc1', 'av01']),
      (ts) => manyTracksAudio(ts, [100, 20]),
    );
    const snap = stats.snapshot();
    expect(renderTable([snap]).split('\n')[1]).toContain('avc1×2,av01/mp4a×2');
    const json = snapshotObject(snap, 0) as { tracks: { track: string; bitrate: number }[] };
    expect(json.tracks).toHaveLength(5);
    expect(Number.isInteger(json.tracks[0].bitrate)).toBe(true);
  });
});
