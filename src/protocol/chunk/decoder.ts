/**
 * RTMP chunk stream decoder (Adobe RTMP specification, section 5.3): bytes in, whole messages out.
 *
 * Sans-IO: the caller pushes whatever the socket delivered; the decoder returns (or calls back
 * with) every message those bytes completed. Set Chunk Size and Abort are applied here, before
 * the next chunk header of the same push is parsed.
 */
import { ChunkError } from '../errors';
import { resolveLimits, type RtmpLimits } from '../limits';
import { MessageTypeId, type RawMessage } from '../types';

/** The chunk size every RTMP peer starts with. */
export const DEFAULT_CHUNK_SIZE = 128;
/** Largest chunk header: 3-byte basic header + 11-byte message header + 4-byte extended timestamp. */
export const MAX_CHUNK_HEADER_SIZE = 18;

const EXTENDED = 0xffffff;
const EMPTY: Uint8Array = new Uint8Array(0);
/** Below this many bytes a plain loop copies faster than `subarray` + `set`. */
const SMALL_COPY = 48;

/** `b[p..p+n)` in a buffer of its own (Buffer's pool for small sizes). */
function copyOf(b: Uint8Array, p: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  if (n >= SMALL_COPY) out.set(b.subarray(p, p + n));
  else for (let i = 0; i < n; i++) out[i] = b[p + i];
  return out;
}

/** Header and reassembly state of one chunk stream (one csid). */
class ChunkStream {
  /** Absolute timestamp of the message in progress (or of the last one). */
  timestamp = 0;
  /** Timestamp delta a fmt-3 chunk starting a new message adds (the fmt-0 timestamp after fmt 0). */
  delta = 0;
  length = 0;
  typeId = 0;
  streamId = 0;
  /** The extended-timestamp value of the last fmt 0/1/2 header, or -1 when it had none. */
  ext = -1;
  /** Payload bytes of the message in progress received so far. */
  received = 0;
  /** Preallocated body of the message in progress (null until its first partial chunk). */
  buf: Buffer | null = null;
  /** `buf` is a pooled buffer lent for one callback (see ChunkDecoderOptions.lend). */
  lent = false;
  /** Bytes `buf` counts against maxBufferedBytes (its length; a pooled one may be larger). */
  held = 0;
  constructor(readonly csid: number) {}
}

/** How the decoder may treat the bytes pushed into it. */
export interface ChunkDecoderOptions {
  /**
   * The caller reuses each pushed buffer once `push`/`pushTo` returns (a socket read into one
   * fixed buffer). The decoder then hands out no views of it: a message that fits one chunk is
   * copied too, as every other kept byte already is. Default false: single-chunk messages are
   * views of the pushed bytes.
   */
  reusedInput?: boolean;
  /**
   * Asked when a message starts (its first chunk): may its payload be lent? A lent payload is
   * valid only while `onMessage` runs (pushTo); the decoder then reassembles it into a pooled
   * buffer it reuses for later messages (no allocation per message), or, when the message is one
   * chunk of the pushed bytes, hands out a view of them. Such messages carry `lent: true`.
   * Consumers that keep a lent payload past the callback must copy it. Never used by `push`.
   */
  lend?: (typeId: number, streamId: number) => boolean;
  /**
   * Where lent messages' reassembly buffers wait between messages. Default: the decoder's own,
   * of `maxLendPoolBytes`. Decoders may share one (many connections of one process: a buffer is
   * only out of the pool while its message is being reassembled and lent, so a shared pool holds
   * about as many buffers as there are messages split over reads at once, not one per decoder).
   */
  lendPool?: LendPool;
}

/** The smallest pooled reassembly buffer: small messages share the sizes of larger ones. */
const MIN_POOLED = 64 * 1024;

/**
 * The size of a new pooled buffer for a `length`-byte message: a power of two of at least 64 KiB,
 * so that later messages of similar sizes fit the buffers earlier ones leave behind.
 */
function pooledSize(length: number): number {
  let size = MIN_POOLED;
  while (size < length) size *= 2;
  return size;
}

/**
 * Reassembly buffers kept for lending again, at most `maxBytes` of them. One decoder takes a
 * buffer out while it reassembles a message into it and gives it back once the message was lent,
 * so several decoders of one thread may share a pool (see ChunkDecoderOptions.lendPool).
 */
export class LendPool {
  private readonly buffers: Buffer[] = [];
  private bytesValue = 0;
  constructor(readonly maxBytes: number) {}

  /** Capacity of the buffers in the pool. */
  get bytes(): number {
    return this.bytesValue;
  }

  /** The size of the smallest pooled buffer of at least `length` bytes, or -1. */
  fitting(length: number): number {
    let best = -1;
    for (const b of this.buffers) {
      if (b.length >= length && (best < 0 || b.length < best)) best = b.length;
    }
    return best;
  }

  /** Takes the smallest pooled buffer of at least `length` bytes out of the pool. */
  take(length: number): Buffer | undefined {
    const pool = this.buffers;
    let best = -1;
    for (let i = 0; i < pool.length; i++) {
      if (pool[i].length >= length && (best < 0 || pool[i].length < pool[best].length)) best = i;
    }
    if (best < 0) return undefined;
    const buf = pool[best];
    pool[best] = pool[pool.length - 1];
    pool.pop();
    this.bytesValue -= buf.length;
    return buf;
  }

  /** Keeps `buf` for a later message, unless that would pass `maxBytes`. */
  give(buf: Buffer): void {
    if (this.bytesValue + buf.length > this.maxBytes) return;
    this.buffers.push(buf);
    this.bytesValue += buf.length;
  }
}

function collect(this: RawMessage[], m: RawMessage): void {
  this.push(m);
}

/**
 * Reassembles RTMP messages from chunk bytes, tracking the peer's chunk size, per-csid header
 * state and the named limits. After a push throws (a ChunkError, or an error thrown by
 * `onMessage`) the decoder is unusable: every later push throws the same error.
 */
export class ChunkDecoder {
  private readonly limits: RtmpLimits;
  private readonly reusedInput: boolean;
  private readonly lend: ((typeId: number, streamId: number) => boolean) | undefined;
  /** Whether the current push may lend payloads (pushTo: yes; push: no). */
  private lending = false;
  /** Reassembly buffers returned after a lent message, kept for the next ones. */
  private readonly pool: LendPool;
  private chunkSizeValue = DEFAULT_CHUNK_SIZE;
  private bytesReceivedValue = 0;
  private bufferedBytesValue = 0;
  private streamCount = 0;
  /** csids 2-63 (the 1-byte basic header) live in an array; the rest in a map. */
  private readonly low: (ChunkStream | undefined)[] = new Array<ChunkStream | undefined>(64).fill(
    undefined,
  );
  private readonly high = new Map<number, ChunkStream>();
  /** The chunk stream whose chunk payload is being read, and how many payload bytes remain. */
  private cur: ChunkStream | null = null;
  private chunkLeft = 0;
  /** Bytes of an incomplete chunk header left over from the previous push. */
  private readonly pending = new Uint8Array(MAX_CHUNK_HEADER_SIZE);
  private pendingLength = 0;
  /** The error that broke this decoder (a ChunkError, or whatever `onMessage` threw). */
  private failure: unknown = null;
  /** Where the current push starts in the decoder's byte stream (for error offsets). */
  private pushStart = 0;
  /** Bytes carried over from the previous push in front of the buffer being parsed. */
  private bias = 0;

  // Fields of the header parsed last (scratch, committed by commitHeader).
  private hFmt = 0;
  private hStream: ChunkStream | null = null;
  private hCsid = 0;
  private hTime = 0;
  private hLength = 0;
  private hType = 0;
  private hStreamId = 0;
  private hExt = -1;

  /**
   * @param limits overrides of DEFAULT_LIMITS (chunk size, message size, csids, buffered bytes).
   * @param options how pushed bytes may be kept (see ChunkDecoderOptions).
   */
  constructor(limits?: Partial<RtmpLimits>, options: ChunkDecoderOptions = {}) {
    this.limits = resolveLimits(limits);
    this.reusedInput = options.reusedInput ?? false;
    this.lend = options.lend;
    this.pool = options.lendPool ?? new LendPool(this.limits.maxLendPoolBytes);
  }

  /** The peer's current chunk size (128 until it sends Set Chunk Size). */
  get chunkSize(): number {
    return this.chunkSizeValue;
  }

  /** Every byte pushed so far (the basis of Acknowledgement sequence numbers). */
  get bytesReceived(): number {
    return this.bytesReceivedValue;
  }

  /** Bytes allocated for messages not yet complete, summed over all chunk streams. */
  get bufferedBytes(): number {
    return this.bufferedBytesValue;
  }

  /** Capacity of the reassembly buffers kept for lending again (at most maxLendPoolBytes). */
  get pooledBytes(): number {
    return this.pool.bytes;
  }

  /** Whether the last push ended inside a chunk header (its bytes wait for the next push). */
  get hasPartialHeader(): boolean {
    return this.pendingLength > 0;
  }

  /** Number of chunk streams (csids) that have header state. */
  get chunkStreams(): number {
    return this.streamCount;
  }

  /**
   * Decodes `bytes` and returns every message they complete (payloads may be views of `bytes`,
   * unless the decoder was made with `reusedInput`).
   */
  push(bytes: Uint8Array): RawMessage[] {
    const out: RawMessage[] = [];
    this.decode(bytes, collect.bind(out), false);
    return out;
  }

  /** Decodes `bytes`, calling `onMessage` for each message as soon as it is complete. */
  pushTo(bytes: Uint8Array, onMessage: (m: RawMessage) => void): void {
    this.decode(bytes, onMessage, this.lend !== undefined);
  }

  private decode(bytes: Uint8Array, onMessage: (m: RawMessage) => void, lending: boolean): void {
    if (this.failure !== null) throw this.failure;
    this.lending = lending;
    this.pushStart = this.bytesReceivedValue;
    this.bytesReceivedValue += bytes.length;
    try {
      this.run(bytes, onMessage);
    } catch (e) {
      // The rest of this push is lost and the framing with it: refuse any further bytes.
      this.failure = e;
      throw e;
    }
  }

  private run(input: Uint8Array, onMessage: (m: RawMessage) => void): void {
    let bytes = input;
    let pos = 0;
    this.bias = 0;
    if (this.chunkLeft > 0) {
      pos = this.readPayload(bytes, 0, onMessage);
    } else if (this.pendingLength > 0) {
      const had = this.pendingLength;
      const take = Math.min(MAX_CHUNK_HEADER_SIZE - had, bytes.length);
      const scratch = this.pending;
      for (let i = 0; i < take; i++) scratch[had + i] = bytes[i];
      const q = this.parseHeader(scratch, 0, had + take, -had);
      if (q < 0) {
        // Still incomplete: every byte of this push went into `pending` (take === length).
        this.pendingLength = had + take;
        return;
      }
      this.pendingLength = 0;
      if (q >= had) {
        pos = this.startChunk(bytes, q - had, onMessage);
      } else {
        // Rare: a fmt-3 peek found no repeated extended timestamp, so some kept bytes are
        // payload. Join them with this push (a small copy, only in this case).
        const joined = new Uint8Array(had - q + bytes.length);
        joined.set(scratch.subarray(q, had));
        joined.set(bytes, had - q);
        this.bias = had - q;
        bytes = joined;
        pos = this.startChunk(bytes, 0, onMessage);
      }
    }
    const end = bytes.length;
    while (pos < end) {
      const q = this.parseHeader(bytes, pos, end, pos);
      if (q < 0) {
        const n = end - pos;
        for (let i = 0; i < n; i++) this.pending[i] = bytes[pos + i];
        this.pendingLength = n;
        return;
      }
      pos = this.startChunk(bytes, q, onMessage);
    }
  }

  /** Throws a ChunkError; `at` is a position in the buffer being parsed. */
  private fail(
    code: ChunkError['code'],
    message: string,
    at: number,
    details: Record<string, unknown>,
  ): never {
    const offset = at - this.bias;
    throw new ChunkError(code, message, {
      ...details,
      offset,
      streamOffset: this.pushStart + offset,
    });
  }

  /**
   * Parses one chunk header at `b[p..e)` into the scratch fields and commits it.
   * Returns the position after the header, or -1 when the header is incomplete (nothing changed).
   * `at` is the header's offset in the current push, for error details.
   */
  private parseHeader(b: Uint8Array, p: number, e: number, at: number): number {
    const b0 = b[p];
    const fmt = b0 >>> 6;
    let csid = b0 & 0x3f;
    let q = p + 1;
    if (csid === 0) {
      if (q + 1 > e) return -1;
      csid = 64 + b[q];
      q += 1;
    } else if (csid === 1) {
      if (q + 2 > e) return -1;
      csid = 64 + b[q] + (b[q + 1] << 8);
      q += 2;
    }
    const cs = csid < 64 ? this.low[csid] : this.high.get(csid);
    if (cs === undefined && fmt !== 0) {
      this.fail(
        'UNKNOWN_CHUNK_STREAM',
        `fmt ${fmt} chunk on chunk stream ${csid}, which no fmt-0 chunk opened`,
        at,
        { csid, fmt },
      );
    }
    let ext = -1;
    if (fmt === 0) {
      if (q + 11 > e) return -1;
      let t = (b[q] << 16) | (b[q + 1] << 8) | b[q + 2];
      this.hLength = (b[q + 3] << 16) | (b[q + 4] << 8) | b[q + 5];
      this.hType = b[q + 6];
      this.hStreamId = (b[q + 7] | (b[q + 8] << 8) | (b[q + 9] << 16) | (b[q + 10] << 24)) >>> 0;
      q += 11;
      if (t === EXTENDED) {
        if (q + 4 > e) return -1;
        t = ((b[q] << 24) | (b[q + 1] << 16) | (b[q + 2] << 8) | b[q + 3]) >>> 0;
        ext = t;
        q += 4;
      }
      this.hTime = t;
    } else if (fmt === 1) {
      if (q + 7 > e) return -1;
      let t = (b[q] << 16) | (b[q + 1] << 8) | b[q + 2];
      this.hLength = (b[q + 3] << 16) | (b[q + 4] << 8) | b[q + 5];
      this.hType = b[q + 6];
      q += 7;
      if (t === EXTENDED) {
        if (q + 4 > e) return -1;
        t = ((b[q] << 24) | (b[q + 1] << 16) | (b[q + 2] << 8) | b[q + 3]) >>> 0;
        ext = t;
        q += 4;
      }
      this.hTime = t;
    } else if (fmt === 2) {
      if (q + 3 > e) return -1;
      let t = (b[q] << 16) | (b[q + 1] << 8) | b[q + 2];
      q += 3;
      if (t === EXTENDED) {
        if (q + 4 > e) return -1;
        t = ((b[q] << 24) | (b[q + 1] << 16) | (b[q + 2] << 8) | b[q + 3]) >>> 0;
        ext = t;
        q += 4;
      }
      this.hTime = t;
    } else {
      // fmt 3: no message header. If the last fmt 0/1/2 header used an extended timestamp, the
      // peer may (librtmp, FFmpeg) or may not repeat it here: peek, as FFmpeg/librtmp readers do.
      const stored = (cs as ChunkStream).ext;
      if (stored >= 0) {
        if (q + 4 > e) return -1;
        const v = ((b[q] << 24) | (b[q + 1] << 16) | (b[q + 2] << 8) | b[q + 3]) >>> 0;
        if (v === stored) q += 4;
      }
    }
    this.hFmt = fmt;
    this.hCsid = csid;
    this.hStream = cs ?? null;
    this.hExt = ext;
    this.commitHeader(at);
    return q;
  }

  /** Applies the parsed header to its chunk stream's state and makes it the current chunk. */
  private commitHeader(at: number): void {
    const fmt = this.hFmt;
    let cs = this.hStream;
    if (fmt <= 1) {
      const length = this.hLength;
      if (length > this.limits.maxMessageSize) {
        this.fail(
          'MESSAGE_TOO_LARGE',
          `message of ${length} bytes on chunk stream ${this.hCsid} exceeds maxMessageSize ${this.limits.maxMessageSize}`,
          at,
          { csid: this.hCsid, length, limit: this.limits.maxMessageSize },
        );
      }
    }
    if (cs === null) {
      // fmt 0 on a new chunk stream.
      if (this.streamCount >= this.limits.maxChunkStreams) {
        this.fail(
          'TOO_MANY_CHUNK_STREAMS',
          `chunk stream ${this.hCsid} would exceed maxChunkStreams ${this.limits.maxChunkStreams}`,
          at,
          { csid: this.hCsid, limit: this.limits.maxChunkStreams },
        );
      }
      cs = new ChunkStream(this.hCsid);
      if (this.hCsid < 64) this.low[this.hCsid] = cs;
      else this.high.set(this.hCsid, cs);
      this.streamCount++;
    }
    if (cs.received > 0) {
      // A chunk of a message in progress. Continuation chunks are normally fmt 3; some peers
      // repeat a fmt 0/1/2 header with the same length, which we accept as a continuation.
      if (fmt <= 1 && this.hLength !== cs.length) {
        this.fail(
          'LENGTH_MISMATCH',
          `fmt ${fmt} chunk on chunk stream ${cs.csid} changes the length from ${cs.length} to ${this.hLength} in the middle of a message`,
          at,
          { csid: cs.csid, fmt, length: this.hLength, expected: cs.length, received: cs.received },
        );
      }
      if (fmt <= 2) cs.ext = this.hExt;
    } else if (fmt === 0) {
      cs.timestamp = this.hTime;
      cs.delta = this.hTime;
      cs.length = this.hLength;
      cs.typeId = this.hType;
      cs.streamId = this.hStreamId;
      cs.ext = this.hExt;
    } else if (fmt === 1) {
      cs.timestamp = (cs.timestamp + this.hTime) >>> 0;
      cs.delta = this.hTime;
      cs.length = this.hLength;
      cs.typeId = this.hType;
      cs.ext = this.hExt;
    } else if (fmt === 2) {
      cs.timestamp = (cs.timestamp + this.hTime) >>> 0;
      cs.delta = this.hTime;
      cs.ext = this.hExt;
    } else {
      cs.timestamp = (cs.timestamp + cs.delta) >>> 0;
    }
    this.cur = cs;
  }

  /** Reads the payload of the chunk whose header ends at `q`. Returns the position after it. */
  private startChunk(b: Uint8Array, q: number, onMessage: (m: RawMessage) => void): number {
    const cs = this.cur as ChunkStream;
    const remaining = cs.length - cs.received;
    const n = remaining < this.chunkSizeValue ? remaining : this.chunkSizeValue;
    if (cs.received === 0 && n === remaining && q + n <= b.length) {
      // The whole message is in this chunk and this push: hand out a view, no copy (or, when
      // the caller reuses its buffer, one copy; small ones come from Buffer's shared pool, and
      // a lent payload is a view: it is only valid during the callback anyway).
      if (n > 0 && this.reusedInput && this.lending && this.lend!(cs.typeId, cs.streamId)) {
        this.complete(cs, b.subarray(q, q + n), onMessage, true);
        return q + n;
      }
      const payload = n === 0 ? EMPTY : this.reusedInput ? copyOf(b, q, n) : b.subarray(q, q + n);
      this.complete(cs, payload, onMessage);
      return q + n;
    }
    this.chunkLeft = n;
    return this.readPayload(b, q, onMessage);
  }

  /** Copies the current chunk's payload (or what of it is here) into its message buffer. */
  private readPayload(b: Uint8Array, p: number, onMessage: (m: RawMessage) => void): number {
    const cs = this.cur as ChunkStream;
    let buf = cs.buf;
    if (buf === null) {
      const length = cs.length;
      // A lent message holds a pooled buffer (maybe larger than itself): that is what counts.
      const lend = this.lending && this.lend!(cs.typeId, cs.streamId);
      const pooled = lend ? this.pool.fitting(length) : -1;
      const held = !lend ? length : pooled >= 0 ? pooled : pooledSize(length);
      if (this.bufferedBytesValue + held > this.limits.maxBufferedBytes) {
        this.fail(
          'BUFFER_LIMIT',
          `buffering a ${length}-byte message on chunk stream ${cs.csid} would exceed maxBufferedBytes ${this.limits.maxBufferedBytes}`,
          p,
          {
            csid: cs.csid,
            length,
            buffered: this.bufferedBytesValue,
            limit: this.limits.maxBufferedBytes,
          },
        );
      }
      if (!lend) buf = Buffer.allocUnsafe(length);
      else if (pooled < 0) buf = Buffer.allocUnsafe(held);
      else buf = this.pool.take(length) as Buffer;
      cs.buf = buf;
      cs.lent = lend;
      cs.held = held;
      this.bufferedBytesValue += held;
    }
    const end = b.length;
    // A fmt-3 header of this chunk stream (1 byte, no extended timestamp) continues the message:
    // such chunks are read here, one after another, without a trip through the header parser.
    const continuation = cs.csid < 64 && cs.ext < 0 ? 0xc0 | cs.csid : -1;
    for (;;) {
      const avail = end - p;
      const n = this.chunkLeft < avail ? this.chunkLeft : avail;
      const off = cs.received;
      if (n >= SMALL_COPY) {
        buf.set(b.subarray(p, p + n), off);
      } else {
        for (let i = 0; i < n; i++) buf[off + i] = b[p + i];
      }
      cs.received = off + n;
      this.chunkLeft -= n;
      p += n;
      if (this.chunkLeft > 0) return p;
      if (cs.received === cs.length) break;
      if (p >= end || b[p] !== continuation) return p;
      p++;
      const remaining = cs.length - cs.received;
      this.chunkLeft = remaining < this.chunkSizeValue ? remaining : this.chunkSizeValue;
    }
    cs.buf = null;
    this.bufferedBytesValue -= cs.held;
    if (cs.lent) {
      cs.lent = false;
      this.complete(
        cs,
        buf.length === cs.length ? buf : buf.subarray(0, cs.length),
        onMessage,
        true,
      );
      this.pool.give(buf);
    } else {
      this.complete(cs, buf, onMessage);
    }
    return p;
  }

  /** Emits a finished message; applies Set Chunk Size and Abort first. */
  private complete(
    cs: ChunkStream,
    payload: Uint8Array,
    onMessage: (m: RawMessage) => void,
    lent = false,
  ): void {
    cs.received = 0;
    this.cur = null;
    const typeId = cs.typeId;
    if (typeId === MessageTypeId.SetChunkSize) this.applySetChunkSize(cs, payload);
    else if (typeId === MessageTypeId.Abort && payload.length >= 4) this.applyAbort(payload);
    // Two literals rather than `lent: lent || undefined`: owned messages keep the shape they
    // always had (no `lent` key), lent ones have their own.
    if (lent) {
      onMessage({
        csid: cs.csid,
        timestamp: cs.timestamp,
        typeId,
        streamId: cs.streamId,
        payload,
        lent: true,
      });
    } else {
      onMessage({
        csid: cs.csid,
        timestamp: cs.timestamp,
        typeId,
        streamId: cs.streamId,
        payload,
      });
    }
  }

  private applySetChunkSize(cs: ChunkStream, payload: Uint8Array): void {
    // The error offset is approximate (the end of what was read): the message is already complete.
    const at = this.bytesReceivedValue - this.pushStart + this.bias;
    if (payload.length < 4) {
      this.fail(
        'CHUNK_SIZE_INVALID',
        `Set Chunk Size body of ${payload.length} bytes (needs 4)`,
        at,
        {
          csid: cs.csid,
          length: payload.length,
        },
      );
    }
    const raw = ((payload[0] << 24) | (payload[1] << 16) | (payload[2] << 8) | payload[3]) >>> 0;
    if (raw === 0 || raw > 0x7fffffff) {
      this.fail(
        'CHUNK_SIZE_INVALID',
        `Set Chunk Size ${raw} is invalid (must be 1 … 0x7FFFFFFF)`,
        at,
        { csid: cs.csid, chunkSize: raw },
      );
    }
    if (raw > this.limits.maxChunkSize) {
      this.fail(
        'CHUNK_SIZE_TOO_LARGE',
        `Set Chunk Size ${raw} exceeds maxChunkSize ${this.limits.maxChunkSize}`,
        at,
        { csid: cs.csid, chunkSize: raw, limit: this.limits.maxChunkSize },
      );
    }
    this.chunkSizeValue = raw;
  }

  private applyAbort(payload: Uint8Array): void {
    const csid = ((payload[0] << 24) | (payload[1] << 16) | (payload[2] << 8) | payload[3]) >>> 0;
    const target = csid < 64 ? this.low[csid] : this.high.get(csid);
    if (target === undefined || target.received === 0) return;
    if (target.buf !== null) {
      this.bufferedBytesValue -= target.held;
      if (target.lent) this.pool.give(target.buf);
    }
    target.lent = false;
    target.buf = null;
    target.received = 0;
  }
}
