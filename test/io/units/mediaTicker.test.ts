import { createMediaTicker, MEDIA_TICK_MS, type MediaTick } from '../../../src/io/mediaTicker';

/** A hand-driven clock with the ticker's timers on it. */
function setup(tickMs?: number) {
  let now = 1_000;
  const timers: Array<{ at: number; callback: () => void; handle: number }> = [];
  let handles = 0;
  const ticks: MediaTick[] = [];
  const ticker = createMediaTicker({
    emit: (t) => ticks.push(t),
    clock: () => now,
    tickMs,
    timers: {
      setTimeout: (callback, ms) => {
        timers.push({ at: now + ms, callback, handle: ++handles });
        return handles;
      },
      clearTimeout: (handle) => {
        const i = timers.findIndex((t) => t.handle === handle);
        if (i >= 0) timers.splice(i, 1);
      },
    },
  });
  const advance = (ms: number): void => {
    now += ms;
    for (const t of timers.filter((x) => x.at <= now)) {
      timers.splice(timers.indexOf(t), 1);
      t.callback();
    }
  };
  return { ticker, ticks, advance, timers };
}

describe('the media ticker', () => {
  it('has a named default interval of 250 ms', () => {
    expect(MEDIA_TICK_MS).toBe(250);
  });

  it('ticks at once for the first media message of a quiet stream', () => {
    const { ticker, ticks } = setup();
    ticker.media(1, 40, true);
    expect(ticks).toEqual([{ type: 'MEDIA.TICK', streamId: 1, keyframe: true, timestamp: 40 }]);
  });

  it('sums up media within the window in one trailing tick at its end, keyframe if any was', () => {
    const { ticker, ticks, advance } = setup(100);
    ticker.media(1, 0, false);
    advance(10);
    ticker.media(1, 10, true);
    advance(10);
    ticker.media(1, 20, false);
    expect(ticks).toHaveLength(1);
    advance(80);
    expect(ticks[1]).toEqual({ type: 'MEDIA.TICK', streamId: 1, keyframe: true, timestamp: 20 });
  });

  it('ticks at once again once a whole window passed in silence', () => {
    const { ticker, ticks, advance } = setup(100);
    ticker.media(1, 0, false);
    advance(150);
    ticker.media(1, 150, false);
    expect(ticks.map((t) => t.timestamp)).toEqual([0, 150]);
  });

  it('keeps one window per stream', () => {
    const { ticker, ticks } = setup(100);
    ticker.media(1, 0, false);
    ticker.media(2, 0, false);
    expect(ticks.map((t) => t.streamId)).toEqual([1, 2]);
  });

  it('drops the pending tick of a stream it forgets, and ticks it at once when it comes back', () => {
    const { ticker, ticks, advance, timers } = setup(100);
    ticker.media(1, 0, false);
    ticker.media(1, 10, false);
    ticker.forget(1);
    expect(timers).toHaveLength(0);
    advance(200);
    expect(ticks).toHaveLength(1);
    ticker.media(1, 300, false);
    expect(ticks).toHaveLength(2);
  });

  it('cancels every pending tick when stopped', () => {
    const { ticker, ticks, advance, timers } = setup(100);
    ticker.media(1, 0, false);
    ticker.media(1, 1, false);
    ticker.media(2, 0, false);
    ticker.media(2, 1, false);
    ticker.stop();
    expect(timers).toHaveLength(0);
    advance(500);
    expect(ticks).toHaveLength(2);
  });
});
