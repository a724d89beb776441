/**
 * Enhanced RTMP v2 media bodies as values: parse a whole ExVideoTagBody / ExAudioTagBody (every
 * track's payload, composition time and FourCC, the ModEx modifiers) and write one back.
 *
 * `parseVideoHeader` / `parseAudioHeader` (./media) are the per-message hot path and read the
 * header only; this module is for code that builds or rewrites bodies (a multitrack publisher,
 * tests, tools). It parses through the same header code, so both always agree.
 *
 * Layouts (veovera enhanced-rtmp v2, "Enhanced Video" / "Enhanced Audio"):
 * - video byte 0: IsExHeader (1 bit) | VideoFrameType (3 bits) | VideoPacketType (4 bits);
 *   audio byte 0: SoundFormat 9 (ExHeader, 4 bits) | AudioPacketType (4 bits).
 * - while the packet type is ModEx (7): modExDataSize = UI8 + 1 (0xFF: UI16 + 1 follows),
 *   modExData, then one byte ModExType (high nibble) | next packet type (low nibble).
 *   ModExType 0 is TimestampOffsetNano: a UI24 of nanoseconds in the first 3 data bytes.
 * - video, frame type Command (not Metadata): one UI8 VideoCommand and nothing else.
 * - Multitrack (video 6, audio 5): one byte AvMultitrackType (high nibble: 0 OneTrack,
 *   1 ManyTracks, 2 ManyTracksManyCodecs) | the tracks' packet type (low nibble), then the
 *   FourCC shared by the tracks unless ManyTracksManyCodecs; then per track: its FourCC
 *   (ManyTracksManyCodecs only), trackId UI8, sizeOfTrack UI24 (not for OneTrack: counts the
 *   bytes after it up to the next track), the body.
 * - otherwise the FourCC, then the body.
 * - a video body of avc1/hvc1/vvc1 CodedFrames starts with CompositionTimeOffset SI24 (signed);
 *   CodedFramesX leaves it out (0).
 *
 * Canonical form: `write(parse(b))` equals `b` for bodies written the way this module writes
 * them (TimestampOffsetNano first, in 3 bytes; ModEx sizes in the short form when they fit;
 * frame type 0 on a Metadata packet); `parse(write(x))` equals `x` for every body it accepts.
 */
import { FlvError } from '../errors';
import {
  modExModifiers,
  parseAudioHeader,
  parseVideoHeader,
  type AudioPacketType,
  type ModExModifier,
  type MultitrackType,
  type VideoFrameType,
  type VideoPacketType,
} from './media';

export type { ModExModifier, MultitrackType };

/** Packet types a track can carry (Multitrack and ModEx are framing, not content). */
export type ExVideoPacketType = Exclude<VideoPacketType, 'multitrack' | 'modEx'>;
export type ExAudioPacketType = Exclude<AudioPacketType, 'multitrack' | 'modEx'>;

/** One track of an Enhanced body (a body without multitrack has one, trackId 0). */
export interface ExTrack {
  /** UI8: 0 for the default track (and for a body without multitrack). */
  trackId: number;
  /** Four latin1 characters: 'avc1', 'hvc1', 'av01', 'mp4a', 'Opus'... */
  fourCc: string;
  /**
   * Video only, avc1/hvc1/vvc1 only: the signed 24-bit composition time offset (ms) of
   * CodedFrames, 0 for CodedFramesX; undefined otherwise.
   */
  compositionTime?: number;
  /** The codec payload (NALUs, an OBU, a configuration record...). A view when parsed. */
  payload: Uint8Array;
}

/** The ModEx and multitrack framing both media share. */
interface ExBodyCommon {
  /** ModEx TimestampOffsetNano: nanoseconds (0 … 999 999 when written) added to the timestamp. */
  timestampOffsetNano?: number;
  /** The other ModEx modifiers, in order (written after TimestampOffsetNano). */
  modEx?: ModExModifier[];
  /** Set for a Multitrack body; absent for a plain one (which then has exactly one track, id 0). */
  multitrack?: MultitrackType;
  tracks: ExTrack[];
}

/** An Enhanced RTMP video message body (ExVideoTagHeader + ExVideoTagBody). */
export interface ExVideoBody extends ExBodyCommon {
  /** 'reserved' only on a Metadata packet (which ignores the frame type; written as 0). */
  frameType: VideoFrameType;
  packetType: ExVideoPacketType;
  /** Frame type 'command' (not on Metadata): the VideoCommand byte; the body has no tracks. */
  command?: number;
}

/** An Enhanced RTMP audio message body (ExAudioTagHeader + ExAudioTagBody). */
export interface ExAudioBody extends ExBodyCommon {
  packetType: ExAudioPacketType;
}

// ---------------------------------------------------------------------------------------------
// Named limits of the wire format

/** sizeOfVideoTrack / sizeOfAudioTrack is a UI24. */
export const MAX_TRACK_SIZE = 0xffffff;
/** The spec's ceiling for TimestampOffsetNano (just under 1 ms). */
export const MAX_TIMESTAMP_OFFSET_NANO = 999_999;
/** modExDataSize: UI8 + 1, or UI16 + 1 after the escape. */
export const MAX_MODEX_DATA_SIZE = 0x10000;
/** CompositionTimeOffset is an SI24. */
export const MIN_COMPOSITION_TIME = -0x800000;
export const MAX_COMPOSITION_TIME = 0x7fffff;

const VIDEO_FRAME_TYPE_IDS: Readonly<Record<VideoFrameType, number>> = {
  reserved: 0,
  key: 1,
  inter: 2,
  disposableInter: 3,
  generatedKey: 4,
  command: 5,
};

const VIDEO_PACKET_TYPE_IDS: Readonly<Record<ExVideoPacketType, number>> = {
  sequenceStart: 0,
  codedFrames: 1,
  sequenceEnd: 2,
  codedFramesX: 3,
  metadata: 4,
  mpeg2tsSequenceStart: 5,
};

const AUDIO_PACKET_TYPE_IDS: Readonly<Record<ExAudioPacketType, number>> = {
  sequenceStart: 0,
  codedFrames: 1,
  sequenceEnd: 2,
  multichannelConfig: 4,
};

const MULTITRACK_TYPE_IDS: Readonly<Record<MultitrackType, number>> = {
  oneTrack: 0,
  manyTracks: 1,
  manyTracksManyCodecs: 2,
};

const VIDEO_MULTITRACK = 6;
const AUDIO_MULTITRACK = 5;
const MODEX = 7;
const SOUND_FORMAT_EX_HEADER = 9;
const CT_FOURCCS: ReadonlySet<string> = new Set(['avc1', 'hvc1', 'vvc1']);

function bad(reason: string, details: Record<string, unknown>): never {
  throw new FlvError('BAD_MEDIA_BODY', `cannot write media body: ${reason}`, {
    reason,
    ...details,
  });
}

function malformed(reason: string, details: Record<string, unknown>): never {
  throw new FlvError('BAD_MEDIA_HEADER', `bad media tag header: ${reason}`, {
    reason,
    ...details,
  });
}

// ---------------------------------------------------------------------------------------------
// Parse

/**
 * Parses an Enhanced RTMP video body in full. Throws `FlvError('BAD_MEDIA_HEADER')` (with
 * `details.reason` and the offending offsets or values) on a classic body, a truncated one, a
 * reserved value, or a track that overruns the body.
 */
export function parseExVideoBody(body: Uint8Array): ExVideoBody {
  const info = parseVideoHeader(body);
  if (!info.enhanced)
    malformed('not an Enhanced RTMP video body (IsExHeader is 0)', { byte0: body[0] });
  const out: ExVideoBody = {
    frameType: info.frameType,
    packetType: info.packetType as ExVideoPacketType,
    tracks: [],
  };
  addCommon(body, out, info.timestampNanoOffset);
  if (info.command !== undefined) {
    out.command = info.command;
    return out;
  }
  if (info.multitrack !== undefined && info.tracks) {
    out.multitrack = info.multitrack;
    for (const t of info.tracks) {
      out.tracks.push(track(t.trackId, t.fourCc, t.compositionTime, body, t.offset, t.length));
    }
  } else {
    out.tracks.push(
      track(
        0,
        info.fourCc ?? '',
        info.compositionTime,
        body,
        info.headerLength,
        body.length - info.headerLength,
      ),
    );
  }
  return out;
}

/** Parses an Enhanced RTMP audio body in full (SoundFormat 9); errors as {@link parseExVideoBody}. */
export function parseExAudioBody(body: Uint8Array): ExAudioBody {
  const info = parseAudioHeader(body);
  if (!info.enhanced)
    malformed('not an Enhanced RTMP audio body (SoundFormat is not 9)', { byte0: body[0] });
  const out: ExAudioBody = { packetType: info.packetType as ExAudioPacketType, tracks: [] };
  addCommon(body, out, info.timestampNanoOffset);
  if (info.multitrack !== undefined && info.tracks) {
    out.multitrack = info.multitrack;
    for (const t of info.tracks) {
      out.tracks.push(track(t.trackId, t.fourCc, undefined, body, t.offset, t.length));
    }
  } else {
    out.tracks.push(
      track(
        0,
        info.fourCc ?? '',
        undefined,
        body,
        info.headerLength,
        body.length - info.headerLength,
      ),
    );
  }
  return out;
}

function addCommon(body: Uint8Array, out: ExBodyCommon, nano: number | undefined): void {
  if (nano !== undefined) out.timestampOffsetNano = nano;
  const others = modExModifiers(body);
  if (others.length > 0) out.modEx = others;
}

function track(
  trackId: number,
  fourCc: string,
  compositionTime: number | undefined,
  body: Uint8Array,
  offset: number,
  length: number,
): ExTrack {
  const t: ExTrack = { trackId, fourCc, payload: body.subarray(offset, offset + length) };
  if (compositionTime !== undefined) t.compositionTime = compositionTime;
  return t;
}

// ---------------------------------------------------------------------------------------------
// Write

/** Byte sink that grows once per body (sizes are known before writing). */
class Out {
  readonly bytes: Uint8Array;
  p = 0;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }
  u8(v: number): void {
    this.bytes[this.p++] = v;
  }
  u16(v: number): void {
    this.u8(v >> 8);
    this.u8(v & 0xff);
  }
  u24(v: number): void {
    this.u8((v >> 16) & 0xff);
    this.u8((v >> 8) & 0xff);
    this.u8(v & 0xff);
  }
  fourCc(s: string): void {
    for (let i = 0; i < 4; i++) this.u8(s.charCodeAt(i));
  }
  raw(b: Uint8Array): void {
    this.bytes.set(b, this.p);
    this.p += b.length;
  }
}

function checkFourCc(fourCc: string, trackId: number): void {
  if (fourCc.length !== 4 || !/^[\x20-\x7e]{4}$/.test(fourCc)) {
    bad('a FourCC is four printable ASCII characters', { fourCc, trackId });
  }
}

function checkInt(name: string, v: unknown, min: number, max: number, extra = {}): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    bad(`${name} must be an integer in ${min} … ${max}`, { [name]: v, min, max, ...extra });
  }
}

/** Bytes of the ModEx chain (without the leading packet-type byte, which the caller owns). */
function modExSize(x: ExBodyCommon): number {
  let n = 0;
  if (x.timestampOffsetNano !== undefined) n += 1 + 3 + 1;
  for (const m of x.modEx ?? []) n += (m.data.length >= 256 ? 3 : 1) + m.data.length + 1;
  return n;
}

function checkModEx(x: ExBodyCommon): void {
  if (x.timestampOffsetNano !== undefined) {
    checkInt('timestampOffsetNano', x.timestampOffsetNano, 0, MAX_TIMESTAMP_OFFSET_NANO);
  }
  for (const m of x.modEx ?? []) {
    checkInt('modExType', m.type, 1, 15);
    checkInt('modExDataSize', m.data.length, 1, MAX_MODEX_DATA_SIZE, { modExType: m.type });
  }
}

function checkCommon(x: ExBodyCommon): void {
  checkModEx(x);
  const n = x.tracks.length;
  if (x.multitrack === undefined) {
    if (n !== 1) bad('a body without multitrack has exactly one track', { tracks: n });
    if (x.tracks[0].trackId !== 0) {
      bad('a body without multitrack has trackId 0', { trackId: x.tracks[0].trackId });
    }
  } else {
    if (!(x.multitrack in MULTITRACK_TYPE_IDS))
      bad('unknown multitrack type', { multitrack: x.multitrack });
    if (n === 0) bad('a multitrack body has at least one track', { multitrack: x.multitrack });
    if (x.multitrack === 'oneTrack' && n !== 1) {
      bad('a OneTrack body has exactly one track', { tracks: n });
    }
    if (x.multitrack === 'manyTracks') {
      const shared = x.tracks[0].fourCc;
      const other = x.tracks.find((t) => t.fourCc !== shared);
      if (other) {
        bad('ManyTracks tracks share one FourCC (use manyTracksManyCodecs)', {
          fourCc: shared,
          trackFourCc: other.fourCc,
          trackId: other.trackId,
        });
      }
    }
  }
  for (const t of x.tracks) {
    checkInt('trackId', t.trackId, 0, 255);
    checkFourCc(t.fourCc, t.trackId);
  }
}

/** Writes the byte-0 packet type slot: ModEx chain first when there is one. */
function writeFraming(out: Out, high: number, x: ExBodyCommon, packetType: number): void {
  const hasModEx = x.timestampOffsetNano !== undefined || (x.modEx?.length ?? 0) > 0;
  if (!hasModEx) {
    out.u8(high | packetType);
    return;
  }
  out.u8(high | MODEX);
  const entries: Array<readonly [number, Uint8Array | number]> = [];
  if (x.timestampOffsetNano !== undefined) entries.push([0, x.timestampOffsetNano]);
  for (const m of x.modEx ?? []) entries.push([m.type, m.data]);
  entries.forEach(([type, data], i) => {
    const last = i === entries.length - 1;
    if (typeof data === 'number') {
      out.u8(3 - 1);
      out.u24(data);
    } else {
      if (data.length >= 256) {
        out.u8(0xff);
        out.u16(data.length - 1);
      } else {
        out.u8(data.length - 1);
      }
      out.raw(data);
    }
    out.u8((type << 4) | (last ? packetType : MODEX));
  });
}

/** Writes the multitrack byte, shared FourCC and tracks, or the single FourCC and track. */
function writeTracks(
  out: Out,
  x: ExBodyCommon,
  packetType: number,
  ctOf: (t: ExTrack) => number | undefined,
): void {
  if (x.multitrack === undefined) {
    const t = x.tracks[0];
    out.fourCc(t.fourCc);
    const ct = ctOf(t);
    if (ct !== undefined) out.u24(ct & 0xffffff);
    out.raw(t.payload);
    return;
  }
  const mt = MULTITRACK_TYPE_IDS[x.multitrack];
  out.u8((mt << 4) | packetType);
  if (x.multitrack !== 'manyTracksManyCodecs') out.fourCc(x.tracks[0].fourCc);
  for (const t of x.tracks) {
    if (x.multitrack === 'manyTracksManyCodecs') out.fourCc(t.fourCc);
    out.u8(t.trackId);
    const ct = ctOf(t);
    const size = (ct !== undefined ? 3 : 0) + t.payload.length;
    if (x.multitrack !== 'oneTrack') out.u24(size);
    if (ct !== undefined) out.u24(ct & 0xffffff);
    out.raw(t.payload);
  }
}

function tracksSize(x: ExBodyCommon, ctOf: (t: ExTrack) => number | undefined): number {
  let n = 0;
  if (x.multitrack === undefined) {
    const t = x.tracks[0];
    return 4 + (ctOf(t) !== undefined ? 3 : 0) + t.payload.length;
  }
  n += 1 + (x.multitrack !== 'manyTracksManyCodecs' ? 4 : 0);
  for (const t of x.tracks) {
    const trackBytes = (ctOf(t) !== undefined ? 3 : 0) + t.payload.length;
    if (x.multitrack !== 'oneTrack' && trackBytes > MAX_TRACK_SIZE) {
      bad('a track is larger than sizeOfTrack (UI24) can say', {
        trackId: t.trackId,
        size: trackBytes,
        limit: MAX_TRACK_SIZE,
      });
    }
    n += (x.multitrack === 'manyTracksManyCodecs' ? 4 : 0) + 1;
    n += (x.multitrack !== 'oneTrack' ? 3 : 0) + trackBytes;
  }
  return n;
}

/**
 * Writes an Enhanced RTMP video body. Throws `FlvError('BAD_MEDIA_BODY')` (with
 * `details.reason` and the offending value) when `x` cannot be written as it is: a track count
 * that does not fit the multitrack type, a FourCC that is not four characters, a trackId
 * outside UI8, a composition time on a codec or packet type without one (or missing where the
 * layout has one), a value past its field's size.
 */
export function writeExVideoBody(x: ExVideoBody): Uint8Array {
  const ft = VIDEO_FRAME_TYPE_IDS[x.frameType];
  if (ft === undefined) bad('unknown frame type', { frameType: x.frameType });
  const pt = VIDEO_PACKET_TYPE_IDS[x.packetType];
  if (pt === undefined) bad('unknown video packet type', { packetType: x.packetType });
  if (x.frameType === 'reserved' && x.packetType !== 'metadata') {
    bad("frame type 'reserved' is only for Metadata packets", { packetType: x.packetType });
  }
  const high = 0x80 | (ft << 4);
  if (x.frameType === 'command' && x.packetType !== 'metadata') {
    checkInt('command', x.command, 0, 255);
    if (x.tracks.length !== 0) bad('a command frame has no tracks', { tracks: x.tracks.length });
    const probe: ExBodyCommon = { ...x, tracks: [] };
    checkModEx(probe);
    const out = new Out(1 + modExSize(probe) + 1);
    writeFraming(out, high, probe, pt);
    out.u8(x.command as number);
    return out.bytes;
  }
  if (x.command !== undefined)
    bad('only a command frame carries a command', { frameType: x.frameType });
  checkCommon(x);
  const ctOf = (t: ExTrack): number | undefined => {
    const has = CT_FOURCCS.has(t.fourCc);
    if (has && x.packetType === 'codedFrames') {
      checkInt('compositionTime', t.compositionTime, MIN_COMPOSITION_TIME, MAX_COMPOSITION_TIME, {
        trackId: t.trackId,
      });
      return t.compositionTime;
    }
    if (has && x.packetType === 'codedFramesX') {
      if (t.compositionTime !== 0) {
        bad('CodedFramesX implies composition time 0', {
          trackId: t.trackId,
          compositionTime: t.compositionTime,
        });
      }
      return undefined;
    }
    if (t.compositionTime !== undefined) {
      bad('this FourCC and packet type carry no composition time', {
        trackId: t.trackId,
        fourCc: t.fourCc,
        packetType: x.packetType,
        compositionTime: t.compositionTime,
      });
    }
    return undefined;
  };
  const size = tracksSize(x, ctOf);
  const out = new Out(1 + modExSize(x) + size);
  writeFraming(out, high, x, x.multitrack === undefined ? pt : VIDEO_MULTITRACK);
  writeTracks(out, x, pt, ctOf);
  return out.bytes;
}

/** Writes an Enhanced RTMP audio body (SoundFormat 9); errors as {@link writeExVideoBody}. */
export function writeExAudioBody(x: ExAudioBody): Uint8Array {
  const pt = AUDIO_PACKET_TYPE_IDS[x.packetType];
  if (pt === undefined) bad('unknown audio packet type', { packetType: x.packetType });
  checkCommon(x);
  const ctOf = (t: ExTrack): undefined => {
    if (t.compositionTime !== undefined) {
      bad('audio tracks carry no composition time', { trackId: t.trackId });
    }
    return undefined;
  };
  const size = tracksSize(x, ctOf);
  const out = new Out(1 + modExSize(x) + size);
  writeFraming(
    out,
    SOUND_FORMAT_EX_HEADER << 4,
    x,
    x.multitrack === undefined ? pt : AUDIO_MULTITRACK,
  );
  writeTracks(out, x, pt, ctOf);
  return out.bytes;
}
