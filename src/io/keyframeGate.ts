/**
 * The keyframe gate: once closed, non-key video waits for the next keyframe. Shared by the
 * client's live backpressure policy (`dropToKeyframe` in the transport), the embedded server's
 * players (a slow player skips to the next keyframe) and the publish pump (after a reconnect,
 * video resumes on a keyframe). Pure: no sockets, no timers.
 */
import { audioConfigTracks, videoConfigTracks } from '../protocol/flv/media';
import type { RtmpMessage } from '../protocol/message/types';

/** Audio, video and data messages (the same as `MediaMessage` in ./media, which uses the gate). */
type MediaMessage = Extract<RtmpMessage, { type: 'Audio' | 'Video' | 'Data' }>;

/** Classic and Enhanced RTMP both keep the video frame type in bits 4-6 of the first byte: 1 = key. */
export function isKeyframePayload(payload: Uint8Array): boolean {
  return payload.byteLength > 0 && ((payload[0] >> 4) & 0x07) === 1;
}

/**
 * A codec configuration message: AVC/HEVC sequence header (classic packet type 0), Enhanced
 * RTMP SequenceStart / MPEG2TSSequenceStart (plain, multitrack, behind ModEx), AAC
 * AudioSpecificConfig, or an Enhanced audio SequenceStart (plain, multitrack, behind ModEx).
 */
export function isSequenceHeader(m: MediaMessage): boolean {
  return configTracks(m) !== undefined;
}

/**
 * What a configuration message configures: 'metadata' (onMetaData), 'video' or 'audio' (a
 * sequence header of any track, classic or Enhanced RTMP), else undefined.
 */
export function configKind(m: MediaMessage): 'metadata' | 'video' | 'audio' | undefined {
  if (m.type === 'Data') {
    const name = m.name === '@setDataFrame' ? m.values[1] : m.name;
    return name === 'onMetaData' ? 'metadata' : undefined;
  }
  if (configTracks(m) === undefined) return undefined;
  return m.type === 'Video' ? 'video' : 'audio';
}

/** The track ids a codec configuration message configures (`[0]` without multitrack). */
export function configTracks(m: MediaMessage): number[] | undefined {
  if (m.type === 'Video') return videoConfigTracks(m.payload);
  if (m.type === 'Audio') return audioConfigTracks(m.payload);
  return undefined;
}

/** A video keyframe that is coded media (not a sequence header). */
export function isVideoKeyframe(m: MediaMessage): boolean {
  return m.type === 'Video' && isKeyframePayload(m.payload) && !isSequenceHeader(m);
}

/**
 * One stream's gate. Open, everything passes. Closed, audio, data and sequence headers still
 * pass, non-key video is held back, and a keyframe opens the gate again (when the caller says it
 * may: the live policy reopens only below its low-water mark).
 */
export class KeyframeGate {
  private closed: boolean;

  constructor(options: { closed?: boolean } = {}) {
    this.closed = options.closed ?? false;
  }

  /** Whether non-key video waits for a keyframe. */
  get waiting(): boolean {
    return this.closed;
  }

  /** From now on non-key video waits for the next keyframe. */
  close(): void {
    this.closed = true;
  }

  /** Lets everything through again (no keyframe needed). */
  open(): void {
    this.closed = false;
  }

  /**
   * Whether `message` passes. A keyframe arriving while the gate is closed opens it (and
   * passes) when `mayReopen`; otherwise it is held back like any other video.
   */
  admit(message: MediaMessage, mayReopen = true): boolean {
    if (!this.closed || message.type !== 'Video' || isSequenceHeader(message)) return true;
    if (mayReopen && isVideoKeyframe(message)) {
      this.closed = false;
      return true;
    }
    return false;
  }
}
