/**
 * Enhanced RTMP v2 ReconnectRequest for a PUBLISHER (the spec's ingest case), end to end over
 * real sockets (client and servers all ours): our publisher (the small FLV file, looped) on
 * server A; a player on B waiting for the name; A asks the publisher to reconnect to B. The
 * publish moves make-before-break: a copy publishes on B, the pump switches at the next video
 * keyframe (headers first), then the old connection closes. B's player gets a contiguous run of
 * the source's frames from that keyframe on. And when B refuses the publish (BadName: the name
 * is taken there), the publish stays on A and the move is abandoned with the reason.
 */
import * as path from 'node:path';
import { createSession, type Session, type SessionEvent } from '../../src/client';
import type { MediaMessage } from '../../src/io/media';
import { RtmpServer } from '../../src/server/server';
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
 * Checks that `got` (one type) is a contiguous run of the looped source's frames of that type,
 * by content and in order: each frame is the next source frame (after the last one, the first
 * again), none skipped, none repeated.
 */
function contiguousRun(source: Frame[], got: Frame[]): string | undefined {
  if (got.length === 0) return 'no frames';
  const starts = source.map((f, i) => (f.hash === got[0].hash ? i : -1)).filter((i) => i >= 0);
  if (starts.length === 0) return 'first frame is not in the source';
  // Silent audio frames repeat their bytes: any start that fits the whole run will do.
  let problem = '';
  for (const start of starts) {
    const bad = got.findIndex((f, i) => source[(start + i) % source.length].hash !== f.hash);
    if (bad < 0) return undefined;
    problem = `frame ${bad} (at ${got[bad].timestamp} ms) is not source #${(start + bad) % source.length}`;
  }
  return problem;
}

const isKeyframe = (m: MediaMessage): boolean =>
  m.type === 'Video' && m.payload.byteLength > 0 && ((m.payload[0] >> 4) & 0x07) === 1;

/** The server's number for the (only) connection that publishes. */
async function publisherConnection(server: RtmpServer): Promise<number> {
  const find = (): number | undefined => server.stats().clients.find((c) => c.publishing > 0)?.id;
  await waitFor(() => find() !== undefined, 10_000);
  return find()!;
}

const publishing = (server: RtmpServer, name: string): boolean =>
  server.stats().streams.some((s) => s.name === name && s.publishing);

describe('ReconnectRequest (Enhanced RTMP v2) for a publisher, make-before-break', () => {
  const source = sourceFrames(SMALL_FLV, { headers: false });
  const src = {
    audio: source.filter((f) => f.type === 'Audio'),
    video: source.filter((f) => f.type === 'Video'),
  };

  it('moves a live publish from server A to server B at a keyframe: B gets the headers, then a contiguous run of the source from that keyframe, and A loses the publisher', async () => {
    const serverA = new RtmpServer({ port: 0, waitForPublisher: true });
    const serverB = new RtmpServer({ port: 0, waitForPublisher: true });
    const a = await serverA.listen();
    const b = await serverB.listen();
    const sessions: Session[] = [];
    try {
      // B's player waits for the name: it sees everything B's publisher (the copy) sends.
      const player = createSession({ url: `rtmp://127.0.0.1:${b.port}/live/cam` });
      sessions.push(player);
      const play = player.play('cam', { start: -1 });
      const got: MediaMessage[] = [];
      play.media$.subscribe((m) => got.push(m));

      // And one on A: what A got and what B got, put together, is the source once.
      const playerA = createSession({ url: `rtmp://127.0.0.1:${a.port}/live/cam` });
      sessions.push(playerA);
      const playA = playerA.play('cam', { start: -1 });
      const gotA: MediaMessage[] = [];
      playA.media$.subscribe((m) => gotA.push(m));
      expect(
        await waitFor(
          () =>
            serverA.stats().clients.some((c) => c.playing > 0) &&
            serverB.stats().clients.some((c) => c.playing > 0),
          10_000,
        ),
      ).toBe(true);

      const pub = createSession({ url: `rtmp://127.0.0.1:${a.port}/live/cam` });
      sessions.push(pub);
      const events: SessionEvent[] = [];
      pub.events$.subscribe((e) => events.push(e));
      const handle = pub.publish('cam', SMALL_FLV, { loop: true });
      expect(await waitFor(() => publishing(serverA, 'cam'), 20_000)).toBe(true);
      const id = await publisherConnection(serverA);
      // Let some frames go to A first.
      await waitFor(() => handle.sent.messages > 40, 10_000);
      expect(got.filter((m) => m.type !== 'Data')).toHaveLength(0);
      const tcUrlB = `rtmp://127.0.0.1:${b.port}/live`;
      expect(serverA.requestReconnect(id, tcUrlB)).toEqual({ outcome: 'sent', tcUrl: tcUrlB });

      // The publish ends up on B: switched, the old connection closed, A has no publisher.
      expect(
        await waitFor(
          () =>
            events.some((e) => e.type === 'session.migration' && e.state === 'switched') &&
            Object.keys(pub.summary().connections).length === 1,
          20_000,
        ),
      ).toBe(true);
      expect(events).toContainEqual(
        expect.objectContaining({ type: 'session.connection', state: 'reconnecting' }),
      );
      expect(events).toContainEqual(
        expect.objectContaining({ type: 'session.stream', key: 'cam', state: 'migrating' }),
      );
      const summary = pub.summary();
      const [connection] = Object.values(summary.connections);
      expect(summary.streams.cam.connectionId).toBe(connection.id);
      expect(summary.streams.cam.state).toBe('active');
      expect(publishing(serverB, 'cam')).toBe(true);
      expect(await waitFor(() => !publishing(serverA, 'cam'), 10_000)).toBe(true);
      // The old connection is closed (A's player's is the only one left).
      expect(await waitFor(() => serverA.stats().clients.every((c) => c.id !== id), 10_000)).toBe(
        true,
      );

      // Media goes on to B.
      expect(await waitFor(() => got.filter((m) => m.type === 'Video').length > 60, 15_000)).toBe(
        true,
      );
      await handle.stop();
      await play.stop();

      // B got the sequence headers before any frame, then from a keyframe on, per type, a
      // contiguous run of the source's frames: none skipped, none sent twice.
      const av = got.filter(
        (m): m is Extract<MediaMessage, { type: 'Audio' | 'Video' }> => m.type !== 'Data',
      );
      const firstFrame = av.findIndex((m) => !isSequenceHeader(m.type, m.payload));
      expect(firstFrame).toBeGreaterThan(0);
      expect(av.slice(0, firstFrame).some((m) => m.type === 'Video')).toBe(true);
      const frames = av
        .filter((m) => !isSequenceHeader(m.type, m.payload))
        .map((m) => ({ type: m.type, timestamp: m.timestamp, hash: frameHash(m.payload) }));
      const firstVideo = got.find(
        (m) => m.type === 'Video' && !isSequenceHeader(m.type, m.payload),
      )!;
      expect(isKeyframe(firstVideo)).toBe(true);
      const video = frames.filter((f) => f.type === 'Video');
      const audio = frames.filter((f) => f.type === 'Audio');
      expect(contiguousRun(src.video, video)).toBeUndefined();
      expect(contiguousRun(src.audio, audio)).toBeUndefined();
      // The switch point is the first frame B got: audio never starts before it.
      const show = (ms: MediaMessage[]): string =>
        ms
          .map((m) =>
            m.type === 'Data'
              ? `D${m.timestamp}`
              : `${m.type[0]}${m.timestamp}${isSequenceHeader(m.type, m.payload) ? 'h' : isKeyframe(m) ? 'k' : ''}`,
          )
          .join(' ');
      expect(`${frames[0].type}: B ${show(got.slice(0, 12))}; A ${show(gotA.slice(-12))}`).toMatch(
        /^Video/,
      );
      // Across the switch: A's frames then B's are one contiguous run of the source, per type
      // (nothing went to both servers, nothing to neither).
      const framesA = gotA
        .filter((m): m is Extract<MediaMessage, { type: 'Audio' | 'Video' }> => m.type !== 'Data')
        .filter((m) => !isSequenceHeader(m.type, m.payload))
        .map((m) => ({ type: m.type, timestamp: m.timestamp, hash: frameHash(m.payload) }));
      expect(framesA.filter((f) => f.type === 'Video').length).toBeGreaterThan(10);
      expect(
        contiguousRun(src.video, [...framesA.filter((f) => f.type === 'Video'), ...video]),
      ).toBeUndefined();
      expect(
        contiguousRun(src.audio, [...framesA.filter((f) => f.type === 'Audio'), ...audio]),
      ).toBeUndefined();
      // And by time, per type (the file interleaves audio a little ahead of video): B's first
      // frame of a type comes after A's last one of it.
      for (const type of ['Video', 'Audio'] as const) {
        const lastA = framesA.filter((f) => f.type === type).pop()!;
        const firstB = frames.find((f) => f.type === type)!;
        expect(firstB.timestamp).toBeGreaterThan(lastA.timestamp);
      }
    } finally {
      await Promise.all(sessions.map((s) => s.close()));
      await serverA.close();
      await serverB.close();
    }
  }, 90_000);

  it('keeps the publish on server A when server B refuses it (BadName), and says why', async () => {
    const serverA = new RtmpServer({ port: 0 });
    const serverB = new RtmpServer({ port: 0 });
    const a = await serverA.listen();
    const b = await serverB.listen();
    const sessions: Session[] = [];
    try {
      // The name is taken on B: a second publish of it gets NetStream.Publish.BadName.
      const other = createSession({ url: `rtmp://127.0.0.1:${b.port}/live/cam` });
      sessions.push(other);
      other.publish('cam', SMALL_FLV, { loop: true });
      expect(await waitFor(() => publishing(serverB, 'cam'), 20_000)).toBe(true);

      const pub = createSession({ url: `rtmp://127.0.0.1:${a.port}/live/cam` });
      sessions.push(pub);
      const events: SessionEvent[] = [];
      pub.events$.subscribe((e) => events.push(e));
      const handle = pub.publish('cam', SMALL_FLV, { loop: true });
      expect(await waitFor(() => publishing(serverA, 'cam'), 20_000)).toBe(true);
      const id = await publisherConnection(serverA);
      const tcUrlB = `rtmp://127.0.0.1:${b.port}/live`;
      expect(serverA.requestReconnect(id, tcUrlB).outcome).toBe('sent');

      const abandoned = await abandonedMigration(events);
      expect(abandoned.reason).toMatch(/^COPY_FAILED: /);
      // Still on A, still publishing; the old connection says why it stayed.
      const summary = pub.summary();
      expect(summary.streams.cam.state).toBe('active');
      const old = summary.connections[summary.streams.cam.connectionId!];
      expect(old.state).toBe('up');
      expect(old.reconnect?.abandoned).toMatch(/^COPY_FAILED: /);
      expect(events.some((e) => e.type === 'session.migration' && e.state === 'switched')).toBe(
        false,
      );
      // The connection to B is closed again; B's own publisher is left alone.
      expect(await waitFor(() => Object.keys(pub.summary().connections).length === 1, 10_000)).toBe(
        true,
      );
      expect(serverB.stats().clients.filter((c) => c.publishing > 0)).toHaveLength(1);
      // Media goes on to A.
      const relayed = (): number =>
        serverA.stats().streams.find((s) => s.name === 'cam')?.messages ?? 0;
      const before = relayed();
      expect(await waitFor(() => relayed() > before + 20, 10_000)).toBe(true);
      expect(publishing(serverA, 'cam')).toBe(true);
      await handle.stop();
    } finally {
      await Promise.all(sessions.map((s) => s.close()));
      await serverA.close();
      await serverB.close();
    }
  }, 90_000);
});
