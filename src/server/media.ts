/** What the embedded server needs to know about a media message: keyframe, sequence header. */
import type { MediaMessage } from '../io/media';

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
 * RTMP SequenceStart, AAC AudioSpecificConfig, or an Enhanced audio SequenceStart.
 */
export function isSequenceHeader(m: MediaMessage): boolean {
  if (m.type === 'Video') {
    const b = m.payload;
    if (b.byteLength < 2) return false;
    if (b[0] & 0x80) return (b[0] & 0x0f) === 0; // Enhanced RTMP: PacketType SequenceStart
    const codec = b[0] & 0x0f;
    return (codec === 7 || codec === 12 || codec === 13) && b[1] === 0;
  }
  if (m.type === 'Audio') {
    const b = m.payload;
    if (b.byteLength < 2) return false;
    const format = b[0] >> 4;
    if (format === 9) return (b[0] & 0x0f) === 0; // Enhanced audio: SequenceStart
    return format === 10 && b[1] === 0;
  }
  return false;
}

/** Payload bytes a message takes in a cache (data messages count as a small constant). */
export function mediaSize(m: MediaMessage): number {
  return m.type === 'Data' ? 256 : m.payload.byteLength;
}
