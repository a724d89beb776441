import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createSession, type Session } from '../../src/client';
import { main } from '../../src/cli/index';
import { parseArgs } from '../../src/cli/args';
import { serveCommand } from '../../src/cli/serve';
import { inspectTarget } from '../../src/trace/session';
import { captureIo } from '../helpers/cliio';
import { waitFor } from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

function startServe(args: string[]): {
  io: ReturnType<typeof captureIo>;
  code: Promise<number>;
  port: () => number | undefined;
} {
  const io = captureIo();
  const code = main(['serve', '--port', '0', ...args], io);
  const port = (): number | undefined => {
    const m =
      /listening on rtmp:\/\/127\.0\.0\.1:(\d+)\/|"type":"listening","host":"127\.0\.0\.1","port":(\d+)/.exec(
        io.out(),
      );
    return m ? Number(m[1] ?? m[2]) : undefined;
  };
  return { io, code, port };
}

describe('rtmp-actors serve', () => {
  const sessions: Session[] = [];
  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((s) => s.close()));
  });

  it('logs connections, a publisher and a player with the stream key masked, and stops cleanly on SIGINT', async () => {
    const serve = startServe([]);
    expect(await waitFor(() => serve.port() !== undefined, 5000)).toBe(true);
    const url = `rtmp://127.0.0.1:${serve.port()}/live`;
    const pub = createSession({ url, streamsPerConnection: 'many' });
    const play = createSession({ url, streamsPerConnection: 'many' });
    sessions.push(pub, play);
    pub.publish('supersecretkey', SMALL_FLV, { loop: true });
    expect(await waitFor(() => /publish live\/su\*\*\*/.test(serve.io.out()), 10_000)).toBe(true);
    let media = 0;
    play.play('supersecretkey').media$.subscribe(() => media++);
    expect(await waitFor(() => media > 20, 10_000)).toBe(true);
    expect(serve.io.out()).toMatch(/play live\/su\*\*\* \(stream 1\)/);
    expect(serve.io.out()).toMatch(/connect app=live tcUrl=rtmp:\/\/127\.0\.0\.1:\d+\/live/);
    serve.io.interrupt();
    expect(await serve.code).toBe(0);
    const out = serve.io.out();
    expect(out).toMatch(/closed \(server shutting down\)/);
    expect(out).toMatch(/stopped\n$/);
    expect(out).not.toContain('supersecretkey');
  }, 30_000);

  it('answers StreamNotFound without --wait, and lets the player wait with it', async () => {
    const plain = startServe(['--json']);
    const waiting = startServe(['--wait']);
    expect(
      await waitFor(() => plain.port() !== undefined && waiting.port() !== undefined, 5000),
    ).toBe(true);
    const a = createSession({
      url: `rtmp://127.0.0.1:${plain.port()}/live`,
      retry: { maxAttempts: 1 },
    });
    const b = createSession({
      url: `rtmp://127.0.0.1:${waiting.port()}/live`,
      retry: { maxAttempts: 1 },
    });
    sessions.push(a, b);
    const refused = await a.play('absent').done;
    expect(refused.status?.code).toBe('NetStream.Play.StreamNotFound');
    const lines = plain.io
      .out()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { type: string });
    expect(lines.map((l) => l.type)).toEqual(
      expect.arrayContaining(['listening', 'connection', 'connect', 'notFound']),
    );
    b.play('later');
    expect(
      await waitFor(
        () => /play live\/la\*\*\* \(stream 1\), waiting for its publisher/.test(waiting.io.out()),
        10_000,
      ),
    ).toBe(true);
    plain.io.interrupt();
    waiting.io.interrupt();
    expect(await plain.code).toBe(0);
    expect(await waiting.code).toBe(0);
  }, 30_000);

  it('asks --on-publish and --on-play hooks, logs a refusal with the key masked, and counts refusals at shutdown', async () => {
    const calls: Array<Record<string, string>> = [];
    const hook = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const fields = Object.fromEntries(new URLSearchParams(body));
        calls.push(fields);
        res.writeHead(fields.token === 'letmein' ? 204 : 401).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
    const hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}`;
    try {
      const serve = startServe([
        '--on-publish',
        `${hookUrl}/publish`,
        '--on-play',
        `${hookUrl}/play`,
        '--hook-timeout',
        '2',
        '--idle-timeout',
        '20',
      ]);
      expect(await waitFor(() => serve.port() !== undefined, 5000)).toBe(true);
      const url = `rtmp://127.0.0.1:${serve.port()}/live`;
      const pub = createSession({ url, retry: { maxAttempts: 1 } });
      sessions.push(pub);
      const refused = await pub.publish('mysecretcam?token=guess', SMALL_FLV, { loop: true }).done;
      expect(refused.status?.code).toBe('NetStream.Publish.Unauthorized');
      pub.publish('mysecretcam?token=letmein', SMALL_FLV, { loop: true });
      expect(
        await waitFor(
          () => /publish live\/my\*\*\*\?\*\*\* \(stream \d+\)/.test(serve.io.out()),
          10_000,
        ),
      ).toBe(true);
      expect(calls.map((c) => c.call)).toEqual(['publish', 'publish']);
      expect(calls[0]).toMatchObject({ app: 'live', name: 'mysecretcam', token: 'guess' });
      serve.io.interrupt();
      expect(await serve.code).toBe(0);
      const out = serve.io.out();
      expect(out).toMatch(/publish live\/my\*\*\* refused: not authorized \(hook answered 401\)/);
      expect(out).not.toContain('mysecretcam');
      expect(out).not.toContain('letmein');
      expect(serve.io.err()).toMatch(/refused 1 publish\(es\), 0 play\(s\), 0 connection\(s\)/);
    } finally {
      hook.close();
    }
  }, 30_000);

  it('exits 2 for a hook that is not an http URL, a non-positive idle or hook timeout, or a negative per-address limit', async () => {
    for (const args of [
      ['--on-publish', 'ftp://example/x'],
      ['--on-play', 'not a url'],
      ['--idle-timeout', '0'],
      ['--hook-timeout', '-1'],
      ['--max-connections-per-address', '-1'],
      ['--max-buffered-bytes', '0'],
    ]) {
      const io = captureIo();
      expect(await main(['serve', '--port', '0', ...args], io)).toBe(2);
      expect(io.err()).toContain(args[0]);
    }
  });

  it('documents the auth hooks and the lock-out limits in --help', async () => {
    const io = captureIo();
    await main(['serve', '--help'], io);
    const help = io.out() + io.err();
    for (const option of [
      '--on-publish',
      '--on-play',
      '--on-done',
      '--hook-timeout',
      '--idle-timeout',
      '--max-connections-per-address',
      '--max-buffered-bytes',
    ]) {
      expect(help).toContain(option);
    }
  });

  it('exits 1 with a message when the port is taken, and 2 for a bad chunk size', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const io = captureIo();
      expect(await main(['serve', '--port', String(port)], io)).toBe(1);
      expect(io.err()).toMatch(/cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    } finally {
      blocker.close();
    }
    const io = captureIo();
    expect(await main(['serve', '--chunk-size', '10'], io)).toBe(2);
    expect(io.err()).toMatch(/--chunk-size/);
  });

  it('records its supervisor, connection, handshake and stream actors with --trace, serves only --app, and keeps the key out of the trace', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'serve-trace-'));
    const file = path.join(dir, 'serve.jsonl');
    try {
      const serve = startServe(['--app', 'live', '--trace', file]);
      expect(await waitFor(() => serve.port() !== undefined, 5000)).toBe(true);
      const port = serve.port();
      const pub = createSession({ url: `rtmp://127.0.0.1:${port}/live` });
      const other = createSession({
        url: `rtmp://127.0.0.1:${port}/vod`,
        retry: { maxAttempts: 1 },
      });
      sessions.push(pub, other);
      pub.publish('topsecretkey', SMALL_FLV, { loop: true });
      expect(await waitFor(() => /publish live\/to\*\*\*/.test(serve.io.out()), 10_000)).toBe(true);
      const refused = await other.play('x').done;
      expect(refused.status?.code).toBe('NetConnection.Connect.Rejected');
      serve.io.interrupt();
      expect(await serve.code).toBe(0);
      expect(serve.io.out()).toMatch(
        /closed \(connect rejected: application "vod" is not served\)/,
      );

      const text = readFileSync(file, 'utf8');
      expect(text).not.toContain('topsecretkey');
      const records = text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { type: string; actorId: string; value?: unknown });
      const actors = new Set(records.map((r) => r.actorId));
      for (const id of [
        'server',
        'listener',
        'connection-1',
        'connection-2',
        'handshake',
        'io',
        'stream-1',
      ]) {
        expect(actors).toContain(id);
      }
      const connectionStates = (id: string) =>
        records
          .filter((r) => r.actorId === id && r.type === '@xstate.snapshot')
          .map((r) => r.value);
      expect(connectionStates('connection-1')).toEqual(
        expect.arrayContaining([
          'handshaking',
          'awaitingConnect',
          { connected: 'idle' },
          { connected: 'active' },
          { connected: 'publishing' },
          'closed',
        ]),
      );
      expect(connectionStates('connection-2')).toEqual(
        expect.arrayContaining(['awaitingConnect', 'failed']),
      );
      expect(records.filter((r) => r.actorId === 'server').map((r) => r.value)).toEqual(
        expect.arrayContaining([{ serving: 'listening' }, { serving: 'draining' }, 'stopped']),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('takes --inspect with or without =ws://host:port, and documents both in --help', () => {
    const spec = serveCommand.spec;
    expect(inspectTarget(parseArgs(['--inspect=ws://127.0.0.1:9999'], spec))).toEqual({
      inspect: 'ws://127.0.0.1:9999',
      positionals: [],
    });
    expect(inspectTarget(parseArgs(['--inspect', 'ws://127.0.0.1:9999'], spec))).toEqual({
      inspect: 'ws://127.0.0.1:9999',
      positionals: [],
    });
    expect(inspectTarget(parseArgs(['--inspect'], spec)).inspect).toBe(true);
    expect(inspectTarget(parseArgs([], spec)).inspect).toBe(false);
    const io = captureIo();
    return main(['serve', '--help'], io).then((code) => {
      expect(code).toBe(0);
      expect(io.out()).toMatch(/--inspect\[=<ws:\/\/host:port>\]/);
      expect(io.out()).toMatch(/--app <name>/);
      expect(io.out()).toMatch(/--max-connections <number>/);
    });
  });
});
