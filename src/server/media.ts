/** What the embedded server needs to know about a media message: keyframe, sequence header. */
import type { MediaMessage } from '../io/media';

export type { MediaMessage };

/** Keyframes, sequence headers and the tracks they configure: one definition, shared with the client (src/io/keyframeGate). */
export { configTracks, isSequenceHeader, isVideoKeyframe } from '../io/keyframeGate';

/** Payload bytes a message takes in a cache (data messages count as a small constant). */
export function mediaSize(m: MediaMessage): number {
  return m.type === 'Data' ? 256 : m.payload.byteLength;
}
