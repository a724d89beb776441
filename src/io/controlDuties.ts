/**
 * The transport's control duties: the acknowledgement window (when bytes received pass a
 * multiple of the peer's Window Acknowledgement Size, an Acknowledgement is due) and the
 * chunk-size switch (our Set Chunk Size never overtakes media already encoded with the old size).
 * Pure bookkeeping, kept apart so that a module shared with the server can replace it.
 */
export interface ControlDuties {
  /** The peer's Window Acknowledgement Size (0: no acknowledgements). Counts from now. */
  setAckWindow(windowSize: number): void;
  /** Bytes received so far (total): the sequence number of an Acknowledgement now due, if any. */
  bytesReceived(total: number): number | undefined;
  /** Whether our Set Chunk Size may go out as control (ahead of queued media): only if none waits. */
  chunkSizeIsControl(mediaQueued: number): boolean;
}

export function createControlDuties(): ControlDuties {
  let ackWindow = 0;
  let nextAckAt = 0;
  let bytesIn = 0;
  return {
    setAckWindow(windowSize) {
      ackWindow = windowSize;
      nextAckAt = bytesIn + ackWindow;
    },
    bytesReceived(total) {
      bytesIn = total;
      if (ackWindow <= 0 || bytesIn < nextAckAt) return undefined;
      while (nextAckAt <= bytesIn) nextAckAt += ackWindow;
      return bytesIn >>> 0;
    },
    chunkSizeIsControl(mediaQueued) {
      return mediaQueued === 0;
    },
  };
}
