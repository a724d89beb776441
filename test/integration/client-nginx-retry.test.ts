/**
 * Stream retries against nginx-rtmp with a real ffmpeg publisher: a play that keeps watching
 * reads `retrying` (never `failed`, never `flowing` without media) while its publisher is gone,
 * and flows again when it comes back; a play of a name nobody publishes never reads `flowing`.
 */
import * as path from 'node:path';
import { createSession, type StreamEvent, type StreamHandle } from '../../src/client';
import type { MediaMessage } from '../../src/io/media';
import {
  sleep,
  startFfmpegPublisher,
  startNginxRtmp,
  stopAll,
  waitFor,
  type NginxRtmp,
} from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');
/** Short backoff and first-frame timeout, so that several attempts fit in a few seconds. */
const RETRY = { baseMs: 200, maxMs: 1000 };
const FIRST_FRAME_MS = 1500;
/** How long an outage is watched (the issue asks 60 s of a user; the suite keeps it short). */
const OUTAGE_MS = 8000;

/** Everything a handle says, with the time it said it. */
function record(handle: StreamHandle) {
  const states: Array<{ at: number; state: string; attempt?: number; reason?: string }> = [];
  const media: MediaMessage[] = [];
  handle.status$.subscribe((e: StreamEvent) => {
    if (e.type === 'stream.state') {
      states.push({
        at: Date.now(),
        state: e.state,
        ...(e.retry ? { attempt: e.retry.attempt, reason: e.retry.reason } : {}),
      });
    }
  });
  handle.lentMedia$.subscribe((m) => {
    if (m.type !== 'Data') media.push({ ...m, payload: new Uint8Array(0) } as MediaMessage);
  });
  return { states, media };
}

/** Samples `handle.state` every 100 ms for `ms`: the states it read. */
async function sampleStates(handle: StreamHandle, ms: number): Promise<Set<string>> {
  const seen = new Set<string>();
  const end = Date.now() + ms;
  while (Date.now() < end) {
    seen.add(handle.state);
    await sleep(100);
  }
  return seen;
}

describe('stream retries against nginx-rtmp', () => {
  let nginx: NginxRtmp;
  let base: string;
  beforeAll(async () => {
    nginx = await startNginxRtmp();
    base = `rtmp://127.0.0.1:${nginx.port}/live`;
  });
  afterAll(async () => {
    await stopAll();
  });

  it('keeps watching through a publisher outage: retrying (not failed) while it is gone, flowing with media when it is back', async () => {
    let publisher = startFfmpegPublisher(`${base}/outage`, { file: SMALL_FLV });
    const session = createSession({
      url: `${base}/outage`,
      timeouts: { firstFrame: FIRST_FRAME_MS },
    });
    const handle = session.play('outage', { keepWatching: true, retry: RETRY });
    const { states, media } = record(handle);
    try {
      expect(await waitFor(() => handle.state === 'flowing' && media.length > 10, 20_000)).toBe(
        true,
      );

      await publisher.stop();
      expect(await waitFor(() => handle.state === 'retrying', 10_000)).toBe(true);
      const outageStart = Date.now();
      const during = await sampleStates(handle, OUTAGE_MS);
      const attemptsDuring = states.filter((s) => s.at >= outageStart && s.state === 'retrying');

      const mediaBefore = media.length;
      publisher = startFfmpegPublisher(`${base}/outage`, { file: SMALL_FLV });
      const back = await waitFor(
        () => handle.state === 'flowing' && media.length > mediaBefore + 10,
        30_000,
      );

      expect([...during]).toEqual(['retrying']);
      // Several attempts were made during the outage, each announced as `retrying`.
      expect(attemptsDuring.length).toBeGreaterThan(1);
      expect(attemptsDuring.map((s) => s.attempt)).toEqual(
        attemptsDuring.map((_, i) => attemptsDuring[0].attempt! + i),
      );
      const firstRetry = states.find((s) => s.state === 'retrying');
      expect(firstRetry).toMatchObject({ attempt: 1, reason: 'ENDED' });
      expect(back).toBe(true);
      expect(handle.finished).toBe(false);
      expect(states.some((s) => s.state === 'failed')).toBe(false);
    } finally {
      await session.close();
      await publisher.stop();
    }
  }, 90_000);

  it('keeps watching a name nobody publishes: retrying throughout, never flowing, no media', async () => {
    const session = createSession({
      url: `${base}/nobody`,
      timeouts: { firstFrame: FIRST_FRAME_MS },
    });
    const handle = session.play('nobody', { keepWatching: true, retry: RETRY });
    const { states, media } = record(handle);
    try {
      expect(await waitFor(() => handle.state === 'retrying', 10_000)).toBe(true);
      const seen = await sampleStates(handle, OUTAGE_MS);
      expect([...seen]).toEqual(['retrying']);
      expect(states.some((s) => s.state === 'flowing' || s.state === 'failed')).toBe(false);
      expect(states.filter((s) => s.state === 'retrying').length).toBeGreaterThan(1);
      expect(states.find((s) => s.state === 'retrying')).toMatchObject({
        reason: 'FIRST_FRAME_TIMEOUT',
      });
      expect(media).toEqual([]);
      expect(handle.finished).toBe(false);
    } finally {
      await session.close();
    }
  }, 40_000);

  it('without keepWatching, fails a play of a name nobody publishes with FIRST_FRAME_TIMEOUT, never having read flowing', async () => {
    const session = createSession({
      url: `${base}/nobody2`,
      timeouts: { firstFrame: FIRST_FRAME_MS },
    });
    const handle = session.play('nobody2');
    const { states } = record(handle);
    try {
      const outcome = await handle.done;
      expect(outcome).toMatchObject({ outcome: 'failed', reason: 'FIRST_FRAME_TIMEOUT' });
      expect(states.map((s) => s.state)).toContain('awaitingFirstFrame');
      expect(states.map((s) => s.state)).not.toContain('flowing');
    } finally {
      await session.close();
    }
  }, 30_000);
});
