/**
 * Resilience against a real server dying mid-stream: nginx-rtmp is SIGKILLed (master and
 * worker) while we play or publish, and started again on the same port about 2 s later. The
 * session must retry with backoff, come back (`retrying` -> `connected`), resume the stream
 * (`interrupted` -> active again, `stream.resumed`), carry media again, and leave a saved FLV
 * that is whole and whose timeline never steps back.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type SessionEvent } from '../../src/client';
import type { MediaMessage } from '../../src/io/media';
import { parseFlv, type FlvTag } from '../../src/protocol/flv';
import {
  ffprobeJson,
  sleep,
  startFfmpegPublisher,
  startNginxRtmp,
  stopAll,
  waitFor,
  type NginxRtmp,
  type PublisherHandle,
} from '../helpers';
import { connectionLog, trackSessions } from '../helpers/sessions';

jest.setTimeout(60_000);

const openSession = trackSessions();

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

/**
 * Whether a connection was connected again after it went to retrying, from `since` on. Not "a
 * connected state after restart() returned": the session may reconnect while restart() still
 * waits for nginx to answer, and that reconnect counts.
 */
function reconnected(states: Array<{ at: number; state: string }>, since: number): boolean {
  const after = states.filter((s) => s.at >= since).map((s) => s.state);
  const retry = after.indexOf('retrying.waiting');
  return retry >= 0 && after.indexOf('session.connected', retry) > retry;
}

function videoCount(media: MediaMessage[], from = 0): number {
  let n = 0;
  for (let i = from; i < media.length; i++) if (media[i].type === 'Video') n++;
  return n;
}

/** Steps back in one tag type's timeline (each type on its own: audio and video interleave). */
function stepsBack(tags: FlvTag[]): Array<{ type: number; from: number; to: number }> {
  const last = new Map<number, number>();
  const out: Array<{ type: number; from: number; to: number }> = [];
  for (const t of tags) {
    const prev = last.get(t.type);
    if (prev !== undefined && t.timestamp < prev)
      out.push({ type: t.type, from: prev, to: t.timestamp });
    last.set(t.type, t.timestamp);
  }
  return out;
}

/** The largest step back across the interleaved file (audio vs video may differ by a frame). */
function largestInterleavedStepBack(tags: FlvTag[]): number {
  let worst = 0;
  let high = 0;
  for (const t of tags) {
    worst = Math.max(worst, high - t.timestamp);
    high = Math.max(high, t.timestamp);
  }
  return worst;
}

describe('a server that dies mid-stream and comes back', () => {
  let nginx: NginxRtmp;
  let dir: string;
  const publishers: PublisherHandle[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rtmp-actors-restart-'));
    nginx = await startNginxRtmp();
  });
  afterAll(async () => {
    await Promise.all(publishers.map((p) => p.stop()));
    await stopAll();
  });

  function publish(name: string): PublisherHandle {
    const p = startFfmpegPublisher(`rtmp://127.0.0.1:${nginx.port}/live/${name}`, {
      file: SMALL_FLV,
    });
    publishers.push(p);
    return p;
  }

  it('retries, reconnects and resumes a played live stream, and the saved FLV stays whole and monotonic', async () => {
    const name = 'restart-play';
    const url = `rtmp://127.0.0.1:${nginx.port}/live/${name}`;
    let pub = publish(name);
    const conn = connectionLog();
    const session = openSession({
      url,
      retry: { maxAttempts: 30, baseMs: 200, maxMs: 800 },
      timeouts: { transport: 1000, handshake: 2000, connect: 2000, stall: 10_000 },
      inspect: conn.inspect,
    });
    const events: Array<SessionEvent & { at: number }> = [];
    session.events$.subscribe((e) => events.push({ ...e, at: Date.now() }));
    const stream = session.play(name, { start: -1 });
    const media: MediaMessage[] = [];
    stream.media$.subscribe((m) => media.push(m));
    const out = path.join(dir, 'play-restart.flv');
    const saved = stream.saveFlv(out);

    // About 3 s of video first, so that a timeline starting again at 0 would show as a step back.
    expect(await waitFor(() => videoCount(media) >= 90, 15_000)).toBe(true);
    const killedAt = Date.now();
    await nginx.kill('SIGKILL');
    await pub.stop();
    const mediaAtKill = media.length;
    await sleep(2000);
    await nginx.restart();
    pub = publish(name);

    const flowsAgain = await waitFor(() => videoCount(media, mediaAtKill) >= 50, 20_000);
    const outcome = stream.stop();
    const result = await saved;
    await outcome;
    await session.close();
    await pub.stop();

    // The connection went down, retried, and was connected again after the restart.
    const after = conn.states.filter((s) => s.at >= killedAt).map((s) => s.state);
    expect(after).toContain('retrying.waiting');
    expect(reconnected(conn.states, killedAt)).toBe(true);
    // The stream was interrupted and came back to flowing, with media again.
    const streamStates = events
      .filter((e) => e.type === 'stream.state' && e.at >= killedAt)
      .map((e) => (e as { state: string }).state);
    expect(streamStates).toContain('interrupted');
    expect(streamStates.slice(streamStates.indexOf('interrupted'))).toContain('flowing');
    expect(flowsAgain).toBe(true);
    expect(events.filter((e) => e.type === 'session.connection' && e.at >= killedAt)).toEqual(
      expect.arrayContaining([expect.objectContaining({ state: 'down' })]),
    );
    // The public API says the stream resumed (saveFlv rebases its timeline on this event).
    const resumedEv = events.some((e) => e.type === 'stream.resumed' && e.at >= killedAt);

    // The file: ffprobe reads it, strict parsing finds no half tag, no step back in time.
    const bytes = readFileSync(out);
    const flv = parseFlv(bytes, { previousTagSize: 'strict' });
    expect(flv.tags.length).toBe(result.tags);
    expect(bytes.length).toBe(result.bytes);
    const probe = await ffprobeJson(out);
    expect(probe.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
    expect(stepsBack(flv.tags)).toEqual([]);
    expect(largestInterleavedStepBack(flv.tags)).toBeLessThanOrEqual(500);
    expect(resumedEv).toBe(true);
  });

  it('retries, reconnects and resumes a publish, and a fresh reader sees media again', async () => {
    const name = 'restart-publish';
    const url = `rtmp://127.0.0.1:${nginx.port}/live/${name}`;
    const conn = connectionLog();
    const session = openSession({
      url,
      retry: { maxAttempts: 30, baseMs: 200, maxMs: 800 },
      timeouts: { transport: 1000, handshake: 2000, connect: 2000 },
      inspect: conn.inspect,
    });
    const events: Array<SessionEvent & { at: number }> = [];
    session.events$.subscribe((e) => events.push({ ...e, at: Date.now() }));
    const handle = session.publish(name, SMALL_FLV, { loop: true });

    // A reader before the failure: nginx relays our publish.
    const first = await ffprobeJson(url, { timeoutMs: 15_000 });
    expect(first.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);

    const killedAt = Date.now();
    await nginx.kill('SIGKILL');
    await sleep(2000);
    await nginx.restart();
    const sentAtRestart = handle.sent.messages;

    // Publishing resumes on its own, and a reader that starts after the restart gets media.
    const connectedAgain = await waitFor(() => reconnected(conn.states, killedAt), 20_000);
    const sentAgain = await waitFor(() => handle.sent.messages > sentAtRestart + 50, 10_000);
    // Everything needed to tell which step did not happen, should one not.
    const resumed = {
      connectedAgain,
      sentAgain,
      sentSinceRestart: handle.sent.messages - sentAtRestart,
      connectionStates: conn.states.filter((s) => s.at >= killedAt).map((s) => s.state),
      streamStates: events
        .filter((e) => e.type === 'stream.state' && e.at >= killedAt)
        .map((e) => (e as { state: string }).state),
    };
    let probeError: unknown;
    const second = await ffprobeJson(url, { timeoutMs: 15_000 }).catch((err: unknown) => {
      probeError = err;
      return undefined;
    });
    await handle.stop();
    await session.close();

    expect(conn.states.filter((s) => s.at >= killedAt).map((s) => s.state)).toContain(
      'retrying.waiting',
    );
    expect(resumed).toMatchObject({ connectedAgain: true, sentAgain: true });
    const streamStates = events
      .filter((e) => e.type === 'stream.state' && e.at >= killedAt)
      .map((e) => (e as { state: string }).state);
    expect(streamStates).toContain('interrupted');
    expect(streamStates.slice(streamStates.indexOf('interrupted'))).toContain('publishing');
    expect(probeError).toBeUndefined();
    expect(second?.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
    const video = second?.streams.find((s) => s.codec_type === 'video');
    expect(video?.width).toBe(640);
  });
});
