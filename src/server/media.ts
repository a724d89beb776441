/** What the embedded server needs to know about a media message: keyframe, sequence header. */
import type { MediaMessage } from '../io/media';
import { audioConfigTracks, videoConfigTracks } from '../protocol/flv/media';

export type { MediaMessage };

/** FLV frame type of a video tag body (classic and Enhanced RTMP keep it in bits 4–6). */
function videoFrameType(payload: Uint8Array): number {
  return (payload[0] >> 4) & 7;
}

/** A video keyframe that is coded media (not a sequence header). */
export function isVideoKeyframe(m: MediaMessage): boolean {
  return (
    m.type === 'Video' &&
    m.payload.byteLength > 0 &&
    videoFrameType(m.payload) === 1 &&
    !isSequenceHeader(m)
  );
}

/**
 * A codec configuration message: AVC/HEVC sequence header (classic packet type 0), Enhanced
 * RTMP SequenceStart / MPEG2TSSequenceStart (plain, multitrack, behind ModEx), AAC
 * AudioSpecificConfig, or an Enhanced audio SequenceStart (plain, multitrack, behind ModEx).
 */
export function isSequenceHeader(m: MediaMessage): boolean {
  return configTracks(m) !== undefined;
}

/** The track ids a codec configuration message configures (`[0]` without multitrack). */
export function configTracks(m: MediaMessage): number[] | undefined {
  if (m.type === 'Video') return videoConfigTracks(m.payload);
  if (m.type === 'Audio') return audioConfigTracks(m.payload);
  return undefined;
}

/** Payload bytes a message takes in a cache (data messages count as a small constant). */
export function mediaSize(m: MediaMessage): number {
  return m.type === 'Data' ? 256 : m.payload.byteLength;
}
