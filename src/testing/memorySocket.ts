/**
 * An in-memory socket pair end, synchronous: what the runtime transport reads and writes when a
 * test runs it without a network (src/testing/scriptedPeer.ts). Bytes written by the transport
 * go straight to the far end's `onBytes`; bytes the far end delivers reach the transport at once
 * (through `readInto.onData` when the transport asked for it, else as 'data' events), or wait
 * while the transport paused the socket. Nothing here knows RTMP.
 */
import type { TransportSocket } from '../io/transport';

type Listener = (...args: never[]) => void;

export class MemorySocket implements TransportSocket {
  destroyed = false;
  /** The transport called end(): it will write nothing more. */
  ended = false;
  readonly writableNeedDrain = false;
  readonly writableLength = 0;
  private paused = false;
  private delivering = false;
  private readonly waiting: Uint8Array[] = [];
  private readonly listeners = new Map<string, Set<Listener>>();
  private closed = false;
  /** Set when the transport opened the socket with `readInto` (plain rtmp). */
  onData: ((bytes: Uint8Array) => void) | undefined;

  constructor(
    /** The far end: every byte the transport writes. */
    private readonly onBytes: (bytes: Uint8Array) => void,
  ) {}

  // ---------------------------------------------------------------- the transport's side

  pause(): this {
    this.paused = true;
    return this;
  }

  resume(): this {
    this.paused = false;
    this.pump();
    return this;
  }

  write(bytes: Uint8Array): boolean {
    if (this.destroyed || this.ended) return false;
    this.onBytes(Uint8Array.prototype.slice.call(bytes));
    return true;
  }

  end(): this {
    this.ended = true;
    return this;
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.emitClose();
    return this;
  }

  on(event: string, listener: Listener): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return this;
  }

  off(event: string, listener: Listener): this {
    this.listeners.get(event)?.delete(listener);
    return this;
  }

  // ---------------------------------------------------------------- the far end's side

  /** Bytes from the far end: read now, or once the transport resumes the socket. */
  deliver(bytes: Uint8Array): void {
    if (this.destroyed) return;
    this.waiting.push(bytes);
    this.pump();
  }

  /** A socket error (an `errno` error, as Node raises it). */
  fail(error: Error): void {
    if (this.destroyed) return;
    this.emit('error', error);
  }

  /** The far end closed the connection. */
  hangUp(): void {
    this.destroyed = true;
    this.emitClose();
  }

  private emitClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }

  private pump(): void {
    if (this.delivering) return;
    this.delivering = true;
    try {
      while (!this.paused && !this.destroyed && this.waiting.length > 0) {
        const bytes = this.waiting.shift()!;
        if (this.onData) this.onData(bytes);
        else this.emit('data', Buffer.from(bytes));
      }
    } finally {
      this.delivering = false;
    }
  }

  private emit(event: string, ...args: unknown[]): void {
    for (const l of [...(this.listeners.get(event) ?? [])])
      (l as (...a: unknown[]) => void)(...args);
  }
}
