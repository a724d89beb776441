import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { encodeAmf0Values } from '../protocol/amf';
import { FlvWriter } from '../protocol/flv';
import type { MediaMessage } from './media';

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

/**
 * Writes media messages as an FLV file (or to any writable). Timestamps are kept as the server
 * sent them, except across a reconnect (`markGap`), where the new run is rebased onto the last
 * written time so the file never jumps back. Every tag is written whole, so the file is valid
 * whatever happens to the connection.
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

  constructor(target: string | Writable, options: { audio?: boolean; video?: boolean } = {}) {
    this.ownsStream = typeof target === 'string';
    this.out = typeof target === 'string' ? createWriteStream(target) : target;
    this.writer = new FlvWriter({
      audio: options.audio ?? true,
      video: options.video ?? true,
      monotonic: false,
    });
    this.out.on('drain', () => {
      for (const l of this.drainListeners) l();
    });
  }

  /** Bytes handed to the file but not yet written (for the transport's backpressure). */
  backlog(): number {
    return this.out.writableLength;
  }

  onDrain(listener: () => void): () => void {
    this.drainListeners.add(listener);
    return () => this.drainListeners.delete(listener);
  }

  /** The next tag follows the last one by `gapMs` (after a reconnect), whatever its own timestamp. */
  markGap(): void {
    this.rebaseNext = true;
    this.result.gaps++;
  }

  /** Writes one message; script data other than onMetaData is skipped. */
  write(message: MediaMessage): void {
    if (this.closing) return;
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
    // Header, payload and trailer leave in one writev: the payload is not copied.
    const [header, payload, trailer] = this.writer.writeParts({
      type,
      timestamp: message.timestamp,
      data,
    });
    this.out.cork();
    this.push(header);
    this.push(payload);
    this.push(trailer);
    this.out.uncork();
    this.result.tags++;
    if (type === 8) this.result.audioTags++;
    if (type === 9) this.result.videoTags++;
    this.result.lastTimestamp = this.writer.lastTimestamp ?? message.timestamp;
  }

  private push(bytes: Uint8Array): void {
    this.result.bytes += bytes.byteLength;
    this.out.write(bytes);
  }

  /** Flushes and closes (the file stays valid: every tag is whole). */
  close(): Promise<FlvSaveResult> {
    if (!this.closing) {
      this.closing = new Promise((resolve, reject) => {
        if (!this.headerWritten) {
          this.push(this.writer.header());
          this.headerWritten = true;
        }
        if (!this.ownsStream) {
          resolve({ ...this.result });
          return;
        }
        this.out.once('error', reject);
        this.out.end(() => resolve({ ...this.result }));
      });
    }
    return this.closing;
  }
}
