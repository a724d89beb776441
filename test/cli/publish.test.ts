import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { main } from '../../src/cli/index';
import { parseFlv } from '../../src/protocol/flv';
import { captureIo } from '../helpers/cliio';
import { ffprobeJson, startNginxRtmp, stopAll, waitFor, type NginxRtmp } from '../helpers';

const media = path.join(__dirname, '..', 'fixtures', 'media');
const small = path.join(media, 'small.flv');

function tagsOf(file: string): ReturnType<typeof parseFlv>['tags'] {
  return parseFlv(readFileSync(file)).tags;
}

/** An AVC or AAC tag that is not a sequence header. */
function isCodedFrame(t: { type: number; data: Uint8Array }): boolean {
  return (t.type === 8 || t.type === 9) && t.data[1] !== 0;
}

/** nginx-rtmp's log lines for the connection that published `name`, in order. */
function publisherLog(nginx: NginxRtmp, name: string): string[] {
  const log = nginx.errorLog();
  const conn = new RegExp(`\\*(\\d+) publish: name='${name}'`).exec(log)?.[1];
  return conn === undefined ? [] : log.split('\n').filter((l) => l.includes(`*${conn} `));
}

describe('rtmp-actors publish', () => {
  let nginx: NginxRtmp;
  let dir: string;
  let recordings: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'cli-publish-'));
    recordings = mkdtempSync(path.join(tmpdir(), 'cli-publish-rec-'));
    nginx = await startNginxRtmp({
      mediaDir: media,
      // An application that records what is published, to compare with the source file.
      extraRtmpConfig: `application rec { live on; record all; record_path ${recordings}; }`,
    });
  });
  afterAll(async () => {
    await stopAll();
  });

  it('publishes a file to nginx live while our own play reads it back for 3 s', async () => {
    const url = `rtmp://127.0.0.1:${nginx.port}/live/roundtrip`;
    const pubIo = captureIo();
    const publishing = main(['publish', small, url, '--loop', '--json', '--progress'], pubIo);
    try {
      expect(await waitFor(() => publisherLog(nginx, 'roundtrip').length > 0, 10_000)).toBe(true);
      const out = path.join(dir, 'roundtrip.flv');
      const playIo = captureIo();
      const started = Date.now();
      expect(await main(['play', url, '--live', '--duration', '3', '-o', out], playIo)).toBe(0);
      // Real-time pacing: 3 s of media take about 3 s to arrive.
      expect(Date.now() - started).toBeGreaterThan(2500);
      const probe = await ffprobeJson(out);
      expect(probe.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
      const stamps = tagsOf(out)
        .filter((t) => t.type === 8 || t.type === 9)
        .map((t) => t.timestamp);
      expect(Math.max(...stamps) - Math.min(...stamps)).toBeGreaterThan(2800);
      // One progress line a second while publishing: wait for a third before stopping (the
      // publisher's clock starts at Publish.Start, a little after nginx logged it).
      expect(
        await waitFor(() => (pubIo.err().match(/"type":"progress"/g) ?? []).length >= 3, 5_000),
      ).toBe(true);
    } finally {
      pubIo.interrupt();
    }
    expect(await publishing).toBe(130);
    const lines = pubIo
      .err()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const progress = lines.filter((l) => l.type === 'progress');
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(progress[progress.length - 1]).toMatchObject({ state: 'publishing' });
    expect(progress[progress.length - 1].frames).toBeGreaterThan(60);
    expect(lines[lines.length - 1]).toMatchObject({ type: 'publish.end', exitCode: 130 });
    // FCUnpublish and deleteStream reached nginx before the socket closed.
    const ours = publisherLog(nginx, 'roundtrip')
      .map((l) => /(deleteStream|disconnect)/.exec(l)?.[1])
      .filter(Boolean);
    expect(ours.slice(0, 2)).toEqual(['deleteStream', 'disconnect']);
  });

  it('with --fast sends every tag of the file at once and exits 0 when the file ends', async () => {
    const pubIo = captureIo();
    const started = Date.now();
    const code = await main(
      ['publish', small, `rtmp://127.0.0.1:${nginx.port}/rec/fast`, '--fast'],
      pubIo,
    );
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000); // the file holds 10 s of media
    expect(pubIo.err()).toMatch(/published: 302 video \+ 471 audio messages/);
    const recorded = path.join(recordings, 'fast.flv');
    await waitFor(() => publisherLog(nginx, 'fast').some((l) => l.includes('disconnect')), 5000);
    // nginx's recorder writes the codec headers itself too: compare the coded frames.
    const got = tagsOf(recorded).filter(isCodedFrame);
    const want = tagsOf(small).filter(isCodedFrame);
    expect(want.length).toBeGreaterThan(700);
    expect(got).toHaveLength(want.length);
    expect(got.map((t) => t.timestamp)).toEqual(want.map((t) => t.timestamp));
    expect(
      Buffer.from(got[got.length - 1].data).equals(Buffer.from(want[want.length - 1].data)),
    ).toBe(true);
  });

  it('with --loop keeps the timestamps increasing past the end of the file until --duration', async () => {
    const code = await main(
      [
        'publish',
        small,
        `rtmp://127.0.0.1:${nginx.port}/rec/looped`,
        '--fast',
        '--loop',
        '--duration',
        '25',
      ],
      captureIo(),
    );
    expect(code).toBe(0);
    await waitFor(() => publisherLog(nginx, 'looped').some((l) => l.includes('disconnect')), 5000);
    const video = tagsOf(path.join(recordings, 'looped.flv'))
      .filter((t) => t.type === 9)
      .map((t) => t.timestamp);
    const last = video[video.length - 1];
    expect(last).toBeGreaterThan(24_000); // the file is 10 s long: it went round three times
    expect(last).toBeLessThanOrEqual(25_000);
    for (let i = 1; i < video.length; i++) expect(video[i]).toBeGreaterThanOrEqual(video[i - 1]);
  });

  it('exits 4 when nginx refuses the publish because the name is already published', async () => {
    const url = `rtmp://127.0.0.1:${nginx.port}/live/taken`;
    const first = captureIo();
    const firstRun = main(['publish', small, url, '--loop'], first);
    try {
      expect(await waitFor(() => publisherLog(nginx, 'taken').length > 0, 10_000)).toBe(true);
      const second = captureIo();
      expect(await main(['publish', small, url, '--json'], second)).toBe(4);
      expect(second.err()).toContain('NetStream.Publish.BadName');
      const end = JSON.parse(second.err().trim().split('\n').pop() as string) as Record<
        string,
        unknown
      >;
      expect(end).toMatchObject({ type: 'publish.end', exitCode: 4 });
    } finally {
      first.interrupt();
    }
    expect(await firstRun).toBe(130);
  });

  it('exits 1 for a file it cannot read and 6 for a file that is not FLV, without connecting', async () => {
    const url = 'rtmp://127.0.0.1:1/live/x';
    const missing = captureIo();
    expect(await main(['publish', path.join(dir, 'nope.flv'), url], missing)).toBe(1);
    expect(missing.err()).toMatch(/cannot read/);
    const text = path.join(dir, 'not-flv.txt');
    writeFileSync(text, 'this is not a video file\n');
    const notFlv = captureIo();
    expect(await main(['publish', text, url], notFlv)).toBe(6);
    expect(notFlv.err()).toMatch(/not an FLV file/);
  });

  it('with --retries 0 makes exactly one connection attempt to a server that hangs up, then exits 3', async () => {
    let accepted = 0;
    const server = createServer((socket) => {
      accepted++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const io = captureIo();
      const code = await main(
        ['publish', small, `rtmp://127.0.0.1:${port}/live/x`, '--retries', '0'],
        io,
      );
      expect(code).toBe(3);
      expect(accepted).toBe(1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
