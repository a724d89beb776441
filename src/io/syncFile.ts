import { closeSync, fstatSync, openSync, statSync, writeSync } from 'node:fs';
import { Writable } from 'node:stream';

/**
 * A regular file written with `writeSync` on this thread, as rtmpdump writes its file: no
 * thread-pool round trip per write (a WriteStream wakes a libuv thread and comes back for each
 * one), and no backlog, so the socket is never paused for the file (each write is in the page
 * cache when `write` returns). The price is that the event loop waits while the kernel copies a
 * write, tens of microseconds for a 256 KiB block on a local disk: right for one stream saved
 * by `rtmp-actors play -o FILE`, not for a process serving many streams.
 */
export class SyncFileWriter extends Writable {
  private fd: number | undefined;
  private constructor(
    readonly path: string,
    fd: number,
  ) {
    super({ decodeStrings: false });
    this.fd = fd;
  }

  /**
   * Opens `path` for writing (created, truncated). Returns undefined when it is not a regular
   * file (a FIFO, a device, a terminal): those are written asynchronously, since a blocking
   * write there would stall the event loop for as long as the reader does.
   */
  static open(path: string): SyncFileWriter | undefined {
    // Looked at before opening: opening a FIFO for writing waits for a reader, here on this thread.
    const before = statSync(path, { throwIfNoEntry: false });
    if (before && !before.isFile()) return undefined;
    const fd = openSync(path, 'w');
    if (!fstatSync(fd).isFile()) {
      closeSync(fd);
      return undefined;
    }
    return new SyncFileWriter(path, fd);
  }

  override _write(
    chunk: Uint8Array,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    try {
      let off = 0;
      while (off < chunk.byteLength) off += writeSync(this.fd!, chunk, off);
      callback();
    } catch (e) {
      callback(e as Error);
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.closeFd(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.closeFd((e) => callback(error ?? e));
  }

  private closeFd(callback: (error?: Error | null) => void): void {
    const fd = this.fd;
    this.fd = undefined;
    try {
      if (fd !== undefined) closeSync(fd);
      callback();
    } catch (e) {
      callback(e as Error);
    }
  }
}
