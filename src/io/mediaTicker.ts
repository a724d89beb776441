/**
 * The media ticker: tells the machines that media flows on a stream (MEDIA.TICK), at most once
 * every `tickMs` per stream. The first media message of a quiet stream ticks at once; later ones
 * within the window are summed up by one trailing tick at its end, so the machines' last tick is
 * never older than the last media message (stall timers count from real silence, not from up to
 * `tickMs` before it).
 */

/** Least time between two MEDIA.TICK events of one stream, by default. */
export const MEDIA_TICK_MS = 250;

/** One MEDIA.TICK (machines/contract.ts). */
export interface MediaTick {
  type: 'MEDIA.TICK';
  streamId: number;
  keyframe: boolean;
  timestamp: number;
}

/** Timers the ticker uses (injectable for tests). */
export interface TickerTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface MediaTicker {
  /** Audio or video arrived on `streamId` (`keyframe`: a video keyframe). */
  media(streamId: number, timestamp: number, keyframe: boolean): void;
  /** The stream is no longer routed: its pending tick is dropped, its window forgotten. */
  forget(streamId: number): void;
  /** Cancels every pending tick. */
  stop(): void;
}

const realTimers: TickerTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export function createMediaTicker(options: {
  emit: (tick: MediaTick) => void;
  clock: () => number;
  tickMs?: number;
  timers?: TickerTimers;
}): MediaTicker {
  const tickMs = options.tickMs ?? MEDIA_TICK_MS;
  const timers = options.timers ?? realTimers;
  const { emit, clock } = options;
  // What a stream's trailing tick will say is kept in place (`pending`, `timestamp`,
  // `keyframe`): media() runs for every audio and video message, and allocates nothing.
  const streams = new Map<
    number,
    {
      at: number;
      pending: boolean;
      timestamp: number;
      keyframe: boolean;
      timer: unknown;
    }
  >();

  const flush = (streamId: number): void => {
    const state = streams.get(streamId);
    if (!state) return;
    state.timer = undefined;
    if (!state.pending) return;
    state.pending = false;
    state.at = clock();
    emit({
      type: 'MEDIA.TICK',
      streamId,
      keyframe: state.keyframe,
      timestamp: state.timestamp,
    });
  };

  return {
    media(streamId, timestamp, keyframe) {
      const state = streams.get(streamId);
      if (state !== undefined && state.timer !== undefined) {
        // A trailing tick is due: it will say this. (No clock read: most messages end here.)
        state.keyframe = keyframe || (state.pending && state.keyframe);
        state.timestamp = timestamp;
        state.pending = true;
        return;
      }
      const now = clock();
      if (state === undefined) {
        streams.set(streamId, {
          at: now,
          pending: false,
          timestamp: 0,
          keyframe: false,
          timer: undefined,
        });
        emit({ type: 'MEDIA.TICK', streamId, keyframe, timestamp });
        return;
      }
      if (now - state.at >= tickMs) {
        state.at = now;
        emit({ type: 'MEDIA.TICK', streamId, keyframe, timestamp });
        return;
      }
      state.keyframe = keyframe;
      state.timestamp = timestamp;
      state.pending = true;
      state.timer = timers.setTimeout(
        () => flush(streamId),
        Math.max(0, tickMs - (now - state.at)),
      );
    },
    forget(streamId) {
      const state = streams.get(streamId);
      if (state?.timer !== undefined) timers.clearTimeout(state.timer);
      streams.delete(streamId);
    },
    stop() {
      for (const state of streams.values()) {
        if (state.timer !== undefined) timers.clearTimeout(state.timer);
      }
      streams.clear();
    },
  };
}
