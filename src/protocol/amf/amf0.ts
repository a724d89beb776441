/**
 * AMF0 (Adobe "Action Message Format -- AMF 0", 2007): decoder for every marker and an encoder.
 * Sans-IO, bounds-checked: broken or hostile bytes give an AmfError, never a RangeError.
 */
import { AmfError } from '../errors';
import { DEFAULT_LIMITS, resolveLimits, type RtmpLimits } from '../limits';
import {
  asBuffer,
  ByteWriter,
  checkEntries,
  enter,
  isPlainObject,
  MAX_ENCODE_DEPTH,
  need,
  readUtf8,
  setProp,
  type AmfCursor,
} from './bytes';
import { readAmf3Embedded, writeAmf3Value } from './amf3';
import {
  ECMA_ARRAY,
  type AmfEcmaArray,
  type AmfObject,
  type AmfTypedObject,
  type AmfValue,
  type AmfXml,
} from './types';

/** AMF0 type markers. */
export const Amf0Marker = {
  Number: 0x00,
  Boolean: 0x01,
  String: 0x02,
  Object: 0x03,
  MovieClip: 0x04,
  Null: 0x05,
  Undefined: 0x06,
  Reference: 0x07,
  EcmaArray: 0x08,
  ObjectEnd: 0x09,
  StrictArray: 0x0a,
  Date: 0x0b,
  LongString: 0x0c,
  Unsupported: 0x0d,
  RecordSet: 0x0e,
  XmlDocument: 0x0f,
  TypedObject: 0x10,
  AvmPlus: 0x11,
} as const;

/**
 * Decoding state that spans the values of one message: the limits and the table of complex
 * values (objects, ECMA arrays, strict arrays, typed objects) that reference markers index.
 */
export interface Amf0DecodeContext {
  readonly limits: Readonly<RtmpLimits>;
  readonly refs: AmfValue[];
}

/** A fresh context (empty reference table) for one value list. */
export function createAmf0DecodeContext(limits?: Partial<RtmpLimits>): Amf0DecodeContext {
  return { limits: limits ? resolveLimits(limits) : DEFAULT_LIMITS, refs: [] };
}

interface Amf0State extends AmfCursor {
  refs: AmfValue[];
}

/** Tags `obj` (non-enumerably) as an ECMA array so it encodes back as marker 8; returns it. */
export function ecmaArray<T extends AmfObject>(obj: T): T & AmfEcmaArray {
  Object.defineProperty(obj, ECMA_ARRAY, { value: true, enumerable: false, configurable: true });
  return obj as T & AmfEcmaArray;
}

/** True when `v` is an object tagged as an ECMA array. */
export function isEcmaArray(v: unknown): v is AmfEcmaArray {
  return typeof v === 'object' && v !== null && (v as AmfEcmaArray)[ECMA_ARRAY] === true;
}

/** Decodes one AMF0 value at `offset`; returns it and the offset just past it. */
export function decodeAmf0(
  buf: Uint8Array,
  offset: number,
  ctx: Amf0DecodeContext = createAmf0DecodeContext(),
): { value: AmfValue; offset: number } {
  const s: Amf0State = {
    b: asBuffer(buf),
    pos: offset,
    end: buf.length,
    limits: ctx.limits,
    depth: 0,
    refs: ctx.refs,
  };
  const value = readValue(s);
  return { value, offset: s.pos };
}

/** Decodes AMF0 values from `offset` (default 0) to the end of `buf`, sharing one reference table. */
export function decodeAmf0Values(
  buf: Uint8Array,
  limits?: Partial<RtmpLimits>,
  offset = 0,
): AmfValue[] {
  const s: Amf0State = {
    b: asBuffer(buf),
    pos: offset,
    end: buf.length,
    limits: limits ? resolveLimits(limits) : DEFAULT_LIMITS,
    depth: 0,
    refs: [],
  };
  const out: AmfValue[] = [];
  while (s.pos < s.end) out.push(readValue(s));
  return out;
}

function readValue(s: Amf0State): AmfValue {
  need(s, 1);
  const marker = s.b[s.pos++];
  switch (marker) {
    case Amf0Marker.Number: {
      need(s, 8);
      const v = s.b.readDoubleBE(s.pos);
      s.pos += 8;
      return v;
    }
    case Amf0Marker.Boolean:
      need(s, 1);
      return s.b[s.pos++] !== 0;
    case Amf0Marker.String:
      return readShortString(s);
    case Amf0Marker.Object: {
      const obj: AmfObject = {};
      s.refs.push(obj);
      readProperties(s, obj);
      return obj;
    }
    case Amf0Marker.Null:
      return null;
    case Amf0Marker.Undefined:
      return undefined;
    case Amf0Marker.Reference: {
      need(s, 2);
      const index = s.b.readUInt16BE(s.pos);
      if (index >= s.refs.length) {
        throw new AmfError('BAD_REFERENCE', `AMF0 reference ${index} to an unknown object`, {
          offset: s.pos - 1,
          index,
          known: s.refs.length,
        });
      }
      s.pos += 2;
      return s.refs[index];
    }
    case Amf0Marker.EcmaArray: {
      need(s, 4);
      s.pos += 4; // the count is only a hint: read pairs until the end marker
      const obj = ecmaArray({});
      s.refs.push(obj);
      readProperties(s, obj);
      return obj;
    }
    case Amf0Marker.StrictArray:
      return readStrictArray(s);
    case Amf0Marker.Date: {
      need(s, 10);
      const ms = s.b.readDoubleBE(s.pos);
      s.pos += 10; // the s16 time zone is reserved (should be 0) and ignored
      return new Date(ms);
    }
    case Amf0Marker.LongString:
      return readLongString(s);
    case Amf0Marker.Unsupported:
      return { kind: 'unsupported' };
    case Amf0Marker.XmlDocument:
      return { kind: 'xml', xml: readLongString(s) };
    case Amf0Marker.TypedObject: {
      const className = readShortString(s);
      const typed: AmfTypedObject = { kind: 'typedObject', className, properties: {} };
      s.refs.push(typed);
      readProperties(s, typed.properties);
      return typed;
    }
    case Amf0Marker.AvmPlus:
      return readAmf3Embedded(s);
    case Amf0Marker.MovieClip:
    case Amf0Marker.RecordSet:
      throw new AmfError('UNSUPPORTED_VALUE', `AMF0 marker ${marker} is reserved`, {
        offset: s.pos - 1,
        marker,
      });
    default:
      throw new AmfError('UNKNOWN_MARKER', `unknown AMF0 marker ${marker}`, {
        offset: s.pos - 1,
        marker,
      });
  }
}

function readShortString(s: Amf0State): string {
  need(s, 2);
  const len = s.b.readUInt16BE(s.pos);
  s.pos += 2;
  return readUtf8(s, len);
}

function readLongString(s: Amf0State): string {
  need(s, 4);
  const len = s.b.readUInt32BE(s.pos);
  s.pos += 4;
  return readUtf8(s, len);
}

/** Reads key/value pairs into `obj` until the empty key followed by the object-end marker. */
function readProperties(s: Amf0State, obj: AmfObject): void {
  enter(s);
  let count = 0;
  for (;;) {
    const key = readShortString(s);
    need(s, 1);
    if (key === '' && s.b[s.pos] === Amf0Marker.ObjectEnd) {
      s.pos++;
      break;
    }
    checkEntries(s, ++count);
    setProp(obj, key, readValue(s));
  }
  s.depth--;
}

function readStrictArray(s: Amf0State): AmfValue[] {
  need(s, 4);
  const count = s.b.readUInt32BE(s.pos);
  s.pos += 4;
  checkEntries(s, count);
  need(s, count); // every element takes at least one byte
  const arr: AmfValue[] = [];
  s.refs.push(arr);
  enter(s);
  for (let i = 0; i < count; i++) arr.push(readValue(s));
  s.depth--;
  return arr;
}

/** Encodes one value as AMF0. */
export function encodeAmf0(value: AmfValue): Buffer {
  const w = new ByteWriter();
  writeAmf0Value(w, value);
  return w.finish();
}

/** Encodes values one after another as AMF0 (one reference scope, as in a message body). */
export function encodeAmf0Values(values: readonly AmfValue[]): Buffer {
  const w = new ByteWriter();
  writeAmf0Values(w, values);
  return w.finish();
}

/** Appends the AMF0 encoding of `values` to `w`. */
export function writeAmf0Values(w: ByteWriter, values: readonly AmfValue[]): void {
  const enc: Amf0Encoder = { w, count: 0, open: new Map(), depth: 0 };
  for (const v of values) writeValue(enc, v);
}

/** Appends the AMF0 encoding of `value` to `w`. */
export function writeAmf0Value(w: ByteWriter, value: AmfValue): void {
  writeValue({ w, count: 0, open: new Map(), depth: 0 }, value);
}

interface Amf0Encoder {
  w: ByteWriter;
  /** Complex values written so far (the decoder's reference table index). */
  count: number;
  /** Containers being written (ancestors) -> their reference index: cycles become references. */
  open: Map<object, number>;
  depth: number;
}

function unsupported(what: string): AmfError {
  return new AmfError('UNSUPPORTED_VALUE', `AMF0 cannot encode ${what}`, { type: what });
}

function writeValue(enc: Amf0Encoder, v: unknown): void {
  const w = enc.w;
  switch (typeof v) {
    case 'number':
      w.ensure(9);
      w.buf[w.pos++] = Amf0Marker.Number;
      w.buf.writeDoubleBE(v, w.pos);
      w.pos += 8;
      return;
    case 'boolean':
      w.ensure(2);
      w.buf[w.pos++] = Amf0Marker.Boolean;
      w.buf[w.pos++] = v ? 1 : 0;
      return;
    case 'string':
      writeStringValue(w, v);
      return;
    case 'undefined':
      w.u8(Amf0Marker.Undefined);
      return;
    case 'object':
      break;
    default:
      throw unsupported(typeof v);
  }
  if (v === null) {
    w.u8(Amf0Marker.Null);
    return;
  }
  const ref = enc.open.get(v);
  if (ref !== undefined) {
    if (ref > 0xffff) throw unsupported('a reference beyond index 65535');
    w.u8(Amf0Marker.Reference);
    w.u16(ref);
    return;
  }
  if (Array.isArray(v)) {
    enterContainer(enc, v);
    w.u8(Amf0Marker.StrictArray);
    w.u32(v.length);
    for (let i = 0; i < v.length; i++) writeValue(enc, v[i]);
    leaveContainer(enc, v);
    return;
  }
  if (v instanceof Uint8Array) {
    w.u8(Amf0Marker.AvmPlus); // AMF0 has no byte array: switch to AMF3 for this value
    writeAmf3Value(w, v);
    return;
  }
  if (v instanceof Date || Object.prototype.toString.call(v) === '[object Date]') {
    w.ensure(11);
    w.buf[w.pos++] = Amf0Marker.Date;
    w.buf.writeDoubleBE((v as Date).getTime(), w.pos);
    w.buf.writeInt16BE(0, w.pos + 8);
    w.pos += 10;
    return;
  }
  if (!isPlainObject(v)) throw unsupported(`an instance of ${v.constructor?.name ?? 'a class'}`);
  const o = v as Record<string, unknown> & { kind?: unknown };
  if (o.kind === 'typedObject' && typeof o.className === 'string' && isObj(o.properties)) {
    enterContainer(enc, v);
    w.u8(Amf0Marker.TypedObject);
    writeKey(w, o.className);
    writeProperties(enc, o.properties);
    leaveContainer(enc, v);
    return;
  }
  if (o.kind === 'xml' && typeof o.xml === 'string') {
    w.u8(Amf0Marker.XmlDocument);
    writeLongString(w, (o as unknown as AmfXml).xml);
    return;
  }
  if (o.kind === 'unsupported' && Object.keys(o).length === 1) {
    w.u8(Amf0Marker.Unsupported);
    return;
  }
  enterContainer(enc, v);
  if ((o as AmfEcmaArray)[ECMA_ARRAY] === true) {
    w.u8(Amf0Marker.EcmaArray);
    w.u32(Object.keys(o).length);
  } else {
    w.u8(Amf0Marker.Object);
  }
  writeProperties(enc, o);
  leaveContainer(enc, v);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function enterContainer(enc: Amf0Encoder, v: object): void {
  if (++enc.depth > MAX_ENCODE_DEPTH) throw unsupported(`nesting deeper than ${MAX_ENCODE_DEPTH}`);
  enc.open.set(v, enc.count++);
}

function leaveContainer(enc: Amf0Encoder, v: object): void {
  enc.depth--;
  enc.open.delete(v);
}

function writeProperties(enc: Amf0Encoder, o: Record<string, unknown>): void {
  for (const key of Object.keys(o)) {
    writeKey(enc.w, key);
    writeValue(enc, o[key]);
  }
  enc.w.ensure(3);
  enc.w.buf[enc.w.pos++] = 0;
  enc.w.buf[enc.w.pos++] = 0;
  enc.w.buf[enc.w.pos++] = Amf0Marker.ObjectEnd;
}

/** Writes a u16-length UTF-8 string (object key, class name); throws if it needs more. */
function writeKey(w: ByteWriter, s: string): void {
  if (s.length > 0x5555 && Buffer.byteLength(s) > 0xffff) {
    throw unsupported('an object key or class name longer than 65535 bytes');
  }
  w.ensure(2 + s.length * 3);
  const n = w.utf8At(s, w.pos + 2);
  w.buf.writeUInt16BE(n, w.pos);
  w.pos += 2 + n;
}

function writeStringValue(w: ByteWriter, s: string): void {
  if (s.length <= 0x5555 || Buffer.byteLength(s) <= 0xffff) {
    w.u8(Amf0Marker.String);
    writeKey(w, s);
  } else {
    w.u8(Amf0Marker.LongString);
    writeLongString(w, s);
  }
}

function writeLongString(w: ByteWriter, s: string): void {
  const room = s.length > 0x100000 ? Buffer.byteLength(s) : s.length * 3;
  w.ensure(4 + room);
  const n = w.utf8At(s, w.pos + 4);
  w.buf.writeUInt32BE(n, w.pos);
  w.pos += 4 + n;
}
