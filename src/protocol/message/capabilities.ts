/**
 * Enhanced RTMP v2 capability negotiation (veovera enhanced-rtmp v2, "Enhancing NetConnection
 * connect Command"): what a client advertises in the `connect` command object and what a server
 * states in the `_result` properties: `capsEx` (CapsEx bits), `fourCcList` (v1) and the v2
 * `videoFourCcInfoMap` / `audioFourCcInfoMap` (FourCC -> FourCcInfo bits, "*" for any codec).
 * Pure: no IO.
 */
import type { AmfObject, AmfValue } from '../amf/types';
import { CapsEx, FourCcInfo } from './commands';

/** What one side of a NetConnection says it supports. */
export interface ErtmpCapabilities {
  /** The raw CapsEx bits (0 when absent). */
  capsEx: number;
  /** CapsEx.Reconnect: handles NetConnection.Connect.ReconnectRequest. */
  reconnect: boolean;
  /** CapsEx.Multitrack. */
  multitrack: boolean;
  /** CapsEx.ModEx: parses the ModEx signal. */
  modEx: boolean;
  /** CapsEx.TimestampNanoOffset. */
  timestampNanoOffset: boolean;
  /** `fourCcList` as sent (v1), empty when absent. */
  fourCcList: string[];
  /** FourCC -> FourCcInfo bits; "*" applies to every codec. Empty when absent. */
  videoFourCcInfoMap: Record<string, number>;
  audioFourCcInfoMap: Record<string, number>;
  /** True when the peer sent any Enhanced RTMP property at all (a legacy peer sends none). */
  enhanced: boolean;
}

/** Video FourCCs this library reads (sequence headers, keyframes) and forwards unchanged. */
export const KNOWN_VIDEO_FOURCCS = ['av01', 'vp09', 'vp08', 'hvc1', 'avc1'] as const;
/** Audio FourCCs this library forwards unchanged. */
export const KNOWN_AUDIO_FOURCCS = ['Opus', 'fLaC', 'ac-3', 'ec-3', 'mp4a', '.mp3'] as const;

/**
 * The CapsEx bits this library implements. Reconnect: the client migrates its streams on a
 * ReconnectRequest (make-before-break) and the server can send one. Multitrack: OneTrack,
 * ManyTracks and ManyTracksManyCodecs bodies are read per track (`media$` tracks, the monitor's
 * per-track series) and relayed unchanged. ModEx: the ModEx signal is parsed (TimestampOffsetNano
 * is surfaced, never dropped). TimestampNanoOffset is not claimed: the offset is reported, not
 * applied to timestamps.
 */
export const SUPPORTED_CAPS_EX = CapsEx.Reconnect | CapsEx.Multitrack | CapsEx.ModEx;

/**
 * The connect properties a client built on this library sends: it never decodes or encodes
 * media, it receives, records and forwards any codec ("*": CanForward), and it names the codecs
 * it reads headers of, also as CanForward (CanDecode would be a lie).
 */
export function clientCapabilityProperties(capsEx: number = SUPPORTED_CAPS_EX): {
  fourCcList: string[];
  videoFourCcInfoMap: Record<string, number>;
  audioFourCcInfoMap: Record<string, number>;
  capsEx: number;
} {
  return {
    fourCcList: ['*'],
    videoFourCcInfoMap: infoMap(KNOWN_VIDEO_FOURCCS),
    audioFourCcInfoMap: infoMap(KNOWN_AUDIO_FOURCCS),
    capsEx,
  };
}

/**
 * The properties the embedded server adds to its connect `_result`: it relays any codec
 * unchanged ("*": CanForward) and can send a ReconnectRequest.
 */
export function serverCapabilityProperties(capsEx: number = SUPPORTED_CAPS_EX): AmfObject {
  return {
    capsEx,
    videoFourCcInfoMap: { '*': FourCcInfo.CanForward },
    audioFourCcInfoMap: { '*': FourCcInfo.CanForward },
  };
}

function infoMap(fourCcs: readonly string[]): Record<string, number> {
  const out: Record<string, number> = { '*': FourCcInfo.CanForward };
  for (const f of fourCcs) out[f] = FourCcInfo.CanForward;
  return out;
}

function entriesOf(v: AmfValue | undefined): AmfObject | undefined {
  // An ECMA array is a plain object too (tagged with a symbol).
  if (
    typeof v !== 'object' ||
    v === null ||
    Array.isArray(v) ||
    v instanceof Date ||
    v instanceof Uint8Array ||
    ('kind' in v && typeof (v as { kind?: unknown }).kind === 'string')
  ) {
    return undefined;
  }
  return v as AmfObject;
}

function numberMap(v: AmfValue | undefined): Record<string, number> {
  const o = entriesOf(v);
  const out: Record<string, number> = {};
  if (!o) return out;
  for (const [k, x] of Object.entries(o)) if (typeof x === 'number') out[k] = x;
  return out;
}

/**
 * What a connect command object or a connect `_result`'s properties (or information object)
 * say about Enhanced RTMP. Anything missing or of the wrong type reads as "not supported".
 */
export function readCapabilities(...sources: AmfValue[]): ErtmpCapabilities {
  let capsEx: number | undefined;
  let fourCcList: string[] | undefined;
  let video: Record<string, number> | undefined;
  let audio: Record<string, number> | undefined;
  for (const source of sources) {
    const o = entriesOf(source);
    if (!o) continue;
    if (capsEx === undefined && typeof o.capsEx === 'number') capsEx = o.capsEx;
    if (fourCcList === undefined && Array.isArray(o.fourCcList)) {
      fourCcList = o.fourCcList.filter((x): x is string => typeof x === 'string');
    }
    if (video === undefined && o.videoFourCcInfoMap !== undefined) {
      video = numberMap(o.videoFourCcInfoMap);
    }
    if (audio === undefined && o.audioFourCcInfoMap !== undefined) {
      audio = numberMap(o.audioFourCcInfoMap);
    }
  }
  const bits = capsEx !== undefined && Number.isFinite(capsEx) ? capsEx >>> 0 : 0;
  return {
    capsEx: bits,
    reconnect: (bits & CapsEx.Reconnect) !== 0,
    multitrack: (bits & CapsEx.Multitrack) !== 0,
    modEx: (bits & CapsEx.ModEx) !== 0,
    timestampNanoOffset: (bits & CapsEx.TimestampNanoOffset) !== 0,
    fourCcList: fourCcList ?? [],
    videoFourCcInfoMap: video ?? {},
    audioFourCcInfoMap: audio ?? {},
    enhanced:
      capsEx !== undefined ||
      fourCcList !== undefined ||
      video !== undefined ||
      audio !== undefined,
  };
}

/**
 * The FourCcInfo bits a capability map gives `fourCc`: the "*" entry overrides specific ones
 * (spec: "When this wildcard key exists, it overrides the flags set on properties for specific
 * codecs").
 */
export function fourCcFlags(map: Record<string, number>, fourCc: string): number {
  if (map['*'] !== undefined) return map['*'];
  return map[fourCc] ?? 0;
}

/**
 * The tcUrl a ReconnectRequest points to, made absolute: "Absolute or relative URI reference
 * ... A relative URI reference should be resolved relative to the tcUrl for the current
 * connection" (`rtmp://host/app`, `//host/app`, `/app`). An unusable reference gives `current`.
 */
export function resolveReconnectUrl(reference: string, current: string): string {
  if (reference === '') return current;
  try {
    return new URL(reference, current).toString();
  } catch {
    return current;
  }
}
