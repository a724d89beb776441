/**
 * Make-before-break switch of one publish from its old connection to its copy on a new one
 * (Enhanced RTMP v2 ReconnectRequest). Pure: no IO, no timers; the publish pump asks it where
 * each source message goes and only moves the bytes.
 *
 * The rule:
 * - Until the copy's publish is accepted (`copyReady`), every message goes to the old stream.
 * - Once it is, the old stream still gets everything up to the next video keyframe K (not a
 *   sequence header). K is the switch point: the copy gets the last metadata and sequence
 *   headers first (the pump keeps them), then K, then everything after it. Nothing goes to both,
 *   nothing is skipped.
 * - A source without video (no video frame or video header seen so far, before the switch began
 *   included: `sawVideo`) switches at its next audio frame instead: there is no keyframe to wait
 *   for.
 */
import { configKind, isVideoKeyframe } from './io/keyframeGate';
import type { MediaMessage } from './io/media';

export type PublishSwitchPhase =
  /** The copy's publish is not accepted yet: everything goes to the old stream. */
  | 'waiting'
  /** The copy is ready: the old stream gets everything up to the next keyframe. */
  | 'armed'
  /** The copy gets everything (from the switch point on). */
  | 'switched';

/**
 * Where one source message goes: to the `old` stream, to the `new` one, or `switch`: it is the
 * switch point (send the headers to the new stream first, then it).
 */
export type PublishRoute = 'old' | 'switch' | 'new';

/** One publish's switch from its old connection to its copy. */
export interface PublishSwitchOptions {
  /**
   * The source sent video before this switch began. A switch starts mid-stream: without it, a
   * copy ready before the next video frame would take the source for audio-only and switch at
   * an audio frame, in the middle of a GOP.
   */
  sawVideo?: boolean;
}

export class PublishSwitch {
  private phaseValue: PublishSwitchPhase = 'waiting';
  private sawVideo: boolean;
  /** Timestamp of the switch point, once switched. */
  private at: number | undefined;

  constructor(options: PublishSwitchOptions = {}) {
    this.sawVideo = options.sawVideo ?? false;
  }

  get phase(): PublishSwitchPhase {
    return this.phaseValue;
  }

  /** The timestamp of the message the switch happened at, once it happened. */
  get switchAt(): number | undefined {
    return this.at;
  }

  /** The copy's publish was accepted (NetStream.Publish.Start on the new connection). */
  copyReady(): void {
    if (this.phaseValue === 'waiting') this.phaseValue = 'armed';
  }

  /** Where source message `m` goes (see the module comment). */
  route(m: MediaMessage): PublishRoute {
    if (m.type === 'Video') this.sawVideo = true;
    if (this.phaseValue === 'switched') return 'new';
    if (this.phaseValue === 'waiting' || configKind(m) !== undefined) return 'old';
    const point = this.sawVideo ? isVideoKeyframe(m) : m.type === 'Audio';
    if (!point) return 'old';
    this.phaseValue = 'switched';
    this.at = m.timestamp;
    return 'switch';
  }
}
