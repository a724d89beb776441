/**
 * ffmpeg as a one-peer RTMP server (`-listen 1`): digest handshake, StreamBegin before the
 * connect `_result`, media on message stream 0.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createSession } from '../../src/client';
import type { MediaMessage } from '../../src/io/media';
import { parseFlv } from '../../src/protocol/flv';
import { ffprobeJson, freePort, sleep, startFfmpegListenServer, stopAll } from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

describe('playing from ffmpeg -listen', () => {
  afterAll(async () => {
    await stopAll();
  });

  it('plays what ffmpeg serves and saves an FLV that ffprobe reads as H.264 + AAC', async () => {
    const server = await startFfmpegListenServer(SMALL_FLV, await freePort(), 'live', 'x');
    const session = createSession({ url: server.url, handshake: 'digest' });
    const stream = session.play(undefined, { start: -2 });
    const media: MediaMessage[] = [];
    stream.media$.subscribe((m) => media.push(m));
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'client-ffmpeg-listen-')), 'x.flv');
    const saved = await stream.saveFlv(out, { until: sleep(3000) });
    const outcome = await stream.stop();
    await session.close();
    await server.stop();

    expect(saved.videoTags).toBeGreaterThan(30);
    expect(saved.audioTags).toBeGreaterThan(30);
    expect(
      media.some((m) => m.type === 'Video' && m.payload[0] >> 4 === 1 && m.payload[1] === 1),
    ).toBe(true);
    expect(new Set(media.filter((m) => m.type !== 'Data').map((m) => m.streamId))).toEqual(
      new Set([0]),
    );
    expect(outcome).toMatchObject({ outcome: 'stopped' });
    const probe = await ffprobeJson(out);
    expect(probe.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
  }, 40_000);

  it('ends the play when ffmpeg has served the whole file (FCUnpublish, deleteStream(0), close), every tag received', async () => {
    const server = await startFfmpegListenServer(SMALL_FLV, await freePort(), 'live', 'y', {
      realtime: false,
    });
    const session = createSession({ url: server.url });
    const stream = session.play(undefined, { start: -2 });
    let media = 0;
    stream.media$.subscribe((m) => {
      if (m.type !== 'Data') media++;
    });
    const outcome = await stream.done;
    await session.close();
    await server.stop();

    expect(outcome).toMatchObject({ outcome: 'ended', reason: 'StreamEOF' });
    const tags = parseFlv(readFileSync(SMALL_FLV)).tags.filter((t) => t.type !== 18);
    expect(media).toBe(tags.length);
  }, 30_000);
});
