import * as path from 'node:path';
import { createSession } from '../../src/client';
import { RtmpServer, type ServerEvent } from '../../src/server';
import {
  honouredAckWindow,
  MemoryBudget,
  RateLimiter,
  ServerLimitError,
} from '../../src/server/limits';
import { waitFor } from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

describe('the server-wide memory budget', () => {
  it('records holdings that fit and refuses, naming maxBufferedBytes, the one that would exceed it', () => {
    const budget = new MemoryBudget(100);
    expect(budget.set('connection 1', 'partialMessages', 60)).toBeUndefined();
    expect(budget.set('stream live/ca***#1', 'gopCache', 30)).toBeUndefined();
    const err = budget.set('connection 2', 'queuedOutput', 20);
    expect(err).toBeInstanceOf(ServerLimitError);
    expect(err).toMatchObject({
      code: 'MAX_BUFFERED_BYTES',
      details: { owner: 'connection 2', kind: 'queuedOutput', bytes: 20, total: 110, limit: 100 },
    });
    expect(err?.message).toMatch(/over maxBufferedBytes 100/);
    // Nothing changed: the refused holding is not counted.
    expect(budget.total).toBe(90);
    expect(budget.peak).toBe(90);
  });

  it('always lets a holder hold less, and forgets everything a closed owner held', () => {
    const budget = new MemoryBudget(100);
    budget.set('connection 1', 'partialMessages', 90);
    budget.set('connection 1', 'queuedOutput', 10);
    expect(budget.set('connection 1', 'partialMessages', 95)).toBeInstanceOf(ServerLimitError);
    expect(budget.set('connection 1', 'partialMessages', 5)).toBeUndefined();
    expect(budget.total).toBe(15);
    budget.release('connection 1');
    expect(budget.total).toBe(0);
    expect(budget.peak).toBe(100);
    budget.resetPeak();
    expect(budget.peak).toBe(0);
  });

  it('refuses a budget that is not a positive integer', () => {
    expect(() => new MemoryBudget(0)).toThrow(/maxBufferedBytes must be a positive integer/);
  });
});

describe('the ping rate limiter', () => {
  it('allows a burst of perSecond, then one per 1/perSecond seconds, and counts the rest', () => {
    const limiter = new RateLimiter(50, 0);
    let allowed = 0;
    for (let i = 0; i < 1000; i++) if (limiter.take(0)) allowed++;
    expect(allowed).toBe(50);
    expect(limiter.refused).toBe(950);
    // 50 a second: one token every 20 ms.
    expect(limiter.take(19)).toBe(false);
    expect(limiter.take(20)).toBe(true);
    // Much later: a full burst again, never more.
    let later = 0;
    for (let i = 0; i < 1000; i++) if (limiter.take(5_000)) later++;
    expect(later).toBe(50);
  });
});

describe('the acknowledgement window we honour', () => {
  it('is never below the minimum, and 0 (no acknowledgements) stays 0', () => {
    expect(honouredAckWindow(1, 4096)).toBe(4096);
    expect(honouredAckWindow(5_000_000, 4096)).toBe(5_000_000);
    expect(honouredAckWindow(0, 4096)).toBe(0);
  });
});

describe('the GOP caches count against the server-wide budget', () => {
  it('closes the publisher whose GOP cache would take the server over maxBufferedBytes', async () => {
    const server = new RtmpServer({ port: 0, maxBufferedBytes: 100_000 });
    const events: ServerEvent[] = [];
    server.events$.subscribe((e) => events.push(e));
    const { port } = await server.listen();
    const session = createSession({
      url: `rtmp://127.0.0.1:${port}/live`,
      retry: { maxAttempts: 1 },
    });
    try {
      session.publish('cam', SMALL_FLV, { loop: true });
      expect(
        await waitFor(
          () =>
            events.some(
              (e) =>
                e.type === 'close' && /of gopCache, .* over maxBufferedBytes 100000/.test(e.reason),
            ),
          15_000,
        ),
      ).toBe(true);
      expect(server.stats().peakBufferedBytes).toBeLessThanOrEqual(100_000);
      expect(await waitFor(() => server.stats().bufferedBytes === 0, 5_000)).toBe(true);
    } finally {
      await session.close();
      await server.close();
    }
  }, 30_000);
});
