/**
 * Real sessions conform to the statecharts: each test records a `--trace` of a session with a
 * real peer and replays every recorded step against the machine definitions (`trace check` /
 * `checkTrace()`): from the recorded state and context, the recorded event must lead to the
 * recorded next state. Most sessions go through the built CLI (`bin/rtmp-actors play|publish|
 * serve … --trace F`, then `bin/rtmp-actors trace check F`), the user's path; the server restart
 * and the stall run in-process with the library's recorder, to act at the right moment.
 * A monitor of two keyed streams checks that each stream's mask of its own keeps them apart.
 *
 * Each test also asserts that the trace went where the scenario goes (connected, flowing,
 * retrying and back, stalled and back…), so that a check passing on a short trace proves little.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { MediaMessage } from '../../src/io/media';
import { checkTrace, type TraceCheckResult } from '../../src/testing/checkTrace';
import { TraceRecorder, TraceRedactor, type TraceRecord } from '../../src/trace/record';
import { parseTrace, summarize } from '../../src/trace/summary';
import {
  freePort,
  requireTool,
  runCommand,
  runRtmpdump,
  sleep,
  spawnTracked,
  startFfmpegListenServer,
  startFfmpegPublisher,
  startNginxRtmp,
  startNodeMediaServer,
  stopAll,
  waitFor,
  type NginxRtmp,
  type PublisherHandle,
} from '../helpers';
import { trackSessions } from '../helpers/sessions';

jest.setTimeout(90_000);

const openSession = trackSessions();
const CLI = path.join(__dirname, '..', '..', 'bin', 'rtmp-actors');
const MEDIA_DIR = path.join(__dirname, '..', 'fixtures', 'media');
const SMALL_FLV = path.join(MEDIA_DIR, 'small.flv');

/** Transitions checked per scenario, printed at the end (the figures of the closing note). */
const checked: Array<{ scenario: string; transitions: number; steps: number; actors: number }> = [];

function cli(args: string[], timeoutMs = 60_000): ReturnType<typeof runCommand> {
  return runCommand(process.execPath, [CLI, ...args], { timeoutMs, name: 'rtmp-actors' });
}

/**
 * `bin/rtmp-actors trace check FILE` must exit 0 and print the count it checked; the same file
 * through `checkTrace()` gives the result to look into.
 */
async function checkWithCli(file: string, scenario: string): Promise<TraceCheckResult> {
  const run = await cli(['trace', 'check', file]);
  const out = run.stdout.toString('utf8');
  expect({ code: run.code, out, err: run.stderr }).toEqual(
    expect.objectContaining({ code: 0, out: expect.stringMatching(/: OK: \d+ transition\(s\)/) }),
  );
  const result = checkTrace(readFileSync(file, 'utf8'));
  expect(out).toContain(`OK: ${result.transitions} transition(s)`);
  record(result, scenario);
  return result;
}

function record(result: TraceCheckResult, scenario: string): void {
  expect(result.failures).toEqual([]);
  expect(result.ok).toBe(true);
  checked.push({
    scenario,
    transitions: result.transitions,
    steps: result.steps,
    actors: result.actors.length,
  });
}

/** Each machine actor's states in order, by machine id (all actors of one machine merged). */
function statesByMachine(file: string): Map<string, string[][]> {
  const { records } = parseTrace(readFileSync(file, 'utf8'));
  const out = new Map<string, string[][]>();
  for (const a of summarize(records)) {
    if (!a.name) continue;
    const list = out.get(a.name) ?? [];
    list.push(a.steps.map((s) => s.state));
    out.set(a.name, list);
  }
  return out;
}

/** Whether some actor of `machine` passed through `needles` in this order. */
function wentThrough(
  states: Map<string, string[][]>,
  machine: string,
  needles: Array<string | RegExp>,
): boolean {
  return (states.get(machine) ?? []).some((path) => {
    let from = 0;
    for (const n of needles) {
      const i = path.findIndex(
        (s, k) => k >= from && (typeof n === 'string' ? s === n : n.test(s)),
      );
      if (i < 0) return false;
      from = i + 1;
    }
    return true;
  });
}

describe('trace check on real sessions', () => {
  let nginx: NginxRtmp;
  let dir: string;
  const publishers: PublisherHandle[] = [];

  beforeAll(async () => {
    nginx = await startNginxRtmp({ mediaDir: MEDIA_DIR });
    dir = mkdtempSync(path.join(tmpdir(), 'trace-conformance-'));
  });
  afterAll(async () => {
    for (const p of publishers) {
      try {
        process.kill(p.pid, 'SIGCONT');
      } catch {
        // gone
      }
    }
    await Promise.all(publishers.map((p) => p.stop()));
    await stopAll();
    // The figures for the closing note: one line per real-session trace.
    console.log(
      'trace check, transitions per real-session trace:\n' +
        checked
          .map(
            (c) =>
              `  ${c.scenario}: ${c.transitions} transitions (${c.steps} steps, ${c.actors} machine actors)`,
          )
          .join('\n'),
    );
  });

  function publish(url: string): PublisherHandle {
    const p = startFfmpegPublisher(url, { file: SMALL_FLV });
    publishers.push(p);
    return p;
  }

  it('passes on a VOD play from nginx-rtmp, recorded and checked with the CLI', async () => {
    const file = path.join(dir, 'nginx-vod.jsonl');
    const play = await cli([
      'play',
      `rtmp://127.0.0.1:${nginx.port}/vod/small.flv`,
      '--trace',
      file,
    ]);
    expect({ code: play.code, err: play.stderr }).toEqual(expect.objectContaining({ code: 0 }));
    await checkWithCli(file, 'play nginx-rtmp VOD (CLI)');
    const states = statesByMachine(file);
    expect(wentThrough(states, 'netConnection', ['session.handshaking', 'session.connected'])).toBe(
      true,
    );
    expect(wentThrough(states, 'netStream', [/^active\.play\./, 'ended'])).toBe(true);
    expect(wentThrough(states, 'handshake', [/awaitingPeerHello/, 'done'])).toBe(true);
  });

  it('passes on a live play from nginx-rtmp with a stream key, which the trace masks', async () => {
    const key = 'TraceKey9981';
    publish(`rtmp://127.0.0.1:${nginx.port}/live/${key}`);
    await waitFor(() => nginx.errorLog().includes(`name='${key}'`), 15_000);
    const file = path.join(dir, 'nginx-live.jsonl');
    const play = await cli([
      'play',
      `rtmp://127.0.0.1:${nginx.port}/live/${key}`,
      '--live',
      '--duration',
      '3',
      '--trace',
      file,
    ]);
    expect({ code: play.code, err: play.stderr }).toEqual(expect.objectContaining({ code: 0 }));
    expect(readFileSync(file, 'utf8')).not.toContain(key);
    await checkWithCli(file, 'play nginx-rtmp live (CLI)');
    const states = statesByMachine(file);
    expect(wentThrough(states, 'netStream', ['active.play.flowing', 'stopping'])).toBe(true);
  });

  it('passes on a play from `ffmpeg -listen 1`', async () => {
    const port = await freePort();
    const server = await startFfmpegListenServer(SMALL_FLV, port, 'live', 'listened');
    const file = path.join(dir, 'ffmpeg-listen.jsonl');
    const play = await cli(['play', server.url, '--duration', '3', '--trace', file]);
    await server.stop();
    expect({ code: play.code, err: play.stderr }).toEqual(expect.objectContaining({ code: 0 }));
    await checkWithCli(file, 'play ffmpeg -listen 1 (CLI)');
    expect(wentThrough(statesByMachine(file), 'netStream', ['active.play.flowing'])).toBe(true);
  });

  it('passes on a live play from node-media-server', async () => {
    const nms = await startNodeMediaServer();
    const url = `rtmp://127.0.0.1:${nms.port}/live/nmsstream`;
    publish(url);
    const file = path.join(dir, 'nms.jsonl');
    // node-media-server answers a play before its publisher is in: retry until media flows.
    let play = await cli(['play', url, '--live', '--duration', '3', '--trace', file]);
    for (let i = 0; i < 5 && play.code !== 0; i++) {
      await sleep(1000);
      play = await cli(['play', url, '--live', '--duration', '3', '--trace', file]);
    }
    expect({ code: play.code, err: play.stderr }).toEqual(expect.objectContaining({ code: 0 }));
    await checkWithCli(file, 'play node-media-server live (CLI)');
    expect(wentThrough(statesByMachine(file), 'netStream', ['active.play.flowing'])).toBe(true);
    await nms.stop();
  });

  it('passes on a publish of a file to nginx-rtmp', async () => {
    const file = path.join(dir, 'publish.jsonl');
    const url = `rtmp://127.0.0.1:${nginx.port}/live/published`;
    const pub = await cli(['publish', SMALL_FLV, url, '--trace', file]);
    expect({ code: pub.code, err: pub.stderr }).toEqual(expect.objectContaining({ code: 0 }));
    await checkWithCli(file, 'publish to nginx-rtmp (CLI)');
    expect(wentThrough(statesByMachine(file), 'netStream', [/^active\.publish/, /stopp/])).toBe(
      true,
    );
  });

  it('passes on a monitor of two keyed streams, each masked with a mask of its own', async () => {
    const keys = ['MonitorKeyAlpha', 'MonitorKeyBeta'];
    for (const key of keys) publish(`rtmp://127.0.0.1:${nginx.port}/live/${key}`);
    await waitFor(() => keys.every((k) => nginx.errorLog().includes(`name='${k}'`)), 15_000);
    const file = path.join(dir, 'monitor.jsonl');
    const run = await cli([
      'monitor',
      ...keys.map((k) => `rtmp://127.0.0.1:${nginx.port}/live/${k}`),
      '--duration',
      '4',
      '--json',
      '--trace',
      file,
    ]);
    expect({ code: run.code, err: run.stderr }).toEqual(expect.objectContaining({ code: 0 }));
    const text = readFileSync(file, 'utf8');
    for (const key of keys) expect(text).not.toContain(key);
    await checkWithCli(file, 'monitor two keyed nginx-rtmp streams (CLI)');
    const streams = parseTrace(text).records.filter(
      (r) => r.type === '@xstate.actor' && r.name === 'netStream',
    );
    expect(new Set(streams.map((r) => r.actorId))).toEqual(new Set(['stream-***', 'stream-***2']));
  });

  it('passes on our `serve` with an ffmpeg publisher and rtmpdump and GStreamer players', async () => {
    const gst = requireTool('gst-launch-1.0', 'gstreamer1.0-tools');
    const file = path.join(dir, 'serve.jsonl');
    const port = await freePort();
    const serve = spawnTracked('rtmp-actors-serve', process.execPath, [
      CLI,
      'serve',
      '--port',
      String(port),
      '--trace',
      file,
    ]);
    await waitFor(() => /listening on/.test(serve.stdoutTail()), 10_000);
    const url = `rtmp://127.0.0.1:${port}/live/served`;
    const pub = publish(url);
    await waitFor(() => /publish live\//.test(serve.stdoutTail()), 15_000);

    const dumped = await runRtmpdump(['-r', url, '--live', '-o', path.join(dir, 'dump.flv')], {
      stopAfterMs: 3000,
    });
    expect(dumped.timedOut).toBe(false);
    expect(readFileSync(path.join(dir, 'dump.flv')).length).toBeGreaterThan(10_000);

    const gstRun = await runCommand(
      gst,
      ['-q', 'rtmp2src', `location=${url}`, 'num-buffers=200', '!', 'fakesink'],
      { timeoutMs: 30_000, name: 'gst-launch' },
    );
    expect({ code: gstRun.code, err: gstRun.stderr }).toEqual(expect.objectContaining({ code: 0 }));

    await pub.stop();
    process.kill(serve.pid, 'SIGINT');
    expect(await serve.exited).toBe(0);

    const result = await checkWithCli(file, 'serve with ffmpeg, rtmpdump and GStreamer (CLI)');
    const states = statesByMachine(file);
    // One publisher and two players, each a serverConnection with its own serverStream.
    expect((states.get('serverConnection') ?? []).length).toBeGreaterThanOrEqual(3);
    expect(wentThrough(states, 'serverStream', ['publishing'])).toBe(true);
    expect(
      (states.get('serverStream') ?? []).filter((p) => p.includes('playing')).length,
    ).toBeGreaterThanOrEqual(2);
    expect(result.actors.some((a) => a.machine === 'serverSupervisor')).toBe(true);
  });

  it('passes on a play through an nginx-rtmp SIGKILL and restart: retry, reconnect, resume', async () => {
    const name = 'trace-restart';
    const url = `rtmp://127.0.0.1:${nginx.port}/live/${name}`;
    let pub = publish(url);
    const file = path.join(dir, 'restart.jsonl');
    const recorder = new TraceRecorder(file, new TraceRedactor(url));
    const session = openSession({
      url,
      retry: { maxAttempts: 30, baseMs: 200, maxMs: 800 },
      timeouts: { transport: 1000, handshake: 2000, connect: 2000, stall: 10_000 },
      inspect: recorder.inspect,
    });
    const stream = session.play(name, { start: -1 });
    const media: MediaMessage[] = [];
    stream.media$.subscribe((m) => media.push(m));
    expect(await waitFor(() => media.length >= 60, 15_000)).toBe(true);

    await nginx.kill('SIGKILL');
    await pub.stop();
    const atKill = media.length;
    await sleep(2000);
    await nginx.restart();
    pub = publish(url);
    expect(await waitFor(() => media.length >= atKill + 60, 30_000)).toBe(true);
    await stream.stop();
    await session.close();
    await recorder.close();

    await checkWithCli(file, 'play through nginx-rtmp SIGKILL + restart (library)');
    const states = statesByMachine(file);
    expect(
      wentThrough(states, 'netConnection', ['session.connected', /^retrying/, 'session.connected']),
    ).toBe(true);
    expect(
      wentThrough(states, 'netStream', [
        'active.play.flowing',
        'interrupted',
        'active.play.flowing',
      ]),
    ).toBe(true);
  });

  it('passes on a live play whose publisher freezes: stalled, then flowing again', async () => {
    const name = 'trace-stall';
    const url = `rtmp://127.0.0.1:${nginx.port}/live/${name}`;
    const pub = publish(url);
    const file = path.join(dir, 'stall.jsonl');
    const recorder = new TraceRecorder(file, new TraceRedactor(url));
    const session = openSession({ url, timeouts: { stall: 1500 }, inspect: recorder.inspect });
    const stream = session.play(name, { start: -1 });
    const states: string[] = [];
    session.events$.subscribe((e) => {
      if (e.type === 'stream.state') states.push(e.state);
    });
    let media = 0;
    stream.media$.subscribe(() => media++);
    expect(await waitFor(() => media >= 60, 15_000)).toBe(true);
    process.kill(pub.pid, 'SIGSTOP');
    expect(await waitFor(() => states.includes('stalled'), 10_000)).toBe(true);
    process.kill(pub.pid, 'SIGCONT');
    expect(
      await waitFor(() => states.lastIndexOf('flowing') > states.indexOf('stalled'), 15_000),
    ).toBe(true);
    await stream.stop();
    await session.close();
    await recorder.close();

    await checkWithCli(file, 'live play with a frozen publisher: stall and back (library)');
    expect(
      wentThrough(statesByMachine(file), 'netStream', [
        'active.play.flowing',
        'active.play.stalled',
        'active.play.flowing',
      ]),
    ).toBe(true);
  });

  describe('a tampered trace', () => {
    let original: TraceRecord[];
    beforeAll(async () => {
      const file = path.join(dir, 'untampered.jsonl');
      const play = await cli([
        'play',
        `rtmp://127.0.0.1:${nginx.port}/vod/small.flv`,
        '--duration',
        '2',
        '--trace',
        file,
      ]);
      expect(play.code).toBe(0);
      original = parseTrace(readFileSync(file, 'utf8')).records;
      expect(checkTrace(original).ok).toBe(true);
    });

    async function checkTampered(
      name: string,
      tamper: (records: TraceRecord[]) => void,
    ): Promise<{ code: number; out: string }> {
      const records = structuredClone(original);
      tamper(records);
      const file = path.join(dir, `tampered-${name}.jsonl`);
      writeFileSync(file, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
      const run = await cli(['trace', 'check', file]);
      return { code: run.code, out: run.stdout.toString('utf8') };
    }

    const connectResult = (r: TraceRecord): boolean =>
      r.type === '@xstate.event' &&
      r.actorId === 'connection-0' &&
      (r.event as { message?: { name?: string } }).message?.name === '_result';

    it('is rejected when a state was changed, naming the actor, the step and both states', async () => {
      const { code, out } = await checkTampered('state', (records) => {
        const i = records.findIndex(connectResult);
        const j = records.findIndex(
          (r, k) => k > i && r.type === '@xstate.snapshot' && r.actorId === 'connection-0',
        );
        expect(records[j].value).toEqual({ session: 'connected' });
        records[j].value = { session: 'closing' };
      });
      expect(code).toBe(1);
      expect(out).toMatch(
        /FAIL connection-0 \(netConnection, x:\d+\) step \d+ at \d+ ms, on RTMP\.MESSAGE: from session\.connecting the machine goes to session\.connected, the trace has session\.closing/,
      );
      expect(out).toMatch(/FAILED: \d+ of \d+ step\(s\) disagree/);
    });

    it('is rejected when an event was changed (connect answered _error instead of _result)', async () => {
      const { code, out } = await checkTampered('event', (records) => {
        const rec = records.find(connectResult)!;
        (rec.event as { message: { name: string } }).message.name = '_error';
      });
      expect(code).toBe(1);
      expect(out).toMatch(
        /FAIL connection-0 .* on RTMP\.MESSAGE: from session\.connecting the machine goes to failed \[done\], the trace has session\.connected/,
      );
    });

    it('is rejected when two steps of an actor were swapped', async () => {
      const { code, out } = await checkTampered('reordered', (records) => {
        const steps = records
          .map((r, k) => ({ r, k }))
          .filter(({ r }) => r.actorId === 'connection-0' && r.type === '@xstate.snapshot');
        const [a, b] = [steps[1].k, steps[2].k];
        [records[a], records[b]] = [records[b], records[a]];
      });
      expect(code).toBe(1);
      expect(out).toMatch(
        /FAIL connection-0 .* the snapshot says it processed \S+, the event recorded for it is \S+/,
      );
    });

    it('is rejected when the machine id names no machine, and when nothing is left to check', async () => {
      const renamed = await checkTampered('renamed', (records) => {
        const rec = records.find((r) => r.type === '@xstate.actor' && r.name === 'netStream')!;
        rec.name = 'netStreamForged';
      });
      expect(renamed.code).toBe(1);
      expect(renamed.out).toMatch(/no machine has the id netStreamForged/);
      const empty = await checkTampered('empty', (records) => {
        records.splice(0, records.length);
      });
      expect(empty.code).toBe(1);
      expect(empty.out).toMatch(/FAILED: no step of any state machine to check/);
    });
  });
});
