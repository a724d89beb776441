/**
 * RTMP chunk stream encoder (Adobe RTMP specification, section 5.3): whole messages in, one
 * buffer of chunks out per message (header and payload together, so a chunk never straddles
 * two socket writes).
 */
import { ChunkError } from '../errors';
import type { RawMessage } from '../types';
import { DEFAULT_CHUNK_SIZE } from './decoder';

const EXTENDED = 0xffffff;
const MAX_LENGTH = 0xffffff;
const MIN_CSID = 2;
const MAX_CSID = 65599;
const SMALL_COPY = 48;

/** What the encoder remembers of the last message sent on a chunk stream. */
interface SentState {
  timestamp: number;
  /**
   * The delta a fmt-3 chunk starting a new message would imply, or -1 when readers disagree.
   * After fmt 0 the spec, librtmp and FFmpeg reuse the fmt-0 timestamp as the delta, while
   * nginx-rtmp uses 0; we only rely on it when both give the same answer (timestamp 0).
   */
  delta: number;
  length: number;
  typeId: number;
  streamId: number;
}

/** Checks a chunk size (ours or the peer's): 1 … 0x7FFFFFFF. */
export function validateChunkSize(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 0x7fffffff) {
    throw new ChunkError(
      'CHUNK_SIZE_INVALID',
      `chunk size ${n} is invalid (must be 1 … 0x7FFFFFFF)`,
      {
        chunkSize: n,
      },
    );
  }
}

/** Size of the basic header for a chunk stream id. */
function basicHeaderSize(csid: number): number {
  return csid < 64 ? 1 : csid < 320 ? 2 : 3;
}

function writeBasicHeader(out: Buffer, p: number, fmt: number, csid: number): number {
  if (csid < 64) {
    out[p] = (fmt << 6) | csid;
    return p + 1;
  }
  if (csid < 320) {
    out[p] = fmt << 6;
    out[p + 1] = csid - 64;
    return p + 2;
  }
  const v = csid - 64;
  out[p] = (fmt << 6) | 1;
  out[p + 1] = v & 0xff;
  out[p + 2] = v >>> 8;
  return p + 3;
}

function writeU32BE(out: Buffer, p: number, v: number): void {
  out[p] = v >>> 24;
  out[p + 1] = (v >>> 16) & 0xff;
  out[p + 2] = (v >>> 8) & 0xff;
  out[p + 3] = v & 0xff;
}

const MESSAGE_HEADER_SIZE = [11, 7, 3, 0];

/**
 * Splits messages into chunks of our own outgoing chunk size, choosing the smallest header the
 * previous message on the same chunk stream allows. Extended timestamps are repeated on every
 * fmt-3 continuation chunk, as librtmp and FFmpeg do.
 */
export class ChunkEncoder {
  private chunkSizeValue: number;
  private readonly sent = new Map<number, SentState>();
  // Plan of the message being encoded (set by plan(), used by write()).
  private pFmt = 0;
  private pField = 0;
  private pExt = false;
  private pSize = 0;

  /** @param opts.chunkSize our initial outgoing chunk size (default 128). */
  constructor(opts?: { chunkSize?: number }) {
    const n = opts?.chunkSize ?? DEFAULT_CHUNK_SIZE;
    validateChunkSize(n);
    this.chunkSizeValue = n;
  }

  /** Our current outgoing chunk size. */
  get chunkSize(): number {
    return this.chunkSizeValue;
  }

  /** Switches our outgoing chunk size (send Set Chunk Size to the peer first). */
  setChunkSize(n: number): void {
    validateChunkSize(n);
    this.chunkSizeValue = n;
  }

  /** Encodes one message: all of its chunks in one Buffer. */
  encode(msg: RawMessage): Buffer {
    this.plan(msg);
    const out = Buffer.allocUnsafe(this.pSize);
    this.write(msg, out, 0);
    return out;
  }

  /** Encodes several messages, in order, into one Buffer. */
  encodeMany(msgs: readonly RawMessage[]): Buffer {
    const n = msgs.length;
    const fmts = new Uint8Array(n);
    const fields = new Float64Array(n);
    const sizes = new Float64Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) {
      this.plan(msgs[i]);
      fmts[i] = this.pFmt;
      fields[i] = this.pField;
      sizes[i] = this.pSize;
      total += this.pSize;
    }
    const out = Buffer.allocUnsafe(total);
    let p = 0;
    for (let i = 0; i < n; i++) {
      this.pFmt = fmts[i];
      this.pField = fields[i];
      this.pExt = fields[i] >= EXTENDED;
      this.write(msgs[i], out, p);
      p += sizes[i];
    }
    return out;
  }

  /** Validates a message, picks its header format and size, and records it as sent. */
  private plan(msg: RawMessage): void {
    const { csid, timestamp, typeId, streamId } = msg;
    const length = msg.payload.length;
    if (!Number.isInteger(csid) || csid < MIN_CSID || csid > MAX_CSID) {
      throw new ChunkError('BAD_CSID', `chunk stream id ${csid} is outside 2 … 65599`, { csid });
    }
    if (!Number.isInteger(timestamp) || timestamp < 0 || timestamp > 0xffffffff) {
      throw new ChunkError(
        'BAD_MESSAGE',
        `timestamp ${timestamp} is not a 32-bit unsigned integer`,
        {
          csid,
          timestamp,
        },
      );
    }
    if (!Number.isInteger(streamId) || streamId < 0 || streamId > 0xffffffff) {
      throw new ChunkError(
        'BAD_MESSAGE',
        `message stream id ${streamId} is not a 32-bit unsigned integer`,
        {
          csid,
          streamId,
        },
      );
    }
    if (!Number.isInteger(typeId) || typeId < 0 || typeId > 255) {
      throw new ChunkError('BAD_MESSAGE', `type id ${typeId} does not fit in one byte`, {
        csid,
        typeId,
      });
    }
    if (length > MAX_LENGTH) {
      throw new ChunkError(
        'BAD_MESSAGE',
        `a ${length}-byte body does not fit the 24-bit length field`,
        {
          csid,
          length,
          limit: MAX_LENGTH,
        },
      );
    }
    const prev = this.sent.get(csid);
    let fmt: number;
    let field: number;
    if (prev === undefined || prev.streamId !== streamId || timestamp < prev.timestamp) {
      fmt = 0;
      field = timestamp;
    } else {
      field = timestamp - prev.timestamp;
      if (length !== prev.length || typeId !== prev.typeId) fmt = 1;
      else if (field !== prev.delta) fmt = 2;
      else fmt = 3;
    }
    const ext = field >= EXTENDED;
    const bh = basicHeaderSize(csid);
    const extSize = ext ? 4 : 0;
    const chunkSize = this.chunkSizeValue;
    const chunks = length === 0 ? 1 : Math.ceil(length / chunkSize);
    this.pSize = bh + MESSAGE_HEADER_SIZE[fmt] + extSize + (chunks - 1) * (bh + extSize) + length;
    this.pFmt = fmt;
    this.pField = field;
    this.pExt = ext;
    const delta = fmt === 0 ? (timestamp === 0 ? 0 : -1) : field;
    if (prev === undefined) {
      this.sent.set(csid, { timestamp, delta, length, typeId, streamId });
    } else {
      prev.timestamp = timestamp;
      prev.delta = delta;
      prev.length = length;
      prev.typeId = typeId;
      prev.streamId = streamId;
    }
  }

  /** Writes the planned message's chunks into `out` at `p`. */
  private write(msg: RawMessage, out: Buffer, p: number): void {
    const { csid, typeId, streamId, payload } = msg;
    const fmt = this.pFmt;
    const ext = this.pExt;
    const field = this.pField;
    const length = payload.length;
    const chunkSize = this.chunkSizeValue;
    p = writeBasicHeader(out, p, fmt, csid);
    if (fmt <= 2) {
      const t = ext ? EXTENDED : field;
      out[p] = t >>> 16;
      out[p + 1] = (t >>> 8) & 0xff;
      out[p + 2] = t & 0xff;
      p += 3;
      if (fmt <= 1) {
        out[p] = length >>> 16;
        out[p + 1] = (length >>> 8) & 0xff;
        out[p + 2] = length & 0xff;
        out[p + 3] = typeId;
        p += 4;
        if (fmt === 0) {
          out[p] = streamId & 0xff;
          out[p + 1] = (streamId >>> 8) & 0xff;
          out[p + 2] = (streamId >>> 16) & 0xff;
          out[p + 3] = streamId >>> 24;
          p += 4;
        }
      }
    }
    if (ext) {
      writeU32BE(out, p, field);
      p += 4;
    }
    let off = 0;
    for (;;) {
      const n = length - off < chunkSize ? length - off : chunkSize;
      if (n >= SMALL_COPY) {
        out.set(payload.subarray(off, off + n), p);
      } else {
        for (let i = 0; i < n; i++) out[p + i] = payload[off + i];
      }
      p += n;
      off += n;
      if (off >= length) break;
      p = writeBasicHeader(out, p, 3, csid);
      if (ext) {
        writeU32BE(out, p, field);
        p += 4;
      }
    }
  }
}
