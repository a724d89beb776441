/**
 * AMF3 (Adobe "AMF 3 Specification", January 2013): a decoder for every type (used by message
 * types 15/17 and by AMF0's marker 17) and an encoder for the values AmfValue can hold.
 *
 * Mapping: integer/double -> number; string; XMLDocument and XML -> AmfXml; Date; dense array ->
 * AmfValue[]; array with an associative part -> ECMA-array-tagged object (dense items under "0",
 * "1", ...); anonymous object -> AmfObject; typed object -> AmfTypedObject; ByteArray -> Uint8Array
 * (a copy); vectors -> arrays; Dictionary -> ECMA-array-tagged object (primitive keys only).
 * Externalizable objects are refused (UNSUPPORTED_VALUE) except flex.messaging.io.ArrayCollection,
 * ArrayList and ObjectProxy, which decode to the one value they wrap.
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
import {
  ECMA_ARRAY,
  type AmfEcmaArray,
  type AmfObject,
  type AmfTypedObject,
  type AmfValue,
  type AmfXml,
} from './types';

/** AMF3 type markers. */
export const Amf3Marker = {
  Undefined: 0x00,
  Null: 0x01,
  False: 0x02,
  True: 0x03,
  Integer: 0x04,
  Double: 0x05,
  String: 0x06,
  XmlDocument: 0x07,
  Date: 0x08,
  Array: 0x09,
  Object: 0x0a,
  Xml: 0x0b,
  ByteArray: 0x0c,
  VectorInt: 0x0d,
  VectorUint: 0x0e,
  VectorDouble: 0x0f,
  VectorObject: 0x10,
  Dictionary: 0x11,
} as const;

/** Smallest and largest integers AMF3's 29-bit integer type holds. */
export const AMF3_INT_MIN = -0x10000000;
export const AMF3_INT_MAX = 0x0fffffff;

/** Externalizable classes that wrap exactly one AMF3 value, decoded as that value. */
const SIMPLE_EXTERNALIZABLE = new Set([
  'flex.messaging.io.ArrayCollection',
  'flex.messaging.io.ArrayList',
  'flex.messaging.io.ObjectProxy',
]);

/** The traits of an AMF3 object type: class name, flags and sealed member names. */
export interface Amf3Traits {
  className: string;
  externalizable: boolean;
  dynamic: boolean;
  sealed: string[];
}

/** The three AMF3 reference tables; one context spans one AMF3 stream. */
export interface Amf3DecodeContext {
  readonly limits: Readonly<RtmpLimits>;
  readonly strings: string[];
  readonly objects: AmfValue[];
  readonly traits: Amf3Traits[];
}

/** A fresh AMF3 context (empty string, object and traits tables). */
export function createAmf3DecodeContext(limits?: Partial<RtmpLimits>): Amf3DecodeContext {
  return {
    limits: limits ? resolveLimits(limits) : DEFAULT_LIMITS,
    strings: [],
    objects: [],
    traits: [],
  };
}

interface Amf3State extends AmfCursor {
  strings: string[];
  objects: AmfValue[];
  traits: Amf3Traits[];
}

/** Decodes one AMF3 value at `offset`; returns it and the offset just past it. */
export function decodeAmf3(
  buf: Uint8Array,
  offset: number,
  ctx: Amf3DecodeContext = createAmf3DecodeContext(),
): { value: AmfValue; offset: number } {
  const s: Amf3State = { ...ctx, b: asBuffer(buf), pos: offset, end: buf.length, depth: 0 };
  const value = readValue(s);
  return { value, offset: s.pos };
}

/** Decodes AMF3 values from `offset` to the end of `buf`, sharing one set of reference tables. */
export function decodeAmf3Values(
  buf: Uint8Array,
  limits?: Partial<RtmpLimits>,
  offset = 0,
): AmfValue[] {
  const s: Amf3State = {
    ...createAmf3DecodeContext(limits),
    b: asBuffer(buf),
    pos: offset,
    end: buf.length,
    depth: 0,
  };
  const out: AmfValue[] = [];
  while (s.pos < s.end) out.push(readValue(s));
  return out;
}

/**
 * Reads the AMF3 value that follows AMF0's marker 17 (already consumed) with fresh AMF3
 * reference tables, sharing the AMF0 cursor's position, limits and depth.
 */
export function readAmf3Embedded(c: AmfCursor): AmfValue {
  const s: Amf3State = {
    b: c.b,
    pos: c.pos,
    end: c.end,
    limits: c.limits,
    depth: c.depth,
    strings: [],
    objects: [],
    traits: [],
  };
  const value = readValue(s);
  c.pos = s.pos;
  return value;
}

function readU29(s: Amf3State): number {
  let result = 0;
  for (let i = 0; i < 3; i++) {
    need(s, 1);
    const byte = s.b[s.pos++];
    result = (result << 7) | (byte & 0x7f);
    if ((byte & 0x80) === 0) return result;
  }
  need(s, 1);
  return ((result << 8) | s.b[s.pos++]) >>> 0;
}

function badReference(s: Amf3State, table: string, index: number, known: number): AmfError {
  return new AmfError('BAD_REFERENCE', `AMF3 ${table} reference ${index} out of range`, {
    offset: s.pos,
    table,
    index,
    known,
  });
}

function readString(s: Amf3State): string {
  const ref = readU29(s);
  if ((ref & 1) === 0) {
    const index = ref >>> 1;
    if (index >= s.strings.length) throw badReference(s, 'string', index, s.strings.length);
    return s.strings[index];
  }
  const str = readUtf8(s, ref >>> 1);
  if (str !== '') s.strings.push(str);
  return str;
}

/** Reads a U29 that is either an object-table reference (low bit 0) or a value header. */
function objectRef(s: Amf3State, ref: number): AmfValue {
  const index = ref >>> 1;
  if (index >= s.objects.length) throw badReference(s, 'object', index, s.objects.length);
  return s.objects[index];
}

function readValue(s: Amf3State): AmfValue {
  need(s, 1);
  const marker = s.b[s.pos++];
  switch (marker) {
    case Amf3Marker.Undefined:
      return undefined;
    case Amf3Marker.Null:
      return null;
    case Amf3Marker.False:
      return false;
    case Amf3Marker.True:
      return true;
    case Amf3Marker.Integer:
      return (readU29(s) << 3) >> 3; // sign-extend 29 bits
    case Amf3Marker.Double: {
      need(s, 8);
      const v = s.b.readDoubleBE(s.pos);
      s.pos += 8;
      return v;
    }
    case Amf3Marker.String:
      return readString(s);
    case Amf3Marker.XmlDocument:
    case Amf3Marker.Xml: {
      const ref = readU29(s);
      if ((ref & 1) === 0) return objectRef(s, ref);
      const xml: AmfXml = { kind: 'xml', xml: readUtf8(s, ref >>> 1) };
      s.objects.push(xml);
      return xml;
    }
    case Amf3Marker.Date: {
      const ref = readU29(s);
      if ((ref & 1) === 0) return objectRef(s, ref);
      need(s, 8);
      const d = new Date(s.b.readDoubleBE(s.pos));
      s.pos += 8;
      s.objects.push(d);
      return d;
    }
    case Amf3Marker.Array:
      return readArray(s);
    case Amf3Marker.Object:
      return readObject(s);
    case Amf3Marker.ByteArray: {
      const ref = readU29(s);
      if ((ref & 1) === 0) return objectRef(s, ref);
      const len = ref >>> 1;
      need(s, len);
      const bytes = new Uint8Array(len);
      bytes.set(s.b.subarray(s.pos, s.pos + len));
      s.pos += len;
      s.objects.push(bytes);
      return bytes;
    }
    case Amf3Marker.VectorInt:
    case Amf3Marker.VectorUint:
    case Amf3Marker.VectorDouble:
      return readNumberVector(s, marker);
    case Amf3Marker.VectorObject:
      return readObjectVector(s);
    case Amf3Marker.Dictionary:
      return readDictionary(s);
    default:
      throw new AmfError('UNKNOWN_MARKER', `unknown AMF3 marker ${marker}`, {
        offset: s.pos - 1,
        marker,
      });
  }
}

function readArray(s: Amf3State): AmfValue {
  const ref = readU29(s);
  if ((ref & 1) === 0) return objectRef(s, ref);
  const dense = ref >>> 1;
  checkEntries(s, dense);
  const index = s.objects.length;
  s.objects.push(null); // reserve the slot: nested values may reference this array
  enter(s);
  let key = readString(s);
  let result: AmfValue[] | AmfEcmaArray;
  if (key === '') {
    need(s, dense); // every element takes at least one byte
    const arr: AmfValue[] = [];
    s.objects[index] = arr;
    for (let i = 0; i < dense; i++) arr.push(readValue(s));
    result = arr;
  } else {
    const obj: AmfEcmaArray = {};
    Object.defineProperty(obj, ECMA_ARRAY, { value: true, enumerable: false, configurable: true });
    s.objects[index] = obj;
    let count = 0;
    while (key !== '') {
      checkEntries(s, ++count + dense);
      setProp(obj, key, readValue(s));
      key = readString(s);
    }
    need(s, dense);
    for (let i = 0; i < dense; i++) obj[String(i)] = readValue(s);
    result = obj;
  }
  s.depth--;
  return result;
}

function readObject(s: Amf3State): AmfValue {
  const ref = readU29(s);
  if ((ref & 1) === 0) return objectRef(s, ref);
  let traits: Amf3Traits;
  if ((ref & 2) === 0) {
    const ti = ref >>> 2;
    if (ti >= s.traits.length) throw badReference(s, 'traits', ti, s.traits.length);
    traits = s.traits[ti];
  } else {
    const sealedCount = ref >>> 4;
    checkEntries(s, sealedCount);
    const className = readString(s);
    need(s, sealedCount);
    const sealed: string[] = [];
    for (let i = 0; i < sealedCount; i++) sealed.push(readString(s));
    traits = { className, externalizable: (ref & 4) !== 0, dynamic: (ref & 8) !== 0, sealed };
    s.traits.push(traits);
  }
  enter(s);
  let result: AmfValue;
  if (traits.externalizable) {
    if (!SIMPLE_EXTERNALIZABLE.has(traits.className)) {
      throw new AmfError(
        'UNSUPPORTED_VALUE',
        `AMF3 externalizable class ${traits.className} cannot be decoded`,
        { offset: s.pos, className: traits.className },
      );
    }
    const index = s.objects.length;
    s.objects.push(null);
    result = readValue(s);
    s.objects[index] = result;
  } else {
    const props: AmfObject = {};
    if (traits.className === '') {
      result = props;
    } else {
      result = { kind: 'typedObject', className: traits.className, properties: props };
    }
    s.objects.push(result);
    for (const name of traits.sealed) setProp(props, name, readValue(s));
    if (traits.dynamic) {
      let count = traits.sealed.length;
      for (let key = readString(s); key !== ''; key = readString(s)) {
        checkEntries(s, ++count);
        setProp(props, key, readValue(s));
      }
    }
  }
  s.depth--;
  return result;
}

function readNumberVector(s: Amf3State, marker: number): AmfValue {
  const ref = readU29(s);
  if ((ref & 1) === 0) return objectRef(s, ref);
  const count = ref >>> 1;
  checkEntries(s, count);
  need(s, 1 + count * (marker === Amf3Marker.VectorDouble ? 8 : 4));
  s.pos++; // fixed-length flag
  const arr: number[] = new Array<number>(count);
  const b = s.b;
  let p = s.pos;
  for (let i = 0; i < count; i++) {
    if (marker === Amf3Marker.VectorInt) {
      arr[i] = b.readInt32BE(p);
      p += 4;
    } else if (marker === Amf3Marker.VectorUint) {
      arr[i] = b.readUInt32BE(p);
      p += 4;
    } else {
      arr[i] = b.readDoubleBE(p);
      p += 8;
    }
  }
  s.pos = p;
  s.objects.push(arr);
  return arr;
}

function readObjectVector(s: Amf3State): AmfValue {
  const ref = readU29(s);
  if ((ref & 1) === 0) return objectRef(s, ref);
  const count = ref >>> 1;
  checkEntries(s, count);
  need(s, 1);
  s.pos++; // fixed-length flag
  readString(s); // element type name ("" or "*" for any)
  need(s, count);
  const arr: AmfValue[] = [];
  s.objects.push(arr);
  enter(s);
  for (let i = 0; i < count; i++) arr.push(readValue(s));
  s.depth--;
  return arr;
}

function readDictionary(s: Amf3State): AmfValue {
  const ref = readU29(s);
  if ((ref & 1) === 0) return objectRef(s, ref);
  const count = ref >>> 1;
  checkEntries(s, count);
  need(s, 1 + count * 2);
  s.pos++; // weak-keys flag
  const obj: AmfEcmaArray = {};
  Object.defineProperty(obj, ECMA_ARRAY, { value: true, enumerable: false, configurable: true });
  s.objects.push(obj);
  enter(s);
  for (let i = 0; i < count; i++) {
    const at = s.pos;
    const key = readValue(s);
    if (typeof key !== 'string' && typeof key !== 'number' && typeof key !== 'boolean') {
      throw new AmfError('UNSUPPORTED_VALUE', 'AMF3 dictionary key that is not a primitive', {
        offset: at,
      });
    }
    setProp(obj, String(key), readValue(s));
  }
  s.depth--;
  return obj;
}

/** Encodes one value as AMF3 (fresh reference tables). */
export function encodeAmf3(value: AmfValue): Buffer {
  const w = new ByteWriter();
  writeAmf3Value(w, value);
  return w.finish();
}

interface Amf3Encoder {
  w: ByteWriter;
  /** Every complex value written, with its object-table index: repeats become references. */
  seen: Map<object, number>;
  count: number;
  depth: number;
}

/** Appends the AMF3 encoding of `value` (fresh reference tables) to `w`. */
export function writeAmf3Value(w: ByteWriter, value: AmfValue): void {
  writeValue({ w, seen: new Map(), count: 0, depth: 0 }, value);
}

function unsupported(what: string): AmfError {
  return new AmfError('UNSUPPORTED_VALUE', `AMF3 cannot encode ${what}`, { type: what });
}

function writeU29(w: ByteWriter, v: number): void {
  if (v < 0 || v > 0x1fffffff) throw unsupported(`the 29-bit integer ${v}`);
  w.ensure(4);
  const b = w.buf;
  if (v < 0x80) {
    b[w.pos++] = v;
  } else if (v < 0x4000) {
    b[w.pos++] = (v >>> 7) | 0x80;
    b[w.pos++] = v & 0x7f;
  } else if (v < 0x200000) {
    b[w.pos++] = (v >>> 14) | 0x80;
    b[w.pos++] = ((v >>> 7) & 0x7f) | 0x80;
    b[w.pos++] = v & 0x7f;
  } else {
    b[w.pos++] = (v >>> 22) | 0x80;
    b[w.pos++] = ((v >>> 15) & 0x7f) | 0x80;
    b[w.pos++] = ((v >>> 8) & 0x7f) | 0x80;
    b[w.pos++] = v & 0xff;
  }
}

/** A string body without a marker: U29S (length << 1 | 1) then UTF-8 (never a reference). */
function writeString(w: ByteWriter, s: string): void {
  const len = Buffer.byteLength(s);
  writeU29(w, (len << 1) | 1);
  w.ensure(len);
  w.pos += w.utf8At(s, w.pos);
}

function writeValue(enc: Amf3Encoder, v: unknown): void {
  const w = enc.w;
  switch (typeof v) {
    case 'undefined':
      w.u8(Amf3Marker.Undefined);
      return;
    case 'boolean':
      w.u8(v ? Amf3Marker.True : Amf3Marker.False);
      return;
    case 'number':
      if (Number.isInteger(v) && v >= AMF3_INT_MIN && v <= AMF3_INT_MAX && !Object.is(v, -0)) {
        w.u8(Amf3Marker.Integer);
        writeU29(w, v & 0x1fffffff);
      } else {
        w.u8(Amf3Marker.Double);
        w.f64(v);
      }
      return;
    case 'string':
      w.u8(Amf3Marker.String);
      writeString(w, v);
      return;
    case 'object':
      break;
    default:
      throw unsupported(typeof v);
  }
  if (v === null) {
    w.u8(Amf3Marker.Null);
    return;
  }
  const o = v as Record<string, unknown> & { kind?: unknown };
  const marker = markerOf(v, o);
  w.u8(marker);
  const ref = enc.seen.get(v);
  if (ref !== undefined) {
    writeU29(w, ref << 1);
    return;
  }
  enc.seen.set(v, enc.count++);
  if (++enc.depth > MAX_ENCODE_DEPTH) throw unsupported(`nesting deeper than ${MAX_ENCODE_DEPTH}`);
  switch (marker) {
    case Amf3Marker.ByteArray: {
      const bytes = v as Uint8Array;
      writeU29(w, (bytes.length << 1) | 1);
      w.bytes(bytes);
      break;
    }
    case Amf3Marker.Date:
      writeU29(w, 1);
      w.f64((v as Date).getTime());
      break;
    case Amf3Marker.Xml: {
      writeString(w, (o as unknown as AmfXml).xml);
      break;
    }
    case Amf3Marker.Array: {
      if (Array.isArray(v)) {
        writeU29(w, (v.length << 1) | 1);
        w.u8(0x01); // no associative part
        for (let i = 0; i < v.length; i++) writeValue(enc, v[i]);
      } else {
        writeU29(w, 1); // no dense part: everything goes in the associative part
        for (const key of Object.keys(o)) {
          if (key === '') throw unsupported('an empty key in an associative array');
          writeString(w, key);
          writeValue(enc, o[key]);
        }
        w.u8(0x01);
      }
      break;
    }
    default: {
      const typed = o.kind === 'typedObject' ? (o as unknown as AmfTypedObject) : undefined;
      const props = typed ? typed.properties : o;
      writeU29(w, 0x0b); // inline object, inline traits, dynamic, no sealed members
      writeString(w, typed ? typed.className : '');
      for (const key of Object.keys(props)) {
        if (key === '') throw unsupported('an empty key in a dynamic object');
        writeString(w, key);
        writeValue(enc, props[key]);
      }
      w.u8(0x01);
    }
  }
  enc.depth--;
}

function markerOf(v: object, o: Record<string, unknown>): number {
  if (Array.isArray(v)) return Amf3Marker.Array;
  if (v instanceof Uint8Array) return Amf3Marker.ByteArray;
  if (v instanceof Date || Object.prototype.toString.call(v) === '[object Date]') {
    return Amf3Marker.Date;
  }
  if (!isPlainObject(v)) throw unsupported(`an instance of ${v.constructor?.name ?? 'a class'}`);
  if (o.kind === 'typedObject' && typeof o.className === 'string') {
    const p = o.properties;
    if (typeof p === 'object' && p !== null && !Array.isArray(p)) return Amf3Marker.Object;
  }
  if (o.kind === 'xml' && typeof o.xml === 'string') return Amf3Marker.Xml;
  if (o.kind === 'unsupported' && Object.keys(o).length === 1) {
    throw unsupported('the AMF0 unsupported marker');
  }
  if ((o as AmfEcmaArray)[ECMA_ARRAY] === true) return Amf3Marker.Array;
  return Amf3Marker.Object;
}
