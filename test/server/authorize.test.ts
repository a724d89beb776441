import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createSession, type Session } from '../../src/client';
import type { MediaMessage } from '../../src/io/media';
import { RtmpServer, formatServerEvent, type ServerEvent } from '../../src/server';
import { hookForm, splitStreamName } from '../../src/server/authorize';
import {
  freePort,
  requireTool,
  runCommand,
  runRtmpdump,
  startFfmpegPublisher,
  stopAll,
  waitFor,
} from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');
const GOOD = 'good-token-4711';

/** One POST the hook server got: its path and its form fields. */
interface HookCall {
  path: string;
  fields: Record<string, string>;
}

/**
 * An nginx-rtmp-style auth backend on loopback (a real node:http server): it allows a publish
 * or play whose `token` field is GOOD, answers `/slow` after 10 s, `/broken` with 500, and
 * `/rename` with a 302 to `renamed`.
 */
async function startHookServer(): Promise<{
  url: (p: string) => string;
  calls: HookCall[];
  close: () => Promise<void>;
}> {
  const calls: HookCall[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const fields = Object.fromEntries(new URLSearchParams(body));
      const p = req.url ?? '/';
      calls.push({ path: p, fields });
      if (p === '/slow') {
        const t = setTimeout(() => res.writeHead(200).end(), 10_000);
        timers.add(t);
        return;
      }
      if (p === '/broken') return void res.writeHead(500).end('boom');
      if (p === '/rename') return void res.writeHead(302, { location: 'renamed' }).end();
      if (p === '/done') return void res.writeHead(200).end();
      res.writeHead(fields.token === GOOD ? 200 : 403).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (p) => `http://127.0.0.1:${port}${p}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('authorization with nginx-rtmp-style HTTP hooks', () => {
  let hooks: Awaited<ReturnType<typeof startHookServer>>;
  let server: RtmpServer;
  let port: number;
  const events: ServerEvent[] = [];
  const sessions: Session[] = [];
  const dir = mkdtempSync(path.join(tmpdir(), 'serve-auth-'));
  const session = (): Session => {
    const s = createSession({ url: `rtmp://127.0.0.1:${port}/live`, retry: { maxAttempts: 1 } });
    sessions.push(s);
    return s;
  };

  beforeAll(async () => {
    hooks = await startHookServer();
    server = new RtmpServer({
      port: 0,
      onPublish: hooks.url('/publish'),
      onPlay: hooks.url('/play'),
      onDone: hooks.url('/done'),
      authorizeTimeoutMs: 2_000,
    });
    server.events$.subscribe((e) => events.push(e));
    ({ port } = await server.listen());
  });

  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((s) => s.close()));
  });

  afterAll(async () => {
    await stopAll();
    await server.close();
    await hooks.close();
  });

  it('lets ffmpeg publish with a good token, posting the fields nginx-rtmp posts', async () => {
    const ffmpeg = startFfmpegPublisher(`rtmp://127.0.0.1:${port}/live/cam?token=${GOOD}`, {
      file: SMALL_FLV,
    });
    expect(
      await waitFor(
        () => server.stats().streams.some((s) => s.name === 'cam' && s.messages > 30),
        15_000,
      ),
    ).toBe(true);
    const call = hooks.calls.find((c) => c.path === '/publish' && c.fields.name === 'cam');
    expect(call?.fields).toMatchObject({
      call: 'publish',
      app: 'live',
      name: 'cam',
      type: 'live',
      token: GOOD,
      addr: '127.0.0.1',
      tcurl: `rtmp://127.0.0.1:${port}/live`,
    });
    expect(Object.keys(call?.fields ?? {})).toEqual(
      expect.arrayContaining(['flashver', 'swfurl', 'pageurl', 'clientid']),
    );
    expect(Number(call?.fields.clientid)).toBeGreaterThan(0);
    expect(ffmpeg.stderr()).not.toMatch(/error/i);
  }, 30_000);

  it('refuses ffmpeg with a bad token: NetStream.Publish.Unauthorized, ffmpeg exits, the key masked in the log, counted', async () => {
    const before = server.stats().refusedRequests.publish;
    const bad = startFfmpegPublisher(`rtmp://127.0.0.1:${port}/live/intruder?token=wrong`, {
      file: SMALL_FLV,
    });
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      bad.exited,
      new Promise<number>((r) => (timer = setTimeout(() => r(-999), 15_000))),
    ]);
    clearTimeout(timer);
    if (code === -999) await bad.stop();
    expect(code).not.toBe(0);
    expect(code).not.toBe(-999);
    expect(server.stats().refusedRequests.publish).toBe(before + 1);
    expect(server.stats().streams.some((s) => s.name === 'intruder')).toBe(false);
    const refusal = events.find((e) => e.type === 'unauthorized' && e.action === 'publish');
    expect(refusal).toMatchObject({ name: 'in***', reason: 'hook answered 403' });
    const line = formatServerEvent(refusal as ServerEvent);
    expect(line).toMatch(/publish live\/in\*\*\* refused: not authorized \(hook answered 403\)/);
    expect(JSON.stringify(events)).not.toContain('intruder');
    expect(JSON.stringify(events)).not.toContain('wrong');
  }, 30_000);

  it('lets rtmpdump play with a good token and refuses it without one (NetStream.Play.Failed)', async () => {
    const out = path.join(dir, 'rtmpdump.flv');
    const good = await runRtmpdump(
      ['-r', `rtmp://127.0.0.1:${port}/live`, '-y', `cam?token=${GOOD}`, '--live', '-o', out],
      { stopAfterMs: 2500, timeoutMs: 15_000 },
    );
    expect(good.timedOut).toBe(false);
    expect(statSync(out).size).toBeGreaterThan(50_000);
    const bad = await runRtmpdump(
      ['-r', `rtmp://127.0.0.1:${port}/live`, '-y', 'cam', '--live', '-o', path.join(dir, 'x.flv')],
      { timeoutMs: 15_000 },
    );
    expect(bad.timedOut).toBe(false);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/NetStream\.Play\.Failed/);
    expect(
      hooks.calls.some((c) => c.path === '/play' && c.fields.call === 'play' && !c.fields.token),
    ).toBe(true);
  }, 40_000);

  it('lets GStreamer rtmp2src play with a good token and stops it without one', async () => {
    const gst = requireTool('gst-launch-1.0', 'gstreamer1.0-tools');
    const src = (stream: string): string[] => [
      '-q',
      'rtmp2src',
      'host=127.0.0.1',
      `port=${port}`,
      'application=live',
      `stream=${stream}`,
      '!',
      'fakesink',
      'num-buffers=40',
    ];
    const good = await runCommand(gst, src(`cam?token=${GOOD}`), {
      timeoutMs: 20_000,
      name: 'gst-play-good',
    });
    expect(good.timedOut).toBe(false);
    expect(good.code).toBe(0);
    const bad = await runCommand(gst, src('cam'), { timeoutMs: 20_000, name: 'gst-play-bad' });
    expect(bad.timedOut).toBe(false);
    expect(bad.code).not.toBe(0);
    expect(`${bad.stderr}${bad.stdout.toString()}`).toMatch(
      /'play' cmd failed: onStatus: .*NetStream\.Play\.Failed.*not allowed: hook answered 403/,
    );
  }, 50_000);

  it('refuses a GStreamer rtmp2sink publisher without a token and keeps the name free', async () => {
    const gst = requireTool('gst-launch-1.0', 'gstreamer1.0-tools');
    const result = await runCommand(
      gst,
      [
        '-q',
        'filesrc',
        `location=${SMALL_FLV}`,
        '!',
        'flvdemux',
        'name=d',
        'd.video',
        '!',
        'queue',
        '!',
        'flvmux',
        'streamable=true',
        '!',
        'rtmp2sink',
        `location=rtmp://127.0.0.1:${port}/live/gstcam`,
      ],
      { timeoutMs: 20_000, name: 'gst-publish-bad' },
    );
    expect(result.timedOut).toBe(false);
    expect(result.code).not.toBe(0);
    expect(server.stats().streams.some((s) => s.name === 'gstcam')).toBe(false);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'unauthorized', action: 'publish', name: 'gs***' }),
    );
  }, 30_000);

  it('lets our own client play with a token and refuses it without one', async () => {
    const media: MediaMessage[] = [];
    const ok = session().play(`cam?token=${GOOD}`);
    ok.media$.subscribe((m) => media.push(m));
    expect(await waitFor(() => media.filter((m) => m.type === 'Video').length >= 10, 10_000)).toBe(
      true,
    );
    const refused = await session().play('cam').done;
    expect(refused.outcome).toBe('failed');
    expect(refused.status?.code).toBe('NetStream.Play.Failed');
    expect(refused.status?.description).toMatch(/not allowed: hook answered 403/);
  }, 30_000);

  it('never gives the name to a refused publisher, and gives it to an allowed one after the refusal', async () => {
    const refused = await session().publish('newcam?token=nope', SMALL_FLV, { loop: true }).done;
    expect(refused.outcome).toBe('failed');
    expect(refused.status?.code).toBe('NetStream.Publish.Unauthorized');
    expect(server.stats().streams.some((s) => s.name === 'newcam')).toBe(false);
    session().publish(`newcam?token=${GOOD}`, SMALL_FLV, { loop: true });
    expect(
      await waitFor(
        () => server.stats().streams.some((s) => s.name === 'newcam' && s.publishing),
        10_000,
      ),
    ).toBe(true);
    // A refused publisher cannot take it over, nor get BadName's hint that it exists.
    const again = await session().publish('newcam?token=nope', SMALL_FLV, { loop: true }).done;
    expect(again.status?.code).toBe('NetStream.Publish.Unauthorized');
    const held = server.stats().streams.find((s) => s.name === 'newcam');
    expect(held?.publishing).toBe(true);
  }, 40_000);

  it('posts call=done to on_done when an allowed publish or play ends', async () => {
    const handle = session().play(`cam?token=${GOOD}`);
    const media: MediaMessage[] = [];
    handle.media$.subscribe((m) => media.push(m));
    expect(await waitFor(() => media.length > 5, 10_000)).toBe(true);
    const before = hooks.calls.filter((c) => c.path === '/done').length;
    await handle.stop();
    expect(
      await waitFor(() => hooks.calls.filter((c) => c.path === '/done').length > before, 10_000),
    ).toBe(true);
    expect(hooks.calls.filter((c) => c.path === '/done').at(-1)?.fields).toMatchObject({
      call: 'done',
      name: 'cam',
      app: 'live',
      token: GOOD,
    });
  }, 30_000);
});

describe('authorization fails closed', () => {
  let hooks: Awaited<ReturnType<typeof startHookServer>>;
  const sessions: Session[] = [];
  const servers: RtmpServer[] = [];

  async function serve(onPublish: string, extra = {}): Promise<string> {
    const s = new RtmpServer({ port: 0, onPublish, authorizeTimeoutMs: 1_000, ...extra });
    servers.push(s);
    const { port } = await s.listen();
    return `rtmp://127.0.0.1:${port}/live`;
  }
  async function publishOutcome(url: string, name = `cam?token=${GOOD}`) {
    const s = createSession({ url, retry: { maxAttempts: 1 } });
    sessions.push(s);
    return s.publish(name, SMALL_FLV, { loop: true }).done;
  }

  beforeAll(async () => {
    hooks = await startHookServer();
  });
  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((s) => s.close()));
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await hooks.close();
  });

  it('refuses every publish when the hook server is down', async () => {
    const downPort = await freePort();
    const url = await serve(`http://127.0.0.1:${downPort}/publish`);
    const outcome = await publishOutcome(url);
    expect(outcome.status?.code).toBe('NetStream.Publish.Unauthorized');
    expect(outcome.status?.description).toMatch(/hook unreachable/);
    expect(servers[0].stats().refusedRequests.publish).toBe(1);
  }, 20_000);

  it('refuses a publish when the hook takes longer than the hook timeout', async () => {
    const url = await serve(hooks.url('/slow'));
    const outcome = await publishOutcome(url);
    expect(outcome.status?.code).toBe('NetStream.Publish.Unauthorized');
    expect(outcome.status?.description).toMatch(/1000 ms/);
    expect(servers[0].stats().streams).toHaveLength(0);
  }, 20_000);

  it('refuses a publish when the hook answers 500', async () => {
    const url = await serve(hooks.url('/broken'));
    const outcome = await publishOutcome(url);
    expect(outcome.status?.code).toBe('NetStream.Publish.Unauthorized');
    expect(outcome.status?.description).toMatch(/hook answered 500/);
  }, 20_000);

  it('follows a 3xx redirect with a plain Location by renaming the stream, as nginx-rtmp does', async () => {
    const url = await serve(hooks.url('/rename'));
    const s = createSession({ url, retry: { maxAttempts: 1 } });
    sessions.push(s);
    s.publish('original', SMALL_FLV, { loop: true });
    expect(
      await waitFor(
        () => servers[0].stats().streams.some((x) => x.name === 'renamed' && x.publishing),
        10_000,
      ),
    ).toBe(true);
    expect(servers[0].stats().streams.some((x) => x.name === 'original')).toBe(false);
  }, 20_000);

  it('refuses when a library authorizer throws, returns false or never answers', async () => {
    for (const authorize of [
      () => {
        throw new Error('database down');
      },
      () => false,
      () => new Promise<boolean>(() => undefined),
    ]) {
      const s = new RtmpServer({ port: 0, authorize, authorizeTimeoutMs: 500 });
      servers.push(s);
      const { port } = await s.listen();
      const outcome = await publishOutcome(`rtmp://127.0.0.1:${port}/live`);
      expect(outcome.status?.code).toBe('NetStream.Publish.Unauthorized');
      expect(s.stats().streams).toHaveLength(0);
    }
  }, 30_000);

  it('gives a library authorizer the action, app, name, query, remote and connection', async () => {
    const seen: unknown[] = [];
    const s = new RtmpServer({
      port: 0,
      authorize: (r) => {
        seen.push(r);
        return r.query.token === GOOD;
      },
    });
    servers.push(s);
    const { port } = await s.listen();
    const c = createSession({ url: `rtmp://127.0.0.1:${port}/live`, retry: { maxAttempts: 1 } });
    sessions.push(c);
    c.publish(`cam?token=${GOOD}&x=1`, SMALL_FLV, { loop: true });
    expect(await waitFor(() => s.stats().streams.some((x) => x.publishing), 10_000)).toBe(true);
    expect(seen[0]).toMatchObject({
      action: 'publish',
      app: 'live',
      name: 'cam',
      query: { token: GOOD, x: '1' },
      remote: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      connection: 1,
    });
  }, 20_000);
});

describe('the hook form', () => {
  it('splits a stream name from its query arguments', () => {
    expect(splitStreamName('cam1?token=a%20b&x=1')).toEqual({
      name: 'cam1',
      query: { token: 'a b', x: '1' },
    });
    expect(splitStreamName('cam1')).toEqual({ name: 'cam1', query: {} });
  });

  it('has nginx-rtmp’s fields in nginx-rtmp’s order, the query arguments last', () => {
    const form = hookForm('play', {
      app: 'live',
      name: 'cam',
      query: { token: 't' },
      remote: '127.0.0.2:5555',
      connection: 7,
      flashVer: 'FMLE/3.0',
      tcUrl: 'rtmp://h/live',
      swfUrl: '',
      pageUrl: '',
      start: -2,
      duration: 0,
      reset: false,
    });
    expect([...form.keys()]).toEqual([
      'app',
      'flashver',
      'swfurl',
      'tcurl',
      'pageurl',
      'addr',
      'clientid',
      'call',
      'name',
      'start',
      'duration',
      'reset',
      'token',
    ]);
    expect(form.get('addr')).toBe('127.0.0.2');
    expect(form.get('clientid')).toBe('7');
  });
});
