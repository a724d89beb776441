/**
 * Secrets never reach what the library says is safe to log. A URL carrying a stream key and a
 * token (`rtmp://…/live/STREAMKEY?token=SECRETTOKEN`) is played from nginx-rtmp (which accepts
 * any name), refused by servers, and played with the CLI; every recorded output is searched for
 * both strings.
 *
 * What is promised clean: `session.events$`, `session.safeUrl`, the connection attempts' error
 * texts, the CLI's stdout/stderr (`--json` included) and its `--inspect` trace file. The raw
 * `inspect` callback carries the real URL into the machines by design (the connect command
 * needs it); where it shows up there is printed for the report, not asserted.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { InspectionEvent } from 'xstate';
import type { NetConnectionContext } from '../../machines/netConnectionMachine';
import { main } from '../../src/cli/index';
import { type SessionEvent } from '../../src/client';
import { RtmpServer } from '../../src/server';
import { startFaultServer } from '../../src/testing/faultServers';
import { captureIo } from '../helpers/cliio';
import {
  freePort,
  startFfmpegPublisher,
  startNginxRtmp,
  stopAll,
  waitFor,
  type NginxRtmp,
  type PublisherHandle,
} from '../helpers';
import { trackSessions, actorIdOf as idOf } from '../helpers/sessions';

jest.setTimeout(60_000);

const openSession = trackSessions();

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');
const KEY = 'STREAMKEY';
const TOKEN = 'SECRETTOKEN';
const SECRETS = [KEY, TOKEN];
const PLAY_CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'play.ts');

function keyedUrl(port: number, app = 'live'): string {
  return `rtmp://127.0.0.1:${port}/${app}/${KEY}?token=${TOKEN}`;
}

/** JSON of anything, actors and byte arrays summarised, cycles cut. */
function safeJson(value: unknown): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Uint8Array) return `<${v.byteLength} bytes>`;
    if (typeof v === 'function') return undefined;
    if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      if (typeof o.sessionId === 'string' && typeof o.send === 'function')
        return `<actor ${String(o.id)}>`;
      if (seen.has(o)) return '<seen>';
      seen.add(o);
    }
    return v;
  });
}

/** Records every inspection event as one JSON line. */
function inspectionRecorder(): {
  inspect: (e: InspectionEvent) => void;
  lines: string[];
  lastConnection: () => NetConnectionContext | undefined;
} {
  const lines: string[] = [];
  let lastConnection: NetConnectionContext | undefined;
  return {
    lines,
    lastConnection: () => lastConnection,
    inspect: (e) => {
      const snapshot = (e as { snapshot?: { value?: unknown; context?: unknown } }).snapshot;
      if (e.type === '@xstate.snapshot' && idOf(e).startsWith('connection-')) {
        lastConnection = snapshot?.context as NetConnectionContext;
      }
      lines.push(
        safeJson({
          type: e.type,
          actor: idOf(e),
          event: (e as { event?: unknown }).event,
          value: snapshot?.value,
          context: snapshot?.context,
        }),
      );
    },
  };
}

function leaks(text: string): string[] {
  return SECRETS.filter((s) => text.includes(s));
}

/** Which actors' inspection events carry a secret, and in which part: for the report. */
function whereInInspection(lines: string[]): string[] {
  const places = new Map<string, Set<string>>();
  for (const line of lines) {
    if (!leaks(line).length) continue;
    const e = JSON.parse(line) as Record<string, unknown> & { actor: string };
    const actor = e.actor.replace(/-\d+$/, '-N');
    const parts = places.get(actor) ?? new Set<string>();
    if (leaks(actor).length) parts.add('actor id');
    for (const part of ['event', 'value', 'context'])
      if (leaks(JSON.stringify(e[part] ?? null)).length) parts.add(part);
    places.set(actor, parts);
  }
  return [...places].map(([actor, parts]) => `${actor}: ${[...parts].sort().join(', ')}`).sort();
}

describe('secrets in a keyed URL', () => {
  let nginx: NginxRtmp;
  let publisher: PublisherHandle;
  const report: string[] = [];

  beforeAll(async () => {
    nginx = await startNginxRtmp();
    publisher = startFfmpegPublisher(`rtmp://127.0.0.1:${nginx.port}/live/${KEY}`, {
      file: SMALL_FLV,
    });
  });
  afterAll(async () => {
    await publisher?.stop();
    await stopAll();
    console.log(
      ['where the raw inspect stream carries a secret (by design):', ...report].join('\n'),
    );
  });

  it('keeps the stream key and token out of events$, safeUrl and error texts while playing from nginx-rtmp', async () => {
    const rec = inspectionRecorder();
    const session = openSession({ url: keyedUrl(nginx.port), inspect: rec.inspect });
    const events: string[] = [];
    session.events$.subscribe((e) => events.push(JSON.stringify(e)));
    const stream = session.play(undefined, { start: -1 });
    let media = 0;
    stream.media$.subscribe(() => media++);
    const flowing = await waitFor(() => media >= 50, 20_000);
    const outcome = await stream.stop();
    await session.close();

    expect(flowing).toBe(true);
    expect(events.some((e) => e.includes('"flowing"'))).toBe(true);
    expect(leaks(events.join('\n'))).toEqual([]);
    expect(leaks(session.safeUrl)).toEqual([]);
    expect(leaks(`${outcome.reason ?? ''} ${safeJson(outcome.status)}`)).toEqual([]);
    report.push(...whereInInspection(rec.lines).map((w) => `  play from nginx: ${w}`));
  });

  it('keeps them out of events$ and every attempt’s error text when the keyed URL cannot connect or is refused', async () => {
    const closedPort = await freePort();
    const rejecting = await startFaultServer('rejectConnect');
    try {
      for (const url of [keyedUrl(closedPort), keyedUrl(rejecting.port)]) {
        const rec = inspectionRecorder();
        const session = openSession({
          url,
          retry: { maxAttempts: 2, baseMs: 50, maxMs: 100 },
          timeouts: { transport: 1000, handshake: 1000, connect: 1000 },
          inspect: rec.inspect,
        });
        const events: SessionEvent[] = [];
        session.events$.subscribe((e) => events.push(e));
        const outcome = await session.play().done;
        await session.close();
        expect(outcome.outcome).toBe('failed');
        expect(events.some((e) => e.type === 'stream.error')).toBe(true);
        expect(leaks(JSON.stringify(events))).toEqual([]);
        const ctx = rec.lastConnection();
        expect(ctx?.attempts.length).toBeGreaterThan(0);
        const texts = ctx!.attempts.map((a) => `${a.code ?? ''} ${a.message ?? ''}`).join('\n');
        expect(leaks(`${texts}\n${safeJson(ctx!.failure)}`)).toEqual([]);
        expect(leaks(`${outcome.reason ?? ''} ${safeJson(outcome.status)}`)).toEqual([]);
      }
    } finally {
      await rejecting.close();
    }
  });

  it('scrubs the key from a server reply that echoes it (StreamNotFound "No stream named STREAMKEY") in events$', async () => {
    const server = new RtmpServer({ port: 0 });
    const { port } = await server.listen();
    try {
      const session = openSession({ url: keyedUrl(port) });
      const events: SessionEvent[] = [];
      session.events$.subscribe((e) => events.push(e));
      const outcome = await session.play().done;
      await session.close();
      expect(outcome).toMatchObject({
        outcome: 'failed',
        status: { code: 'NetStream.Play.StreamNotFound' },
      });
      // The server did echo the key: the scrubbing below is tested on a real leak.
      expect(outcome.status?.description).toContain(KEY);
      const errors = events.filter((e) => e.type === 'stream.error');
      expect(errors).toHaveLength(1);
      expect(leaks(JSON.stringify(events))).toEqual([]);
    } finally {
      await server.close();
    }
  });

  (existsSync(PLAY_CLI) ? it : it.skip)(
    'keeps them out of the play command’s stdout, stderr (--json) and --trace file',
    async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'rtmp-actors-secrets-'));
      const trace = path.join(dir, 'trace.jsonl');
      const io = captureIo();
      const code = await main(
        [
          'play',
          keyedUrl(nginx.port),
          '--live',
          '--duration',
          '2',
          '--json',
          '--trace',
          trace,
          '-o',
          path.join(dir, 'out.flv'),
        ],
        io,
      );
      const out = io.out();
      const err = io.err();
      const traced = existsSync(trace) ? readFileSync(trace, 'utf8') : '';
      expect(code).toBe(0);
      expect(`${out}${err}`).toContain('"type"');
      expect(traced.length).toBeGreaterThan(0);
      expect({ stdout: leaks(out), stderr: leaks(err), trace: leaks(traced) }).toEqual({
        stdout: [],
        stderr: [],
        trace: [],
      });
    },
  );
});
