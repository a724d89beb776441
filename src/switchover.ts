/**
 * Make-before-break switch of one played stream from its old connection to its copy on a new
 * one (Enhanced RTMP v2 ReconnectRequest). Pure: no IO, no timers; the session feeds it every
 * message of both and delivers what it says.
 *
 * The rule, per media type (audio, video):
 * - Until the copy's first video keyframe K arrives, the old stream is delivered as before and
 *   the copy's frames are only remembered (a short rolling window, `ROLLING_WINDOW`).
 * - Same timeline (the two servers carry the same source's timestamps: |K - L| <= `alignWindowMs`,
 *   L the last timestamp the old stream delivered): the output is every old frame of a type with
 *   a timestamp below the switch point S, then every copy frame of that type from S on.
 *   - The old stream is behind (L < K): S = K. Old frames keep flowing; the copy's frames from
 *     K are held (at most `maxBufferBytes`) until the old stream delivers a frame at or past S:
 *     that one is dropped, the held frames go out, and from then on only the copy delivers.
 *   - The old stream is ahead (L >= K): the switch is at once; copy frames of a type whose
 *     timestamp is not past the last old one of that type are duplicates and dropped.
 * - Another timeline (the new server starts its own clock): the switch is at K, and the copy's
 *   timestamps are shifted by `offset = L + 1 - K`, so the output goes on right after the last
 *   delivered frame, never back.
 * Sequence headers and metadata of the copy go out at the switch only when they differ from the
 * old stream's last ones (a new server may re-encode; the same source's are duplicates).
 *
 * Per type, what goes out never goes back (a watermark, the last audio/video timestamp
 * delivered): a connection that sends part of the stream again while the switch runs (a play
 * started again on the old server, a server that re-sends its cached GOP on the new one) would
 * otherwise deliver those frames twice; they are dropped and counted (`repeatsDropped`).
 */
import { configKind, isKeyframePayload } from './io/keyframeGate';
import type { DeliveredSoFar, MediaMessage } from './io/media';

/** How far apart (ms) the copy's first keyframe and the old stream's last frame may be to count as one timeline. */
export const DEFAULT_ALIGN_WINDOW_MS = 10_000;
/** Most bytes of the copy held while the old stream catches up; beyond it the switch happens at once. */
export const DEFAULT_SWITCH_BUFFER_BYTES = 16 * 1024 * 1024;
/** Copy frames remembered before its first keyframe (audio that arrives just ahead of it). */
export const ROLLING_WINDOW = 64;

export type SwitchPhase =
  /** Waiting for the copy's first keyframe: the old stream delivers. */
  | 'old'
  /** The copy's keyframe came; the old stream is behind it and still delivers. */
  | 'catchingUp'
  /** The copy delivers; the old stream's frames are dropped. */
  | 'switched';

export interface SwitchResult {
  /** The switch point S (the copy's first keyframe), in the old stream's time. */
  switchAt: number;
  /** 'same' timeline, or 'shifted' by `offset` ms. */
  timeline: 'same' | 'shifted';
  offset: number;
  /** Copy frames dropped as duplicates of old ones. */
  duplicatesDropped: number;
  /** Old frames dropped after the switch (the copy has them). */
  oldDropped: number;
  /**
   * Frames a connection sent again while the switch ran (at or behind what was delivered of
   * their type): dropped, never delivered twice.
   */
  repeatsDropped: number;
  /** The hold buffer overflowed (`maxBufferBytes`): the switch was forced; frames may be missing. */
  forced: boolean;
}

/**
 * What the old stream delivered before the switch began (its sink keeps it): the last audio and
 * video timestamps and its last configuration messages. Without it, a copy whose first keyframe
 * comes before the old stream's next frame would look like the first thing ever delivered.
 */
export interface SwitchoverOptions {
  alignWindowMs?: number;
  maxBufferBytes?: number;
  /** What the old stream delivered before this switch began. */
  delivered?: DeliveredSoFar;
}

type Kind = 'metadata' | 'video' | 'audio';

function isAv(m: MediaMessage): m is Extract<MediaMessage, { type: 'Audio' | 'Video' }> {
  return m.type === 'Audio' || m.type === 'Video';
}

/** A video keyframe (frame type 1; a sequence header counts: callers tell them apart). */
function isKeyframe(m: MediaMessage): boolean {
  return m.type === 'Video' && isKeyframePayload(m.payload);
}

function sameBytes(a: MediaMessage | undefined, b: MediaMessage): boolean {
  if (!a || a.type !== b.type) return false;
  if (a.type === 'Data' || b.type === 'Data') {
    return (
      JSON.stringify(a.type === 'Data' ? a.values : null) ===
      JSON.stringify(b.type === 'Data' ? b.values : null)
    );
  }
  return Buffer.compare(Buffer.from(a.payload), Buffer.from(b.payload)) === 0;
}

/** An owned copy of a message whose payload may be lent. */
function own(m: MediaMessage): MediaMessage {
  return m.type === 'Data' ? m : { ...m, payload: Buffer.from(m.payload) };
}

/** One stream's switch from its old connection to its copy. */
export class Switchover {
  private phaseValue: SwitchPhase = 'old';
  private readonly alignWindowMs: number;
  private readonly maxBufferBytes: number;
  /**
   * Last timestamp delivered, per type: by the old stream until the switch, then by the copy
   * (the watermark; nothing at or behind it goes out again).
   */
  private readonly lastOld: { Audio?: number; Video?: number } = {};
  /** Last timestamp the copy delivered, per type (tells a repeat from a duplicate of an old frame). */
  private readonly sentByCopy: { Audio?: number; Video?: number } = {};
  /** The old stream's last configuration messages. */
  private readonly oldConfig: Partial<Record<Kind, MediaMessage>> = {};
  /** The copy's configuration messages not delivered yet. */
  private readonly newConfig: Partial<Record<Kind, MediaMessage>> = {};
  private rolling: MediaMessage[] = [];
  private held: MediaMessage[] = [];
  private heldBytes = 0;
  private result: SwitchResult | undefined;
  /** Frames sent again before the switch point was known (see SwitchResult.repeatsDropped). */
  private earlyRepeats = 0;

  constructor(options: SwitchoverOptions = {}) {
    this.alignWindowMs = options.alignWindowMs ?? DEFAULT_ALIGN_WINDOW_MS;
    this.maxBufferBytes = options.maxBufferBytes ?? DEFAULT_SWITCH_BUFFER_BYTES;
    const delivered = options.delivered;
    if (delivered?.Audio !== undefined) this.lastOld.Audio = delivered.Audio;
    if (delivered?.Video !== undefined) this.lastOld.Video = delivered.Video;
    for (const c of delivered?.config ?? []) {
      const kind = configKind(c);
      if (kind) this.oldConfig[kind] = own(c);
    }
  }

  get phase(): SwitchPhase {
    return this.phaseValue;
  }

  /** How the switch went, once it happened. */
  get outcome(): SwitchResult | undefined {
    return this.result;
  }

  /**
   * A message of the old stream: true to deliver it. When it completes the switch, `emit`
   * receives the copy's held messages first (and this one is dropped).
   */
  fromOld(m: MediaMessage, emit: (m: MediaMessage) => void): boolean {
    if (this.phaseValue === 'switched') {
      if (isAv(m)) this.result!.oldDropped++;
      return false;
    }
    if (this.phaseValue === 'catchingUp' && isAv(m) && m.timestamp >= this.result!.switchAt) {
      this.result!.oldDropped++;
      this.complete(emit);
      return false;
    }
    const kind = configKind(m);
    if (kind) this.oldConfig[kind] = own(m);
    if (isAv(m) && !kind) {
      if (this.behind(m.type, m.timestamp)) {
        // The old connection sent this part again (its play started over): delivered already.
        if (this.result) this.result.repeatsDropped++;
        else this.earlyRepeats++;
        return false;
      }
      this.lastOld[m.type] = m.timestamp;
    }
    return true;
  }

  /** A message of the copy: what to deliver now (in order), possibly nothing. */
  fromNew(m: MediaMessage): MediaMessage[] {
    const kind = configKind(m);
    if (this.phaseValue === 'switched') {
      if (kind) return [this.shift(m)];
      return this.pass(m) ? [this.shift(m)] : [];
    }
    if (kind) {
      this.newConfig[kind] = own(m);
      return [];
    }
    if (this.phaseValue === 'catchingUp') {
      this.hold(m);
      if (this.heldBytes > this.maxBufferBytes) {
        const out: MediaMessage[] = [];
        this.result!.forced = true;
        this.complete((x) => out.push(x));
        return out;
      }
      return [];
    }
    // phase 'old': wait for the copy's first keyframe.
    if (!isKeyframe(m)) {
      if (isAv(m)) {
        this.rolling.push(own(m));
        if (this.rolling.length > ROLLING_WINDOW) this.rolling.shift();
      }
      return [];
    }
    const k = m.timestamp;
    const lastVideo = this.lastOld.Video;
    const last = Math.max(this.lastOld.Video ?? -Infinity, this.lastOld.Audio ?? -Infinity);
    const early = this.rolling.filter((x) => x.timestamp >= k);
    this.rolling = [];
    if (!Number.isFinite(last) || Math.abs(k - last) > this.alignWindowMs) {
      // Nothing delivered yet, or another timeline: switch here, right after the last frame.
      const offset = Number.isFinite(last) ? last + 1 - k : 0;
      this.result = {
        switchAt: k,
        timeline: Number.isFinite(last) ? 'shifted' : 'same',
        offset,
        duplicatesDropped: 0,
        oldDropped: 0,
        repeatsDropped: this.earlyRepeats,
        forced: false,
      };
      this.lastOld.Audio = undefined;
      this.lastOld.Video = undefined;
      const out: MediaMessage[] = [];
      this.held = [...early, own(m)].sort((a, b) => a.timestamp - b.timestamp);
      this.complete((x) => out.push(x));
      return out;
    }
    this.result = {
      switchAt: k,
      timeline: 'same',
      offset: 0,
      duplicatesDropped: 0,
      oldDropped: 0,
      repeatsDropped: this.earlyRepeats,
      forced: false,
    };
    this.held = [];
    this.heldBytes = 0;
    for (const x of early) this.hold(x);
    this.hold(m);
    if (lastVideo !== undefined && lastVideo >= k) {
      // The old stream is ahead: switch now, dropping what it delivered already.
      const out: MediaMessage[] = [];
      this.complete((x) => out.push(x));
      return out;
    }
    this.phaseValue = 'catchingUp';
    return [];
  }

  private hold(m: MediaMessage): void {
    const o = own(m);
    this.held.push(o);
    this.heldBytes += o.type === 'Data' ? 0 : o.payload.byteLength;
  }

  /** Switches: the copy's changed configuration, then its held frames (duplicates dropped). */
  private complete(emit: (m: MediaMessage) => void): void {
    this.phaseValue = 'switched';
    const first = this.held[0];
    for (const kind of ['metadata', 'video', 'audio'] as const) {
      const c = this.newConfig[kind];
      if (c && !sameBytes(this.oldConfig[kind], c)) {
        emit(this.shift({ ...c, timestamp: first ? first.timestamp : c.timestamp }));
      }
    }
    for (const m of this.held) if (this.pass(m)) emit(this.shift(m));
    this.held = [];
    this.heldBytes = 0;
  }

  /**
   * False for a copy frame at or behind what was delivered of its type: on the same timeline a
   * duplicate of an old frame, or (any timeline) a frame the copy sent again. True moves the
   * watermark.
   */
  private pass(m: MediaMessage): boolean {
    if (!isAv(m) || configKind(m)) return true;
    const ts = m.timestamp + (this.result?.offset ?? 0);
    if (this.behind(m.type, ts)) {
      if (this.result) {
        if (this.sentByCopy[m.type] !== undefined && ts <= this.sentByCopy[m.type]!)
          this.result.repeatsDropped++;
        else this.result.duplicatesDropped++;
      }
      return false;
    }
    this.lastOld[m.type] = ts;
    this.sentByCopy[m.type] = ts;
    return true;
  }

  /**
   * Whether a frame of `type` at `ts` was delivered already: at or behind the watermark, but
   * not more than `alignWindowMs` behind it (that far back is a timeline that started again,
   * a publisher that restarted: its frames are new).
   */
  private behind(type: 'Audio' | 'Video', ts: number): boolean {
    const last = this.lastOld[type];
    return last !== undefined && ts <= last && ts >= last - this.alignWindowMs;
  }

  private shift(m: MediaMessage): MediaMessage {
    const offset = this.result?.offset ?? 0;
    return offset === 0 ? m : { ...m, timestamp: m.timestamp + offset };
  }
}
