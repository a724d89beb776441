/**
 * Audio and video tag headers: classic FLV (spec v10, E.4.2 / E.4.3) and Enhanced RTMP v2
 * (ExVideoTagHeader / ExAudioTagHeader with FourCC, ModEx and multitrack).
 *
 * Built for the per-message hot path: no allocation besides the result object in the common
 * case, and none at all when a result object is passed in to be reused. Multitrack bodies
 * allocate one small object per track.
 */
import { FlvError } from '../errors';

// ---------------------------------------------------------------------------------------------
// Shared names

/** Frame type of a video tag. `reserved` is only reported for Metadata packets, which ignore it. */
export type VideoFrameType =
  'key' | 'inter' | 'disposableInter' | 'generatedKey' | 'command' | 'reserved';

/**
 * Video packet types by wire value (classic AVCPacketType 0-2 maps onto the first three).
 * `parseVideoHeader` resolves ModEx and Multitrack, so it never reports `modEx` or `multitrack`.
 */
export type VideoPacketType =
  | 'sequenceStart'
  | 'codedFrames'
  | 'sequenceEnd'
  | 'codedFramesX'
  | 'metadata'
  | 'mpeg2tsSequenceStart'
  | 'multitrack'
  | 'modEx';

/**
 * Audio packet types by wire value (classic AACPacketType 0-1 maps onto the first two).
 * `parseAudioHeader` resolves ModEx and Multitrack, so it never reports `modEx` or `multitrack`.
 */
export type AudioPacketType =
  'sequenceStart' | 'codedFrames' | 'sequenceEnd' | 'multichannelConfig' | 'multitrack' | 'modEx';

/** AvMultitrackType (Enhanced RTMP v2). */
export type MultitrackType = 'oneTrack' | 'manyTracks' | 'manyTracksManyCodecs';

/** Known video codecs; an unknown FourCC is reported as the FourCC itself. */
export type VideoCodec =
  | 'avc'
  | 'hevc'
  | 'av1'
  | 'vp9'
  | 'vp8'
  | 'vvc'
  | 'h263'
  | 'screen'
  | 'vp6'
  | 'vp6a'
  | 'screen2'
  | 'jpeg'
  | 'none'
  | (string & Record<never, never>);

/** Known audio codecs; an unknown FourCC is reported as the FourCC itself. */
export type AudioCodec =
  | 'pcm'
  | 'adpcm'
  | 'mp3'
  | 'pcmLE'
  | 'nellymoser'
  | 'g711a'
  | 'g711u'
  | 'aac'
  | 'speex'
  | 'native'
  | 'opus'
  | 'flac'
  | 'ac3'
  | 'eac3'
  | 'none'
  | (string & Record<never, never>);

/** One track of an Enhanced RTMP multitrack body. */
export interface MediaTrack {
  trackId: number;
  fourCc: string;
  codec: string;
  /** Video CodedFrames of avc1/hvc1/vvc1 only (0 for CodedFramesX). */
  compositionTime?: number;
  /** Offset of the track's codec payload in the body (after any composition time). */
  offset: number;
  /** Length of the track's codec payload. */
  length: number;
}

/** What a video tag header says. */
export interface VideoInfo {
  /** Enhanced RTMP ExVideoTagHeader (IsExHeader bit set). */
  enhanced: boolean;
  frameType: VideoFrameType;
  codec: VideoCodec;
  /** Classic CodecID (low nibble), for classic headers only. */
  codecId: number | undefined;
  /** Enhanced only. For multitrack, the first track's. */
  fourCc: string | undefined;
  /** The packet type after ModEx and Multitrack are resolved (classic non-AVC: `codedFrames`). */
  packetType: VideoPacketType;
  /**
   * Composition time offset in ms (signed): classic AVC/HEVC (every packet type), Enhanced
   * CodedFrames of avc1/hvc1/vvc1, and 0 for their CodedFramesX. Otherwise undefined.
   */
  compositionTime: number | undefined;
  /** A key (or generated key) frame that carries coded pictures. */
  isKeyframe: boolean;
  /** Codec configuration: SequenceStart (or MPEG2TSSequenceStart). */
  isSequenceHeader: boolean;
  /** Bytes before the codec payload (for multitrack, the first track's payload offset). */
  headerLength: number;
  /** VideoCommand (0 start seek, 1 end seek) when `frameType` is `command`; there is no payload. */
  command: number | undefined;
  /** ModEx TimestampOffsetNano, in nanoseconds, when present. */
  timestampNanoOffset: number | undefined;
  /** Set when the body is an Enhanced RTMP multitrack body. */
  multitrack: MultitrackType | undefined;
  /** Multitrack only: every track, in body order. */
  tracks: MediaTrack[] | undefined;
}

/** What an audio tag header says. */
export interface AudioInfo {
  /** Enhanced RTMP ExAudioTagHeader (SoundFormat 9). */
  enhanced: boolean;
  /** The SoundFormat nibble (9 for Enhanced, -1 for an empty "silence" message). */
  soundFormat: number;
  codec: AudioCodec;
  /** Enhanced only. For multitrack, the first track's. */
  fourCc: string | undefined;
  /** Classic only: nominal rate in Hz from SoundRate (AAC always says 44100: read the ASC). */
  rate: number | undefined;
  /** Classic only: 8 or 16 bits. */
  size: number | undefined;
  /** Classic: 1 or 2 from SoundType; Enhanced MultichannelConfig: the channel count. */
  channels: number | undefined;
  /** Classic AAC only: the AACPacketType byte (0 sequence header, 1 raw). */
  aacPacketType: number | undefined;
  /** The packet type after ModEx and Multitrack are resolved (classic non-AAC: `codedFrames`). */
  packetType: AudioPacketType;
  /** Codec configuration: AAC AudioSpecificConfig or Enhanced SequenceStart. */
  isSequenceHeader: boolean;
  /** An empty audio message: the legacy "silence" signal (see Enhanced RTMP v2). */
  isSilence: boolean;
  /** Bytes before the codec payload (for multitrack, the first track's payload offset). */
  headerLength: number;
  /** ModEx TimestampOffsetNano, in nanoseconds, when present. */
  timestampNanoOffset: number | undefined;
  /** Set when the body is an Enhanced RTMP multitrack body. */
  multitrack: MultitrackType | undefined;
  /** Multitrack only: every track, in body order. */
  tracks: MediaTrack[] | undefined;
}

// ---------------------------------------------------------------------------------------------
// Tables

const VIDEO_FRAME_TYPES: readonly (VideoFrameType | undefined)[] = [
  undefined,
  'key',
  'inter',
  'disposableInter',
  'generatedKey',
  'command',
  undefined,
  undefined,
];

const VIDEO_PACKET_TYPES: readonly (VideoPacketType | undefined)[] = [
  'sequenceStart',
  'codedFrames',
  'sequenceEnd',
  'codedFramesX',
  'metadata',
  'mpeg2tsSequenceStart',
  'multitrack',
  'modEx',
];

const AUDIO_PACKET_TYPES: readonly (AudioPacketType | undefined)[] = [
  'sequenceStart',
  'codedFrames',
  'sequenceEnd',
  undefined,
  'multichannelConfig',
  'multitrack',
  undefined,
  'modEx',
];

const MULTITRACK_TYPES: readonly (MultitrackType | undefined)[] = [
  'oneTrack',
  'manyTracks',
  'manyTracksManyCodecs',
];

/** Classic CodecID → name (1 is JPEG, never used; 12 is the unofficial HEVC extension). */
const CLASSIC_VIDEO_CODECS: readonly (VideoCodec | undefined)[] = [
  undefined,
  'jpeg',
  'h263',
  'screen',
  'vp6',
  'vp6a',
  'screen2',
  'avc',
  undefined,
  undefined,
  undefined,
  undefined,
  'hevc',
];

const SOUND_FORMATS: readonly (AudioCodec | undefined)[] = [
  'pcm', // 0 linear PCM, platform endian
  'adpcm', // 1
  'mp3', // 2
  'pcmLE', // 3 linear PCM, little endian
  'nellymoser', // 4 Nellymoser 16 kHz mono
  'nellymoser', // 5 Nellymoser 8 kHz mono
  'nellymoser', // 6
  'g711a', // 7
  'g711u', // 8
  undefined, // 9 ExHeader
  'aac', // 10
  'speex', // 11
  undefined, // 12 reserved
  undefined, // 13 reserved
  'mp3', // 14 MP3 8 kHz
  'native', // 15 device-specific
];

const SOUND_RATES = [5512, 11025, 22050, 44100];

/** A FourCC as a big-endian u32. */
function fourCcValue(s: string): number {
  return (
    ((s.charCodeAt(0) << 24) |
      (s.charCodeAt(1) << 16) |
      (s.charCodeAt(2) << 8) |
      s.charCodeAt(3)) >>>
    0
  );
}

const FOURCC_AVC1 = fourCcValue('avc1');
const FOURCC_HVC1 = fourCcValue('hvc1');
const FOURCC_VVC1 = fourCcValue('vvc1');

/** Known video FourCCs: u32 → [fourCc, codec]. */
const VIDEO_FOURCCS = new Map<number, readonly [string, VideoCodec]>(
  (
    [
      ['avc1', 'avc'],
      ['hvc1', 'hevc'],
      ['av01', 'av1'],
      ['vp09', 'vp9'],
      ['vp08', 'vp8'],
      ['vvc1', 'vvc'],
    ] as const
  ).map(([f, c]) => [fourCcValue(f), [f, c]]),
);

/** Known audio FourCCs: u32 → [fourCc, codec]. */
const AUDIO_FOURCCS = new Map<number, readonly [string, AudioCodec]>(
  (
    [
      ['Opus', 'opus'],
      ['fLaC', 'flac'],
      ['ac-3', 'ac3'],
      ['ec-3', 'eac3'],
      ['.mp3', 'mp3'],
      ['mp4a', 'aac'],
    ] as const
  ).map(([f, c]) => [fourCcValue(f), [f, c]]),
);

// ---------------------------------------------------------------------------------------------
// Byte helpers

function fail(reason: string, details: Record<string, unknown>): never {
  throw new FlvError('BAD_MEDIA_HEADER', `bad media tag header: ${reason}`, { reason, ...details });
}

function need(body: Uint8Array, end: number, what: string): void {
  if (end > body.length) fail(`truncated ${what}`, { need: end, length: body.length });
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function u24(b: Uint8Array, o: number): number {
  return (b[o] << 16) | (b[o + 1] << 8) | b[o + 2];
}

function s24(b: Uint8Array, o: number): number {
  return (((b[o] << 16) | (b[o + 1] << 8) | b[o + 2]) << 8) >> 8;
}

function fourCcString(v: number): string {
  return String.fromCharCode(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

/** One ModEx modifier other than TimestampOffsetNano, kept as it came (type 1-15, 1-65536 bytes). */
export interface ModExModifier {
  /** VideoPacketModExType / AudioPacketModExType (0 is TimestampOffsetNano, surfaced on its own). */
  type: number;
  data: Uint8Array;
}

/** ModExType 0: the nanosecond offset added to the message's millisecond timestamp. */
export const MODEX_TIMESTAMP_OFFSET_NANO = 0;

/** Cursor for {@link skipModEx}: offset, current packet type, TimestampOffsetNano seen. */
interface ModExState {
  p: number;
  packetType: number;
  nano: number | undefined;
  /** When set, the other modifiers are collected here (views into the body). */
  others: ModExModifier[] | undefined;
}

const MODEX_TYPE = 7;

/**
 * Skips a chain of ModEx packets starting at `st.p` (just after the byte whose packet type was
 * ModEx), leaving `st.p` after the chain and `st.packetType` set to the real packet type.
 * TimestampOffsetNano ends in `st.nano` (the last one wins); its data must hold at least the
 * 3 bytes of its UI24 (spec: "modExData MUST be at least 3 bytes"), or the header is refused.
 */
function skipModEx(body: Uint8Array, st: ModExState): void {
  let p = st.p;
  while (st.packetType === MODEX_TYPE) {
    need(body, p + 1, 'ModEx size');
    let size = body[p++] + 1;
    if (size === 256) {
      need(body, p + 2, 'ModEx size');
      size = ((body[p] << 8) | body[p + 1]) + 1;
      p += 2;
    }
    need(body, p + size + 1, 'ModEx data');
    const dataAt = p;
    p += size;
    const b = body[p++];
    const modExType = b >> 4;
    st.packetType = b & 0x0f;
    if (modExType === MODEX_TIMESTAMP_OFFSET_NANO) {
      // TimestampOffsetNano: bytesToUI24 of the (at least 3-byte) data.
      if (size < 3) fail('TimestampOffsetNano shorter than 3 bytes', { size, offset: dataAt });
      st.nano = u24(body, dataAt);
    } else if (st.others) {
      st.others.push({ type: modExType, data: body.subarray(dataAt, dataAt + size) });
    }
  }
  st.p = p;
}

/**
 * The ModEx modifiers of an Enhanced RTMP video or audio body other than TimestampOffsetNano,
 * in body order (empty when it has none). The body must be Enhanced (IsExHeader / SoundFormat 9).
 */
export function modExModifiers(body: Uint8Array): ModExModifier[] {
  const others: ModExModifier[] = [];
  if (body.length === 0) return others;
  skipModEx(body, { p: 1, packetType: body[0] & 0x0f, nano: undefined, others });
  return others;
}

// Reused by the parsers: they run synchronously and never re-enter.
const modEx: ModExState = { p: 0, packetType: 0, nano: undefined, others: undefined };

// ---------------------------------------------------------------------------------------------
// Video

/** A fresh, empty VideoInfo, e.g. to pass to {@link parseVideoHeader} for reuse. */
export function emptyVideoInfo(): VideoInfo {
  return {
    enhanced: false,
    frameType: 'key',
    codec: 'none',
    codecId: undefined,
    fourCc: undefined,
    packetType: 'codedFrames',
    compositionTime: undefined,
    isKeyframe: false,
    isSequenceHeader: false,
    headerLength: 0,
    command: undefined,
    timestampNanoOffset: undefined,
    multitrack: undefined,
    tracks: undefined,
  };
}

/**
 * Parses a video tag body's header (classic or Enhanced RTMP). Pass `into` to reuse a result
 * object (every field is overwritten). Throws `FlvError('BAD_MEDIA_HEADER')` on a truncated or
 * unknown header.
 */
export function parseVideoHeader(body: Uint8Array, into?: VideoInfo): VideoInfo {
  if (body.length === 0) fail('empty video body', { length: 0 });
  const out = into ?? emptyVideoInfo();
  out.codecId = undefined;
  out.fourCc = undefined;
  out.compositionTime = undefined;
  out.command = undefined;
  out.timestampNanoOffset = undefined;
  out.multitrack = undefined;
  out.tracks = undefined;
  const b0 = body[0];
  if (b0 & 0x80) parseExVideo(body, b0, out);
  else parseClassicVideo(body, b0, out);
  return out;
}

function parseClassicVideo(body: Uint8Array, b0: number, out: VideoInfo): void {
  const ft = b0 >> 4;
  const frameType = VIDEO_FRAME_TYPES[ft];
  if (frameType === undefined) fail(`reserved frame type ${ft}`, { frameType: ft });
  const codecId = b0 & 0x0f;
  const codec = CLASSIC_VIDEO_CODECS[codecId];
  if (codec === undefined) fail(`unknown video codec id ${codecId}`, { codecId });
  out.enhanced = false;
  out.frameType = frameType;
  out.codec = codec;
  out.codecId = codecId;
  out.isSequenceHeader = false;
  out.isKeyframe = false;
  out.packetType = 'codedFrames';
  if (ft === 5) {
    // Command frame: one UI8 (VideoCommand) follows, no video payload.
    need(body, 2, 'video command');
    out.command = body[1];
    out.headerLength = 2;
    return;
  }
  if (codecId === 7 || codecId === 12) {
    need(body, 5, 'AVC packet header');
    const apt = body[1];
    if (apt > 2) fail(`unknown AVCPacketType ${apt}`, { avcPacketType: apt });
    out.packetType = apt === 0 ? 'sequenceStart' : apt === 1 ? 'codedFrames' : 'sequenceEnd';
    out.compositionTime = s24(body, 2);
    out.headerLength = 5;
    out.isSequenceHeader = apt === 0;
    out.isKeyframe = apt === 1 && (ft === 1 || ft === 4);
    return;
  }
  out.headerLength = 1;
  out.isKeyframe = ft === 1 || ft === 4;
}

function videoCodecFor(v: number): readonly [string, VideoCodec] {
  const known = VIDEO_FOURCCS.get(v);
  if (known) return known;
  const s = fourCcString(v);
  return [s, s];
}

function hasCompositionTime(fourCc: number): boolean {
  return fourCc === FOURCC_AVC1 || fourCc === FOURCC_HVC1 || fourCc === FOURCC_VVC1;
}

function parseExVideo(body: Uint8Array, b0: number, out: VideoInfo): void {
  const ft = (b0 >> 4) & 0x07;
  modEx.p = 1;
  modEx.packetType = b0 & 0x0f;
  modEx.nano = undefined;
  if (modEx.packetType === MODEX_TYPE) skipModEx(body, modEx);
  let p = modEx.p;
  let pt = modEx.packetType;
  out.timestampNanoOffset = modEx.nano;
  out.enhanced = true;

  out.isKeyframe = false;
  out.isSequenceHeader = false;

  if (ft === 5 && pt !== 4) {
    // Command frame: one UI8 (VideoCommand), no FourCC, no payload.
    need(body, p + 1, 'video command');
    out.frameType = 'command';
    out.packetType =
      VIDEO_PACKET_TYPES[pt] ?? fail(`unknown video packet type ${pt}`, { packetType: pt });
    out.codec = 'none';
    out.command = body[p];
    out.headerLength = p + 1;
    return;
  }

  if (pt === 6) {
    need(body, p + 1, 'multitrack header');
    const mb = body[p++];
    const mt = mb >> 4;
    pt = mb & 0x0f;
    const multitrack = MULTITRACK_TYPES[mt];
    if (multitrack === undefined) fail(`unknown multitrack type ${mt}`, { multitrackType: mt });
    if (pt > 5) fail(`invalid packet type ${pt} inside a multitrack body`, { packetType: pt });
    const packetType = VIDEO_PACKET_TYPES[pt] as VideoPacketType;
    let shared = 0;
    if (mt !== 2) {
      need(body, p + 4, 'FourCC');
      shared = u32(body, p);
      p += 4;
    }
    const tracks: MediaTrack[] = [];
    do {
      let fcc = shared;
      if (mt === 2) {
        need(body, p + 4, 'track FourCC');
        fcc = u32(body, p);
        p += 4;
      }
      need(body, p + 1, 'track id');
      const trackId = body[p++];
      let end = body.length;
      if (mt !== 0) {
        need(body, p + 3, 'track size');
        end = p + 3 + u24(body, p);
        p += 3;
        need(body, end, 'track body');
      }
      let compositionTime: number | undefined;
      if (hasCompositionTime(fcc)) {
        if (pt === 1) {
          need(body, p + 3, 'composition time');
          compositionTime = s24(body, p);
          p += 3;
        } else if (pt === 3) {
          compositionTime = 0;
        }
      }
      if (p > end) fail('track shorter than its header', { trackId, end, p });
      const [fourCc, codec] = videoCodecFor(fcc);
      tracks.push({ trackId, fourCc, codec, compositionTime, offset: p, length: end - p });
      p = end;
    } while (mt !== 0 && p < body.length);
    const first = tracks[0];
    out.multitrack = multitrack;
    out.tracks = tracks;
    out.packetType = packetType;
    out.fourCc = first.fourCc;
    out.codec = first.codec;
    out.compositionTime = first.compositionTime;
    out.headerLength = first.offset;
    setVideoFrame(out, ft, pt);
    return;
  }

  const packetType = VIDEO_PACKET_TYPES[pt];
  if (packetType === undefined) fail(`unknown video packet type ${pt}`, { packetType: pt });
  need(body, p + 4, 'FourCC');
  const fcc = u32(body, p);
  p += 4;
  const [fourCc, codec] = videoCodecFor(fcc);
  out.packetType = packetType;
  out.fourCc = fourCc;
  out.codec = codec;
  if (hasCompositionTime(fcc)) {
    if (pt === 1) {
      need(body, p + 3, 'composition time');
      out.compositionTime = s24(body, p);
      p += 3;
    } else if (pt === 3) {
      out.compositionTime = 0;
    }
  }
  out.headerLength = p;
  setVideoFrame(out, ft, pt);
}

function setVideoFrame(out: VideoInfo, ft: number, pt: number): void {
  const frameType = VIDEO_FRAME_TYPES[ft];
  if (frameType !== undefined) out.frameType = frameType;
  else if (pt === 4)
    out.frameType = 'reserved'; // Metadata ignores the frame type
  else fail(`reserved frame type ${ft}`, { frameType: ft });
  out.isSequenceHeader = pt === 0 || pt === 5;
  out.isKeyframe = (pt === 1 || pt === 3) && (ft === 1 || ft === 4);
}

// ---------------------------------------------------------------------------------------------
// Audio

/** A fresh, empty AudioInfo, e.g. to pass to {@link parseAudioHeader} for reuse. */
export function emptyAudioInfo(): AudioInfo {
  return {
    enhanced: false,
    soundFormat: -1,
    codec: 'none',
    fourCc: undefined,
    rate: undefined,
    size: undefined,
    channels: undefined,
    aacPacketType: undefined,
    packetType: 'codedFrames',
    isSequenceHeader: false,
    isSilence: false,
    headerLength: 0,
    timestampNanoOffset: undefined,
    multitrack: undefined,
    tracks: undefined,
  };
}

/**
 * Parses an audio tag body's header (classic or Enhanced RTMP). An empty body is the legacy
 * silence message (`isSilence`). Pass `into` to reuse a result object. Throws
 * `FlvError('BAD_MEDIA_HEADER')` on a truncated or unknown header.
 */
export function parseAudioHeader(body: Uint8Array, into?: AudioInfo): AudioInfo {
  const out = into ?? emptyAudioInfo();
  out.fourCc = undefined;
  out.rate = undefined;
  out.size = undefined;
  out.channels = undefined;
  out.aacPacketType = undefined;
  out.timestampNanoOffset = undefined;
  out.multitrack = undefined;
  out.tracks = undefined;
  out.isSequenceHeader = false;
  out.isSilence = false;
  out.packetType = 'codedFrames';
  if (body.length === 0) {
    out.enhanced = false;
    out.soundFormat = -1;
    out.codec = 'none';
    out.isSilence = true;
    out.headerLength = 0;
    return out;
  }
  const b0 = body[0];
  const sf = b0 >> 4;
  out.soundFormat = sf;
  if (sf === 9) {
    parseExAudio(body, b0, out);
    return out;
  }
  const codec = SOUND_FORMATS[sf];
  if (codec === undefined) fail(`reserved sound format ${sf}`, { soundFormat: sf });
  out.enhanced = false;
  out.codec = codec;
  out.rate =
    sf === 5 || sf === 14 ? 8000 : sf === 4 || sf === 11 ? 16000 : SOUND_RATES[(b0 >> 2) & 3];
  out.size = b0 & 0x02 ? 16 : 8;
  out.channels = (b0 & 0x01) + 1;
  if (sf === 10) {
    need(body, 2, 'AACPacketType');
    const apt = body[1];
    if (apt > 1) fail(`unknown AACPacketType ${apt}`, { aacPacketType: apt });
    out.aacPacketType = apt;
    out.packetType = apt === 0 ? 'sequenceStart' : 'codedFrames';
    out.isSequenceHeader = apt === 0;
    out.headerLength = 2;
  } else {
    out.headerLength = 1;
  }
  return out;
}

function audioCodecFor(v: number): readonly [string, AudioCodec] {
  const known = AUDIO_FOURCCS.get(v);
  if (known) return known;
  const s = fourCcString(v);
  return [s, s];
}

function parseExAudio(body: Uint8Array, b0: number, out: AudioInfo): void {
  modEx.p = 1;
  modEx.packetType = b0 & 0x0f;
  modEx.nano = undefined;
  if (modEx.packetType === MODEX_TYPE) skipModEx(body, modEx);
  let p = modEx.p;
  let pt = modEx.packetType;
  out.timestampNanoOffset = modEx.nano;
  out.enhanced = true;

  if (pt === 5) {
    need(body, p + 1, 'multitrack header');
    const mb = body[p++];
    const mt = mb >> 4;
    pt = mb & 0x0f;
    const multitrack = MULTITRACK_TYPES[mt];
    if (multitrack === undefined) fail(`unknown multitrack type ${mt}`, { multitrackType: mt });
    const packetType = AUDIO_PACKET_TYPES[pt];
    if (packetType === undefined || pt === 5 || pt === 7) {
      fail(`invalid packet type ${pt} inside a multitrack body`, { packetType: pt });
    }
    let shared = 0;
    if (mt !== 2) {
      need(body, p + 4, 'FourCC');
      shared = u32(body, p);
      p += 4;
    }
    const tracks: MediaTrack[] = [];
    do {
      let fcc = shared;
      if (mt === 2) {
        need(body, p + 4, 'track FourCC');
        fcc = u32(body, p);
        p += 4;
      }
      need(body, p + 1, 'track id');
      const trackId = body[p++];
      let end = body.length;
      if (mt !== 0) {
        need(body, p + 3, 'track size');
        end = p + 3 + u24(body, p);
        p += 3;
        need(body, end, 'track body');
      }
      const [fourCc, codec] = audioCodecFor(fcc);
      tracks.push({ trackId, fourCc, codec, offset: p, length: end - p });
      p = end;
    } while (mt !== 0 && p < body.length);
    const first = tracks[0];
    out.multitrack = multitrack;
    out.tracks = tracks;
    out.packetType = packetType;
    out.fourCc = first.fourCc;
    out.codec = first.codec;
    out.headerLength = first.offset;
    setAudioFlags(body, out, pt);
    return;
  }

  const packetType = AUDIO_PACKET_TYPES[pt];
  if (packetType === undefined) fail(`unknown audio packet type ${pt}`, { packetType: pt });
  need(body, p + 4, 'FourCC');
  const [fourCc, codec] = audioCodecFor(u32(body, p));
  p += 4;
  out.packetType = packetType;
  out.fourCc = fourCc;
  out.codec = codec;
  out.headerLength = p;
  setAudioFlags(body, out, pt);
}

function setAudioFlags(body: Uint8Array, out: AudioInfo, pt: number): void {
  out.isSequenceHeader = pt === 0;
  // MultichannelConfig: AudioChannelOrder (UI8), then the channel count (UI8).
  if (pt === 4 && out.headerLength + 2 <= body.length) {
    out.channels = body[out.headerLength + 1];
  }
}

// ---------------------------------------------------------------------------------------------
// Codec configuration, for relays and caches

const scratchVideo = emptyVideoInfo();
const scratchAudio = emptyAudioInfo();

/**
 * Which tracks a video codec configuration message configures: `[0]` for a classic AVC/HEVC
 * sequence header or a plain Enhanced SequenceStart / MPEG2TSSequenceStart, the track ids of a
 * multitrack one (behind ModEx or not); undefined when the message is not a configuration or
 * cannot be parsed. Allocates only for multitrack bodies.
 */
export function videoConfigTracks(payload: Uint8Array): number[] | undefined {
  if (payload.length < 2) return undefined;
  const b0 = payload[0];
  if (!(b0 & 0x80)) {
    const codec = b0 & 0x0f;
    return (codec === 7 || codec === 12 || codec === 13) && payload[1] === 0 ? [0] : undefined;
  }
  const pt = b0 & 0x0f;
  if (pt !== 6 && pt !== 7) return pt === 0 || pt === 5 ? [0] : undefined;
  try {
    const info = parseVideoHeader(payload, scratchVideo);
    if (!info.isSequenceHeader || info.frameType === 'command') return undefined;
    return info.tracks ? info.tracks.map((t) => t.trackId) : [0];
  } catch {
    return undefined;
  }
}

/**
 * As {@link videoConfigTracks} for audio: a classic AAC AudioSpecificConfig, an Enhanced
 * SequenceStart, plain or multitrack.
 */
export function audioConfigTracks(payload: Uint8Array): number[] | undefined {
  if (payload.length < 2) return undefined;
  const b0 = payload[0];
  const format = b0 >> 4;
  if (format !== 9) return format === 10 && payload[1] === 0 ? [0] : undefined;
  const pt = b0 & 0x0f;
  if (pt !== 5 && pt !== 7) return pt === 0 ? [0] : undefined;
  try {
    const info = parseAudioHeader(payload, scratchAudio);
    if (!info.isSequenceHeader) return undefined;
    return info.tracks ? info.tracks.map((t) => t.trackId) : [0];
  } catch {
    return undefined;
  }
}
