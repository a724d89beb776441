/**
 * Byte helpers shared by the AMF0 and AMF3 codecs (and the message codec): a zero-copy Buffer
 * view of a Uint8Array, a bounds-checked read cursor and a growable writer.
 */
import { AmfError } from '../errors';
import type { RtmpLimits } from '../limits';

/** A Buffer over the same memory as `u8` (no copy), so the Buffer read methods are available. */
export function asBuffer(u8: Uint8Array): Buffer {
  return Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

/** The largest body an RTMP message (24-bit length) or FLV tag can carry. */
export const MAX_ENCODED_BYTES = 0xffffff;

/** Deepest nesting the encoders write (a guard against cycles they cannot see, and the stack). */
export const MAX_ENCODE_DEPTH = 1000;

/** True for objects whose prototype is Object.prototype (of any realm) or null. */
export function isPlainObject(v: object): boolean {
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === null || proto === Object.prototype || Object.getPrototypeOf(proto) === null;
}

/** Decoder state: the bytes, a position, the limits and the current nesting depth. */
export interface AmfCursor {
  b: Buffer;
  pos: number;
  end: number;
  limits: Readonly<RtmpLimits>;
  depth: number;
}

/** Throws UNEXPECTED_END unless `n` more bytes are available at the cursor. */
export function need(c: AmfCursor, n: number): void {
  if (c.pos + n > c.end) {
    throw new AmfError('UNEXPECTED_END', `AMF value needs ${n} bytes at offset ${c.pos}`, {
      offset: c.pos,
      need: n,
      available: c.end - c.pos,
    });
  }
}

/** Reads `len` bytes of UTF-8 at the cursor, checking maxAmfStringLength and bounds. */
export function readUtf8(c: AmfCursor, len: number): string {
  if (len > c.limits.maxAmfStringLength) {
    throw new AmfError('STRING_TOO_LONG', `AMF string of ${len} bytes at offset ${c.pos}`, {
      offset: c.pos,
      length: len,
      limit: c.limits.maxAmfStringLength,
    });
  }
  need(c, len);
  const start = c.pos;
  c.pos = start + len;
  return len === 0 ? '' : c.b.toString('utf8', start, start + len);
}

/** Enters a container; throws TOO_DEEP past maxAmfDepth. Pair with `c.depth--`. */
export function enter(c: AmfCursor): void {
  if (++c.depth > c.limits.maxAmfDepth) {
    throw new AmfError('TOO_DEEP', `AMF nesting deeper than ${c.limits.maxAmfDepth}`, {
      offset: c.pos,
      limit: c.limits.maxAmfDepth,
    });
  }
}

/** Throws TOO_MANY_ENTRIES when a container holds more than maxAmfEntries entries. */
export function checkEntries(c: AmfCursor, count: number): void {
  if (count > c.limits.maxAmfEntries) {
    throw new AmfError('TOO_MANY_ENTRIES', `AMF container with ${count} entries`, {
      offset: c.pos,
      count,
      limit: c.limits.maxAmfEntries,
    });
  }
}

/** Sets `obj[key] = value` without letting a `__proto__` key change the prototype. */
export function setProp(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    obj[key] = value;
  }
}

/** A growable big-endian byte writer; `finish()` returns a view of what was written. */
export class ByteWriter {
  /** The backing buffer (replaced as it grows). */
  buf: Buffer;
  /** Bytes written so far. */
  pos = 0;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    if (need > MAX_ENCODED_BYTES) {
      throw new AmfError('UNSUPPORTED_VALUE', `encoded AMF exceeds ${MAX_ENCODED_BYTES} bytes`, {
        size: need,
        limit: MAX_ENCODED_BYTES,
      });
    }
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Appends one byte. */
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  /** Appends a big-endian u16. */
  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }

  /** Appends a big-endian u32. */
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  /** Appends a big-endian IEEE-754 double. */
  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  /** Appends raw bytes. */
  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  /** Writes `s` as UTF-8 at `at` (room must be ensured) and returns the byte count. */
  utf8At(s: string, at: number): number {
    return s.length === 0 ? 0 : this.buf.write(s, at, 'utf8');
  }

  /** The bytes written so far (a view). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}
