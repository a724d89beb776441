/**
 * FLV muxing: the file header, single tags, and a writer that keeps timestamps moving forward
 * across reconnects. Script-data bodies are AMF0 bytes the caller already encoded.
 */
import { FlvError } from '../errors';
import {
  FLV_HEADER_SIZE,
  FLV_MAX_DATA_SIZE,
  FLV_PREVIOUS_TAG_SIZE_SIZE,
  FLV_TAG_HEADER_SIZE,
  type FlvTagType,
} from './reader';

/** A tag to write; `streamId` defaults to 0. */
export interface FlvTagInput {
  type: FlvTagType;
  /** Milliseconds, an integer in 0 … 2^32-1 (bits 24-31 go to TimestampExtended). */
  timestamp: number;
  streamId?: number;
  data: Uint8Array;
}

/** Which media the file header announces. */
export interface FlvHeaderFlags {
  audio?: boolean;
  video?: boolean;
}

/** The 9-byte FLV file header followed by PreviousTagSize0 (13 bytes in all). */
export function flvHeader(flags: FlvHeaderFlags): Buffer {
  const b = Buffer.alloc(FLV_HEADER_SIZE + FLV_PREVIOUS_TAG_SIZE_SIZE);
  b[0] = 0x46; // 'F'
  b[1] = 0x4c; // 'L'
  b[2] = 0x56; // 'V'
  b[3] = 1; // version
  b[4] = (flags.audio ? 0x04 : 0) | (flags.video ? 0x01 : 0);
  b.writeUInt32BE(FLV_HEADER_SIZE, 5); // DataOffset
  // bytes 9-12: PreviousTagSize0 = 0
  return b;
}

/** Checks a tag's fields; returns its stream id (default 0). */
function checkTag(tag: FlvTagInput): number {
  const { type, timestamp, data } = tag;
  const streamId = tag.streamId ?? 0;
  if (type !== 8 && type !== 9 && type !== 18) {
    throw new FlvError('BAD_TAG_TYPE', `cannot write FLV tag type ${String(type)}`, { type });
  }
  if (!Number.isInteger(timestamp) || timestamp < 0 || timestamp > 0xffffffff) {
    throw new FlvError('BAD_TIMESTAMP', `FLV timestamp ${timestamp} is not a u32`, { timestamp });
  }
  if (!Number.isInteger(streamId) || streamId < 0 || streamId > 0xffffff) {
    throw new FlvError('BAD_HEADER', `FLV stream id ${streamId} is not a u24`, { streamId });
  }
  const size = data.length;
  if (size > FLV_MAX_DATA_SIZE) {
    throw new FlvError('TAG_TOO_LARGE', `FLV tag data of ${size} bytes exceeds the u24 field`, {
      size,
      limit: FLV_MAX_DATA_SIZE,
    });
  }
  return streamId;
}

/** Writes the 11-byte tag header into `b` at 0. */
function putTagHeader(
  b: Uint8Array,
  type: number,
  size: number,
  timestamp: number,
  streamId: number,
): void {
  b[0] = type;
  b[1] = size >>> 16;
  b[2] = (size >>> 8) & 0xff;
  b[3] = size & 0xff;
  b[4] = (timestamp >>> 16) & 0xff;
  b[5] = (timestamp >>> 8) & 0xff;
  b[6] = timestamp & 0xff;
  b[7] = timestamp >>> 24; // TimestampExtended
  b[8] = streamId >>> 16;
  b[9] = (streamId >>> 8) & 0xff;
  b[10] = streamId & 0xff;
}

/**
 * One tag as three pieces — 11-byte header, the data itself (not copied), and the 4-byte
 * PreviousTagSize — for writers that can write several buffers at once (writev).
 */
export function flvTagParts(tag: FlvTagInput): [Buffer, Uint8Array, Buffer] {
  const streamId = checkTag(tag);
  const size = tag.data.length;
  const header = Buffer.allocUnsafe(FLV_TAG_HEADER_SIZE);
  putTagHeader(header, tag.type, size, tag.timestamp, streamId);
  const trailer = Buffer.allocUnsafe(FLV_PREVIOUS_TAG_SIZE_SIZE);
  trailer.writeUInt32BE(FLV_TAG_HEADER_SIZE + size, 0);
  return [header, tag.data, trailer];
}

/** One tag: 11-byte header, the data, and its PreviousTagSize, in one Buffer. */
export function flvTag(tag: FlvTagInput): Buffer {
  const streamId = checkTag(tag);
  const { type, timestamp, data } = tag;
  const size = data.length;
  const b = Buffer.allocUnsafe(FLV_TAG_HEADER_SIZE + size + FLV_PREVIOUS_TAG_SIZE_SIZE);
  putTagHeader(b, type, size, timestamp, streamId);
  b.set(data, FLV_TAG_HEADER_SIZE);
  b.writeUInt32BE(FLV_TAG_HEADER_SIZE + size, FLV_TAG_HEADER_SIZE + size);
  return b;
}

/** Options for {@link FlvWriter}. */
export interface FlvWriterOptions extends FlvHeaderFlags {
  /**
   * Never let a written timestamp go backwards: one lower than the last written (in 32-bit
   * serial arithmetic, so the 49.7-day wrap is not a step back) is clamped to the last written.
   * Default `false`.
   */
  monotonic?: boolean;
}

/**
 * Writes tags and keeps a timeline: `rebase` re-anchors the next tag on the last written
 * timestamp (after a reconnect the source starts again at 0), `monotonic` clamps steps back.
 */
export class FlvWriter {
  private readonly flags: FlvHeaderFlags;
  private readonly monotonic: boolean;
  /** Added (mod 2^32) to every source timestamp. */
  private offset = 0;
  /** Set by `rebase`: the next tag fixes `offset` so that it lands here. */
  private anchor: number | undefined;
  private last: number | undefined;
  private tags = 0;
  private bytes = 0;

  constructor(options: FlvWriterOptions = {}) {
    this.flags = { audio: options.audio ?? true, video: options.video ?? true };
    this.monotonic = options.monotonic ?? false;
  }

  /** The last timestamp written (after rebasing and clamping), or undefined before any tag. */
  get lastTimestamp(): number | undefined {
    return this.last;
  }

  /** Tags written so far. */
  get tagsWritten(): number {
    return this.tags;
  }

  /** Bytes returned so far by `header` and `write`. */
  get bytesWritten(): number {
    return this.bytes;
  }

  /** The file header (with PreviousTagSize0), using the flags given to the constructor. */
  header(): Buffer {
    const b = flvHeader(this.flags);
    this.bytes += b.length;
    return b;
  }

  /**
   * Starts a new source timeline: the next tag is written at `lastTimestamp + gapMs` and later
   * ones keep their spacing from it. Before any tag has been written this does nothing.
   */
  rebase(gapMs = 0): void {
    if (!Number.isInteger(gapMs) || gapMs < 0) {
      throw new FlvError('BAD_TIMESTAMP', `rebase gap ${gapMs} is not a non-negative integer`, {
        gapMs,
      });
    }
    if (this.last !== undefined) this.anchor = (this.last + gapMs) >>> 0;
  }

  /** Maps a source timestamp to the output timeline and returns the tag's bytes. */
  write(tag: FlvTagInput): Buffer {
    const out = this.mapTimestamp(tag.timestamp);
    const b = flvTag({ type: tag.type, timestamp: out, streamId: tag.streamId, data: tag.data });
    this.commit(out, b.length);
    return b;
  }

  /** Like `write`, but returns header, data (not copied) and trailer separately, for writev. */
  writeParts(tag: FlvTagInput): [Buffer, Uint8Array, Buffer] {
    const out = this.mapTimestamp(tag.timestamp);
    const parts = flvTagParts({
      type: tag.type,
      timestamp: out,
      streamId: tag.streamId,
      data: tag.data,
    });
    this.commit(out, parts[0].length + parts[1].length + parts[2].length);
    return parts;
  }

  /**
   * Like `write`, but puts only the 11-byte tag header into `out` at `at`; the caller copies the
   * data after it, then the 4-byte PreviousTagSize (11 + data length). For writers that gather
   * tags into blocks of their own.
   */
  writeHeaderInto(tag: FlvTagInput, out: Uint8Array, at: number): void {
    const timestamp = this.mapTimestamp(tag.timestamp);
    const streamId = checkTag({ ...tag, timestamp });
    const size = tag.data.length;
    const h = out.subarray(at, at + FLV_TAG_HEADER_SIZE);
    if (h.length < FLV_TAG_HEADER_SIZE) {
      throw new RangeError(`no room for an FLV tag header at ${at} of ${out.length}`);
    }
    putTagHeader(h, tag.type, size, timestamp, streamId);
    this.commit(timestamp, FLV_TAG_HEADER_SIZE + size + FLV_PREVIOUS_TAG_SIZE_SIZE);
  }

  private mapTimestamp(ts: number): number {
    if (!Number.isInteger(ts) || ts < 0 || ts > 0xffffffff) {
      throw new FlvError('BAD_TIMESTAMP', `FLV timestamp ${ts} is not a u32`, { timestamp: ts });
    }
    if (this.anchor !== undefined) {
      this.offset = (this.anchor - ts) >>> 0;
      this.anchor = undefined;
    }
    let out = (ts + this.offset) >>> 0;
    if (this.monotonic && this.last !== undefined && ((out - this.last) | 0) < 0) out = this.last;
    return out;
  }

  private commit(timestamp: number, length: number): void {
    this.last = timestamp;
    this.tags++;
    this.bytes += length;
  }
}
