import { createWriteStream, WriteStream } from 'node:fs';
import { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { encodeAmf0Values } from '../protocol/amf';
import { FLV_TAG_HEADER_SIZE, FlvWriter } from '../protocol/flv';
import type { MediaMessage } from './media';
import { SyncFileWriter } from './syncFile';

/** What was written when the sink closed. */
export interface FlvSaveResult {
  tags: number;
  bytes: number;
  audioTags: number;
  videoTags: number;
  /** Media time of the last tag (ms). */
  lastTimestamp: number;
  /** Gaps bridged after reconnects. */
  gaps: number;
}

/** Options of an FLV sink. */
export interface FlvFileSinkOptions {
  audio?: boolean;
  video?: boolean;
  /**
   * Start the file's timeline at 0: the first audio or video message is written at 0 and the
   * rest keep their distance from it (metadata before it at 0), as ffmpeg's and OBS's live
   * recordings do. After a gap (`markGap`) the writer's rebasing takes over. Default false: the
   * timestamps as the server sent them.
   */
  startAtZero?: boolean;
  /**
   * Called once when the output fails (it cannot be opened, a write fails): the sink stops
   * writing and `close` rejects with that error. Without it the error is still caught (the
   * process never sees an unhandled 'error') and `close` rejects.
   */
  onError?: (error: Error) => void;
}

/** Size of the blocks tags are gathered into before they are written. */
const BLOCK_SIZE = 256 * 1024;
/** Written blocks kept for reuse (8 MiB, the transport's default high-water mark). */
const MAX_SPARE_BLOCKS = 32;

/**
 * Writes media messages as an FLV file (or to any writable). Timestamps are kept as the server
 * sent them, except across a reconnect (`markGap`), where the new run is rebased onto the last
 * written time so the file never jumps back. Every tag is written whole, so the file is valid
 * whatever happens to the connection.
 *
 * Tags are copied into 256 KiB blocks as they come, so `write` may be given lent payloads (valid
 * only during the call), and what a turn of the event loop added is written at its end (a socket
 * read's worth of tags in one write, not three writes per tag). The next turn goes on filling
 * the same block after the part already written, so a backlog of N bytes holds about N bytes of
 * blocks, however small the reads. A full block is reused once all its writes are done when the
 * target is a file, a socket or stdout, which are done with a chunk when its callback runs; any
 * other writable (a PassThrough may hand the very chunk to its reader later) gets new ones.
 */
export class FlvFileSink {
  private readonly out: Writable;
  private readonly writer: FlvWriter;
  private headerWritten = false;
  private readonly ownsStream: boolean;
  private result: FlvSaveResult = {
    tags: 0,
    bytes: 0,
    audioTags: 0,
    videoTags: 0,
    lastTimestamp: 0,
    gaps: 0,
  };
  private closing?: Promise<FlvSaveResult>;
  private drainListeners = new Set<() => void>();
  private rebaseNext = false;
  /** Set by `markSeek`: the next audio/video tag must not go back in time. */
  private seekNext = false;
  /** The server's timestamp of the last audio/video tag written. */
  private lastSource: number | undefined;
  /** The block being filled, how much of it is, and how much of that was handed to `out`. */
  private block: Buffer | null = null;
  private used = 0;
  private written = 0;
  /** Blocks with writes whose callbacks have not run yet, and how many. */
  private readonly pendingWrites = new Map<Buffer, number>();
  private flushQueued = false;
  private readonly spare: Buffer[] = [];
  private readonly reuseBlocks: boolean;
  private readonly flushNow = (): void => {
    this.flushQueued = false;
    this.flush();
  };

  /** The first audio/video timestamp, subtracted from every one when `startAtZero`. */
  private zeroBase: number | undefined;
  private readonly startAtZero: boolean;
  /** The output's error, once it failed. */
  private error: Error | undefined;
  private readonly onError: ((error: Error) => void) | undefined;

  /** The output failed (an 'error' event, or a write's callback, whichever comes first). */
  private failWith(e: Error): void {
    if (this.error) return;
    this.error = e;
    this.onError?.(e);
  }

  constructor(target: string | Writable, options: FlvFileSinkOptions = {}) {
    this.ownsStream = typeof target === 'string';
    this.out = typeof target === 'string' ? createWriteStream(target) : target;
    this.startAtZero = options.startAtZero ?? false;
    this.onError = options.onError;
    this.out.on('error', (e: Error) => this.failWith(e));
    this.writer = new FlvWriter({
      audio: options.audio ?? true,
      video: options.video ?? true,
      monotonic: false,
    });
    // (Not `out === process.stdout`: reading that getter would open stdout.) Node's stdout on a
    // file is a SyncWriteStream, which writes each chunk with writeSync before its callback.
    // WriteStream last: reading fs.WriteStream loads Node's fs streams (and fs/promises and
    // readline with them, milliseconds before the first tag is written), not needed otherwise.
    this.reuseBlocks =
      this.out instanceof SyncFileWriter ||
      this.out instanceof Socket ||
      this.out.constructor?.name === 'SyncWriteStream' ||
      this.out instanceof WriteStream;
    this.out.on('drain', () => {
      for (const l of this.drainListeners) l();
    });
  }

  /** Bytes handed to the file but not yet written (for the transport's backpressure). */
  backlog(): number {
    return this.out.writableLength + this.used - this.written;
  }

  onDrain(listener: () => void): () => void {
    this.drainListeners.add(listener);
    return () => this.drainListeners.delete(listener);
  }

  /** The next tag follows the last one by `gapMs` (after a reconnect), whatever its own timestamp. */
  markGap(): void {
    this.rebaseNext = true;
    this.zeroBase = undefined;
    this.result.gaps++;
  }

  /**
   * The server moved to another position (a seek): the next audio/video tag keeps its own
   * timestamp when that is ahead of the last one written (the file jumps forward to the new
   * position), and follows the last one otherwise (a seek back never takes the file back).
   */
  markSeek(): void {
    this.seekNext = true;
  }

  /** Writes one message; script data other than onMetaData is skipped. */
  write(message: MediaMessage): void {
    if (this.closing || this.error) return;
    let type: 8 | 9 | 18;
    let data: Uint8Array;
    if (message.type === 'Audio') {
      type = 8;
      data = message.payload;
    } else if (message.type === 'Video') {
      type = 9;
      data = message.payload;
    } else {
      const values = message.name === '@setDataFrame' ? message.values.slice(1) : message.values;
      if (values[0] !== 'onMetaData') return;
      type = 18;
      data = encodeAmf0Values(values);
    }
    if (!this.headerWritten) {
      this.push(this.writer.header());
      this.headerWritten = true;
    }
    if (this.rebaseNext && this.result.tags > 0) {
      this.writer.rebase(33);
    }
    this.rebaseNext = false;
    if (this.seekNext && type !== 18) {
      this.seekNext = false;
      // The writer adds one offset to every source timestamp: behind the last source one is
      // behind the last written one.
      if (this.lastSource !== undefined && ((message.timestamp - this.lastSource) | 0) < 0) {
        this.writer.rebase(33);
      }
    }
    if (type !== 18) this.lastSource = message.timestamp;
    // Script data between a seek and its first audio/video tag is written at the last one's
    // time, so that tag's rebase (if it goes back) anchors on the last media, not on the data.
    const timestamp =
      type === 18 && this.seekNext && this.lastSource !== undefined
        ? this.lastSource
        : message.timestamp;
    // The header goes straight into the block, then the data, then PreviousTagSize.
    this.room(FLV_TAG_HEADER_SIZE);
    this.writer.writeHeaderInto(
      { type, timestamp: this.startAtZero ? this.fromZero(message, timestamp) : timestamp, data },
      this.block!,
      this.used,
    );
    this.used += FLV_TAG_HEADER_SIZE;
    this.push(data);
    this.room(4);
    const size = FLV_TAG_HEADER_SIZE + data.length;
    const block = this.block!;
    const at = this.used;
    block[at] = size >>> 24;
    block[at + 1] = (size >>> 16) & 0xff;
    block[at + 2] = (size >>> 8) & 0xff;
    block[at + 3] = size & 0xff;
    this.used += 4;
    this.result.bytes += size + 4 - data.length;
    this.result.tags++;
    if (type === 8) this.result.audioTags++;
    if (type === 9) this.result.videoTags++;
    this.result.lastTimestamp = this.writer.lastTimestamp ?? message.timestamp;
  }

  /** A message's timestamp on a timeline that starts at the first audio or video message. */
  private fromZero(message: MediaMessage, timestamp = message.timestamp): number {
    if (this.zeroBase === undefined) {
      if (message.type === 'Data') return 0;
      this.zeroBase = timestamp;
    }
    const d = (timestamp - this.zeroBase) | 0; // 32-bit serial arithmetic
    return d < 0 ? 0 : d;
  }

  /** Makes sure the block being filled has `n` free bytes (starting a new one if it has not). */
  private room(n: number): void {
    if (this.block !== null && BLOCK_SIZE - this.used >= n) return;
    this.nextBlock();
    this.queueFlush();
  }

  /** Writes what is left of the block being filled, lets it go, and starts a spare or new one. */
  private nextBlock(): Buffer {
    this.flush();
    this.retire();
    this.used = 0;
    this.written = 0;
    return (this.block = this.spare.pop() ?? Buffer.allocUnsafe(BLOCK_SIZE));
  }

  /** The block being filled is done with: it goes back to the spares once its writes are. */
  private retire(): void {
    const block = this.block;
    this.block = null;
    if (block !== null && this.reuseBlocks && !this.pendingWrites.has(block)) this.keep(block);
  }

  private keep(block: Buffer): void {
    if (this.spare.length < MAX_SPARE_BLOCKS) this.spare.push(block);
  }

  /** Copies `bytes` into the blocks; full ones are written at once, the last one soon. */
  private push(bytes: Uint8Array): void {
    this.result.bytes += bytes.byteLength;
    let p = 0;
    while (p < bytes.byteLength) {
      const block = this.block !== null && this.used < BLOCK_SIZE ? this.block : this.nextBlock();
      const n = Math.min(BLOCK_SIZE - this.used, bytes.byteLength - p);
      block.set(p === 0 && n === bytes.byteLength ? bytes : bytes.subarray(p, p + n), this.used);
      this.used += n;
      p += n;
      if (this.used === BLOCK_SIZE) this.flush();
    }
    this.queueFlush();
  }

  /** The block being filled is written at the end of this turn of the event loop. */
  private queueFlush(): void {
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushNow);
    }
  }

  /**
   * Writes the part of the block being filled that is not written yet. The block stays the one
   * being filled: later tags go after that part, which nothing touches again.
   */
  private flush(): void {
    const block = this.block;
    if (block === null || this.used === this.written || this.error) return;
    const bytes =
      this.written === 0 && this.used === BLOCK_SIZE
        ? block
        : block.subarray(this.written, this.used);
    this.written = this.used;
    if (!this.reuseBlocks) {
      this.out.write(bytes, (err) => err && this.failWith(err));
      return;
    }
    this.pendingWrites.set(block, (this.pendingWrites.get(block) ?? 0) + 1);
    this.out.write(bytes, (err) => {
      if (err) this.failWith(err);
      this.writeDone(block);
    });
  }

  /** A write of `block` is done; a block no longer being filled is spare once all of them are. */
  private writeDone(block: Buffer): void {
    const left = (this.pendingWrites.get(block) ?? 1) - 1;
    if (left > 0) {
      this.pendingWrites.set(block, left);
      return;
    }
    this.pendingWrites.delete(block);
    if (block !== this.block) this.keep(block);
  }

  /** Flushes and closes (the file stays valid: every tag is whole). */
  close(): Promise<FlvSaveResult> {
    if (!this.closing) {
      this.closing = new Promise((resolve, reject) => {
        if (this.error) {
          reject(this.error);
          return;
        }
        if (!this.headerWritten) {
          this.push(this.writer.header());
          this.headerWritten = true;
        }
        this.flush();
        if (!this.ownsStream) {
          resolve({ ...this.result });
          return;
        }
        this.out.once('error', reject);
        this.out.end((err?: Error | null) => {
          if (err) this.failWith(err);
          if (this.error) reject(this.error);
          else resolve({ ...this.result });
        });
      });
    }
    return this.closing;
  }
}
