import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { shardOf } from '../../src/monitor/shard';
import { createSession, type Session } from '../../src/client';
import { main } from '../../src/cli/index';
import { RtmpServer, type ServerEvent } from '../../src/server';
import { maskStreamName } from '../../src/server/log';
import { captureIo, jsonLines } from '../helpers/cliio';
import {
  freePort,
  startFfmpegPublisher,
  startNginxRtmp,
  stopAll,
  waitFor,
  type NginxRtmp,
} from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

describe('rtmp-actors monitor on the embedded server', () => {
  let server: RtmpServer;
  let base: string;
  let publisher: Session;
  const plays: Array<Extract<ServerEvent, { type: 'play' }>> = [];

  beforeAll(async () => {
    server = new RtmpServer({ port: 0 });
    server.events$.subscribe((e) => e.type === 'play' && plays.push(e));
    const { port } = await server.listen();
    base = `rtmp://127.0.0.1:${port}/live`;
    publisher = createSession({ url: base, streamsPerConnection: 'many' });
    publisher.publish('one', SMALL_FLV, { loop: true });
    publisher.publish('two', SMALL_FLV, { loop: true });
    expect(
      await waitFor(() => server.stats().streams.filter((s) => s.publishing).length === 2, 10_000),
    ).toBe(true);
  });

  afterAll(async () => {
    await publisher.close();
    await server.close();
  });

  it('prints JSON lines for two live streams with bitrate above zero, serves /metrics meanwhile, and exits 0', async () => {
    const metricsPort = await freePort();
    const io = captureIo();
    const run = main(
      [
        'monitor',
        `${base}/one`,
        `${base}/two`,
        '--json',
        '--duration',
        '4',
        '--metrics',
        `127.0.0.1:${metricsPort}`,
      ],
      io,
    );
    let scraped = '';
    const ok = await waitFor(
      async () => {
        try {
          const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
          scraped = await res.text();
          return /rtmp_stream_video_bitrate_bits\{id="rtmp:\/\/127\.0\.0\.1:\d+\/live\/\*\*\*"\} [1-9]/.test(
            scraped,
          );
        } catch {
          return false;
        }
      },
      4000,
      200,
    );
    const code = await run;
    expect(ok).toBe(true);
    // The two URLs redact alike (their stream names are masked): the second id gets #2.
    expect(scraped).toMatch(
      /rtmp_stream_video_bitrate_bits\{id="rtmp:\/\/127\.0\.0\.1:\d+\/live\/\*\*\*#2"\} [1-9]/,
    );
    expect(scraped).not.toMatch(/url=|stream=/);
    expect(code).toBe(0);
    const lines = jsonLines(io.out());
    for (const id of [`${base}/***`, `${base}/***#2`]) {
      const mine = lines.filter((l) => l.kind === 'stream' && l.id === id);
      expect(mine.length).toBeGreaterThanOrEqual(3);
      expect(mine[mine.length - 1]).toMatchObject({ health: 'healthy' });
      expect(mine[mine.length - 1].videoBitrate).toBeGreaterThan(100_000);
    }
    expect(lines.some((l) => l.kind === 'event' && l.id === `${base}/***`)).toBe(true);
    expect(lines[lines.length - 1]).toMatchObject({
      kind: 'summary',
      exitCode: 0,
      streams: 2,
      healthy: 2,
    });
    // Both streams were played over one connection (the server's events mask the names).
    expect(plays.map((p) => p.name).sort()).toEqual(
      [maskStreamName('one'), maskStreamName('two')].sort(),
    );
    expect(new Set(plays.map((p) => p.streamId)).size).toBe(2);
    expect(plays[0].connection).toBe(plays[1].connection);
    expect(io.err()).toMatch(/metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/);
  }, 20_000);

  it('prints a plain table without colours or cursor moves when stdout is not a terminal', async () => {
    const io = captureIo();
    const code = await main(['monitor', `${base}/one`, '--duration', '2'], io);
    expect(code).toBe(0);
    const out = io.out();
    expect(out).toMatch(/ID\s+HEALTH\/STATE\s+REASON\s+VIDEO/);
    expect(out).toMatch(/\nrtmp:\/\/127\.0\.0\.1:\d+\/live\/\*\*\*\s+healthy\/flowing\s+-\s+\d/);
    expect(out).not.toContain('\x1b[');
    expect(io.err()).toMatch(/1\/1 streams healthy \(exit code 0\)/);
  }, 20_000);

  it('exits 5 when the stream does not exist, the stream retrying meanwhile (its publisher may come)', async () => {
    const io = captureIo();
    expect(await main(['monitor', `${base}/ghost`, '--json', '--duration', '2'], io)).toBe(5);
    const lines = jsonLines(io.out());
    expect(
      lines.some(
        (l) =>
          l.kind === 'stream' &&
          l.id === `${base}/gh***` &&
          l.state === 'retrying' &&
          l.health === 'down' &&
          l.reason === 'NetStream.Play.StreamNotFound',
      ),
    ).toBe(true);
  }, 20_000);
});

describe('rtmp-actors monitor against nginx-rtmp', () => {
  let nginx: NginxRtmp;
  beforeAll(async () => {
    nginx = await startNginxRtmp();
  });
  afterAll(async () => {
    await stopAll();
  });

  it('sees an ffmpeg stream healthy, then reports a stall when the publisher stops', async () => {
    const url = `rtmp://127.0.0.1:${nginx.port}/live/cam`;
    const ffmpeg = startFfmpegPublisher(url, { file: SMALL_FLV });
    const io = captureIo();
    const run = main(['monitor', url, '--json', '--duration', '7', '--stall', '1'], io);
    const healthy = await waitFor(
      () => jsonLines(io.out()).some((l) => l.kind === 'stream' && l.health === 'healthy'),
      5000,
      100,
    );
    await ffmpeg.stop();
    const code = await run;
    expect(healthy).toBe(true);
    const lines = jsonLines(io.out());
    const stall = lines.find((l) => l.kind === 'event' && l.event === 'stall');
    expect(stall).toMatchObject({ id: `rtmp://127.0.0.1:${nginx.port}/live/***`, event: 'stall' });
    expect(code).toBe(7);
  }, 30_000);
});

describe('rtmp-actors monitor without a server', () => {
  it('exits 3 when nothing listens on the server port', async () => {
    const port = await freePort();
    const io = captureIo();
    const code = await main(
      ['monitor', `rtmp://127.0.0.1:${port}/live/x`, '--json', '--duration', '2'],
      io,
    );
    expect(code).toBe(3);
    const last = jsonLines(io.out()).filter((l) => l.kind === 'stream');
    expect(last[last.length - 1]).toMatchObject({
      id: `rtmp://127.0.0.1:${port}/live/***`,
      health: expect.stringMatching(/down|failed/),
      reason: 'REFUSED',
    });
    const failure = jsonLines(io.out()).find((l) => l.kind === 'event' && l.event === 'failure');
    // The table says it too, in its REASON column.
    const table = captureIo();
    expect(
      await main(['monitor', `rtmp://127.0.0.1:${port}/live/x`, '--duration', '2'], table),
    ).toBe(3);
    expect(table.out()).toMatch(
      /\nrtmp:\/\/127\.0\.0\.1:\d+\/live\/\*\*\*\s+(down|failed)\/\S+\s+REFUSED\s/,
    );
    expect(failure).toMatchObject({
      reason: 'REFUSED',
      message: expect.stringMatching(/\[ECONNREFUSED\]$/),
    });
  }, 20_000);

  it('watches the shard named by the hostname ordinal, and refuses shard arguments that make no sense', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rtmp-actors-monitor-shard-'));
    const port = await freePort();
    const ids = Array.from({ length: 12 }, (_, i) => `cam-${i}`);
    const file = path.join(dir, 'targets.json');
    writeFileSync(
      file,
      JSON.stringify({
        streams: ids.map((id) => ({ id, url: `rtmp://127.0.0.1:${port}/live/${id}` })),
      }),
    );
    const saved = process.env.HOSTNAME;
    process.env.HOSTNAME = 'rtmp-monitor-1';
    try {
      const io = captureIo();
      const code = await main(
        ['monitor', '--targets', file, '--shard-from-hostname', '3', '--json', '--duration', '1'],
        io,
      );
      expect(code).toBe(3);
      const mine = ids.filter((id) => shardOf(id, 3) === 1);
      const watched = new Set(
        jsonLines(io.out())
          .filter((l) => l.kind === 'stream')
          .map((l) => l.id),
      );
      expect([...watched].sort()).toEqual([...mine].sort());
      expect(io.err()).toContain(
        `targets: 12 loaded from ${file}, ${mine.length} watched in shard 1/3`,
      );
    } finally {
      process.env.HOSTNAME = saved;
      rmSync(dir, { recursive: true, force: true });
    }
    for (const args of [
      ['--shard', '3/3'],
      ['--shard', 'one/3'],
      ['--replicas', '2'],
      ['--shard', '0/3', '--replicas', '4'],
      ['--shard', '0/3', '--shard-from-hostname', '3'],
      ['--max-connections', '0'],
      ['--read-batch-ms', 'soon'],
      ['--read-batch-ms', '1001'],
      ['--metrics', ':1', '--http', ':2'],
    ]) {
      const io = captureIo();
      expect(await main(['monitor', `rtmp://127.0.0.1:${port}/live/x`, ...args], io)).toBe(2);
      expect(io.err()).toMatch(/^rtmp-actors monitor: .+/);
    }
  });

  it('exits 2 without a URL or with a URL that is not RTMP', async () => {
    const none = captureIo();
    expect(await main(['monitor'], none)).toBe(2);
    const bad = captureIo();
    expect(await main(['monitor', 'http://example.com/x'], bad)).toBe(2);
    expect(bad.err()).toMatch(/rtmp/);
  });
});
