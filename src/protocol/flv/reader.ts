/**
 * Incremental, sans-IO FLV reader (FLV spec v10, annex E).
 *
 * Bytes go in with `push`, whole tags come out. A tag is handed out once its body and its
 * trailing PreviousTagSize have arrived. Pieces of a tag that spans many pushes are kept in a
 * list and concatenated once, so feeding a file byte by byte stays linear.
 */
import { FlvError } from '../errors';
import { DEFAULT_LIMITS } from '../limits';

/** FLV tag types: 8 audio, 9 video, 18 script data (AMF0). */
export const FlvTagType = { Audio: 8, Video: 9, ScriptData: 18 } as const;
/** One of the three FLV tag types. */
export type FlvTagType = (typeof FlvTagType)[keyof typeof FlvTagType];

/** Size of an FLV tag header (type, data size, timestamp, extended timestamp, stream id). */
export const FLV_TAG_HEADER_SIZE = 11;
/** Size of the FLV file header written by every known muxer (the `headerSize` field). */
export const FLV_HEADER_SIZE = 9;
/** Size of a PreviousTagSize back pointer. */
export const FLV_PREVIOUS_TAG_SIZE_SIZE = 4;
/** Largest data size the 24-bit field can carry. */
export const FLV_MAX_DATA_SIZE = 0xffffff;

/** The FLV file header. */
export interface FlvHeader {
  /** Version byte (1 for every FLV written since 2003). */
  version: number;
  /** TypeFlagsAudio (bit 2 of the flags byte). */
  hasAudio: boolean;
  /** TypeFlagsVideo (bit 0 of the flags byte). */
  hasVideo: boolean;
  /** The DataOffset field: bytes from the start of the file to PreviousTagSize0 (9). */
  headerSize: number;
}

/** One FLV tag: header fields and the body, not yet interpreted. */
export interface FlvTag {
  type: FlvTagType;
  /** Milliseconds, u32: the 24-bit field plus TimestampExtended as bits 24-31. */
  timestamp: number;
  /** StreamID (u24, always 0 in files). */
  streamId: number;
  /**
   * The tag body. A view into the pushed bytes (or into one concatenation of them) whenever
   * possible: do not mutate a buffer after pushing it, and copy the body if you keep it.
   */
  data: Uint8Array;
}

/** How strictly the PreviousTagSize back pointers are checked. */
export type PreviousTagSizeCheck =
  /** Must equal 11 + data size (and PreviousTagSize0 must be 0). */
  | 'strict'
  /** Like strict, but 0 is accepted too: some live writers never fill it in. */
  | 'allowZero'
  /** Not checked at all. */
  | 'ignore';

/** Options for {@link FlvReader} and {@link parseFlv}. */
export interface FlvReaderOptions {
  /** Whether the stream starts with the 9-byte file header and PreviousTagSize0. Default `true`. */
  header?: boolean;
  /** Back-pointer check. Default `'strict'`. */
  previousTagSize?: PreviousTagSizeCheck;
  /** Largest tag data size accepted (`TAG_TOO_LARGE` above). Default 16 MiB. */
  maxTagSize?: number;
}

/** What one `push` produced: the file header when it completed, and any whole tags. */
export interface FlvPushResult {
  header?: FlvHeader;
  tags: FlvTag[];
}

/** Largest DataOffset accepted: every known muxer writes 9, so anything huge is hostile. */
const MAX_DATA_OFFSET = 0x10000;
const SIGNATURE = [0x46, 0x4c, 0x56]; // 'F' 'L' 'V'
const EMPTY = new Uint8Array(0);

type Phase = 'header' | 'tags';

/** Incremental FLV demuxer: `push` bytes as they arrive, get whole tags back. */
export class FlvReader {
  private readonly previousTagSizeCheck: PreviousTagSizeCheck;
  private readonly maxTagSize: number;
  private phase: Phase;
  private chunks: Uint8Array[] = [];
  private bufferedBytes = 0;
  /** Contiguous bytes needed, from the start of the buffered data, before parsing can advance. */
  private need: number;
  /** Absolute offset of the first buffered byte. */
  private position = 0;
  private failure: FlvError | undefined;
  private parsedHeader: FlvHeader | undefined;

  constructor(options: FlvReaderOptions = {}) {
    this.previousTagSizeCheck = options.previousTagSize ?? 'strict';
    this.maxTagSize = options.maxTagSize ?? DEFAULT_LIMITS.maxMessageSize;
    this.phase = options.header === false ? 'tags' : 'header';
    this.need = this.phase === 'header' ? 1 : FLV_TAG_HEADER_SIZE;
  }

  /** The file header, once it has been read. */
  get header(): FlvHeader | undefined {
    return this.parsedHeader;
  }

  /** Bytes consumed so far (the absolute offset of the next unread tag). */
  get bytesConsumed(): number {
    return this.position;
  }

  /** Bytes held for a tag that is not complete yet. */
  get buffered(): number {
    return this.bufferedBytes;
  }

  /** Feeds bytes; returns the file header (when it completes here) and every whole tag. */
  push(bytes: Uint8Array): FlvPushResult {
    if (this.failure) throw this.failure;
    const result: FlvPushResult = { tags: [] };
    if (bytes.length === 0) return result;
    this.chunks.push(bytes);
    this.bufferedBytes += bytes.length;
    // The header is checked on every push, so a wrong signature fails on its first byte.
    if (this.bufferedBytes < this.need && this.phase !== 'header') return result;

    const buf = this.chunks.length === 1 ? this.chunks[0] : concat(this.chunks, this.bufferedBytes);
    let p = 0;
    try {
      if (this.phase === 'header') {
        const consumed = this.parseHeader(buf, result);
        if (consumed < 0) {
          this.keep(buf, 0);
          return result;
        }
        p = consumed;
        this.phase = 'tags';
        this.need = FLV_TAG_HEADER_SIZE;
      }
      p = this.parseTags(buf, p, result.tags);
    } catch (e) {
      if (e instanceof FlvError) this.failure = e;
      throw e;
    }
    this.keep(buf, p);
    return result;
  }

  /** Declares the end of input: throws `TRUNCATED_TAG` (or `BAD_HEADER`) if bytes are left over. */
  end(): void {
    if (this.failure) throw this.failure;
    if (this.phase === 'header') {
      this.failure = new FlvError('BAD_HEADER', 'FLV input ended before the file header', {
        reason: 'truncated',
        buffered: this.bufferedBytes,
      });
      throw this.failure;
    }
    if (this.bufferedBytes > 0) {
      this.failure = new FlvError('TRUNCATED_TAG', 'FLV input ended inside a tag', {
        offset: this.position,
        buffered: this.bufferedBytes,
        needed: this.need,
      });
      throw this.failure;
    }
  }

  /** Keeps `buf[from..]` for the next push. */
  private keep(buf: Uint8Array, from: number): void {
    this.position += from;
    if (from >= buf.length) {
      this.chunks = [];
      this.bufferedBytes = 0;
      return;
    }
    const rest = from === 0 ? buf : buf.subarray(from);
    this.chunks = [rest];
    this.bufferedBytes = rest.length;
  }

  /** Returns bytes consumed, or -1 when more bytes are needed (and sets `need`). */
  private parseHeader(buf: Uint8Array, result: FlvPushResult): number {
    const n = Math.min(buf.length, 3);
    for (let i = 0; i < n; i++) {
      if (buf[i] !== SIGNATURE[i]) {
        throw new FlvError('BAD_SIGNATURE', 'not an FLV file: the signature is not "FLV"', {
          offset: i,
          signature: Array.from(buf.subarray(0, n)),
        });
      }
    }
    if (buf.length < FLV_HEADER_SIZE) {
      this.need = FLV_HEADER_SIZE;
      return -1;
    }
    const headerSize = readU32(buf, 5);
    if (headerSize < FLV_HEADER_SIZE || headerSize > MAX_DATA_OFFSET) {
      throw new FlvError('BAD_HEADER', `FLV header size ${headerSize} is out of range`, {
        headerSize,
        min: FLV_HEADER_SIZE,
        max: MAX_DATA_OFFSET,
      });
    }
    const total = headerSize + FLV_PREVIOUS_TAG_SIZE_SIZE;
    if (buf.length < total) {
      this.need = total;
      return -1;
    }
    const prev0 = readU32(buf, headerSize);
    if (prev0 !== 0 && this.previousTagSizeCheck !== 'ignore') {
      throw new FlvError('BAD_PREVIOUS_TAG_SIZE', `PreviousTagSize0 is ${prev0}, expected 0`, {
        offset: headerSize,
        expected: 0,
        actual: prev0,
      });
    }
    const flags = buf[4];
    const header: FlvHeader = {
      version: buf[3],
      hasAudio: (flags & 0x04) !== 0,
      hasVideo: (flags & 0x01) !== 0,
      headerSize,
    };
    this.parsedHeader = header;
    result.header = header;
    return total;
  }

  /** Parses whole tags from `buf[p..]`; returns the offset of the first unconsumed byte. */
  private parseTags(buf: Uint8Array, p: number, out: FlvTag[]): number {
    const len = buf.length;
    for (;;) {
      if (len - p < FLV_TAG_HEADER_SIZE) {
        this.need = FLV_TAG_HEADER_SIZE;
        return p;
      }
      const type = buf[p] & 0x1f;
      if (type !== 8 && type !== 9 && type !== 18) {
        throw new FlvError('BAD_TAG_TYPE', `unknown FLV tag type ${type}`, {
          offset: this.position + p,
          type,
        });
      }
      const size = (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3];
      if (size > this.maxTagSize) {
        throw new FlvError('TAG_TOO_LARGE', `FLV tag of ${size} bytes exceeds the limit`, {
          offset: this.position + p,
          size,
          limit: this.maxTagSize,
        });
      }
      const total = FLV_TAG_HEADER_SIZE + size + FLV_PREVIOUS_TAG_SIZE_SIZE;
      if (len - p < total) {
        this.need = total;
        return p;
      }
      const end = p + FLV_TAG_HEADER_SIZE + size;
      const back = readU32(buf, end);
      if (back !== size + FLV_TAG_HEADER_SIZE) {
        const check = this.previousTagSizeCheck;
        if (check === 'strict' || (check === 'allowZero' && back !== 0)) {
          throw new FlvError(
            'BAD_PREVIOUS_TAG_SIZE',
            `PreviousTagSize is ${back}, expected ${size + FLV_TAG_HEADER_SIZE}`,
            { offset: this.position + end, expected: size + FLV_TAG_HEADER_SIZE, actual: back },
          );
        }
      }
      out.push({
        type,
        timestamp: ((buf[p + 7] << 24) | (buf[p + 4] << 16) | (buf[p + 5] << 8) | buf[p + 6]) >>> 0,
        streamId: (buf[p + 8] << 16) | (buf[p + 9] << 8) | buf[p + 10],
        data: size === 0 ? EMPTY : buf.subarray(p + FLV_TAG_HEADER_SIZE, end),
      });
      p += total;
    }
  }
}

/** Parses a whole FLV file held in memory (header required); throws `FlvError` on bad input. */
export function parseFlv(
  buf: Uint8Array,
  options: Omit<FlvReaderOptions, 'header'> = {},
): { header: FlvHeader; tags: FlvTag[] } {
  const reader = new FlvReader({ ...options, header: true });
  const { tags } = reader.push(buf);
  reader.end();
  // end() throws when the header is missing, so it is set here.
  return { header: reader.header as FlvHeader, tags };
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
