/**
 * The write queue of one socket: control messages (commands, acknowledgements, user control)
 * jump the media queue, media keeps its order, and nothing is written while the socket asks to
 * drain. No timers; the owner calls `flush()` on the socket's 'drain'.
 */

/** What the queue needs of a socket. */
export interface WritableEnd {
  readonly destroyed: boolean;
  readonly writableNeedDrain: boolean;
  readonly writableLength: number;
  write(bytes: Uint8Array): boolean;
}

export interface WriteQueue {
  /** Writes at once when the socket takes it (and no media waits before media), else queues. */
  write(bytes: Uint8Array, control: boolean): void;
  /** Writes what is queued, control first, until the socket asks to drain again. */
  flush(): void;
  /** Media chunks waiting (a Set Chunk Size must not overtake them). */
  readonly mediaQueued: number;
  /** Bytes of media waiting in this queue (not counting the socket's own buffer). */
  readonly mediaQueuedBytes: number;
  /** Nothing waits in either queue. */
  readonly empty: boolean;
  /** Bytes waiting here plus in the socket's buffer. */
  queuedBytes(): number;
}

/**
 * `socket()` is read at each call (the socket arrives after the queue exists); `onWritten` counts
 * the bytes that went to the socket.
 */
export function createWriteQueue(
  socket: () => WritableEnd | undefined,
  onWritten?: (bytes: number) => void,
): WriteQueue {
  const control: Uint8Array[] = [];
  const media: Uint8Array[] = [];
  let mediaBytes = 0;
  const put = (s: WritableEnd, bytes: Uint8Array): void => {
    s.write(bytes);
    onWritten?.(bytes.byteLength);
  };
  return {
    write(bytes, isControl) {
      const s = socket();
      if (!s || s.destroyed) return;
      if (s.writableNeedDrain || (!isControl && media.length > 0)) {
        if (isControl) control.push(bytes);
        else {
          media.push(bytes);
          mediaBytes += bytes.byteLength;
        }
        return;
      }
      put(s, bytes);
    },
    flush() {
      const s = socket();
      while (s && !s.writableNeedDrain && (control.length || media.length)) {
        let next: Uint8Array;
        if (control.length) next = control.shift()!;
        else {
          next = media.shift()!;
          mediaBytes -= next.byteLength;
        }
        put(s, next);
      }
    },
    get mediaQueued() {
      return media.length;
    },
    get mediaQueuedBytes() {
      return mediaBytes;
    },
    get empty() {
      return control.length === 0 && media.length === 0;
    },
    queuedBytes() {
      return (socket()?.writableLength ?? 0) + mediaBytes;
    },
  };
}
