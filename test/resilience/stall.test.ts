/**
 * A live stream whose publisher stops sending while every connection stays up: the player must
 * notice (stalled after the stall timeout, `stream.stall`), and flow again on its own when the
 * media comes back (`stream.state` flowing, `stream.resumed`).
 */
import * as path from 'node:path';
import { type SessionEvent } from '../../src/client';
import type { MediaMessage } from '../../src/io/media';
import {
  sleep,
  startFfmpegPublisher,
  startNginxRtmp,
  stopAll,
  waitFor,
  type NginxRtmp,
  type PublisherHandle,
} from '../helpers';
import { trackSessions } from '../helpers/sessions';

jest.setTimeout(60_000);

const openSession = trackSessions();

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');
const STALL_MS = 1500;

type Timed = SessionEvent & { at: number };

function stateEvents(events: Timed[], since: number): Array<{ state: string; at: number }> {
  return events
    .filter((e) => e.type === 'stream.state' && e.at >= since)
    .map((e) => ({ state: (e as { state: string }).state, at: e.at }));
}

describe('a live stream whose publisher goes quiet', () => {
  let nginx: NginxRtmp;
  const publishers: PublisherHandle[] = [];

  beforeAll(async () => {
    nginx = await startNginxRtmp();
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
  });

  it('stalls after the stall timeout while the publisher is frozen, and flows again when it resumes', async () => {
    const name = 'stall-frozen';
    const url = `rtmp://127.0.0.1:${nginx.port}/live/${name}`;
    const pub = startFfmpegPublisher(url, { file: SMALL_FLV });
    publishers.push(pub);
    const session = openSession({ url, timeouts: { stall: STALL_MS } });
    const events: Timed[] = [];
    session.events$.subscribe((e) => events.push({ ...e, at: Date.now() }));
    const stream = session.play(name, { start: -1 });
    const media: Array<MediaMessage & { at: number }> = [];
    stream.media$.subscribe((m) => media.push({ ...m, at: Date.now() }));

    expect(await waitFor(() => media.length >= 60, 15_000)).toBe(true);
    // Freeze the publisher: its TCP connection (and ours) stay open, no media flows.
    process.kill(pub.pid, 'SIGSTOP');
    const frozenAt = Date.now();
    const stalled = await waitFor(
      () => events.some((e) => e.type === 'stream.stall' && e.at >= frozenAt),
      STALL_MS + 5000,
    );
    const stalledAt = events.find((e) => e.type === 'stream.stall' && e.at >= frozenAt)?.at;
    const lastMediaBeforeStall = media.filter((m) => m.at < (stalledAt ?? Date.now())).at(-1)?.at;
    await sleep(500);
    process.kill(pub.pid, 'SIGCONT');
    const resumedAt = Date.now();
    const flowing = await waitFor(
      () => stateEvents(events, resumedAt).some((s) => s.state === 'flowing'),
      10_000,
    );
    const connectionEvents = events.filter(
      (e) => e.type === 'session.connection' && e.at >= frozenAt,
    );
    await session.close();

    expect(stalled).toBe(true);
    expect(stateEvents(events, frozenAt).map((s) => s.state)).toContain('stalled');
    // Not before the stall timeout after the last media message, and not much after.
    expect(stalledAt! - lastMediaBeforeStall!).toBeGreaterThanOrEqual(STALL_MS - 50);
    expect(stalledAt! - lastMediaBeforeStall!).toBeLessThan(STALL_MS + 1500);
    expect(flowing).toBe(true);
    expect(events.some((e) => e.type === 'stream.resumed' && e.at >= resumedAt)).toBe(true);
    // The connection never went down: a stall is not a reconnect.
    expect(connectionEvents).toEqual([]);
  });

  it('stalls when the publisher vanishes without unpublishing, and flows again when a new one publishes', async () => {
    // SIGKILL would let nginx see the publisher's socket close and send UnpublishNotify; a
    // frozen publisher that is then replaced keeps the player's subscription in place.
    const name = 'stall-replaced';
    const url = `rtmp://127.0.0.1:${nginx.port}/live/${name}`;
    const first = startFfmpegPublisher(url, { file: SMALL_FLV });
    publishers.push(first);
    const session = openSession({ url, timeouts: { stall: STALL_MS } });
    const events: Timed[] = [];
    session.events$.subscribe((e) => events.push({ ...e, at: Date.now() }));
    const stream = session.play(name, { start: -1 });
    let count = 0;
    stream.media$.subscribe(() => count++);
    expect(await waitFor(() => count >= 60, 15_000)).toBe(true);

    process.kill(first.pid, 'SIGSTOP');
    const frozenAt = Date.now();
    const stalled = await waitFor(
      () => events.some((e) => e.type === 'stream.stall' && e.at >= frozenAt),
      STALL_MS + 5000,
    );
    // The frozen publisher dies (nginx tells players UnpublishNotify) and a new one starts.
    process.kill(first.pid, 'SIGKILL');
    const second = startFfmpegPublisher(url, { file: SMALL_FLV });
    publishers.push(second);
    const restartedAt = Date.now();
    const countAtRestart = count;
    const flowing = await waitFor(
      () =>
        count > countAtRestart + 30 &&
        stateEvents(events, restartedAt).some((s) => s.state === 'flowing'),
      15_000,
    );
    const ended = events.filter((e) => e.type === 'stream.ended');
    await session.close();
    await second.stop();

    expect(stalled).toBe(true);
    // A live play outlives its publisher: when the first one goes away nginx-rtmp sends
    // StreamEOF and NetStream.Play.UnpublishNotify, yet the subscription stays, and the new
    // publisher's media reaches the player again.
    expect({ ended, flowing }).toEqual({ ended: [], flowing: true });
  });
});
