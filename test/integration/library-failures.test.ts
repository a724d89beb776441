/**
 * The library as a new user meets it, against real peers (nginx-rtmp from the harness, our own
 * server, Node's TLS server, refused ports): every failure is loud and typed, nothing crashes
 * the host, and the defaults match the command line's.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { InspectionEvent } from 'xstate';
import {
  DEFAULT_VOD_BUFFER_MS,
  OutputError,
  RtmpServer,
  SessionError,
  TransportError,
  classifyFailure,
  sampleFlvPath,
  type StreamOutcome,
} from '../../src/index';
import { parseFlv } from '../../src/protocol/flv';
import {
  freePort,
  makeTestCertificates,
  requireTool,
  spawnTracked,
  startNginxRtmp,
  stopAll,
  waitFor,
  type NginxRtmp,
} from '../helpers';
import { trackSessions } from '../helpers/sessions';

jest.setTimeout(60_000);

const openSession = trackSessions();
const MEDIA = path.join(__dirname, '..', 'fixtures', 'media');
const SMALL = path.join(MEDIA, 'small.flv');
/** One attempt, so a failure shows at once (retry.maxAttempts counts the first attempt). */
const ONE_ATTEMPT = { maxAttempts: 1 };

function mediaTags(file: string): ReturnType<typeof parseFlv>['tags'] {
  return parseFlv(readFileSync(file)).tags.filter((t) => t.type === 8 || t.type === 9);
}

/**
 * The whole tags of the sample that fit in its first `bytes` bytes, then a tag of a type FLV
 * does not have; and how many tags came before it.
 */
function brokenFlv(bytes: number): { file: Buffer; tags: number } {
  const flv = readFileSync(SMALL);
  let at = 9 + 4;
  let tags = 0;
  for (;;) {
    const next = at + 11 + flv.readUIntBE(at + 1, 3) + 4;
    if (next > bytes) break;
    at = next;
    tags++;
  }
  const junk = Buffer.alloc(15);
  junk[0] = 0x63; // no such tag type
  return { file: Buffer.concat([flv.subarray(0, at), junk]), tags };
}

describe('the library against real peers: failures are typed, the host survives', () => {
  let nginx: NginxRtmp;
  let dir: string;
  beforeAll(async () => {
    nginx = await startNginxRtmp({ mediaDir: MEDIA });
    dir = mkdtempSync(path.join(tmpdir(), 'library-failures-'));
  });
  afterAll(async () => {
    await stopAll();
  });

  describe('StreamOutcome: a typed reason, and the cause', () => {
    it('a refused port fails with CONNECTION_FAILED, the TransportError (REFUSED, ECONNREFUSED) as cause, classified unreachable', async () => {
      const port = await freePort();
      const session = openSession({ url: `rtmp://127.0.0.1:${port}/live`, retry: ONE_ATTEMPT });
      const outcome = await session.play('cam1').done;
      expect(outcome).toMatchObject({
        outcome: 'failed',
        reason: 'CONNECTION_FAILED',
        mode: 'play',
      });
      expect(outcome.cause?.kind).toBe('transport');
      const error = outcome.cause?.kind === 'transport' ? outcome.cause.error : undefined;
      expect(error).toBeInstanceOf(TransportError);
      expect(error?.code).toBe('REFUSED');
      expect(error?.errno).toBe('ECONNREFUSED');
      expect(error?.details).toMatchObject({ host: '127.0.0.1', port });
      expect(classifyFailure(outcome)).toMatchObject({ kind: 'unreachable' });
      expect(classifyFailure(outcome)?.message).toMatch(/could not connect .*refused/);
    });

    it('counts every attempt in the cause when it retries a refused port', async () => {
      const port = await freePort();
      const session = openSession({
        url: `rtmp://127.0.0.1:${port}/live`,
        retry: { maxAttempts: 3, baseMs: 50, maxMs: 100 },
      });
      const outcome = await session.play('cam1').done;
      expect(outcome.cause?.kind).toBe('transport');
      const attempts = outcome.cause?.kind === 'transport' ? outcome.cause.attempts : [];
      expect(attempts).toHaveLength(3);
      expect(attempts.every((a) => a.error?.errno === 'ECONNREFUSED')).toBe(true);
      expect(classifyFailure(outcome)?.message).toMatch(/after 3 attempts/);
    });

    it('a host name that does not resolve fails with the TransportError DNS (ENOTFOUND or EAI_AGAIN)', async () => {
      const session = openSession({ url: 'rtmp://no-such-host.invalid/live', retry: ONE_ATTEMPT });
      const outcome = await session.play('cam1').done;
      expect(outcome).toMatchObject({ outcome: 'failed', reason: 'CONNECTION_FAILED' });
      const error = outcome.cause?.kind === 'transport' ? outcome.cause.error : undefined;
      expect(error?.code).toBe('DNS');
      expect(['ENOTFOUND', 'EAI_AGAIN']).toContain(error?.errno);
      expect(classifyFailure(outcome)?.kind).toBe('unreachable');
    });

    it('a port whose accept queue is full (SYNs go unanswered) fails after the transport timeout with TIMEOUT, ETIMEDOUT', async () => {
      // A listening socket with a backlog of 0 that never accepts: once one connection waits in
      // its queue, the kernel drops further SYNs and connect() hangs until our timeout.
      const python = requireTool('python3');
      const listener = spawnTracked('backlog-0 listener', python, [
        '-c',
        'import socket, time\n' +
          's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)\n' +
          'print(s.getsockname()[1], flush=True)\n' +
          'time.sleep(120)\n',
      ]);
      await waitFor(() => /\d+/.test(listener.stdoutTail()), 10_000);
      const port = Number(listener.stdoutTail().trim());
      const filler = connect(port, '127.0.0.1');
      filler.on('error', () => undefined);
      try {
        await new Promise((resolve) => filler.once('connect', resolve));
        const session = openSession({
          url: `rtmp://127.0.0.1:${port}/live`,
          retry: ONE_ATTEMPT,
          timeouts: { transport: 1000 },
        });
        const outcome = await session.play('cam1').done;
        expect(outcome).toMatchObject({ outcome: 'failed', reason: 'CONNECTION_FAILED' });
        const error = outcome.cause?.kind === 'transport' ? outcome.cause.error : undefined;
        expect(error?.code).toBe('TIMEOUT');
        expect(error?.errno).toBe('ETIMEDOUT');
        expect(classifyFailure(outcome)?.kind).toBe('unreachable');
      } finally {
        filler.destroy();
        await listener.stop('SIGKILL');
      }
    });

    it('a TLS server whose certificate we do not trust fails with the TransportError TLS and the TLS code', async () => {
      requireTool('openssl');
      const certs = await makeTestCertificates(mkdtempSync(path.join(tmpdir(), 'lib-tls-')));
      const server: TlsServer = createTlsServer({ cert: certs.cert, key: certs.key }, (s) =>
        s.destroy(),
      );
      server.on('tlsClientError', () => undefined);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const port = (server.address() as AddressInfo).port;
        const session = openSession({ url: `rtmps://localhost:${port}/live`, retry: ONE_ATTEMPT });
        const outcome = await session.play('cam1').done;
        const error = outcome.cause?.kind === 'transport' ? outcome.cause.error : undefined;
        expect(error?.code).toBe('TLS');
        expect(error?.errno).toMatch(/CERT|SELF_SIGNED|ISSUER|VERIFY/);
        expect(classifyFailure(outcome)?.kind).toBe('unreachable');
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it('an application nginx-rtmp does not have (it closes the socket after connect) is classified rejected', async () => {
      const session = openSession({
        url: `rtmp://127.0.0.1:${nginx.port}/nosuchapp`,
        retry: { maxAttempts: 2, baseMs: 50, maxMs: 100 },
      });
      const outcome = await session.play('cam1').done;
      expect(outcome).toMatchObject({ outcome: 'failed', reason: 'CONNECTION_FAILED' });
      expect(outcome.cause).toMatchObject({ kind: 'connection', reason: 'TRANSPORT_CLOSED' });
      const attempts = outcome.cause?.kind === 'connection' ? outcome.cause.attempts : [];
      expect(attempts.map((a) => a.phase)).toEqual(['session.connecting', 'session.connecting']);
      expect(classifyFailure(outcome)).toMatchObject({
        kind: 'rejected',
        message: expect.stringMatching(/closed the connection in answer to `connect`/),
      });
    });

    it('an application our server does not serve fails with its Connect.Rejected status as cause', async () => {
      const server = new RtmpServer({ port: 0, apps: ['live'] });
      const { port } = await server.listen();
      try {
        const session = openSession({ url: `rtmp://127.0.0.1:${port}/other`, retry: ONE_ATTEMPT });
        const outcome = await session.play('cam1').done;
        expect(outcome).toMatchObject({ outcome: 'failed', reason: 'CONNECTION_FAILED' });
        expect(outcome.cause).toMatchObject({
          kind: 'status',
          status: { code: 'NetConnection.Connect.Rejected' },
        });
        expect(outcome.status?.code).toBe('NetConnection.Connect.Rejected');
        expect(classifyFailure(outcome)?.kind).toBe('rejected');
      } finally {
        await server.close();
      }
    });

    it('a VOD file nginx-rtmp does not have fails with REFUSED, StreamNotFound as cause, classified notFound', async () => {
      const session = openSession({ url: `rtmp://127.0.0.1:${nginx.port}/vod` });
      const outcome = await session.play('no-such-file.flv').done;
      expect(outcome).toMatchObject({ outcome: 'failed', reason: 'REFUSED' });
      expect(outcome.cause).toMatchObject({
        kind: 'status',
        status: { code: 'NetStream.Play.StreamNotFound' },
      });
      expect(classifyFailure(outcome)?.kind).toBe('notFound');
    });

    it('a request beyond maxStreams fails with the session refusal as cause, classified limit', async () => {
      const session = openSession({ url: `rtmp://127.0.0.1:${nginx.port}/vod`, maxStreams: 1 });
      session.play('small.flv');
      const outcome = await session.play('small.flv').done;
      expect(outcome).toMatchObject({
        outcome: 'failed',
        reason: 'MAX_STREAMS',
        cause: { kind: 'session', refusal: 'MAX_STREAMS' },
      });
      expect(classifyFailure(outcome)?.kind).toBe('limit');
    });

    it('classifies nothing for a stream that did not fail', () => {
      const ended: StreamOutcome = {
        key: 'a',
        name: 'a',
        mode: 'play',
        outcome: 'ended',
        reason: 'StreamEOF',
      };
      expect(classifyFailure(ended)).toBeUndefined();
    });
  });

  describe('saveFlv', () => {
    it('rejects with OutputError OPEN_FAILED for a folder that does not exist, and the process goes on', async () => {
      const session = openSession({ url: `rtmp://127.0.0.1:${nginx.port}/vod` });
      const stream = session.play('small.flv');
      const saving = stream.saveFlv('/nonexistent-dir/x.flv');
      await expect(saving).rejects.toBeInstanceOf(OutputError);
      await expect(saving).rejects.toMatchObject({
        code: 'OPEN_FAILED',
        details: { path: '/nonexistent-dir/x.flv', errno: 'ENOENT' },
      });
      // The stream itself goes on to its end.
      expect((await stream.done).outcome).toBe('ended');
    });

    it('rejects with OutputError WRITE_FAILED when a write fails (/dev/full), and the process goes on', async () => {
      if (!existsSync('/dev/full')) return;
      const session = openSession({ url: `rtmp://127.0.0.1:${nginx.port}/vod` });
      const stream = session.play('small.flv');
      const saving = stream.saveFlv('/dev/full');
      await expect(saving).rejects.toMatchObject({
        name: 'OutputError',
        code: 'WRITE_FAILED',
        details: { errno: 'ENOSPC' },
      });
      expect((await stream.done).outcome).toBe('ended');
    });

    it('leaves no file behind for a play nginx-rtmp refuses, nor for a refused port', async () => {
      const notFound = path.join(dir, 'not-found.flv');
      const session = openSession({ url: `rtmp://127.0.0.1:${nginx.port}/vod` });
      const stream = session.play('no-such-file.flv');
      const result = await stream.saveFlv(notFound);
      expect(result.tags).toBe(0);
      expect((await stream.done).outcome).toBe('failed');
      expect(existsSync(notFound)).toBe(false);

      const refused = path.join(dir, 'refused.flv');
      const port = await freePort();
      const other = openSession({ url: `rtmp://127.0.0.1:${port}/live`, retry: ONE_ATTEMPT });
      await other.play('cam1').saveFlv(refused);
      expect(existsSync(refused)).toBe(false);
    });

    it('saves a VOD play from nginx-rtmp with every tag, at full speed: the long buffer is asked for by default', async () => {
      const buffers: number[] = [];
      const inspect = (e: InspectionEvent): void => {
        if (e.type !== '@xstate.event') return;
        const ev = e.event as {
          type: string;
          message?: { type?: string; event?: string; bufferLength?: number };
        };
        if (ev.type === 'NC.SEND' && ev.message?.event === 'SetBufferLength') {
          buffers.push(ev.message.bufferLength ?? -1);
        }
      };
      const out = path.join(dir, 'vod.flv');
      const session = openSession({ url: `rtmp://127.0.0.1:${nginx.port}/vod`, inspect });
      const started = Date.now();
      const stream = session.play('small.flv');
      const saved = await stream.saveFlv(out);
      const took = Date.now() - started;
      expect(buffers).toEqual([DEFAULT_VOD_BUFFER_MS]);
      expect(saved.tags).toBeGreaterThan(0);
      expect(mediaTags(out).map((t) => t.timestamp)).toEqual(
        mediaTags(SMALL).map((t) => t.timestamp),
      );
      // 10 s of media; nginx-rtmp pacing by a 3 s buffer took about 6 s. Far faster than real time:
      expect(took).toBeLessThan(5000);
    });

    it('starts a saved live FLV at 0, and keeps the server timestamps with keepTimestamps', async () => {
      const session = openSession({ url: `rtmp://127.0.0.1:${nginx.port}/live` });
      const publish = session.publish('zero', sampleFlvPath, { loop: true });
      await waitFor(() => publish.sent.lastTimestamp >= 3000, 20_000);
      const zeroFile = path.join(dir, 'live-zero.flv');
      const keptFile = path.join(dir, 'live-kept.flv');
      const a = session.play('zero', { start: -1 });
      const b = session.play('zero', { start: -1 });
      const twoSeconds = new Promise((resolve) => setTimeout(resolve, 2500));
      const [zero, kept] = await Promise.all([
        a.saveFlv(zeroFile, { until: twoSeconds }),
        b.saveFlv(keptFile, { until: twoSeconds, keepTimestamps: true }),
      ]);
      expect(zero.tags).toBeGreaterThan(0);
      expect(kept.tags).toBeGreaterThan(0);
      const zeroTags = mediaTags(zeroFile);
      const keptTags = mediaTags(keptFile);
      expect(zeroTags[0].timestamp).toBe(0);
      // The publisher was 3 s in when the plays began: nginx-rtmp sends its timestamps.
      expect(keptTags[0].timestamp).toBeGreaterThanOrEqual(2000);
      // Apart from the start, the timeline is the same.
      const span = (tags: typeof zeroTags): number =>
        tags[tags.length - 1].timestamp - tags[0].timestamp;
      expect(Math.abs(span(zeroTags) - span(keptTags))).toBeLessThan(1000);
    });
  });

  describe('publish sources', () => {
    it('a missing file fails the stream with SOURCE_ERROR and the ENOENT error, without connecting', async () => {
      const port = await freePort(); // nothing there: a connection attempt would fail otherwise
      const session = openSession({ url: `rtmp://127.0.0.1:${port}/live`, retry: ONE_ATTEMPT });
      const outcome = await session.publish('cam1', path.join(dir, 'missing.flv')).done;
      expect(outcome).toMatchObject({ outcome: 'failed', reason: 'SOURCE_ERROR', mode: 'publish' });
      expect(outcome.cause?.kind).toBe('source');
      const error = outcome.cause?.kind === 'source' ? outcome.cause.error : undefined;
      expect((error as NodeJS.ErrnoException | undefined)?.code).toBe('ENOENT');
      expect(classifyFailure(outcome)?.kind).toBe('source');
      expect(session.bytes.out).toBe(0);
    });

    it('an .mp4 fails the stream with SOURCE_ERROR: not an FLV file', async () => {
      requireTool('ffmpeg');
      const mp4 = path.join(dir, 'small.mp4');
      execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', SMALL, '-c', 'copy', mp4]);
      const session = openSession({ url: `rtmp://127.0.0.1:${nginx.port}/live` });
      const outcome = await session.publish('cam-mp4', mp4).done;
      expect(outcome).toMatchObject({ outcome: 'failed', reason: 'SOURCE_ERROR' });
      expect(outcome.cause?.kind === 'source' && outcome.cause.error).toMatchObject({
        name: 'FlvError',
        code: 'BAD_SIGNATURE',
        message: expect.stringMatching(/not an FLV file/),
      });
      expect(session.bytes.out).toBe(0); // refused before connecting
    });

    it('an FLV that breaks half way fails the stream with SOURCE_ERROR and the FlvError, after sending what was good', async () => {
      const broken = path.join(dir, 'broken.flv');
      // Past the source's first read (256 KiB): what came before the break is sent.
      const { file, tags } = brokenFlv(600_000);
      writeFileSync(broken, file);
      const session = openSession({ url: `rtmp://127.0.0.1:${nginx.port}/live` });
      const handle = session.publish('cam-broken', broken, { realtime: false });
      const outcome = await handle.done;
      expect(outcome).toMatchObject({ outcome: 'failed', reason: 'SOURCE_ERROR' });
      expect(outcome.cause?.kind === 'source' && outcome.cause.error).toMatchObject({
        name: 'FlvError',
        code: 'BAD_TAG_TYPE',
      });
      expect(handle.sent.messages).toBeGreaterThan(0);
      expect(handle.sent.messages).toBeLessThan(tags);
    });
  });

  describe('a closed session', () => {
    it('throws SessionError SESSION_CLOSED from play() and publish() after close()', async () => {
      const session = openSession({ url: `rtmp://127.0.0.1:${nginx.port}/vod` });
      await session.close();
      expect(() => session.play('small.flv')).toThrow(SessionError);
      expect(() => session.play('small.flv')).toThrow(/the session is closed/);
      let error: unknown;
      try {
        session.publish('cam1', SMALL);
      } catch (e) {
        error = e;
      }
      expect(error).toMatchObject({ name: 'SessionError', code: 'SESSION_CLOSED' });
    });
  });
});
