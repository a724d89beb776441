/**
 * Stream retries against the embedded server (`rtmp-actors serve`), with our own publishing
 * session as the publisher: a kept-watching play of a name not published yet (StreamNotFound)
 * reads `retrying` until a publisher comes, flows, reads `retrying` again when the publisher
 * leaves (UnpublishNotify) and flows with the next one. A server that waits for publishers
 * (Play.Start and |RtmpSampleAccess, no media) never makes a play read `flowing`.
 */
import * as path from 'node:path';
import { createSession, type StreamHandle } from '../../src/client';
import { RtmpServer } from '../../src/server/server';
import { sleep, waitFor } from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');
const RETRY = { baseMs: 200, maxMs: 800 };
const FIRST_FRAME_MS = 1500;

function watch(handle: StreamHandle) {
  const states: Array<{ state: string; reason?: string; code?: string }> = [];
  let audioVideo = 0;
  handle.status$.subscribe((e) => {
    if (e.type === 'stream.state') {
      states.push({
        state: e.state,
        ...(e.retry ? { reason: e.retry.reason } : {}),
        ...(e.retry?.status ? { code: e.retry.status.code } : {}),
      });
    }
  });
  handle.lentMedia$.subscribe((m) => {
    if (m.type !== 'Data') audioVideo++;
  });
  return { states, media: () => audioVideo };
}

async function sampleStates(handle: StreamHandle, ms: number): Promise<string[]> {
  const seen = new Set<string>();
  const end = Date.now() + ms;
  while (Date.now() < end) {
    seen.add(handle.state);
    await sleep(100);
  }
  return [...seen];
}

describe('stream retries against the embedded server', () => {
  let server: RtmpServer;
  let waiting: RtmpServer;
  let base: string;
  let waitingBase: string;
  beforeAll(async () => {
    server = new RtmpServer({ port: 0 });
    waiting = new RtmpServer({ port: 0, waitForPublisher: true });
    base = `rtmp://127.0.0.1:${(await server.listen()).port}/live`;
    waitingBase = `rtmp://127.0.0.1:${(await waiting.listen()).port}/live`;
  });
  afterAll(async () => {
    await server.close();
    await waiting.close();
  });

  it('keeps watching a name through StreamNotFound, a publisher, its leaving and the next one', async () => {
    const player = createSession({
      url: `${base}/later`,
      timeouts: { firstFrame: FIRST_FRAME_MS },
    });
    const publisher = createSession({ url: `${base}/later` });
    const handle = player.play('later', { keepWatching: true, retry: RETRY });
    const { states, media } = watch(handle);
    try {
      expect(await waitFor(() => handle.state === 'retrying', 10_000)).toBe(true);
      expect(await sampleStates(handle, 2000)).toEqual(['retrying']);
      expect(states.find((s) => s.state === 'retrying')).toEqual({
        state: 'retrying',
        reason: 'REFUSED',
        code: 'NetStream.Play.StreamNotFound',
      });

      let published = publisher.publish('later', SMALL_FLV, { loop: true });
      expect(await waitFor(() => handle.state === 'flowing' && media() > 10, 20_000)).toBe(true);

      await published.stop();
      expect(await waitFor(() => handle.state === 'retrying', 10_000)).toBe(true);
      const ended = states.filter((s) => s.state === 'retrying').find((s) => s.reason === 'ENDED');
      expect(ended).toMatchObject({ code: 'NetStream.Play.UnpublishNotify' });
      expect(await sampleStates(handle, 2000)).toEqual(['retrying']);

      const before = media();
      published = publisher.publish('later', SMALL_FLV, { loop: true });
      expect(await waitFor(() => handle.state === 'flowing' && media() > before + 10, 20_000)).toBe(
        true,
      );
      expect(states.some((s) => s.state === 'failed')).toBe(false);
      expect(handle.finished).toBe(false);
      await published.stop();
    } finally {
      await player.close();
      await publisher.close();
    }
  }, 90_000);

  it('never reads flowing on Play.Start without media, and fails with FIRST_FRAME_TIMEOUT unless it keeps watching', async () => {
    const session = createSession({
      url: `${waitingBase}/nobody`,
      timeouts: { firstFrame: FIRST_FRAME_MS },
    });
    const once = session.play('nobody');
    const kept = session.play('nobody', { keepWatching: true, retry: RETRY });
    const onceLog = watch(once);
    const keptLog = watch(kept);
    try {
      const outcome = await once.done;
      expect(outcome).toMatchObject({ outcome: 'failed', reason: 'FIRST_FRAME_TIMEOUT' });
      expect(onceLog.states.map((s) => s.state)).toContain('awaitingFirstFrame');
      expect(await waitFor(() => kept.state === 'retrying', 10_000)).toBe(true);
      expect(await sampleStates(kept, 3000)).toEqual(['retrying']);
      for (const log of [onceLog, keptLog]) {
        expect(log.states.map((s) => s.state)).not.toContain('flowing');
        expect(log.media()).toBe(0);
      }
    } finally {
      await session.close();
    }
  }, 40_000);
});
