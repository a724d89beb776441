/**
 * Live play from nginx-rtmp (ffmpeg publishing small.flv in a loop): one stream in detail, then
 * eight at once, which nginx-rtmp only serves one per connection.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createSession } from '../../src/client';
import type { MediaMessage } from '../../src/io/media';
import {
  ffprobeJson,
  sleep,
  startFfmpegPublisher,
  startNginxRtmp,
  stopAll,
  waitFor,
  type NginxRtmp,
} from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

/** A coded video frame (not a sequence header) with frame type 1. */
function isKeyframe(m: MediaMessage): boolean {
  return m.type === 'Video' && m.payload[0] >> 4 === 1 && m.payload[1] === 1;
}

function nonDecreasing(values: number[]): boolean {
  return values.every((v, i) => i === 0 || v >= values[i - 1]);
}

/** Ids of the playing (not publishing) clients nginx-rtmp lists on its stat page. */
async function playingClientIds(nginx: NginxRtmp): Promise<string[]> {
  const xml = await (await fetch(`http://127.0.0.1:${nginx.statPort}/stat`)).text();
  const clients = xml.match(/<client>.*?<\/client>/g) ?? [];
  return clients
    .filter((c) => !c.includes('<publishing/>'))
    .map((c) => /<id>(\d+)<\/id>/.exec(c)?.[1] ?? '?');
}

describe('playing live streams from nginx-rtmp', () => {
  let nginx: NginxRtmp;
  let base: string;
  beforeAll(async () => {
    nginx = await startNginxRtmp();
    base = `rtmp://127.0.0.1:${nginx.port}/live`;
  });
  afterAll(async () => {
    await stopAll();
  });

  it('receives audio and video with rising timestamps and a keyframe, and saves 3 s as an FLV that ffprobe reads as H.264 + AAC', async () => {
    const publisher = startFfmpegPublisher(`${base}/a`, { file: SMALL_FLV });
    const session = createSession({ url: `${base}/a` });
    const stream = session.play(undefined, { start: -1 });
    const media: MediaMessage[] = [];
    stream.media$.subscribe((m) => media.push(m));
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'client-nginx-live-')), 'a.flv');
    const saved = await stream.saveFlv(out, { until: sleep(3000) });
    const gotKeyframe = await waitFor(() => media.some(isKeyframe), 10_000);
    // nginx-rtmp ignores the Enhanced RTMP v2 connect properties and states none of its own.
    const capabilities = session.serverCapabilities();
    const outcome = await stream.stop();
    await session.close();
    await publisher.stop();
    expect(capabilities).toMatchObject({ enhanced: false, capsEx: 0, reconnect: false });

    const video = media.filter((m) => m.type === 'Video').map((m) => m.timestamp);
    const audio = media.filter((m) => m.type === 'Audio').map((m) => m.timestamp);
    expect(video.length).toBeGreaterThan(30);
    expect(audio.length).toBeGreaterThan(30);
    expect(nonDecreasing(video)).toBe(true);
    expect(nonDecreasing(audio)).toBe(true);
    expect(video[video.length - 1]).toBeGreaterThan(video[0]);
    expect(gotKeyframe).toBe(true);
    expect(outcome).toMatchObject({ outcome: 'stopped' });
    expect(saved.videoTags).toBeGreaterThan(0);
    expect(saved.audioTags).toBeGreaterThan(0);
    const probe = await ffprobeJson(out);
    expect(probe.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
  }, 40_000);

  it('spreads eight live streams of one session over eight connections, having learned that nginx-rtmp serves one stream per connection', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `s${i}`);
    // One ffmpeg, eight outputs (-c copy is cheap): eight published streams.
    const publisher = startFfmpegPublisher(`${base}/${names[0]}`, {
      file: SMALL_FLV,
      extraArgs: names.slice(1).flatMap((n) => ['-f', 'flv', `${base}/${n}`, '-c', 'copy']),
    });
    const session = createSession({ url: `${base}/${names[0]}`, streamsPerConnection: 'auto' });
    const sharing: string[] = [];
    session.events$.subscribe((e) => {
      if (e.type === 'session.sharing') sharing.push(`${e.sharing} ${e.because}`);
    });
    const kinds = new Map<string, Set<string>>(names.map((n) => [n, new Set<string>()]));
    for (const name of names) {
      session.play(name, { start: -1 }).media$.subscribe((m) => kinds.get(name)!.add(m.type));
    }
    const allFlowing = await waitFor(
      () => names.every((n) => kinds.get(n)!.has('Audio') && kinds.get(n)!.has('Video')),
      20_000,
    );
    const summary = session.summary();
    const onServer = await playingClientIds(nginx);
    await session.close();
    await publisher.stop();

    expect(allFlowing).toBe(true);
    expect(sharing).toContain('single STREAM_ID_IN_USE');
    const connectionOf = names.map((n) => summary.streams[n].connectionId);
    expect(new Set(connectionOf).size).toBe(8);
    expect(Object.keys(summary.connections)).toHaveLength(8);
    expect(names.every((n) => summary.streams[n].state === 'active')).toBe(true);
    expect(new Set(onServer).size).toBe(8);
  }, 40_000);

  it('connects with the digest handshake every time: C2 leaves before connect even when S0+S1+S2 arrive in one read', async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 10; i++) {
      const session = createSession({ url: `${base}/nobody`, retry: { maxAttempts: 1 } });
      const up = new Promise<string>((resolve) => {
        session.events$.subscribe((e) => {
          if (e.type === 'session.connection' && (e.state === 'up' || e.state === 'failed')) {
            resolve(e.state);
          }
        });
      });
      session.play(undefined, { start: -1 });
      outcomes.push(await up);
      await session.close();
    }
    expect(outcomes).toEqual(Array.from({ length: 10 }, () => 'up'));
  }, 30_000);
});
