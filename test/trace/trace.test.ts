/**
 * `--trace` and `rtmp-actors trace`: a live play from nginx-rtmp (ffmpeg publishing) recorded as
 * JSON lines, read back as each actor's timeline, replayed as text, and checked against the machines.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { main } from '../../src/cli/index';
import { parseTrace } from '../../src/trace/summary';
import { captureIo } from '../helpers/cliio';
import { startFfmpegPublisher, startNginxRtmp, stopAll, waitFor, type NginxRtmp } from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

/** The index of each needle in `states`, in order (-1 when missing or out of order). */
function inOrder(states: string[], needles: string[]): number[] {
  const found: number[] = [];
  let from = 0;
  for (const n of needles) {
    const i = states.indexOf(n, from);
    found.push(i);
    if (i >= 0) from = i + 1;
  }
  return found;
}

describe('rtmp-actors --trace and trace summary/replay', () => {
  let nginx: NginxRtmp;
  let dir: string;
  beforeAll(async () => {
    nginx = await startNginxRtmp();
    dir = mkdtempSync(path.join(tmpdir(), 'trace-'));
  });
  afterAll(async () => {
    await stopAll();
  });

  it('records a live play, summarizes each actor in order, never leaks the key, and replays as text', async () => {
    const key = 'SECRETKEY4242';
    const publisher = startFfmpegPublisher(`rtmp://127.0.0.1:${nginx.port}/live/tracedstream`, {
      file: SMALL_FLV,
    });
    try {
      await waitFor(() => /publish: name='tracedstream'/.test(nginx.errorLog()), 10_000);
      const file = path.join(dir, 'play.jsonl');
      const url = `rtmp://127.0.0.1:${nginx.port}/live/tracedstream?token=${key}`;
      const playIo = captureIo();
      const code = await main(['play', url, '--live', '--duration', '3', '--trace', file], playIo);
      expect(playIo.err()).not.toContain(key);
      expect(code).toBe(0);

      const text = readFileSync(file, 'utf8');
      expect(text).not.toContain(key);
      expect(text).not.toContain('tracedstream');
      const { records, badLines } = parseTrace(text);
      expect(badLines).toBe(0);
      expect(records.length).toBeGreaterThan(20);
      expect(new Set(records.map((r) => r.type))).toEqual(
        new Set(['@xstate.actor', '@xstate.event', '@xstate.snapshot', '@xstate.microstep']),
      );
      for (let i = 1; i < records.length; i++) {
        expect(records[i].t).toBeGreaterThanOrEqual(records[i - 1].t);
      }

      const sumIo = captureIo();
      expect(await main(['trace', 'summary', file, '--json'], sumIo)).toBe(0);
      const timelines = JSON.parse(sumIo.out()) as Array<{
        actorId: string;
        steps: Array<{ state: string; t: number; commands?: string[] }>;
      }>;
      const streams = timelines.filter((a) => a.actorId.startsWith('stream-'));
      expect(streams.map((s) => s.actorId)).toEqual(['stream-***']);
      const conns = timelines.filter((a) => a.actorId.startsWith('connection-'));
      expect(conns.length).toBe(1);
      const connStates = conns[0].steps.map((s) => s.state);
      const c = inOrder(connStates, [
        'session.handshaking',
        'session.connecting',
        'session.connected',
      ]);
      expect(c.every((i) => i >= 0)).toBe(true);
      const streamStates = streams[0].steps.map((s) => s.state);
      const creating = streamStates.findIndex((s) => s.startsWith('creating'));
      const requesting = streamStates.findIndex((s) => s.startsWith('requesting'));
      const active = streamStates.findIndex((s) => s.startsWith('active'));
      expect(creating).toBeGreaterThanOrEqual(0);
      expect(requesting).toBeGreaterThan(creating);
      expect(active).toBeGreaterThan(requesting);

      // The stream asked for createStream while creating, then sent play while requesting.
      const creatingStep = streams[0].steps[creating];
      const requestingStep = streams[0].steps[requesting];
      expect(creatingStep.commands).toEqual(['createStream']);
      expect(requestingStep.commands).toContain('play');
      expect(conns[0].steps[c[1]].commands).toContain('connect');

      // The text summary: one line an actor with its path, the stream masked.
      const textIo = captureIo();
      expect(await main(['trace', 'summary', file, '--brief'], textIo)).toBe(0);
      const lines = textIo.out().split('\n');
      const streamLine = lines.find((l) => l.startsWith('stream-*** '));
      expect(streamLine).toMatch(/creating \(createStream\) -> requesting \(play\) -> active/);
      const connLine = lines.find((l) => l.startsWith('connection-'));
      expect(connLine).toMatch(
        /session\.handshaking -> session\.connecting \(connect\) -> session\.connected/,
      );
      expect(textIo.out()).not.toContain(key);

      // Replay as text: every event, in recorded order.
      const replayIo = captureIo();
      expect(await main(['trace', 'replay', file, '--speed', '0'], replayIo)).toBe(0);
      const replayed = replayIo.out().split('\n').filter(Boolean);
      expect(replayed).toHaveLength(records.length);
      const times = replayed.map((l) => Number(/^\s*([\d.]+)s/.exec(l)?.[1]));
      expect(times.every((t, i) => i === 0 || t >= times[i - 1])).toBe(true);
      expect(replayIo.err()).toMatch(/printing the events as text/);

      // Check, as JSON: every step of every machine actor agrees, counted.
      const checkIo = captureIo();
      expect(await main(['trace', 'check', file, '--json'], checkIo)).toBe(0);
      const checked = JSON.parse(checkIo.out()) as {
        ok: boolean;
        transitions: number;
        failures: unknown[];
        actors: Array<{ machine: string; steps: number; agreed: number }>;
      };
      expect(checked.ok).toBe(true);
      expect(checked.failures).toEqual([]);
      expect(checked.transitions).toBeGreaterThan(20);
      expect(checked.actors.map((a) => a.machine).sort()).toEqual([
        'handshake',
        'netConnection',
        'netStream',
        'sessionSupervisor',
      ]);
      expect(checked.actors.every((a) => a.agreed === a.steps)).toBe(true);
    } finally {
      await publisher.stop();
    }
  }, 30_000);

  it('says which file it cannot read, and what it expects, for trace check', async () => {
    const missing = captureIo();
    expect(await main(['trace', 'check', path.join(dir, 'absent.jsonl')], missing)).toBe(1);
    expect(missing.err()).toMatch(/cannot read .*absent\.jsonl/);
    const usage = captureIo();
    expect(await main(['trace', 'verify', 'x.jsonl'], usage)).toBe(2);
    expect(usage.err()).toMatch(/summary, replay or check\?/);
  });
});
