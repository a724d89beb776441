/**
 * Enhanced RTMP v2 ReconnectRequest, end to end over real sockets (client and server both
 * ours; no external peer sends one yet): two embedded servers, each fed by its own publisher of
 * the same FLV file (looped); a player on A; A asks it to reconnect to B. The play moves to B
 * make-before-break: no frame of the source is lost or duplicated in `media$` or in the saved FLV.
 * And when B is down, the play stays on A and the state says why.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createSession, type Session, type SessionEvent } from '../../src/client';
import type { MediaMessage } from '../../src/io/media';
import { parseFlv } from '../../src/protocol/flv/reader';
import { RtmpServer } from '../../src/server/server';
import type { ServerEvent } from '../../src/server/events';
import { waitFor } from '../helpers';
import {
  abandonedMigration,
  frameHash,
  isSequenceHeader,
  sourceFrames,
  type Frame,
} from '../helpers/reconnect';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

/**
 * How far apart two passes of the looped file are (ms): a looped publish goes on one frame
 * (33 ms) after the file's latest tag (src/publish/flvSource.ts).
 */
function loopPeriod(): number {
  const { tags } = parseFlv(readFileSync(SMALL_FLV));
  return Math.max(...tags.map((t) => t.timestamp)) + 33;
}

/**
 * Checks that `got` (one type) is a contiguous run of the looped source's frames of that type:
 * each frame is the next source frame (same content and timestamp; after the last one, the first
 * again, one `period` later), none skipped, none repeated. Sequence headers are left out of both
 * (a new connection sends its own at the start).
 */
function contiguousRun(
  source: Frame[],
  got: Array<{ hash: string; timestamp: number }>,
  period: number,
): string | undefined {
  if (got.length === 0) return 'no frames';
  // Silent audio frames repeat their bytes: the first frame is found by content and time.
  const start = source.findIndex(
    (f) =>
      f.hash === got[0].hash &&
      got[0].timestamp >= f.timestamp &&
      (got[0].timestamp - f.timestamp) % period === 0,
  );
  if (start < 0) return 'first frame is not in the source';
  for (let i = 0; i < got.length; i++) {
    const at = start + i;
    const want = source[at % source.length];
    const ts = want.timestamp + Math.floor(at / source.length) * period;
    if (want.hash !== got[i].hash || got[i].timestamp !== ts) {
      const found = source.findIndex((f) => f.hash === got[i].hash);
      return `frame ${i}: expected source #${at % source.length} at ${ts} ms, got ${found < 0 ? 'a frame not in the source' : `source #${found}`} at ${got[i].timestamp} ms (${got[i].timestamp < ts ? 'duplicate' : 'frames lost'})`;
    }
  }
  return undefined;
}

function split(frames: Array<Frame>): { audio: Frame[]; video: Frame[] } {
  return {
    audio: frames.filter((f) => f.type === 'Audio'),
    video: frames.filter((f) => f.type === 'Video'),
  };
}

/** The server's number for the connection that plays `name`. */
async function connectionIdOf(events: ServerEvent[], name: string): Promise<number> {
  const isPlay = (e: ServerEvent): e is Extract<ServerEvent, { type: 'play' }> =>
    e.type === 'play' && e.name.length > 0 && name.length > 0;
  await waitFor(() => events.some(isPlay), 10_000);
  return events.find(isPlay)!.connection;
}

describe('ReconnectRequest (Enhanced RTMP v2), make-before-break', () => {
  const source = sourceFrames(SMALL_FLV, { headers: true });
  const period = loopPeriod();
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'ertmp-reconnect-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // Each server is fed by its own publisher of the file, so where B's first keyframe falls
  // against what A delivered depends on timing (B behind, at, or ahead of the play); the switch
  // must keep the frames contiguous in every order (test/switchover.test.ts walks each one).
  it.each([
    // Both publishers start together: B's first keyframe is at or behind the play.
    ['with both publishers started together', 0, 'either'],
    // B's runs 2.5 s ahead: the play goes on from A until it reaches B's keyframe (held frames).
    ['with B ahead of the play', 2_500, 'behind'],
  ] as const)(
    'moves a live play from server A to server B at a keyframe (%s), losing and duplicating no frame in media$ and in the saved FLV',
    async (_label, headStartMs, oldIs) => {
      const serverA = new RtmpServer({ port: 0 });
      const serverB = new RtmpServer({ port: 0 });
      const a = await serverA.listen();
      const b = await serverB.listen();
      const eventsA: ServerEvent[] = [];
      serverA.events$.subscribe((e) => eventsA.push(e));
      const sessions: Session[] = [];
      try {
        // One publisher per server, of the same file (the servers carry the same timeline),
        // looped: however slow the machine, neither runs out while the play moves.
        const pubA = createSession({ url: `rtmp://127.0.0.1:${a.port}/live/cam` });
        const pubB = createSession({ url: `rtmp://127.0.0.1:${b.port}/live/cam` });
        sessions.push(pubA, pubB);
        pubB.publish('cam', SMALL_FLV, { loop: true });
        if (headStartMs > 0) {
          await waitFor(() => (pubB.summary().streams.cam?.state ?? '') === 'active', 10_000);
          await new Promise((r) => setTimeout(r, headStartMs));
        }
        pubA.publish('cam', SMALL_FLV, { loop: true });
        expect(
          await waitFor(
            () =>
              serverA.stats().streams.some((s) => s.name === 'cam' && s.publishing) &&
              serverB.stats().streams.some((s) => s.name === 'cam' && s.publishing),
            20_000,
          ),
        ).toBe(true);

        const player = createSession({ url: `rtmp://127.0.0.1:${a.port}/live/cam` });
        sessions.push(player);
        const events: SessionEvent[] = [];
        player.events$.subscribe((e) => events.push(e));
        const handle = player.play('cam', { start: -1 });
        const got: MediaMessage[] = [];
        handle.media$.subscribe((m) => got.push(m));
        const file = path.join(dir, 'moved.flv');
        const saved = handle.saveFlv(file);
        expect(await waitFor(() => got.some((m) => m.type === 'Video'), 10_000)).toBe(true);

        // Our server states its capabilities; our client advertised Reconnect.
        const caps = player.serverCapabilities();
        expect(caps?.reconnect).toBe(true);
        expect(caps?.videoFourCcInfoMap['*']).toBe(0x04);

        const id = await connectionIdOf(eventsA, 'cam');
        // Let some frames go by on A first.
        await waitFor(() => got.filter((m) => m.type === 'Video').length > 20, 10_000);
        const request = serverA.requestReconnect(id, `rtmp://127.0.0.1:${b.port}/live`);
        expect(request).toEqual({ outcome: 'sent', tcUrl: `rtmp://127.0.0.1:${b.port}/live` });

        // The play ends up on B: switched, the old connection closed.
        expect(
          await waitFor(
            () =>
              events.some((e) => e.type === 'session.migration' && e.state === 'switched') &&
              Object.keys(player.summary().connections).length === 1,
            15_000,
          ),
        ).toBe(true);
        const summary = player.summary();
        const [connection] = Object.values(summary.connections);
        expect(summary.streams.cam.connectionId).toBe(connection.id);
        expect(summary.streams.cam.state).toBe('active');
        expect(serverB.stats().streams.find((s) => s.name === 'cam')?.players).toBe(1);
        expect(
          await waitFor(
            () => (serverA.stats().streams.find((s) => s.name === 'cam')?.players ?? 0) === 0,
            10_000,
          ),
        ).toBe(true);
        // The switch: a connection state 'reconnecting', the stream 'migrating', then 'switched'.
        expect(events).toContainEqual(
          expect.objectContaining({ type: 'session.connection', state: 'reconnecting' }),
        );
        expect(events).toContainEqual(
          expect.objectContaining({ type: 'session.stream', key: 'cam', state: 'migrating' }),
        );
        const outcome = player.switchOutcome('cam');
        expect(outcome).toBeDefined();
        expect(outcome!.timeline).toBe('same');
        expect(outcome!.forced).toBe(false);
        // Old ahead: the copy's first frames were duplicates; old behind: no duplicate at all.
        // B ahead: nothing of the copy was a duplicate (started together: it depends on timing).
        if (oldIs === 'behind') expect(outcome!.duplicatesDropped).toBe(0);
        const lastBefore = got.filter((m) => m.type === 'Video').length;
        // Media goes on from B.
        expect(
          await waitFor(
            () => got.filter((m) => m.type === 'Video').length > lastBefore + 30,
            10_000,
          ),
        ).toBe(true);
        await handle.stop();
        await saved;

        // media$: per type, a contiguous run of the source's frames, timestamps the source's.
        const media = got
          .filter((m): m is Extract<MediaMessage, { type: 'Audio' | 'Video' }> => m.type !== 'Data')
          .filter((m) => !isSequenceHeader(m.type, m.payload))
          .map((m) => ({ type: m.type, timestamp: m.timestamp, hash: frameHash(m.payload) }));
        const src = split(source);
        const srcNoHeaders = {
          audio: src.audio.slice(1),
          video: src.video.slice(1),
        };
        const mine = split(media);
        // A failure says where the switch happened (switch point, duplicates, repeats dropped).
        const at = (problem: string | undefined): string | undefined =>
          problem && `${problem}; switch: ${JSON.stringify(outcome)}`;
        expect(at(contiguousRun(srcNoHeaders.video, mine.video, period))).toBeUndefined();
        expect(at(contiguousRun(srcNoHeaders.audio, mine.audio, period))).toBeUndefined();
        // The saved FLV: the same frames, in the same order.
        const inFile = split(sourceFrames(file, { headers: false }));

        // The saved FLV holds exactly what media$ delivered (checked above), in the same order.
        expect(inFile.video.map((f) => f.hash)).toEqual(mine.video.map((f) => f.hash));
        expect(inFile.audio.map((f) => f.hash)).toEqual(mine.audio.map((f) => f.hash));
        // The file's clock never goes back across the switch.
        for (let i = 1; i < inFile.video.length; i++) {
          expect(inFile.video[i].timestamp).toBeGreaterThanOrEqual(inFile.video[i - 1].timestamp);
        }
      } finally {
        await Promise.all(sessions.map((s) => s.close()));
        await serverA.close();
        await serverB.close();
      }
    },
    60_000,
  );

  it('keeps the play on server A when server B is down, and says why', async () => {
    const serverA = new RtmpServer({ port: 0 });
    const a = await serverA.listen();
    // A port nobody listens on: a server that was, and is not any more.
    const gone = new RtmpServer({ port: 0 });
    const b = await gone.listen();
    await gone.close();
    const eventsA: ServerEvent[] = [];
    serverA.events$.subscribe((e) => eventsA.push(e));
    const sessions: Session[] = [];
    try {
      const pub = createSession({ url: `rtmp://127.0.0.1:${a.port}/live/cam` });
      sessions.push(pub);
      pub.publish('cam', SMALL_FLV, { loop: true });
      const player = createSession({
        url: `rtmp://127.0.0.1:${a.port}/live/cam`,
        retry: { maxAttempts: 2, baseMs: 100, maxMs: 200 },
      });
      sessions.push(player);
      const events: SessionEvent[] = [];
      player.events$.subscribe((e) => events.push(e));
      const handle = player.play('cam', { start: -1 });
      const got: MediaMessage[] = [];
      handle.media$.subscribe((m) => got.push(m));
      expect(await waitFor(() => got.some((m) => m.type === 'Video'), 10_000)).toBe(true);
      const id = await connectionIdOf(eventsA, 'cam');
      expect(serverA.requestReconnect(id, `rtmp://127.0.0.1:${b.port}/live`).outcome).toBe('sent');

      const abandoned = await abandonedMigration(events);
      expect(abandoned.reason).toMatch(/^NEW_CONNECTION_FAILED: /);
      // Still on A, still playing; the old connection says why it stayed.
      const summary = player.summary();
      expect(summary.streams.cam.state).toBe('active');
      const old = summary.connections[summary.streams.cam.connectionId!];
      expect(old.state).toBe('up');
      expect(old.reconnect?.abandoned).toMatch(/^NEW_CONNECTION_FAILED: /);
      const nc = old.ref!.getSnapshot();
      expect(nc.matches({ session: 'connected' })).toBe(true);
      expect(nc.context.reconnect).toMatchObject({ outcome: 'abandoned' });
      const before = got.length;
      expect(await waitFor(() => got.length > before + 20, 10_000)).toBe(true);
      await handle.stop();
    } finally {
      await Promise.all(sessions.map((s) => s.close()));
      await serverA.close();
    }
  }, 60_000);

  it('refuses to send a ReconnectRequest to a client that did not advertise CapsEx.Reconnect', async () => {
    // The play waits for a publisher, so the connection stays open while it is asked.
    const serverA = new RtmpServer({ port: 0, waitForPublisher: true });
    const a = await serverA.listen();
    const eventsA: ServerEvent[] = [];
    serverA.events$.subscribe((e) => eventsA.push(e));
    const player = createSession({ url: `rtmp://127.0.0.1:${a.port}/live/x`, enhancedRtmp: false });
    try {
      player.play('x', { start: -1 });
      await waitFor(() => eventsA.some((e) => e.type === 'play'), 10_000);
      const connect = eventsA.find((e) => e.type === 'connect') as Extract<
        ServerEvent,
        { type: 'connect' }
      >;
      expect(serverA.requestReconnect(connect.connection)).toEqual({
        outcome: 'refused',
        reason: 'NOT_SUPPORTED',
      });
      expect(serverA.requestReconnect(9999)).toEqual({
        outcome: 'refused',
        reason: 'UNKNOWN_CONNECTION',
      });
    } finally {
      await player.close();
      await serverA.close();
    }
  }, 30_000);
});
