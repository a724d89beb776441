import { execFileSync, spawn } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from '../../src/cli/args';
import { main } from '../../src/cli/index';
import { playCommand } from '../../src/cli/play';
import { publishCommand } from '../../src/cli/publish';
import { parseFlv } from '../../src/protocol/flv';
import { createSession } from '../../src/client';
import { RtmpServer } from '../../src/server/server';
import type { ServerEvent } from '../../src/server/events';
import { captureIo } from '../helpers/cliio';
import {
  ffprobeJson,
  freePort,
  startFfmpegPublisher,
  startNginxRtmp,
  stopAll,
  waitFor,
  type NginxRtmp,
} from '../helpers';

const media = path.join(__dirname, '..', 'fixtures', 'media');
const small = path.join(media, 'small.flv');

function mediaTags(file: string | Buffer): ReturnType<typeof parseFlv>['tags'] {
  const bytes = typeof file === 'string' ? readFileSync(file) : file;
  return parseFlv(bytes).tags.filter((t) => t.type === 8 || t.type === 9);
}

async function play(
  ...argv: string[]
): Promise<{ code: number; io: ReturnType<typeof captureIo> }> {
  const io = captureIo();
  const code = await main(['play', ...argv], io);
  return { code, io };
}

describe('rtmp-actors play', () => {
  let nginx: NginxRtmp;
  let dir: string;
  let vod: string;
  beforeAll(async () => {
    nginx = await startNginxRtmp({ mediaDir: media });
    dir = mkdtempSync(path.join(tmpdir(), 'cli-play-'));
    vod = `rtmp://127.0.0.1:${nginx.port}/vod`;
  });
  afterAll(async () => {
    await stopAll();
  });

  it('saves a VOD file from nginx-rtmp as an FLV that ffprobe reads, with every media tag of the source', async () => {
    const out = path.join(dir, 'vod.flv');
    const { code, io } = await play(`${vod}/small.flv`, '-o', out);
    expect(code).toBe(0);
    const saved = mediaTags(out);
    const source = mediaTags(small);
    expect(saved).toHaveLength(source.length);
    expect(saved.map((t) => t.timestamp)).toEqual(source.map((t) => t.timestamp));
    saved.forEach((t, i) =>
      expect(Buffer.from(t.data).equals(Buffer.from(source[i].data))).toBe(true),
    );
    const probe = await ffprobeJson(out);
    expect(probe.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
    expect(io.err()).toMatch(/302 video \+ 471 audio messages/);
    expect(io.out()).toBe('');
  });

  it("ends a recorded play on the server's StreamEOF, not on the idle timer, with the file complete when it returns", async () => {
    const out = path.join(dir, 'vod-eof.flv');
    // A ten-minute --idle: were the end left to the idle timer, this test would time out.
    const { code, io } = await play(`${vod}/small.flv`, '-o', out, '--idle', '600');
    expect(code).toBe(0);
    expect(io.err()).toMatch(/ended \(StreamEOF\)/);
    expect(mediaTags(out)).toHaveLength(mediaTags(small).length);
  });

  it('writes -o to a named pipe through a stream (it never blocks on the reader) and the reader gets every tag', async () => {
    const fifo = path.join(dir, 'out.fifo');
    execFileSync('mkfifo', [fifo]);
    const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    reader.stdout.on('data', (c: Buffer) => chunks.push(c));
    const readerDone = new Promise<void>((resolve) => reader.on('close', () => resolve()));
    const { code } = await play(`${vod}/small.flv`, '-o', fifo);
    await readerDone;
    expect(code).toBe(0);
    const saved = mediaTags(Buffer.concat(chunks));
    const source = mediaTags(small);
    expect(saved).toHaveLength(source.length);
    saved.forEach((t, i) =>
      expect(Buffer.from(t.data).equals(Buffer.from(source[i].data))).toBe(true),
    );
  });

  it('writes the FLV to stdout with -o -', async () => {
    const io = captureIo();
    const chunks: Buffer[] = [];
    io.stdout.on('data', (c: Buffer) => chunks.push(c));
    const code = await main(['play', `${vod}/small.flv`, '-o', '-'], io);
    expect(code).toBe(0);
    const bytes = Buffer.concat(chunks);
    expect(bytes.subarray(0, 3).toString('latin1')).toBe('FLV');
    expect(mediaTags(bytes)).toHaveLength(mediaTags(small).length);
  });

  it.each(['file', 'pipe'] as const)(
    'writes every tag whole with -o - when stdout is a %s (the output blocks it reuses)',
    async (kind) => {
      const cli = path.join(__dirname, '..', '..', 'bin', 'rtmp-actors');
      const file = path.join(dir, `stdout-${kind}.flv`);
      const fd = kind === 'file' ? openSync(file, 'w') : 'pipe';
      const child = spawn(process.execPath, [cli, 'play', `${vod}/small.flv`, '-o', '-'], {
        stdio: ['ignore', fd, 'pipe'],
      });
      const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const chunks: Buffer[] = [];
      child.stdout?.on('data', (c: Buffer) => chunks.push(c));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      clearTimeout(guard);
      if (typeof fd === 'number') closeSync(fd);
      expect(code).toBe(0);
      const saved = mediaTags(kind === 'file' ? readFileSync(file) : Buffer.concat(chunks));
      const source = mediaTags(small);
      expect(saved).toHaveLength(source.length);
      saved.forEach((t, i) => {
        expect(t.timestamp).toBe(source[i].timestamp);
        expect(Buffer.from(t.data).equals(Buffer.from(source[i].data))).toBe(true);
      });
    },
    30_000,
  );

  it('without -o only counts the media, writes nothing to stdout and reports the totals', async () => {
    const { code, io } = await play(`${vod}/small.flv`);
    expect(code).toBe(0);
    expect(io.out()).toBe('');
    expect(io.err()).toMatch(/ended \(.*302 video \+ 471 audio messages/);
  });

  it('stops after --duration seconds of media and exits 0', async () => {
    const out = path.join(dir, 'three-seconds.flv');
    const { code } = await play(`${vod}/small.flv`, '-o', out, '--duration', '3');
    expect(code).toBe(0);
    const tags = mediaTags(out);
    const last = Math.max(...tags.map((t) => t.timestamp));
    expect(last).toBeLessThan(3000);
    expect(last).toBeGreaterThan(2800);
  });

  it('redraws a progress line in place on a terminal', async () => {
    const io = captureIo();
    (io.stderr as { isTTY?: boolean }).isTTY = true;
    // A short buffer makes nginx-rtmp pace the file in (about) real time.
    const code = await main(['play', `${vod}/small.flv`, '--buffer', '100', '--duration', '3'], io);
    expect(code).toBe(0);
    const redraws = io.err().split('\r').slice(1);
    expect(redraws.length).toBeGreaterThanOrEqual(2);
    expect(redraws[0]).toMatch(
      /^flowing +\d.* (k|M)?B .*bit\/s +media 0:00:0\d\.\d +\d+ frames\x1b\[K/,
    );
    expect(io.err()).toMatch(/duration reached/);
  });

  it('ends after --idle seconds without media and exits 0', async () => {
    const started = Date.now();
    const { code, io } = await play(
      `rtmp://127.0.0.1:${nginx.port}/live/nobody-publishes`,
      '--live',
      '--idle',
      '1',
    );
    expect(code).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(io.err()).toMatch(/no media for 1 s/);
  });

  it('exits 5 for a VOD file the server does not have, and leaves no output file', async () => {
    const out = path.join(dir, 'missing.flv');
    const { code, io } = await play(`${vod}/no-such-file.flv`, '-o', out);
    expect(code).toBe(5);
    expect(io.err()).toMatch(/NetStream\.Play\.StreamNotFound/);
    expect(existsSync(out)).toBe(false);
  });

  it('exits 3 when nothing listens on the port (--retries 0 --timeout 1)', async () => {
    const port = await freePort();
    const started = Date.now();
    const { code, io } = await play(
      `rtmp://127.0.0.1:${port}/live/x`,
      '--retries',
      '0',
      '--timeout',
      '1',
    );
    expect(code).toBe(3);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(io.err()).toMatch(/could not connect .*refused/);
  });

  it('exits 130 at once when interrupted while it still retries the connection', async () => {
    const port = await freePort();
    const io = captureIo();
    const running = main(['play', `rtmp://127.0.0.1:${port}/live/x`, '--retries', '20'], io);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const interruptedAt = Date.now();
    io.interrupt();
    expect(await running).toBe(130);
    expect(Date.now() - interruptedAt).toBeLessThan(1000);
  });

  // nginx-rtmp has no `_error` for an unknown application: it logs "application not found" and
  // closes the socket right after `connect`. The CLI counts a peer that closes every attempt in
  // answer to `connect` as a refusal.
  it('exits 4 for an application nginx-rtmp does not have (it closes the connection in answer to connect)', async () => {
    const { code, io } = await play(`rtmp://127.0.0.1:${nginx.port}/nosuchapp/x`, '--retries', '1');
    expect(code).toBe(4);
    expect(io.err()).toMatch(/closed the connection in answer to `connect`/);
    expect(nginx.errorLog()).toMatch(/application not found: 'nosuchapp'/);
  });

  it('prints --json lines that parse, name the state changes, and never show the URL token', async () => {
    const secret = 'SECRETTOKEN42';
    const inspectFile = path.join(dir, 'inspect.jsonl');
    const { code, io } = await play(
      `${vod}/small.flv?token=${secret}`,
      '--json',
      '--trace',
      inspectFile,
    );
    expect(code).toBe(0);
    const lines = io
      .err()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({
      type: 'play.start',
      url: expect.stringContaining('token=***'),
    });
    const states = lines.filter((l) => l.type === 'stream.state').map((l) => l.state);
    expect(states).toEqual(expect.arrayContaining(['requesting', 'flowing', 'stopped']));
    expect(lines.some((l) => l.type === 'stream.status')).toBe(true);
    expect(lines[lines.length - 1]).toMatchObject({ type: 'play.end', exitCode: 0 });
    expect(io.err()).not.toContain(secret);
    const inspected = readFileSync(inspectFile, 'utf8');
    expect(inspected.split('\n').filter(Boolean).length).toBeGreaterThan(10);
    expect(inspected).toContain('NetStream.Play.Start');
    expect(inspected).not.toContain(secret);
  });

  it('on interrupt, stops a live play, finishes an FLV that ffprobe reads and exits 130', async () => {
    const url = `rtmp://127.0.0.1:${nginx.port}/live/interrupt-me`;
    const publisher = startFfmpegPublisher(url, { file: small, loop: true });
    try {
      // Wait until nginx has the stream, so the play gets media at once.
      await waitFor(() => /publish: name='interrupt-me'/.test(nginx.errorLog()), 10_000);
      const out = path.join(dir, 'live.flv');
      const io = captureIo();
      const running = main(['play', url, '--live', '-o', out], io);
      const gotMedia = await waitFor(() => existsSync(out) && statSync(out).size > 100_000, 15_000);
      expect(gotMedia).toBe(true);
      io.interrupt();
      expect(await running).toBe(130);
      const probe = await ffprobeJson(out, { countPackets: true });
      expect(probe.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
      const tags = mediaTags(out);
      expect(tags.length).toBeGreaterThan(10);
      expect(statSync(out).size).toBe(
        9 +
          4 +
          parseFlv(readFileSync(out)).tags.reduce((n, t) => n + 11 + t.data.byteLength + 4, 0),
      );
      expect(io.err()).toMatch(/interrupted/);
      // Our deleteStream reached nginx before the socket closed (nginx logs one on disconnect too).
      const log = nginx.errorLog().split('\n');
      const conn = /\*(\d+) play: name='interrupt-me'/.exec(log.join('\n'))?.[1];
      const ours = log
        .filter((l) => l.includes(`*${conn} `))
        .map((l) => /(deleteStream|disconnect)/.exec(l)?.[1]);
      expect(ours.filter(Boolean).slice(0, 2)).toEqual(['deleteStream', 'disconnect']);
    } finally {
      await publisher.stop();
    }
  });

  describe('--retries n: retries after the first attempt', () => {
    let server: Server;
    let port: number;
    let accepted = 0;
    beforeAll(async () => {
      // Accepts every connection and closes it at once: a transient failure, retried.
      server = createServer((socket) => {
        accepted++;
        socket.destroy();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    it.each([
      [0, 1],
      [2, 3],
    ])(
      'with --retries %i makes exactly %i connection attempt(s), then exits 3',
      async (retries, attempts) => {
        accepted = 0;
        const { code, io } = await play(
          `rtmp://127.0.0.1:${port}/live/x`,
          '--retries',
          String(retries),
        );
        expect(code).toBe(3);
        expect(accepted).toBe(attempts);
        expect(io.err()).toMatch(attempts > 1 ? /after 3 attempts/ : /could not connect \(/);
      },
    );

    it('refuses --retries -1 and --retries 1.5 with exit 2, and says what it counts in --help', async () => {
      for (const bad of ['-1', '1.5']) {
        const { code, io } = await play(`rtmp://127.0.0.1:${port}/live/x`, '--retries', bad);
        expect(code).toBe(2);
        expect(io.err()).toMatch(
          /--retries needs a whole number of retries after the first attempt/,
        );
      }
      const help = captureIo();
      await main(['play', '--help'], help);
      expect(help.out() + help.err()).toMatch(
        /--retries.*retries after the first connection attempt fails \(0: one attempt, no retry\)/,
      );
    });
  });

  it('--help examples use only options play and publish have', () => {
    for (const command of [playCommand, publishCommand]) {
      for (const example of command.spec.examples ?? []) {
        // The command's own words: up to a pipe or a redirection, quotes removed.
        const words = example
          .split(/\s+(?=(?:[^"]*"[^"]*")*[^"]*$)/)
          .map((w) => w.replace(/^"|"$/g, ''));
        const end = words.findIndex((w) => w === '|' || /^\d?>/.test(w));
        const argv = words.slice(2, end < 0 ? undefined : end);
        expect(words.slice(0, 2)).toEqual(['rtmp-actors', command.spec.name]);
        expect(() => parseArgs(argv, command.spec)).not.toThrow();
      }
    }
  });

  it("runs play's first --help example as written (the harness's port in the URL) from a fresh folder", async () => {
    const example = playCommand.spec.examples?.[0] ?? '';
    const argv = example
      .split(' ')
      .slice(1)
      .map((w) => w.replace('rtmp://127.0.0.1/', `rtmp://127.0.0.1:${nginx.port}/`));
    const cwd = mkdtempSync(path.join(dir, 'help-'));
    const cli = path.join(__dirname, '..', '..', 'bin', 'rtmp-actors');
    const child = spawn(process.execPath, [cli, ...argv], { cwd, stdio: 'ignore' });
    const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(guard);
    expect(code).toBe(0);
    const out = argv[argv.indexOf('-o') + 1];
    expect(mediaTags(path.join(cwd, out))).toHaveLength(mediaTags(small).length);
  }, 30_000);

  it('connects with Enhanced RTMP v2 by default, so a ReconnectRequest reaches it and the play goes on, and sends a legacy connect with --legacy-connect', async () => {
    const server = new RtmpServer({ port: 0 });
    const { port } = await server.listen();
    const events: ServerEvent[] = [];
    server.events$.subscribe((e) => events.push(e));
    const publisher = createSession({ url: `rtmp://127.0.0.1:${port}/live/cam` });
    try {
      publisher.publish('cam', small);
      expect(
        await waitFor(
          () => server.stats().streams.some((s) => s.name === 'cam' && s.publishing),
          10_000,
        ),
      ).toBe(true);
      for (const [flags, outcome] of [
        [[], { outcome: 'sent' }],
        [['--legacy-connect'], { outcome: 'refused', reason: 'NOT_SUPPORTED' }],
      ] as const) {
        const seen = events.length;
        const run = play(
          `rtmp://127.0.0.1:${port}/live/cam`,
          '--live',
          '--duration',
          '2',
          ...flags,
        );
        const isPlay = (e: ServerEvent): e is Extract<ServerEvent, { type: 'play' }> =>
          e.type === 'play';
        expect(await waitFor(() => events.slice(seen).some(isPlay), 10_000)).toBe(true);
        const connection = events.slice(seen).find(isPlay)!.connection;
        // The server sends a ReconnectRequest only to a client that advertised CapsEx.Reconnect.
        expect(server.requestReconnect(connection)).toMatchObject(outcome);
        const { code, io } = await run;
        expect({ code, err: io.err() }).toEqual(expect.objectContaining({ code: 0 }));
      }
    } finally {
      await publisher.close();
      await server.close();
    }
  }, 60_000);

  it('refuses --enhanced with --legacy-connect with exit 2', async () => {
    const { code, io } = await play('rtmp://127.0.0.1/live/x', '--enhanced', '--legacy-connect');
    expect(code).toBe(2);
    expect(io.err()).toMatch(/--enhanced and --legacy-connect exclude each other/);
  });

  it('refuses a URL that is not rtmp:// with exit 2', async () => {
    const { code, io } = await play('http://127.0.0.1/live/x');
    expect(code).toBe(2);
    expect(io.err()).toMatch(/unsupported scheme/);
  });
});
