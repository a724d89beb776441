import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { RtmpServer, type ServerEvent } from '../../src/server';
import { maskStreamName } from '../../src/server/log';
import {
  ffprobeJson,
  requireTool,
  runCommand,
  runRtmpdump,
  startFfmpegPublisher,
  stopAll,
  waitFor,
  type PublisherHandle,
} from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

describe('the embedded RTMP server with ffmpeg and rtmpdump', () => {
  let server: RtmpServer;
  let port: number;
  let publisher: PublisherHandle;
  const events: ServerEvent[] = [];
  const dir = mkdtempSync(path.join(tmpdir(), 'serve-peers-'));

  beforeAll(async () => {
    server = new RtmpServer({ port: 0 });
    server.events$.subscribe((e) => events.push(e));
    ({ port } = await server.listen());
    publisher = startFfmpegPublisher(`rtmp://127.0.0.1:${port}/live/x`, { file: SMALL_FLV });
    const up = await waitFor(
      () => server.stats().streams.some((s) => s.name === 'x' && s.publishing && s.messages > 30),
      15_000,
    );
    if (!up) throw new Error(`ffmpeg did not publish: ${publisher.stderr()}`);
  }, 30_000);

  afterAll(async () => {
    await stopAll();
    await server.close();
  });

  it('takes an ffmpeg publisher through releaseStream, FCPublish, createStream and publish', () => {
    const publish = events.find((e) => e.type === 'publish');
    expect(publish).toMatchObject({ type: 'publish', app: 'live', name: maskStreamName('x') });
    expect(server.stats().streams).toEqual([
      expect.objectContaining({ app: 'live', name: 'x', publishing: true }),
    ]);
  });

  it('serves rtmpdump --live and ffmpeg players files that ffprobe reads as h264 and aac', async () => {
    const url = `rtmp://127.0.0.1:${port}/live/x`;
    const dumpOut = path.join(dir, 'rtmpdump.flv');
    const ffOut = path.join(dir, 'ffmpeg.flv');
    const [dump, ff] = await Promise.all([
      runRtmpdump(['-r', url, '--live', '-o', dumpOut], { stopAfterMs: 3000, timeoutMs: 15_000 }),
      runCommand(
        requireTool('ffmpeg'),
        [
          '-hide_banner',
          '-nostdin',
          '-loglevel',
          'error',
          '-y',
          '-i',
          url,
          '-t',
          '3',
          '-c',
          'copy',
          '-f',
          'flv',
          ffOut,
        ],
        { timeoutMs: 20_000, name: 'ffmpeg-player' },
      ),
    ]);
    expect(dump.timedOut).toBe(false);
    expect(ff.code).toBe(0);
    for (const file of [dumpOut, ffOut]) {
      expect(statSync(file).size).toBeGreaterThan(100_000);
      const probe = await ffprobeJson(file, { countPackets: true });
      expect(probe.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
      const video = probe.streams.find((s) => s.codec_type === 'video');
      expect(video).toMatchObject({ width: 640, height: 360 });
      expect(Number(video?.nb_read_packets)).toBeGreaterThan(45);
    }
    expect(
      events.filter((e) => e.type === 'play' && e.name === maskStreamName('x')).length,
    ).toBeGreaterThanOrEqual(2);
  }, 30_000);

  it('refuses a second ffmpeg publisher of the same name, which then exits with an error', async () => {
    const second = startFfmpegPublisher(`rtmp://127.0.0.1:${port}/live/x`, { file: SMALL_FLV });
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      second.exited,
      new Promise<number>((r) => (timer = setTimeout(() => r(-999), 10_000))),
    ]);
    clearTimeout(timer);
    if (code === -999) await second.stop();
    expect(code).not.toBe(0);
    expect(code).not.toBe(-999);
    expect(events.some((e) => e.type === 'badName' && e.name === maskStreamName('x'))).toBe(true);
    // The first publisher is untouched.
    expect(server.stats().streams).toEqual([
      expect.objectContaining({ name: 'x', publishing: true }),
    ]);
  }, 20_000);

  it('tells rtmpdump that an unknown stream does not exist', async () => {
    const result = await runRtmpdump(
      [
        '-r',
        `rtmp://127.0.0.1:${port}/live/missing`,
        '--live',
        '-o',
        path.join(dir, 'missing.flv'),
      ],
      {
        timeoutMs: 15_000,
      },
    );
    expect(result.timedOut).toBe(false);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/StreamNotFound/);
    expect(events.some((e) => e.type === 'notFound' && e.name === maskStreamName('missing'))).toBe(
      true,
    );
  }, 20_000);

  it('sees the publisher go when ffmpeg stops, and forgets the stream', async () => {
    await publisher.stop();
    expect(
      await waitFor(
        () => events.some((e) => e.type === 'unpublish' && e.name === maskStreamName('x')),
        10_000,
      ),
    ).toBe(true);
    expect(await waitFor(() => server.stats().streams.length === 0, 5000)).toBe(true);
  }, 20_000);
});
