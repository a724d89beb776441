/**
 * Per-stream statistics for `rtmp-actors monitor`: bitrates, frame rate, GOP length, codecs,
 * picture size, freshness, media-time drift and A/V skew, computed from the media messages a
 * stream delivers. No IO: the caller feeds messages and lifecycle notices, and injects the clock.
 *
 * `onMedia` runs for every audio/video/data message, so it is O(1) and allocates nothing in the
 * common case: rates live in a ring of one-second buckets held in typed arrays, tag headers are
 * parsed into reused result objects, and codec configuration records are parsed only when a
 * sequence header arrives.
 */
import type { MediaMessage } from '../io/media';
import type { AmfValue } from '../protocol/amf/types';
import type { NetStreamStateName } from '../../machines/netStreamMachine';
import { MONITOR_DOWN_STATES } from './states';
import {
  emptyAudioInfo,
  emptyVideoInfo,
  parseAacAudioSpecificConfig,
  parseAudioHeader,
  parseAvcDecoderConfig,
  parseHevcDecoderConfig,
  parseVideoHeader,
} from '../protocol/flv';

/** How a stream is doing, as one word. */
export type StreamHealth = 'healthy' | 'stalled' | 'down' | 'starting' | 'failed';

/** A notable change in a stream's life, for JSON-lines output and logs. */
export interface StreamEvent {
  /** The stream's target id. */
  id: string;
  event: 'stall' | 'reconnect' | 'state' | 'status' | 'failure';
  /** Clock time (ms). */
  at: number;
  /** `state`: the new state; also set on the other events for context. */
  state?: string;
  /** `status`: the onStatus code (NetStream.Play.Start, ...). */
  code?: string;
  /** `stall`: how long no media had arrived when the stall was noticed (ms). */
  lastMediaAgeMs?: number;
  /**
   * `failure`: why the stream was refused or lost, as a short code: `MAX_CONNECTIONS`,
   * `MAX_STREAMS`, a server's status code (`NetStream.Play.StreamNotFound`), a transport error
   * code (`REFUSED`, `TIMEOUT`; the system's errno is in the message) or a machine's reason
   * (`CREATE_TIMEOUT`).
   */
  reason?: string;
  /** `failure`: the reason in words, secrets masked (names the limit that was hit). */
  message?: string;
}

/** Everything the monitor shows about one stream at one instant. */
export interface StreamSnapshot {
  /** The stream's target id. */
  id: string;
  /** The target's labels. */
  labels: Readonly<Record<string, string>>;
  /** Clock time of the snapshot (ms). */
  at: number;
  state: string;
  health: StreamHealth;
  /**
   * Why the stream is not healthy, when a refusal or failure said so (see StreamEvent.reason);
   * cleared when media flows again.
   */
  reason: string | undefined;
  /** The reason in words, secrets masked. */
  reasonMessage: string | undefined;
  /** Failures so far, by reason. */
  failures: Readonly<Record<string, number>>;
  /**
   * Bits per second (payload bytes, tag headers included) over the span observed: the window, or
   * less since the first media after the (re)start; the media time when the window's media spans
   * more (a GOP cache delivered at once). Undefined until MIN_RATE_SPAN_MS of media were seen.
   */
  videoBitrate: number | undefined;
  audioBitrate: number | undefined;
  /**
   * The media rate: coded video frames per media second, from the timestamps of the frames in
   * the window. Undefined until MIN_RATE_SPAN_MS were observed.
   */
  fps: number | undefined;
  /**
   * The arrival rate: coded video frames per wall-clock second over the span observed. Below
   * `fps` when the publisher (or the path) falls behind real time; above it in a burst.
   */
  arrivalFps: number | undefined;
  /** Mean distance between the last keyframes, in media-time seconds. */
  keyframeInterval: number | undefined;
  /** Codec name: 'avc', 'hevc', 'av1', ... */
  videoCodec: string | undefined;
  /** Enhanced RTMP FourCC ('avc1', 'hvc1', 'av01', ...); undefined for classic tags. */
  videoFourCc: string | undefined;
  audioCodec: string | undefined;
  audioFourCc: string | undefined;
  width: number | undefined;
  height: number | undefined;
  audioSampleRate: number | undefined;
  audioChannels: number | undefined;
  /** Wall-clock ms since the last media message (undefined before the first). */
  lastMediaAgeMs: number | undefined;
  /**
   * Media time advanced minus wall time elapsed, from the first media message (since the last
   * reconnect) to the latest one, in ms. Positive: media runs ahead of the clock (a burst).
   */
  driftMs: number | undefined;
  /** Last audio timestamp minus last video timestamp (ms, wrap-aware). */
  avSkewMs: number | undefined;
  stalls: number;
  reconnects: number;
  /** Audio and video payload bytes. */
  bytesReceived: number;
  /** Audio, video and data messages. */
  messagesReceived: number;
  /** The last onStatus code seen. */
  lastStatus: string | undefined;
  /**
   * Per track, once the stream carried an Enhanced RTMP multitrack message (undefined before:
   * a stream without multitrack shows no tracks). Messages without multitrack count as track
   * 0. At most `maxTracks` tracks of each medium are listed by id; the rest add up as 'other'.
   */
  tracks?: TrackSnapshot[];
}

/** One audio or video track of a multitrack stream. */
export interface TrackSnapshot {
  media: 'video' | 'audio';
  /** The trackId as a decimal string, or 'other' for the tracks past `maxTracks`. */
  track: string;
  /** Codec name of the track's last message: 'avc', 'hevc', 'aac', 'opus'... */
  codec: string | undefined;
  /** Its Enhanced RTMP FourCC; undefined for classic tags (a track 0 sent without multitrack). */
  fourCc: string | undefined;
  /**
   * Bits per second of the track's own bytes (its codec payload; the multitrack framing counts
   * only in the stream's bitrate), over the same span as the stream's bitrates.
   */
  bitrate: number | undefined;
  /** The track's payload bytes since the monitor started watching. */
  bytesReceived: number;
}

/** Default of StreamStatsOptions.maxTracks. */
export const DEFAULT_MAX_TRACKS = 8;

export interface StreamStatsOptions {
  /** The stream's target id. */
  id: string;
  /** The target's labels. */
  labels?: Readonly<Record<string, string>>;
  /** Milliseconds; `Date.now` in production, a fake in tests. */
  clock: () => number;
  /** Sliding window for rates (ms, whole seconds). Default 5000. */
  windowMs?: number;
  /** No media for this long while up means 'stalled'. Default 5000. */
  stallMs?: number;
  /** States meaning the stream has failed for good. Default ['failed']. */
  failedStates?: readonly string[];
  /** States meaning the stream is not connected (yet or any more). Default MONITOR_DOWN_STATES. */
  downStates?: readonly string[];
  /** Told about stalls, reconnects, state changes and status codes. */
  onEvent?: (event: StreamEvent) => void;
  /**
   * Tracks of each medium (video, audio) listed by id in `tracks`; the bytes of the others add
   * up as track 'other'. Keeps the `track` label of the metrics bounded. Default 8.
   */
  maxTracks?: number;
}

/** Byte counts of one track in the ring of one-second buckets. */
interface TrackCounter {
  media: 'video' | 'audio';
  track: string;
  codec: string | undefined;
  fourCc: string | undefined;
  /** Which second each bucket holds (-1: none). */
  second: Float64Array;
  bytes: Float64Array;
  total: number;
}

const BUCKET_MS = 1000;
/** Rates need at least this much observed time (ms): one frame over 1 ms is not 1000 fps. */
export const MIN_RATE_SPAN_MS = 500;
/** The stream machine's state for media flowing. */
const FLOWING: NetStreamStateName = 'flowing';
/** The state shown while the machine says 'flowing' but no audio or video has arrived yet. */
const AWAITING_MEDIA: NetStreamStateName = 'awaitingFirstFrame';
const KEYFRAME_HISTORY = 4;

/** `a - b` for 32-bit wrapping millisecond timestamps, as a signed 32-bit difference. */
export function timestampDelta(a: number, b: number): number {
  return (a - b) | 0;
}

function isObject(v: AmfValue): v is Record<string, AmfValue> {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    !(v instanceof Date) &&
    !(v instanceof Uint8Array)
  );
}

function positiveNumber(v: AmfValue | undefined): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.round(v) : undefined;
}

export class StreamStats {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  private readonly clock: () => number;
  private readonly stallMs: number;
  private readonly buckets: number;
  private readonly failedStates: ReadonlySet<string>;
  private readonly downStates: ReadonlySet<string>;
  private readonly emit: ((event: StreamEvent) => void) | undefined;

  // Ring of one-second buckets: which second each holds, and its sums.
  private readonly bucketSecond: Float64Array;
  private readonly bucketVideoBytes: Float64Array;
  private readonly bucketAudioBytes: Float64Array;
  private readonly bucketFrames: Float64Array;
  /** Earliest media timestamp (on the continuous timeline) in each bucket; +Infinity: none. */
  private readonly bucketMinTs: Float64Array;
  /** Earliest and latest coded video frame timestamp in each bucket (±Infinity: none). */
  private readonly bucketMinFrameTs: Float64Array;
  private readonly bucketMaxFrameTs: Float64Array;
  /**
   * Wall time of the first audio/video message since the last (re)start: rates never average
   * over time before it.
   */
  private firstMediaWall: number | undefined;

  // Media timeline (reset on reconnect): timestamps unwrapped onto a continuous number line.
  private timelineStarted = false;
  private lastRawTs = 0;
  private lastExtTs = 0;
  private maxExtTs = 0;
  private firstExtTs = 0;
  private timelineStartWall = 0;
  private maxExtWall = 0;
  private lastAudioExt: number | undefined;
  private lastVideoExt: number | undefined;
  private lastKeyframeExt: number | undefined;
  private readonly keyframeIntervals = new Float64Array(KEYFRAME_HISTORY);
  private keyframeIntervalCount = 0;
  private keyframeIntervalNext = 0;

  private lastMediaWall: number | undefined;
  /** Media arrived since the last (re)start. */
  private mediaSinceStart = false;
  /** The current gap in media has already been counted as a stall. */
  private stallCounted = false;

  private readonly videoInfo = emptyVideoInfo();
  private readonly audioInfo = emptyAudioInfo();
  private videoCodec: string | undefined;
  private videoFourCc: string | undefined;
  private audioCodec: string | undefined;
  private audioFourCc: string | undefined;
  private configWidth: number | undefined;
  private configHeight: number | undefined;
  private metaWidth: number | undefined;
  private metaHeight: number | undefined;
  private headerRate: number | undefined;
  private headerChannels: number | undefined;
  private configRate: number | undefined;
  private configChannels: number | undefined;

  /** The state as the caller last gave it. */
  private state = 'starting';
  /** The state last reported (events, snapshots): 'flowing' only once media arrived. */
  private shownState = 'starting';
  private lastStatus: string | undefined;
  private reason: string | undefined;
  private reasonMessage: string | undefined;
  private readonly failures: Record<string, number> = {};
  private stalls = 0;
  private reconnects = 0;
  private bytes = 0;
  private messages = 0;
  /** Media messages whose tag header could not be parsed. */
  badHeaders = 0;
  private readonly maxTracks: number;
  /** Per track counters, keyed 'video:0', 'audio:1', 'video:other'... */
  private readonly trackCounters = new Map<string, TrackCounter>();
  /** The counter of each trackId (a UI8), by medium: the lookup on every message allocates nothing. */
  private readonly videoTrackIndex: (TrackCounter | undefined)[] = [];
  private readonly audioTrackIndex: (TrackCounter | undefined)[] = [];
  /** An Enhanced RTMP multitrack message arrived: `tracks` is shown. */
  private multitrack = false;

  constructor(options: StreamStatsOptions) {
    this.id = options.id;
    this.labels = options.labels ?? {};
    this.clock = options.clock;
    this.stallMs = options.stallMs ?? 5000;
    this.buckets = Math.max(1, Math.round((options.windowMs ?? 5000) / BUCKET_MS));
    this.failedStates = new Set(options.failedStates ?? ['failed']);
    this.downStates = new Set(options.downStates ?? MONITOR_DOWN_STATES);
    this.emit = options.onEvent;
    this.maxTracks = Math.max(1, options.maxTracks ?? DEFAULT_MAX_TRACKS);
    this.bucketSecond = new Float64Array(this.buckets).fill(-1);
    this.bucketVideoBytes = new Float64Array(this.buckets);
    this.bucketAudioBytes = new Float64Array(this.buckets);
    this.bucketFrames = new Float64Array(this.buckets);
    this.bucketMinTs = new Float64Array(this.buckets).fill(Infinity);
    this.bucketMinFrameTs = new Float64Array(this.buckets).fill(Infinity);
    this.bucketMaxFrameTs = new Float64Array(this.buckets).fill(-Infinity);
  }

  /** Every audio, video and data message of the stream, in arrival order. */
  onMedia(m: MediaMessage): void {
    const now = this.clock();
    this.messages++;
    if (m.type === 'Data') {
      this.onData(m.values);
      return;
    }
    this.lastMediaWall = now;
    this.stallCounted = false;
    if (!this.mediaSinceStart) {
      this.mediaSinceStart = true;
      this.firstMediaWall = now;
      this.reason = undefined;
      this.reasonMessage = undefined;
      this.showState();
    }
    const bucket = this.bucketFor(now);
    const size = m.payload.length;
    this.bytes += size;
    const ext = this.unwrap(m.timestamp, now);
    if (ext < this.bucketMinTs[bucket]) this.bucketMinTs[bucket] = ext;
    if (m.type === 'Video') {
      this.bucketVideoBytes[bucket] += size;
      this.lastVideoExt = ext;
      this.onVideo(m.payload, ext, bucket, now);
    } else {
      this.bucketAudioBytes[bucket] += size;
      this.lastAudioExt = ext;
      this.onAudio(m.payload, now);
    }
  }

  /**
   * The stream's lifecycle state (free-form: 'connecting', 'flowing', 'retrying', 'failed' ...).
   * 'flowing' shows as 'awaitingFirstFrame' until audio or video arrived since the (re)start.
   */
  onState(state: string): void {
    this.state = state;
    this.showState();
  }

  private showState(): void {
    const shown = this.state === FLOWING && !this.mediaSinceStart ? AWAITING_MEDIA : this.state;
    if (shown === this.shownState) return;
    this.shownState = shown;
    this.emit?.({ id: this.id, event: 'state', at: this.clock(), state: shown });
  }

  /**
   * The stream was refused or lost: counted by `reason` (a short code), kept as the stream's
   * reason until media flows again, and told as a 'failure' event with `message`.
   */
  onFailure(reason: string, message?: string): void {
    this.failures[reason] = (this.failures[reason] ?? 0) + 1;
    this.reason = reason;
    this.reasonMessage = message;
    this.emit?.({
      id: this.id,
      event: 'failure',
      at: this.clock(),
      state: this.shownState,
      reason,
      ...(message !== undefined ? { message } : {}),
    });
  }

  /** A stall noticed elsewhere (StreamDry, the session's watchdog). Counted once per media gap. */
  onStall(): void {
    if (this.stallCounted) return;
    this.countStall(this.clock());
  }

  /** The stream is being set up again: its media timeline starts over. */
  onReconnect(): void {
    this.reconnects++;
    this.timelineStarted = false;
    this.lastAudioExt = undefined;
    this.lastVideoExt = undefined;
    this.lastKeyframeExt = undefined;
    this.keyframeIntervalCount = 0;
    this.keyframeIntervalNext = 0;
    this.mediaSinceStart = false;
    this.firstMediaWall = undefined;
    this.stallCounted = false;
    // Rates start over with the new play: timestamps before it are on another timeline, and
    // the time before its first media is not part of its rates.
    this.bucketSecond.fill(-1);
    this.bucketMinTs.fill(Infinity);
    this.bucketMinFrameTs.fill(Infinity);
    this.bucketMaxFrameTs.fill(-Infinity);
    for (const c of this.trackCounters.values()) c.second.fill(-1);
    this.showState();
    this.emit?.({ id: this.id, event: 'reconnect', at: this.clock(), state: this.shownState });
  }

  /** An onStatus code (NetStream.Play.Start, NetStream.Play.StreamNotFound, ...). */
  onStatus(code: string): void {
    this.lastStatus = code;
    this.emit?.({ id: this.id, event: 'status', at: this.clock(), code, state: this.shownState });
  }

  /**
   * Notices a stall (no media for longer than `stallMs` while up) and counts it once per gap;
   * true when a new stall was counted. `snapshot()` calls it too.
   */
  checkStall(): boolean {
    const now = this.clock();
    if (this.stallCounted || this.healthAt(now) !== 'stalled') return false;
    this.countStall(now);
    return true;
  }

  snapshot(): StreamSnapshot {
    this.checkStall();
    const now = this.clock();
    const currentSecond = Math.floor(now / BUCKET_MS);
    const oldestSecond = currentSecond - this.buckets + 1;
    let videoBytes = 0;
    let audioBytes = 0;
    let frames = 0;
    let minTs = Infinity;
    let minFrameTs = Infinity;
    let maxFrameTs = -Infinity;
    for (let i = 0; i < this.buckets; i++) {
      const s = this.bucketSecond[i];
      if (s < oldestSecond || s > currentSecond) continue;
      videoBytes += this.bucketVideoBytes[i];
      audioBytes += this.bucketAudioBytes[i];
      frames += this.bucketFrames[i];
      if (this.bucketMinTs[i] < minTs) minTs = this.bucketMinTs[i];
      if (this.bucketMinFrameTs[i] < minFrameTs) minFrameTs = this.bucketMinFrameTs[i];
      if (this.bucketMaxFrameTs[i] > maxFrameTs) maxFrameTs = this.bucketMaxFrameTs[i];
    }
    // The span observed: from the start of the oldest bucket, or from the first media since the
    // (re)start when that is later, to now. The buckets are whole wall seconds, so the counts
    // cover exactly that span. Bitrates use the window's media time instead when it is longer
    // (a GOP cache delivered at once to a new player: the stream's rate, not the burst's),
    // capped at the window so that a timestamp jump cannot make them read low for long.
    const wallSpan =
      this.firstMediaWall === undefined
        ? 0
        : now - Math.max(oldestSecond * BUCKET_MS, this.firstMediaWall);
    const mediaSpan = Number.isFinite(minTs)
      ? Math.min(Math.max(this.maxExtTs - minTs, 0), this.buckets * BUCKET_MS)
      : 0;
    const byteSpan = Math.max(wallSpan, mediaSpan);
    const observed = wallSpan >= MIN_RATE_SPAN_MS;
    const perSecond = (count: number, spanMs: number): number | undefined =>
      spanMs >= MIN_RATE_SPAN_MS ? (count * 1000) / spanMs : undefined;
    const frameSpan = maxFrameTs - minFrameTs;
    const fps =
      frames >= 2 && frameSpan > 0 ? ((frames - 1) * 1000) / frameSpan : observed ? 0 : undefined;

    let keyframeInterval: number | undefined;
    if (this.keyframeIntervalCount > 0) {
      let sum = 0;
      for (let i = 0; i < this.keyframeIntervalCount; i++) sum += this.keyframeIntervals[i];
      keyframeInterval = sum / this.keyframeIntervalCount / 1000;
    }

    const useConfig = this.configWidth !== undefined && this.configHeight !== undefined;
    return {
      id: this.id,
      labels: this.labels,
      at: now,
      state: this.shownState,
      health: this.healthAt(now),
      reason: this.reason,
      reasonMessage: this.reasonMessage,
      failures: { ...this.failures },
      videoBitrate: perSecond(videoBytes * 8, byteSpan),
      audioBitrate: perSecond(audioBytes * 8, byteSpan),
      fps,
      arrivalFps: perSecond(frames, wallSpan),
      keyframeInterval,
      videoCodec: this.videoCodec,
      videoFourCc: this.videoFourCc,
      audioCodec: this.audioCodec,
      audioFourCc: this.audioFourCc,
      width: useConfig ? this.configWidth : this.metaWidth,
      height: useConfig ? this.configHeight : this.metaHeight,
      audioSampleRate: this.configRate ?? this.headerRate,
      audioChannels: this.configChannels ?? this.headerChannels,
      lastMediaAgeMs: this.lastMediaWall === undefined ? undefined : now - this.lastMediaWall,
      driftMs: this.timelineStarted
        ? this.maxExtTs - this.firstExtTs - (this.maxExtWall - this.timelineStartWall)
        : undefined,
      avSkewMs:
        this.lastAudioExt !== undefined && this.lastVideoExt !== undefined
          ? this.lastAudioExt - this.lastVideoExt
          : undefined,
      stalls: this.stalls,
      reconnects: this.reconnects,
      bytesReceived: this.bytes,
      messagesReceived: this.messages,
      lastStatus: this.lastStatus,
      tracks: this.multitrack
        ? this.trackSnapshots(oldestSecond, currentSecond, byteSpan)
        : undefined,
    };
  }

  private trackSnapshots(oldest: number, current: number, span: number): TrackSnapshot[] {
    const out: TrackSnapshot[] = [];
    for (const c of this.trackCounters.values()) {
      let bytes = 0;
      for (let i = 0; i < this.buckets; i++) {
        const sec = c.second[i];
        if (sec >= oldest && sec <= current) bytes += c.bytes[i];
      }
      out.push({
        media: c.media,
        track: c.track,
        codec: c.codec,
        fourCc: c.fourCc,
        bitrate: span >= MIN_RATE_SPAN_MS ? (bytes * 8 * 1000) / span : undefined,
        bytesReceived: c.total,
      });
    }
    const rank = (t: TrackSnapshot): number => (t.track === 'other' ? 256 : Number(t.track));
    return out.sort((a, b) => a.media.localeCompare(b.media) * 1000 + rank(a) - rank(b));
  }

  /** Adds a track's bytes to its counter (created on first use; past maxTracks: 'other'). */
  private countTrack(
    media: 'video' | 'audio',
    trackId: number,
    codec: string,
    fourCc: string | undefined,
    bytes: number,
    now: number,
  ): void {
    const index = media === 'video' ? this.videoTrackIndex : this.audioTrackIndex;
    let c = index[trackId];
    if (!c) {
      let listed = 0;
      for (const t of this.trackCounters.values()) {
        if (t.media === media && t.track !== 'other') listed++;
      }
      const track = listed < this.maxTracks ? String(trackId) : 'other';
      const key = `${media}:${track}`;
      c = this.trackCounters.get(key);
      if (!c) {
        c = {
          media,
          track,
          codec: undefined,
          fourCc: undefined,
          second: new Float64Array(this.buckets).fill(-1),
          bytes: new Float64Array(this.buckets),
          total: 0,
        };
        this.trackCounters.set(key, c);
      }
      index[trackId] = c;
    }
    if (codec !== 'none') {
      c.codec = codec;
      c.fourCc = fourCc;
    }
    const second = Math.floor(now / BUCKET_MS);
    const i = second % this.buckets;
    if (c.second[i] !== second) {
      c.second[i] = second;
      c.bytes[i] = 0;
    }
    c.bytes[i] += bytes;
    c.total += bytes;
  }

  private healthAt(now: number): StreamHealth {
    if (this.failedStates.has(this.state)) return 'failed';
    if (this.downStates.has(this.state)) return 'down';
    if (!this.mediaSinceStart || this.lastMediaWall === undefined) return 'starting';
    return now - this.lastMediaWall > this.stallMs ? 'stalled' : 'healthy';
  }

  private countStall(now: number): void {
    this.stalls++;
    this.stallCounted = true;
    this.emit?.({
      id: this.id,
      event: 'stall',
      at: now,
      state: this.shownState,
      lastMediaAgeMs: this.lastMediaWall === undefined ? undefined : now - this.lastMediaWall,
    });
  }

  /** The ring index for wall time `now`, cleared if it held an older second. */
  private bucketFor(now: number): number {
    const second = Math.floor(now / BUCKET_MS);
    const i = second % this.buckets;
    if (this.bucketSecond[i] !== second) {
      this.bucketSecond[i] = second;
      this.bucketVideoBytes[i] = 0;
      this.bucketAudioBytes[i] = 0;
      this.bucketFrames[i] = 0;
      this.bucketMinTs[i] = Infinity;
      this.bucketMinFrameTs[i] = Infinity;
      this.bucketMaxFrameTs[i] = -Infinity;
    }
    return i;
  }

  /** Places a 32-bit timestamp on the continuous media timeline (signed deltas, wrap-aware). */
  private unwrap(ts: number, now: number): number {
    const raw = ts >>> 0;
    if (!this.timelineStarted) {
      this.timelineStarted = true;
      this.lastRawTs = raw;
      this.lastExtTs = raw;
      this.firstExtTs = raw;
      this.maxExtTs = raw;
      this.timelineStartWall = now;
      this.maxExtWall = now;
      return raw;
    }
    const ext = this.lastExtTs + timestampDelta(raw, this.lastRawTs);
    this.lastRawTs = raw;
    this.lastExtTs = ext;
    if (ext > this.maxExtTs) {
      this.maxExtTs = ext;
      this.maxExtWall = now;
    }
    return ext;
  }

  private onVideo(payload: Uint8Array, ext: number, bucket: number, now: number): void {
    if (payload.length === 0) return;
    let info;
    try {
      info = parseVideoHeader(payload, this.videoInfo);
    } catch {
      this.badHeaders++;
      return;
    }
    if (info.frameType === 'command') return;
    if (info.codec !== 'none') {
      this.videoCodec = info.codec;
      this.videoFourCc = info.fourCc;
    }
    if (info.tracks) {
      this.multitrack = true;
      for (const t of info.tracks)
        this.countTrack('video', t.trackId, t.codec, t.fourCc, t.length, now);
    } else {
      this.countTrack('video', 0, info.codec, info.fourCc, payload.length - info.headerLength, now);
    }
    if (info.isSequenceHeader) {
      this.onVideoConfig(payload, info.codec, info.headerLength);
      return;
    }
    if (info.packetType !== 'codedFrames' && info.packetType !== 'codedFramesX') return;
    this.bucketFrames[bucket]++;
    if (ext < this.bucketMinFrameTs[bucket]) this.bucketMinFrameTs[bucket] = ext;
    if (ext > this.bucketMaxFrameTs[bucket]) this.bucketMaxFrameTs[bucket] = ext;
    if (!info.isKeyframe) return;
    if (this.lastKeyframeExt !== undefined && ext > this.lastKeyframeExt) {
      this.keyframeIntervals[this.keyframeIntervalNext] = ext - this.lastKeyframeExt;
      this.keyframeIntervalNext = (this.keyframeIntervalNext + 1) % KEYFRAME_HISTORY;
      if (this.keyframeIntervalCount < KEYFRAME_HISTORY) this.keyframeIntervalCount++;
    }
    this.lastKeyframeExt = ext;
  }

  private onVideoConfig(payload: Uint8Array, codec: string, headerLength: number): void {
    try {
      const record = payload.subarray(headerLength);
      const config =
        codec === 'avc'
          ? parseAvcDecoderConfig(record)
          : codec === 'hevc'
            ? parseHevcDecoderConfig(record)
            : undefined;
      if (config) {
        this.configWidth = config.width;
        this.configHeight = config.height;
      }
    } catch {
      this.badHeaders++;
    }
  }

  private onAudio(payload: Uint8Array, now: number): void {
    let info;
    try {
      info = parseAudioHeader(payload, this.audioInfo);
    } catch {
      this.badHeaders++;
      return;
    }
    if (info.isSilence) return;
    if (info.tracks) {
      this.multitrack = true;
      for (const t of info.tracks)
        this.countTrack('audio', t.trackId, t.codec, t.fourCc, t.length, now);
    } else {
      this.countTrack('audio', 0, info.codec, info.fourCc, payload.length - info.headerLength, now);
    }
    if (info.codec !== 'none') {
      this.audioCodec = info.codec;
      this.audioFourCc = info.fourCc;
    }
    if (info.rate !== undefined) this.headerRate = info.rate;
    if (info.channels !== undefined) this.headerChannels = info.channels;
    if (info.isSequenceHeader && info.codec === 'aac') {
      try {
        const asc = parseAacAudioSpecificConfig(payload.subarray(info.headerLength));
        this.configRate = asc.extensionSampleRate ?? asc.sampleRate;
        this.configChannels = asc.channels > 0 ? asc.channels : undefined;
      } catch {
        this.badHeaders++;
      }
    }
  }

  /** onMetaData (direct or through @setDataFrame): the picture size when it is given. */
  private onData(values: readonly AmfValue[]): void {
    const name = values[0];
    if (name !== 'onMetaData' && !(name === '@setDataFrame' && values[1] === 'onMetaData')) return;
    for (let i = 1; i < values.length; i++) {
      const v = values[i];
      if (!isObject(v)) continue;
      const width = positiveNumber(v['width']);
      const height = positiveNumber(v['height']);
      if (width !== undefined && height !== undefined) {
        this.metaWidth = width;
        this.metaHeight = height;
      }
      return;
    }
  }
}
