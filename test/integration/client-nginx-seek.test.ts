import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createSession } from '../../src/client';
import type { MediaMessage } from '../../src/io/media';
import { parseFlv } from '../../src/protocol/flv';
import { StatusCode } from '../../src/protocol/message';
import { generateMedia, sleep, startNginxRtmp, stopAll, waitFor, type NginxRtmp } from '../helpers';

/** A keyframe every 12 frames at 25 fps (480 ms), so a seek lands near where it asked. */
const GOP = 12;
const SECONDS = 12;
/** nginx-rtmp moves to the first keyframe after the position: "about" means within this. */
const LANDING_MS = 1000;

const isKeyframe = (m: MediaMessage): boolean =>
  m.type === 'Video' && m.payload[0] >> 4 === 1 && m.payload[1] === 1;

describe('pause, resume and seek against nginx-rtmp VOD', () => {
  let nginx: NginxRtmp;
  let name: string;
  beforeAll(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'seek-'));
    const raw = await generateMedia(dir, { seconds: SECONDS, gop: GOP });
    // nginx-rtmp seeks by the onMetaData keyframe index (without it, it rewinds to the start).
    name = 'indexed.flv';
    execFileSync('ffmpeg', [
      '-hide_banner',
      '-nostdin',
      '-loglevel',
      'error',
      '-i',
      raw,
      '-c',
      'copy',
      '-flvflags',
      'add_keyframe_index',
      path.join(dir, name),
    ]);
    nginx = await startNginxRtmp({ mediaDir: dir });
  }, 60_000);
  afterAll(async () => {
    await stopAll();
  });

  /** A paced play (normal buffer) of the file from 0, flowing with media past `fromMs`. */
  async function playing(fromMs = 1000, out?: string) {
    const session = createSession({ url: `rtmp://127.0.0.1:${nginx.port}/vod/${name}` });
    const stream = session.play(undefined, { start: 0, bufferMs: 1000 });
    const saved = out ? stream.saveFlv(out) : undefined;
    const media: MediaMessage[] = [];
    const statuses: string[] = [];
    /** media.length when each status came. */
    const at = new Map<string, number>();
    stream.media$.subscribe((m) => media.push(m));
    stream.status$.subscribe((e) => {
      if (e.type !== 'stream.status') return;
      statuses.push(e.status.code);
      if (!at.has(e.status.code)) at.set(e.status.code, media.length);
    });
    const ok = await waitFor(
      () =>
        stream.state === 'flowing' &&
        media.some((m) => m.type === 'Video' && m.timestamp >= fromMs),
      20_000,
    );
    expect(ok).toBe(true);
    return { session, stream, media, statuses, at, saved };
  }

  const videoAfter = (media: MediaMessage[], index: number) =>
    media.slice(index).filter((m) => m.type === 'Video');

  it('seeks to 5 s: the first video after Seek.Notify is a keyframe at about 5 s, and the saved FLV jumps forward, never back', async () => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'seek-flv-')), 'out.flv');
    const { session, stream, media, statuses, at, saved } = await playing(1000, out);
    const result = await stream.seek(5000);
    expect(result).toMatchObject({ outcome: 'seeked', requestedMs: 5000 });
    expect(statuses).toContain(StatusCode.SeekNotify);
    const atNotify = () => at.get(StatusCode.SeekNotify) ?? media.length;
    expect(await waitFor(() => videoAfter(media, atNotify()).length > 0, 10_000)).toBe(true);
    const first = videoAfter(media, atNotify())[0];
    expect(isKeyframe(first)).toBe(true);
    expect(Math.abs(first.timestamp - 5000)).toBeLessThanOrEqual(LANDING_MS);
    expect(stream.state).toBe('flowing');

    // Back to 1 s: the server's timestamps go back, the file's do not.
    const before = media.length;
    expect((await stream.seek(1000)).outcome).toBe('seeked');
    expect(
      await waitFor(() => videoAfter(media, before).some((m) => m.timestamp < 3000), 10_000),
    ).toBe(true);
    await stream.stop();
    await session.close();
    await saved;
    const tags = parseFlv(readFileSync(out)).tags.filter((t) => t.type !== 18);
    const video = tags.filter((t) => t.type === 9).map((t) => t.timestamp);
    expect(video.length).toBeGreaterThan(10);
    for (let i = 1; i < video.length; i++) expect(video[i]).toBeGreaterThanOrEqual(video[i - 1]);
    // It jumped forward to the new position (the file was well short of 5 s when it seeked).
    expect(video.some((t) => Math.abs(t - first.timestamp) <= 1)).toBe(true);
  }, 60_000);

  it('pauses for 2 s with no media after Pause.Notify, then resumes and media flows again', async () => {
    const { session, stream, media, statuses } = await playing();
    await stream.pause();
    expect(stream.state).toBe('paused');
    // What was in flight arrives before Pause.Notify (nginx-rtmp answers in order).
    expect(await waitFor(() => statuses.includes(StatusCode.PauseNotify), 10_000)).toBe(true);
    const atPause = media.length;
    await sleep(2000);
    expect(media.length - atPause).toBe(0);
    expect(stream.state).toBe('paused');
    await stream.resume();
    expect(await waitFor(() => statuses.includes(StatusCode.UnpauseNotify), 10_000)).toBe(true);
    expect(await waitFor(() => videoAfter(media, atPause).length > 5, 10_000)).toBe(true);
    expect(stream.state).toBe('flowing');
    expect(stream.finished).toBe(false);
    await stream.stop();
    await session.close();
  }, 60_000);

  it('refuses to resume a play that is not paused and to seek to a negative position, with typed errors', async () => {
    const { session, stream } = await playing();
    await expect(stream.resume()).rejects.toMatchObject({
      name: 'StreamControlError',
      code: 'NOT_PAUSED',
    });
    await expect(stream.seek(-1)).rejects.toMatchObject({ code: 'BAD_POSITION' });
    await stream.pause();
    await expect(stream.seek(2000)).rejects.toMatchObject({
      code: 'NOT_PLAYING',
      details: { state: 'paused' },
    });
    await stream.stop();
    await expect(stream.pause()).rejects.toMatchObject({ code: 'STREAM_FINISHED' });
    await session.close();
  }, 60_000);

  it('seeks past the end: nginx-rtmp plays the last keyframe group and completes; typed, no failure', async () => {
    const { session, stream, media, at } = await playing();
    const result = await stream.seek(60_000);
    // nginx-rtmp moves to the last keyframe and ends with Play.Complete, often before the seek's
    // first media tick: the seek says `ended`, or `seeked` and the play then ends.
    expect(['ended', 'seeked']).toContain(result.outcome);
    if (result.outcome === 'ended') expect(result.endReason).toBe(StatusCode.PlayComplete);
    const outcome = await stream.done;
    expect(outcome).toMatchObject({ outcome: 'ended', reason: StatusCode.PlayComplete });
    const after = videoAfter(media, at.get(StatusCode.SeekNotify) ?? 0);
    expect(after.length).toBeGreaterThan(0);
    expect(after[0].timestamp).toBeGreaterThanOrEqual((SECONDS - 1) * 1000);
    await session.close();
  }, 60_000);
});
