/**
 * A session's connection pool against nginx-rtmp (one stream per connection), with a real ffmpeg
 * publisher: streams moved to a connection of their own read `relocating`, never `failed`; the
 * pool grows to as many connections as streams were asked for; an explicit `maxConnections` is a
 * real limit, named with its value in the outcome of the streams it refuses.
 */
import * as path from 'node:path';
import { createSession, type StreamEvent, type StreamHandle } from '../../src/client';
import { startFfmpegPublisher, startNginxRtmp, stopAll, waitFor, type NginxRtmp } from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

/** Plays `count` streams of one name on a fresh session, recording each one's state events. */
function playMany(url: string, name: string, count: number, options: { maxConnections?: number }) {
  const session = createSession({ url, streamsPerConnection: 'auto', ...options });
  const handles: StreamHandle[] = [];
  const states = new Map<string, string[]>();
  const errors = new Map<string, StreamEvent[]>();
  const audioVideo = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const handle = session.play(name, { start: -1 });
    handles.push(handle);
    states.set(handle.key, []);
    errors.set(handle.key, []);
    audioVideo.set(handle.key, 0);
    handle.status$.subscribe((e) => {
      if (e.type === 'stream.state') states.get(handle.key)!.push(e.state);
      if (e.type === 'stream.error') errors.get(handle.key)!.push(e);
    });
    handle.lentMedia$.subscribe((m) => {
      if (m.type !== 'Data') audioVideo.set(handle.key, audioVideo.get(handle.key)! + 1);
    });
  }
  return { session, handles, states, errors, audioVideo };
}

describe('the connection pool against nginx-rtmp', () => {
  let nginx: NginxRtmp;
  let base: string;
  let publisher: ReturnType<typeof startFfmpegPublisher>;
  beforeAll(async () => {
    nginx = await startNginxRtmp();
    base = `rtmp://127.0.0.1:${nginx.port}/live`;
    publisher = startFfmpegPublisher(`${base}/pool`, { file: SMALL_FLV });
  });
  afterAll(async () => {
    await publisher?.stop();
    await stopAll();
  });

  it('grows to 20 connections for 20 plays (no cap below what was asked), each stream moved reading relocating, never failed', async () => {
    const { session, handles, states, errors, audioVideo } = playMany(
      `${base}/pool`,
      'pool',
      20,
      {},
    );
    try {
      const allFlowing = await waitFor(
        () => handles.every((h) => h.state === 'flowing' && audioVideo.get(h.key)! > 0),
        40_000,
      );
      const summary = session.summary();
      expect(allFlowing).toBe(true);
      expect(Object.keys(summary.connections)).toHaveLength(20);
      expect(new Set(handles.map((h) => summary.streams[h.key].connectionId)).size).toBe(20);
      const all = [...states.values()];
      expect(all.filter((s) => s.includes('relocating')).length).toBeGreaterThan(0);
      expect(all.some((s) => s.includes('failed'))).toBe(false);
      expect([...errors.values()].flat()).toEqual([]);
    } finally {
      await session.close();
    }
  }, 90_000);

  it('refuses the streams beyond an explicit maxConnections with MAX_CONNECTIONS, the limit named with its value', async () => {
    const { session, handles, audioVideo } = playMany(`${base}/pool`, 'pool', 5, {
      maxConnections: 3,
    });
    try {
      const outcomes = await Promise.all(
        handles.map((h) =>
          Promise.race([
            h.done,
            waitFor(() => h.finished || audioVideo.get(h.key)! > 0, 30_000).then(() => null),
          ]),
        ),
      );
      const refused = outcomes.filter((o) => o !== null);
      expect(refused).toHaveLength(2);
      for (const outcome of refused) {
        expect(outcome).toMatchObject({
          outcome: 'failed',
          reason: 'MAX_CONNECTIONS',
          limit: { name: 'maxConnections', value: 3 },
          message: expect.stringContaining('maxConnections (3)'),
        });
      }
      expect(Object.keys(session.summary().connections).length).toBeLessThanOrEqual(3);
    } finally {
      await session.close();
    }
  }, 60_000);
});
