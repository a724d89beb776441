import { accessSync, closeSync, constants as fsConstants, openSync, readSync } from 'node:fs';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { Observable, Subject, from, map, takeUntil } from './rx';
import { createActor, type Actor, type InspectionEvent, type Observer } from 'xstate';
import {
  netConnectionMachine,
  type RetryPolicy,
  type NetConnectionTimeouts,
} from '../machines/netConnectionMachine';
import {
  DEFAULT_VOD_IDLE_MS,
  NET_STREAM_LIFECYCLE_OF,
  type NetStreamControlTag,
  type NetStreamStateName,
  type NetStreamTimeouts,
  type PlayOptions,
  type PublishOptions,
  type SeekResult,
  type StreamRetry,
} from '../machines/netStreamMachine';
import {
  sessionSupervisorMachine,
  streamKeyFor,
  type SessionSupervisorEmitted,
  type ConnectionSummary,
  type StreamsPerConnection,
  type StreamSummary,
  type SessionSupervisorInput,
} from '../machines/sessionSupervisorMachine';
import type {
  HandshakeForm,
  StatusReply,
  StreamLimit,
  TransportTarget,
} from '../machines/contract';
import { OutputError } from './io/errors';
import { FlvError } from './protocol/errors';
import { FlvFileSink, type FlvSaveResult } from './io/flvFile';
import { configKind, configTracks, KeyframeGate } from './io/keyframeGate';
import { MediaRouter, withTracks, type MediaMessage, type MediaWriter } from './io/media';
import {
  bindTransportDeps,
  systemTransportLogic,
  type TransportDeps,
  type TransportInput,
} from './io/transport';
import { defaultRandom } from './protocol/handshake/common';
import type { AmfValue } from './protocol/amf/types';
import type { RtmpLimits } from './protocol/limits';
import { StatusCode, type ConnectParams } from './protocol/message/commands';
import {
  clientCapabilityProperties,
  type ErtmpCapabilities,
} from './protocol/message/capabilities';
import { Switchover, type SwitchResult } from './switchover';
import { flvFileSource, type FlvSourceOptions } from './publish/flvSource';
import { PublishSwitch } from './publishSwitch';
import { parseRtmpUrl, type RtmpUrl } from './url';
import { redactText, redactUrl, secretsOf } from './redact';
import {
  ConnectionLog,
  SessionError,
  type StreamFailureCause,
  type StreamOutcome,
  type StreamOutcomeReason,
} from './outcome';

export type { StreamOutcome } from './outcome';

/** Options of a session: one supervisor actor, its NetConnections and its streams. */
export interface SessionOptions {
  /** `rtmp[s]://host[:port]/app[/instance][/playpath][?query]` (librtmp options after spaces too). */
  url: string;
  /** Override the parts the URL implies, as librtmp and ffmpeg allow. */
  app?: string;
  tcUrl?: string;
  flashVer?: string;
  pageUrl?: string;
  swfUrl?: string;
  /** Extra arguments appended to `connect` (librtmp `conn=`, ffmpeg `rtmp_conn`). */
  connectArgs?: AmfValue[];
  /**
   * Advertise Enhanced RTMP in `connect` (default true): `fourCcList`, v2's
   * `videoFourCcInfoMap`/`audioFourCcInfoMap` (CanForward: this library records and forwards,
   * it never decodes) and `capsEx` (Reconnect: a ReconnectRequest moves the plays make-before-break).
   * Servers that do not know them ignore them; false sends a legacy connect.
   */
  enhancedRtmp?: boolean;
  /** Handshake form: 'digest' (default, like rtmpdump and ffmpeg) or 'simple'. */
  handshake?: HandshakeForm;
  /** TLS for rtmps:// (certificates are verified unless `insecure`). */
  tls?: { ca?: string | Buffer; servername?: string };
  /** Accept any TLS certificate. Only with an explicit option. */
  insecure?: boolean;
  /** Share one connection among streams ('many'), one each ('one'), or learn it ('auto', default). */
  streamsPerConnection?: StreamsPerConnection;
  /** Most streams at once; a request beyond it is refused (MAX_STREAMS). Default: no limit. */
  maxStreams?: number;
  /**
   * Most connections at once; a stream that needs one more is refused (MAX_CONNECTIONS, the
   * limit in its outcome). Default `maxStreams`: against a server that serves one stream per
   * connection the pool grows to as many connections as streams asked for.
   */
  maxConnections?: number;
  timeouts?: Partial<NetConnectionTimeouts & NetStreamTimeouts>;
  retry?: Partial<RetryPolicy>;
  limits?: Partial<RtmpLimits>;
  /** Our outgoing chunk size. Default 4096. */
  chunkSize?: number;
  /** Passed to `createActor`: attach the Stately inspector or your own recorder. */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /** Bytes queued by consumers above which sockets pause. */
  highWaterMark?: number;
  /** ... and below which they resume (or the drop policy waits for a keyframe to stop dropping). */
  lowWaterMark?: number;
  /**
   * When a consumer falls behind: 'pause' the socket (default, nothing lost) or, for live play,
   * 'dropToKeyframe' (drop non-key video until the next keyframe; `stream.dropped` counts it).
   */
  backpressure?: 'pause' | 'dropToKeyframe';
  /**
   * Read batching for live watching, in ms (default 0: off). After a read that carried audio or
   * video, a connection's socket rests this long before it is read again, so messages a server
   * writes one by one (nginx-rtmp) arrive in one read: far less CPU per watched stream, media up
   * to this much later. `createMonitor` sets 100 (`MONITOR_READ_BATCH_MS`).
   */
  readBatchMs?: number;
  /**
   * Least time between two "media is flowing" events (MEDIA.TICK) one stream sends its machines,
   * in ms (default: the transport's, 250). The first media of a quiet stream is told at once and
   * the last one of a window by a trailing tick, so stall timers count from real silence; a
   * longer period costs less CPU per stream (each tick is a transition of two machines) and
   * reports the media time (`lastTimestamp`, a seek settled by media alone) up to this late.
   * `createMonitor` sets 1000 (`MONITOR_MEDIA_TICK_MS`).
   */
  mediaTickMs?: number;
}

/**
 * Events a session surfaces: the machines' emitted events, with secrets removed. Stream events
 * carry the stream's `key` (its handle's `stream.key`: the name, or `<name>#2`... for another
 * stream of the same name) and its `name`.
 */
export type SessionEvent =
  | SessionSupervisorEmitted
  | {
      type: 'stream.state';
      key: string;
      name: string;
      state: NetStreamStateName;
      /** With `retrying`: the attempt, its reason (and status) and the backoff. */
      retry?: StreamRetry;
    }
  | { type: 'stream.status'; key: string; name: string; status: StatusReply }
  | {
      type: 'stream.error';
      key: string;
      name: string;
      reason: string;
      status?: StatusReply;
      /** RETRIES_EXHAUSTED: attempts made, and the last one's reason. */
      attempts?: number;
      lastReason?: string;
      /** MAX_CONNECTIONS: the limit that left no connection to move the stream to. */
      limit?: StreamLimit;
    }
  | { type: 'stream.stall'; key: string; name: string; lastTimestamp: number | undefined }
  | { type: 'stream.resumed'; key: string; name: string; lastTimestamp: number | undefined }
  | { type: 'stream.ended'; key: string; name: string; reason: string }
  /** How a `seek` ended: seeked, refused (Seek.Failed / Seek.InvalidTime) or timeout. */
  | { type: 'stream.seek'; key: string; name: string; result: SeekResult };

/** The events of one stream (by key), refusals of its request included. */
export type StreamEvent = Extract<SessionEvent, { key: string }>;

function enhancedConnect(): Partial<ConnectParams> {
  return clientCapabilityProperties();
}

/**
 * Which decoder configuration a message is: 'metadata', or one key per track it configures
 * ('video:0', 'audio:1'...; track 0 without Enhanced RTMP multitrack).
 */
function headerKeys(m: MediaMessage): string[] | undefined {
  const kind = configKind(m);
  if (kind === undefined || kind === 'metadata') return kind && ['metadata'];
  return configTracks(m)?.map((id) => `${kind}:${id}`);
}

/** Options of `session.play` and `session.publish` that name the stream in the session. */
export interface StreamKeyOptions {
  /**
   * The stream's key in the session (actor `stream-<key>`, events, summary). Default: the name,
   * or `<name>#2`, `#3`... while streams of that name are open. An explicit key that an open
   * stream has is refused (`session.error` DUPLICATE_KEY).
   */
  key?: string;
}

/**
 * Options of `session.play`: the NetStream's play options (`endOnIdleMs` among them: when silence
 * ends a play is the stream machine's rule) plus the stream's key in the session.
 */
export interface ClientPlayOptions extends PlayOptions, StreamKeyOptions {}

// Defined in a module of their own so that `rtmp-actors play --help` shows them without loading
// the client (XState, RxJS).
import { DEFAULT_LIVE_BUFFER_MS, DEFAULT_VOD_BUFFER_MS } from './playDefaults';
export { DEFAULT_LIVE_BUFFER_MS, DEFAULT_VOD_BUFFER_MS };

/** Options of `stream.saveFlv`. */
export interface SaveFlvOptions {
  /** Stop writing when this settles (the stream goes on); default: when the stream ends. */
  until?: Promise<unknown>;
  /**
   * Keep the server's timestamps in a live play's file. By default a saved live FLV starts at 0,
   * as ffmpeg's and OBS's recordings do; a recorded play keeps the file's own times.
   */
  keepTimestamps?: boolean;
}

/** The first bytes of an FLV file. */
const FLV_SIGNATURE = 'FLV';

/** Why a file cannot be published (unreadable, not an FLV), or undefined when it looks fine. */
function flvFileProblem(file: string): Error | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    return e as Error;
  }
  try {
    const head = Buffer.alloc(9);
    const n = readSync(fd, head, 0, 9, 0);
    if (n < 9 || head.toString('latin1', 0, 3) !== FLV_SIGNATURE) {
      return new FlvError(
        'BAD_SIGNATURE',
        `${file} is not an FLV file (it does not start with "FLV")`,
        {
          file,
          head: head.subarray(0, n).toString('hex'),
        },
      );
    }
    return undefined;
  } catch (e) {
    return e as Error;
  } finally {
    closeSync(fd);
  }
}

/** Default silent end of a recorded play (PlayOptions.endOnIdleMs): the stream machine's. */
export { DEFAULT_VOD_IDLE_MS };

/** Why `pause()`, `resume()` or `seek()` was refused before anything was sent. */
export type StreamControlErrorCode =
  /** The stream is a publish: only a play pauses or seeks. */
  | 'NOT_A_PLAY'
  /** The play is not playing (not yet started, seeking, paused for a seek, retrying...). */
  | 'NOT_PLAYING'
  /** `resume()` of a play that is not paused. */
  | 'NOT_PAUSED'
  /** `seek(ms)` with a position that is not a finite number >= 0. */
  | 'BAD_POSITION'
  /** The stream stopped, ended or failed (before or during the request). */
  | 'STREAM_FINISHED';

/** `pause()`, `resume()` or `seek()` refused: the state it was asked in is in `details`. */
export class StreamControlError extends Error {
  readonly layer = 'stream';
  constructor(
    readonly code: StreamControlErrorCode,
    message: string,
    /** The offending data: the stream key, its state, the position asked for. */
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'StreamControlError';
  }
}

/** Statuses after which the server's timestamps jump to another position. */
const SEEK_NOTICES: ReadonlySet<string> = new Set([
  StatusCode.SeekNotify,
  StatusCode.UnpauseNotify,
]);

/** A stream of the session: its actor, its media and its status. */
export class StreamHandle {
  /**
   * Audio, video and metadata, straight from the transport (never through the machines);
   * completes when the stream is done. Audio and video messages carry `trackId` (0 without
   * Enhanced RTMP multitrack) and `tracks` (every track of the message with its codec, FourCC
   * and where its payload lies); a multitrack message stays one message, bytes unchanged.
   */
  readonly media$: Observable<MediaMessage>;
  /**
   * The same messages as `media$`, but a payload may be lent: it is valid only while your
   * callback runs, and the library reuses its memory afterwards (copy what you keep; do not
   * hold it in an operator such as `bufferTime`). While nobody subscribes to `media$`, the
   * stream's connection reassembles media into reused buffers and allocates nothing per message:
   * the way to watch bitrate, frames or codecs, or to write the media somewhere, at the least cost.
   */
  readonly lentMedia$: Observable<MediaMessage>;
  /** The stream's status events and state changes. */
  readonly status$: Observable<StreamEvent>;
  /** Resolves when the stream stopped, ended or failed. */
  readonly done: Promise<StreamOutcome>;
  private resolveDone!: (o: StreamOutcome) => void;
  /** The stream's latest actor (kept once the supervisor forgets it: its final snapshot). */
  private ref: StreamSummary['ref'];
  private accepted = false;
  private settled = false;
  /** A publish's source failed (read or parse error): the outcome is `failed`, SOURCE_ERROR. */
  private sourceError: Error | undefined;
  /** The connection the stream was last placed on (the supervisor forgets it on failure). */
  private connectionId: string | undefined;
  /** Interrupted by a lost connection, not flowing again yet. */
  private resumePending = false;

  constructor(
    /** The stream name sent in play/publish. */
    readonly name: string,
    /**
     * The stream's key in the session: its name, or `<name>#2`, `#3`... when the session already
     * had a stream of that name open. Names its actor (`stream-<key>`), events and summary entry.
     */
    readonly key: string,
    readonly mode: 'play' | 'publish',
    private readonly session: Session,
    events$: Observable<StreamEvent>,
    /** @internal The play options as given. */
    readonly playOptions: ClientPlayOptions = {},
  ) {
    this.status$ = events$;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    const finished$ = from(this.done);
    this.media$ = session.router.sink(key).media$.pipe(map(withTracks), takeUntil(finished$));
    this.lentMedia$ = session.router.sink(key).lentMedia$.pipe(takeUntil(finished$));
    const sub = this.status$.subscribe((e) => {
      if (e.type === 'stream.state') {
        // Down (interrupted, retrying...): the next `flowing` is a resume.
        if (NET_STREAM_LIFECYCLE_OF[e.state] === 'down') this.resumePending = true;
        if (e.state === 'flowing' && this.resumePending) {
          // Media flows again after a reconnect: say so, as after a stall (the machine only
          // emits `stream.resumed` when a stall ends).
          this.resumePending = false;
          this.session.announce({
            type: 'stream.resumed',
            key,
            name,
            lastTimestamp: this.actor?.getSnapshot().context.lastTimestamp,
          });
        }
      }
      if (e.type === 'stream.resumed') this.resumePending = false;
      if (e.type === 'session.stream') {
        this.accepted = true;
        const summary = this.session.summary().streams[key];
        this.connectionId = summary?.connectionId ?? this.connectionId;
        if (e.state === 'stopped' || e.state === 'failed') this.settleFrom(e.state, summary);
      }
      // A refusal (limits, an explicit key already open) answers the request that caused it,
      // never a stream of the same key that the supervisor already accepted.
      if (e.type === 'session.error' && !this.accepted) {
        this.settle({
          key,
          name,
          mode,
          outcome: 'failed',
          reason: e.reason,
          cause: { kind: 'session', refusal: e.reason, message: e.message },
          message: e.message,
          ...(e.limit ? { limit: e.limit } : {}),
        });
      }
    });
    void this.done.then(() => sub.unsubscribe());
    if (mode === 'play') {
      // The machine decides when a silent play ends; it needs the duration onMetaData announces.
      const mediaSub = this.lentMedia$.subscribe((m) => {
        const ms = metadataDuration(m);
        if (ms !== undefined) (this.actor ?? this.ref)?.send({ type: 'STREAM.DURATION', ms });
      });
      void this.done.then(() => mediaSub.unsubscribe());
    }
  }

  /** @internal The supervisor spawned (or moved) the stream's actor. */
  attach(ref: NonNullable<StreamSummary['ref']>): void {
    this.ref = ref;
  }

  /** The stream machine's snapshot: its live actor's, or the last one's once it is gone. */
  private snapshot(): ReturnType<NonNullable<StreamSummary['ref']>['getSnapshot']> | undefined {
    const ref = this.actor ?? this.ref;
    if (ref) this.ref = ref;
    return ref?.getSnapshot();
  }

  /** The stream stopped or failed in the supervisor: what it says, with the failure's cause. */
  private settleFrom(state: 'stopped' | 'failed', summary: StreamSummary | undefined): void {
    const base = { key: this.key, name: this.name, mode: this.mode };
    if (this.sourceError) {
      this.settle({
        ...base,
        outcome: 'failed',
        reason: 'SOURCE_ERROR',
        cause: { kind: 'source', error: this.sourceError },
      });
      return;
    }
    if (state === 'stopped') {
      const ended = this.snapshot()?.context.endReason;
      this.settle({
        ...base,
        outcome: ended ? 'ended' : 'stopped',
        ...(ended ? { reason: ended as StreamOutcomeReason } : {}),
      });
      return;
    }
    const reason = summary?.reason as StreamOutcomeReason | undefined;
    let status = summary?.status;
    let cause: StreamFailureCause | undefined;
    if (reason === 'CONNECTION_FAILED') {
      cause = this.session.connectionCause(this.connectionId);
      if (!status && cause?.kind === 'status') status = cause.status;
    } else if (status) {
      cause = { kind: 'status', status };
    }
    this.settle({
      ...base,
      outcome: 'failed',
      ...(reason ? { reason } : {}),
      ...(status ? { status } : {}),
      ...(cause ? { cause } : {}),
      ...(summary?.lastReason ? { attempts: summary.attempt, lastReason: summary.lastReason } : {}),
      ...(summary?.limit
        ? {
            limit: summary.limit,
            message: `stream "${this.key}" refused: ${summary.limit.name} (${summary.limit.value}) reached`,
          }
        : {}),
    });
  }

  /** @internal Settles `done` (once). */
  settle(outcome: StreamOutcome): void {
    if (this.settled) return;
    this.settled = true;
    this.resolveDone(outcome);
  }

  /** @internal A publish's source failed: the stream stops and ends as failed (SOURCE_ERROR). */
  sourceFailed(error: Error): void {
    this.sourceError ??= error;
  }

  /** True once `done` resolved. */
  get finished(): boolean {
    return this.settled;
  }

  /** Video messages dropped by the 'dropToKeyframe' backpressure policy so far. */
  get dropped(): number {
    return this.session.router.sink(this.key).dropped;
  }

  /**
   * The stream machine's current state, as it last announced it (its snapshot's `announced`):
   * `retrying` from a transient failure until media flows again (the attempts' steps in between
   * are not named). `idle` until the stream's actor exists.
   */
  get state(): NetStreamStateName {
    return this.snapshot()?.context.announced ?? 'idle';
  }

  /** The stream's actor, once the supervisor spawned it. */
  get actor(): StreamSummary['ref'] {
    return this.session.summary().streams[this.key]?.ref;
  }

  /**
   * Writes the stream's media to an FLV file (or writable) until the stream ends (or `until`
   * settles); timestamps never go backwards across reconnects, and a live play's file starts at
   * 0 (`keepTimestamps` keeps the server's). Resolves with what was written.
   *
   * The file is created with the first media message: a play that fails before any media
   * leaves no file, one that ends without media leaves an FLV header. Rejects with an
   * `OutputError` when the file's folder cannot be written (at once) or a write fails (the
   * stream goes on; stop it if you wish). Never throws an unhandled error at the process.
   */
  async saveFlv(target: string | Writable, options: SaveFlvOptions = {}): Promise<FlvSaveResult> {
    if (typeof target === 'string') {
      const dir = path.dirname(path.resolve(target));
      try {
        // Synchronous: the media subscription below starts within this call, so a message that
        // arrives right after it (a live server's cached GOP) is in the file as in media$.
        accessSync(dir, fsConstants.W_OK);
      } catch (e) {
        throw new OutputError(
          'OPEN_FAILED',
          `cannot write ${target}: ${(e as Error).message}`,
          {
            path: target,
            errno: (e as NodeJS.ErrnoException).code,
          },
          { cause: e },
        );
      }
    }
    let sink: FlvFileSink | undefined;
    let failure: OutputError | undefined;
    let rejectFailure: (e: OutputError) => void = () => undefined;
    const failed = new Promise<never>((_, reject) => (rejectFailure = reject));
    failed.catch(() => undefined);
    const fail = (e: unknown): void => {
      if (failure) return;
      failure =
        e instanceof OutputError
          ? e
          : new OutputError(
              'WRITE_FAILED',
              `cannot write ${typeof target === 'string' ? target : 'the output'}: ${(e as Error)?.message ?? String(e)}`,
              {
                ...(typeof target === 'string' ? { path: target } : {}),
                errno: (e as NodeJS.ErrnoException)?.code,
              },
              { cause: e },
            );
      rejectFailure(failure);
    };
    const sub = this.session.router.sink(this.key);
    const cleanups: Array<() => void> = [];
    const open = (): FlvFileSink | undefined => {
      if (sink || failure) return sink;
      const s = new FlvFileSink(target, {
        startAtZero: options.keepTimestamps !== true && !this.isRecorded(),
        onError: fail,
      });
      sink = s;
      cleanups.push(sub.addBacklogSource(() => s.backlog()));
      cleanups.push(s.onDrain(() => sub.drained()));
      return s;
    };
    // Lent payloads: the sink copies each tag into its output blocks before it returns.
    const mediaSub = this.lentMedia$.subscribe((m) => open()?.write(m));
    const gapSub = this.status$.subscribe((e) => {
      // After a reconnect the server's timestamps start again: the next tag follows the last one.
      if (e.type === 'stream.state' && e.state === 'interrupted') sink?.markGap();
      // After a seek the server's timestamps start at the new position: never back in the file.
      // After a seek or an unpause the server's timestamps start at the position it moved to
      // (nginx-rtmp resumes from a keyframe, maybe an earlier one): never back in the file.
      if (e.type === 'stream.status' && SEEK_NOTICES.has(e.status.code)) sink?.markSeek();
    });
    let outcome: StreamOutcome | undefined;
    try {
      const ended = await Promise.race([
        this.done,
        (options.until ?? new Promise(() => undefined)).then(() => undefined),
        failed,
      ]);
      outcome = ended ?? undefined;
    } finally {
      mediaSub.unsubscribe();
      gapSub.unsubscribe();
      for (const c of cleanups) c();
    }
    // A play that did not fail leaves a file, an FLV header at least; a failed one only with media.
    if (outcome?.outcome !== 'failed') open();
    if (!sink) return { tags: 0, bytes: 0, audioTags: 0, videoTags: 0, lastTimestamp: 0, gaps: 0 };
    const result = await Promise.race([sink.close(), failed]);
    if (failure) throw failure;
    return result;
  }

  /** @internal A recorded play: asked for from a position (start >= 0) or the server said so. */
  isRecorded(): boolean {
    return (this.playOptions.start ?? -2) >= 0 || this.snapshot()?.context.recorded === true;
  }

  /** Refuses a pause/resume/seek of this stream now, or undefined when it may go ahead. */
  private controlRefusal(
    op: 'pause' | 'resume' | 'seek',
    allowed: NetStreamControlTag,
    code: StreamControlErrorCode,
  ): StreamControlError | undefined {
    const details = { key: this.key, state: this.state };
    if (this.mode !== 'play') {
      return new StreamControlError('NOT_A_PLAY', `${op}: "${this.key}" is a publish`, details);
    }
    if (this.settled || !this.actor) {
      return new StreamControlError(
        'STREAM_FINISHED',
        `${op}: "${this.key}" is ${this.settled ? 'finished' : 'not started'}`,
        details,
      );
    }
    if (!this.snapshot()?.hasTag(allowed)) {
      return new StreamControlError(code, `${op}: "${this.key}" is ${this.state}`, details);
    }
    return undefined;
  }

  /**
   * Pauses a play: sends `pause(true, <last media time>)`; the state reads `paused` and the
   * server stops sending (what was in flight still arrives). Resolves at once when already
   * paused. Rejects with a `StreamControlError` (NOT_A_PLAY, NOT_PLAYING while it is not
   * playing, e.g. seeking, or STREAM_FINISHED).
   */
  async pause(): Promise<void> {
    if (this.mode === 'play' && this.snapshot()?.hasTag('paused') && !this.settled) return;
    const refusal = this.controlRefusal('pause', 'playing', 'NOT_PLAYING');
    if (refusal) throw refusal;
    this.actor!.send({ type: 'STREAM.PAUSE' });
  }

  /**
   * Resumes a paused play: sends `pause(false, <last media time>)`; the state reads `flowing`.
   * Rejects with a `StreamControlError` (NOT_PAUSED when it is not paused, NOT_A_PLAY,
   * STREAM_FINISHED).
   */
  async resume(): Promise<void> {
    const refusal = this.controlRefusal('resume', 'paused', 'NOT_PAUSED');
    if (refusal) throw refusal;
    this.actor!.send({ type: 'STREAM.RESUME' });
  }

  /**
   * Seeks a recorded play to `ms`: sends `seek(ms)` and resolves with how it ended, a
   * `SeekResult`: `seeked` (Seek.Notify, then Play.Start/Play.Reset or media from the new
   * position), `refused` (Seek.Failed or Seek.InvalidTime in `status`; the stream plays on) or
   * `timeout` (no answer within `timeouts.seek`, default 10 s; the stream plays on), `ended`
   * (the play ended first: a seek past the end of a file on nginx-rtmp plays its last keyframe's
   * group, then Play.Complete) or `interrupted` (stopped, or the connection dropped). A refusal
   * is a result, not an error. Rejects with a `StreamControlError` only when nothing was sent:
   * BAD_POSITION, NOT_A_PLAY, STREAM_FINISHED, or NOT_PLAYING (paused: resume first; already
   * seeking; not started).
   */
  async seek(ms: number): Promise<SeekResult> {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new StreamControlError('BAD_POSITION', `seek: ${ms} is not a position (ms >= 0)`, {
        key: this.key,
        ms,
      });
    }
    const refusal = this.controlRefusal('seek', 'playing', 'NOT_PLAYING');
    if (refusal) throw refusal;
    const position = Math.round(ms);
    return new Promise<SeekResult>((resolve) => {
      let endReason: string | undefined;
      const sub = this.status$.subscribe((e) => {
        if (e.type === 'stream.seek') {
          sub.unsubscribe();
          resolve(e.result);
        } else if (e.type === 'stream.ended') {
          endReason = e.reason;
        } else if (e.type === 'stream.state' && e.state !== 'seeking') {
          // Left `seeking` without a result: the play ended, or was stopped or interrupted.
          sub.unsubscribe();
          resolve(
            endReason !== undefined
              ? { outcome: 'ended', requestedMs: position, endReason }
              : { outcome: 'interrupted', requestedMs: position, state: e.state },
          );
        }
      });
      this.actor!.send({ type: 'STREAM.SEEK', ms: position });
    });
  }

  /** Stops the stream (deleteStream, and FCUnpublish for a publish) and waits for the end. */
  async stop(): Promise<StreamOutcome> {
    if (!this.settled) this.session.actor.send({ type: 'SESSION.STOP_STREAM', key: this.key });
    return this.done;
  }
}

/** The `duration` (ms) of an onMetaData message, if it has one. */
function metadataDuration(m: MediaMessage): number | undefined {
  if (m.type !== 'Data') return undefined;
  const values = m.name === '@setDataFrame' ? m.values.slice(1) : m.values;
  if (values[0] !== 'onMetaData') return undefined;
  const meta = values[1];
  if (
    !meta ||
    typeof meta !== 'object' ||
    Array.isArray(meta) ||
    meta instanceof Date ||
    meta instanceof Uint8Array
  )
    return undefined;
  const d = (meta as Record<string, unknown>).duration;
  return typeof d === 'number' && d > 0 ? d * 1000 : undefined;
}

/** A publishing stream: the handle plus what was sent. */
export class PublishHandle extends StreamHandle {
  sent = { messages: 0, bytes: 0, lastTimestamp: 0 };
}

/**
 * The machine every session runs: the session supervisor with the NetConnection machine as its
 * `connection`, whose `transport` runs with the dependencies its session bound to the actor
 * system (`bindTransportDeps`). Built on first use, once per process: `.provide()` builds a whole
 * machine again, which a machine per session would pay in time and memory for each.
 */
let sessionMachine: typeof sessionSupervisorMachine | undefined;
function clientSessionMachine(): typeof sessionSupervisorMachine {
  return (sessionMachine ??= sessionSupervisorMachine.provide({
    actors: {
      connection: netConnectionMachine.provide({ actors: { transport: systemTransportLogic } }),
    },
  }));
}

/**
 * The public entry point: a session supervisor actor with real TCP/TLS transports provided.
 * `session.actor` is the XState actor itself (subscribe, inspect).
 */
export class Session {
  readonly actor: Actor<typeof sessionSupervisorMachine>;
  readonly router = new MediaRouter();
  readonly url: RtmpUrl;
  private readonly events = new Subject<SessionEvent>();
  /** Every event of the session and its streams, secrets (URL stream key, tokens) masked: safe to log. */
  readonly events$: Observable<SessionEvent>;
  /** Handles by stream key. */
  private readonly streams = new Map<string, StreamHandle>();
  /** Events by stream key, so that each handle sees only its own (no N x N fan-out). */
  private readonly keyed = new Map<string, Subject<StreamEvent>>();
  private readonly watched = new WeakSet<object>();
  private readonly subs: Array<{ unsubscribe(): void }> = [];
  private readonly secrets: string[];
  private closed?: Promise<void>;
  /** Bytes in and out over every connection of the session. */
  readonly bytes = { in: 0, out: 0 };
  /** Why connections failed (attempts, phases, socket errors): the causes of failed streams. */
  private readonly connectionLog = new ConnectionLog();

  constructor(readonly options: SessionOptions) {
    this.url = parseRtmpUrl(options.url, { app: options.app, tcUrl: options.tcUrl });
    this.secrets = secretsOf(options.url);
    this.events$ = this.events.pipe(map((e) => this.redact(e)));
    const target: TransportTarget = {
      protocol: this.url.protocol,
      host: this.url.host,
      port: this.url.port,
      tls:
        this.url.protocol === 'rtmps'
          ? {
              rejectUnauthorized: !options.insecure,
              servername: options.tls?.servername,
              ca: options.tls?.ca,
            }
          : undefined,
    };
    const transportInput: TransportInput = {
      target,
      connectTimeoutMs: options.timeouts?.transport,
      limits: options.limits,
      highWaterMark: options.highWaterMark,
      lowWaterMark: options.lowWaterMark,
      backpressure: options.backpressure,
      readBatchMs: options.readBatchMs,
      mediaTickMs: options.mediaTickMs,
    };
    const transportDeps: TransportDeps = {
      router: this.router,
      random: defaultRandom,
      onBytes: (i, o) => {
        this.bytes.in += i;
        this.bytes.out += o;
      },
      onError: this.connectionLog.onTransportError,
    };
    const connect: ConnectParams = {
      app: this.url.app,
      tcUrl: this.url.tcUrl,
      flashVer: options.flashVer ?? 'LNX 9,0,124,2',
      fpad: false,
      capabilities: 15,
      audioCodecs: 3191,
      videoCodecs: 252,
      videoFunction: 1,
      ...(options.pageUrl ? { pageUrl: options.pageUrl } : {}),
      ...(options.swfUrl ? { swfUrl: options.swfUrl } : {}),
      ...(options.enhancedRtmp !== false ? enhancedConnect() : {}),
      ...(options.connectArgs?.length || this.url.connArgs.length
        ? { args: [...this.url.connArgs, ...(options.connectArgs ?? [])] }
        : {}),
    } as ConnectParams;
    this.actor = createActor(clientSessionMachine(), {
      input: {
        connection: {
          transport: transportInput,
          connect,
          form: options.handshake ?? 'digest',
          chunkSize: options.chunkSize,
          timeouts: options.timeouts,
          retry: options.retry,
        },
        streamsPerConnection: options.streamsPerConnection ?? 'auto',
        maxStreams: options.maxStreams,
        maxConnections: options.maxConnections,
        streamTimeouts: options.timeouts,
        retarget: (connection, tcUrl) => this.retarget(connection, tcUrl),
      },
      inspect: (ev: InspectionEvent) => {
        this.connectionLog.inspect(ev);
        const user = options.inspect;
        if (typeof user === 'function') user(ev);
        else user?.next?.(ev);
      },
    });
    bindTransportDeps(this.actor.system, transportDeps);
    this.actor.on('*', (e) => this.publishEvent(e as SessionEvent));
    this.subs.push(
      this.actor.subscribe({
        next: (snapshot) =>
          this.watchChildren(snapshot.context.streams, snapshot.context.connections),
        error: (err) => this.events.error(err),
      }),
    );
    this.actor.start();
  }

  /**
   * A ReconnectRequest's tcUrl as connection options: the transport to its host and port (TLS
   * as configured, for rtmps), connect's tcUrl and app from it. Undefined when it is no RTMP URL.
   */
  private retarget(
    connection: SessionSupervisorInput['connection'],
    tcUrl: string,
  ): SessionSupervisorInput['connection'] | undefined {
    let url: RtmpUrl;
    try {
      url = parseRtmpUrl(tcUrl);
    } catch {
      return undefined;
    }
    const transport = connection.transport as TransportInput;
    const target: TransportTarget = {
      ...transport.target,
      protocol: url.protocol,
      host: url.host,
      port: url.port,
      tls:
        url.protocol === 'rtmps'
          ? {
              rejectUnauthorized: !this.options.insecure,
              servername: this.options.tls?.servername,
              ca: this.options.tls?.ca,
            }
          : undefined,
    };
    return {
      ...connection,
      transport: { ...transport, target },
      connect: { ...connection.connect, tcUrl: url.tcUrl, app: url.app },
    };
  }

  /** Stream key -> its switch in progress (ReconnectRequest). */
  private readonly switches = new Map<
    string,
    { switchover: Switchover; copyKey: string; cleanups: Array<() => void> }
  >();

  /**
   * A stream's copy started on the new connection: deliver the old stream until the copy's
   * first keyframe, then the copy (src/switchover.ts decides), and tell the supervisor.
   */
  private startSwitch(key: string, copyKey: string, oldSinkKey: string): void {
    this.stopSwitch(key, false);
    // A stream that moved before keeps forwarding from its previous copy until it ends.
    const previous = this.switches.get(key);
    const main = this.router.sink(key);
    const old = this.router.sink(oldSinkKey);
    const copy = this.router.sink(copyKey);
    // It starts from what the old stream delivered so far: the copy's first keyframe may well
    // come before the old stream's next frame (a server's cached GOP is sent at once).
    const switchover = new Switchover({ delivered: old.delivered() });
    const cleanups: Array<() => void> = previous
      ? [...previous.cleanups, () => this.router.delete(previous.copyKey)]
      : [];
    let reported = false;
    const report = (): void => {
      if (reported || switchover.phase !== 'switched') return;
      reported = true;
      this.actor.send({ type: 'SESSION.MIGRATED', key });
    };
    const emit = (m: MediaMessage): void => main.inject(m, false);
    old.gate = (m) => {
      const deliver = switchover.fromOld(m, emit);
      report();
      return deliver;
    };
    cleanups.push(() => {
      if (switchover.phase !== 'switched') old.gate = undefined;
    });
    const sub = copy.lentMedia$.subscribe((m) => {
      for (const x of switchover.fromNew(m)) main.inject(x, x === m);
      report();
    });
    cleanups.push(() => sub.unsubscribe());
    // The copy's backlog (a file being written) holds its socket like the stream's own.
    cleanups.push(copy.addBacklogSource(() => main.backlog()));
    cleanups.push(main.onDrain(() => copy.drained()));
    this.switches.set(key, { switchover, copyKey, cleanups });
    const handle = this.streams.get(key);
    void handle?.done.then(() => this.stopSwitch(key, true));
  }

  /** Ends a switch: abandoned (the copy is gone) or the stream ended (forget its sinks). */
  private stopSwitch(key: string, forget: boolean): void {
    const s = this.switches.get(key);
    if (!s) return;
    if (!forget && s.switchover.phase === 'switched') return;
    this.switches.delete(key);
    for (const c of s.cleanups) c();
    if (forget || s.switchover.phase !== 'switched') this.router.delete(s.copyKey);
  }

  /**
   * How the last ReconnectRequest switch of stream `key` went (switch point, timeline, offset,
   * duplicates dropped, repeats dropped, forced), once it happened, while the stream is open.
   */
  switchOutcome(key: string): SwitchResult | undefined {
    return this.switches.get(key)?.switchover.outcome;
  }

  private onMigration(e: Extract<SessionEvent, { type: 'session.migration' }>): void {
    // A publish switches in its pump (see `pump`); a play's media is switched here.
    if (this.streams.get(e.key)?.mode === 'publish') return;
    if (e.state === 'started' && e.copyKey) {
      this.startSwitch(e.key, e.copyKey, e.oldSinkKey ?? e.key);
    } else if (e.state === 'abandoned') {
      this.stopSwitch(e.key, false);
    }
  }

  /**
   * What the server of connection `connectionId` (default: the first one up) stated in its
   * connect `_result` about Enhanced RTMP v2: `capsEx` bits (reconnect, multitrack, modEx,
   * timestampNanoOffset), `fourCcList` and the FourCC info maps. `enhanced` is false for a
   * legacy server. Undefined until a connection is up.
   */
  serverCapabilities(connectionId?: string): ErtmpCapabilities | undefined {
    const connections = this.actor.getSnapshot().context.connections;
    if (connectionId !== undefined) return connections[connectionId]?.capabilities;
    for (const c of Object.values(connections)) if (c.capabilities) return c.capabilities;
    return undefined;
  }

  private publishEvent(e: SessionEvent): void {
    if (e.type === 'session.migration') this.onMigration(e);
    if ('key' in e && typeof e.key === 'string') this.keyed.get(e.key)?.next(e as StreamEvent);
    this.events.next(e);
  }

  private streamEvents(key: string): Subject<StreamEvent> {
    let subject = this.keyed.get(key);
    if (!subject) {
      subject = new Subject<StreamEvent>();
      this.keyed.set(key, subject);
    }
    return subject;
  }

  /**
   * The key of a new request of `name` (see `streamKeyFor`): taken are the keys of the
   * supervisor's open streams and of handles not finished yet.
   */
  private keyFor(name: string): string {
    const streams = this.actor.getSnapshot().context.streams;
    return streamKeyFor(name, (key) => {
      const handle = this.streams.get(key);
      if (handle && !handle.finished) return true;
      const s = streams[key];
      return s !== undefined && s.state !== 'failed';
    });
  }

  /** Registers a new handle under its key (unless an unfinished one holds it) and forgets it when done. */
  private track(handle: StreamHandle): void {
    const existing = this.streams.get(handle.key);
    if (!existing || existing.finished) this.streams.set(handle.key, handle);
    void handle.done.then(() => {
      if (this.streams.get(handle.key) !== handle) return;
      this.streams.delete(handle.key);
      this.keyed.delete(handle.key);
    });
  }

  /** Masks the URL's secrets (stream key, tokens, passwords) in an event meant for logs. */
  redact<T>(value: T): T {
    return this.secrets.length
      ? (JSON.parse(redactText(JSON.stringify(value), this.secrets)) as T)
      : value;
  }

  /** @internal Unredacted events, for the stream handles (keys must match). */
  get rawEvents$(): Observable<SessionEvent> {
    return this.events.asObservable();
  }

  /** @internal Publishes an event the client itself raises (resumed after reconnect, a source error). */
  announce(e: StreamEvent): void {
    this.publishEvent(e);
  }

  /** @internal Why connection `connectionId` failed, as a failed stream's `cause`. */
  connectionCause(connectionId: string | undefined): StreamFailureCause | undefined {
    return this.connectionLog.causeOf(connectionId, { host: this.url.host, port: this.url.port });
  }

  /** Refuses a request once the session is closed (or closing). */
  private assertOpen(mode: 'play' | 'publish', name: string): void {
    if (this.closed || this.actor.getSnapshot().status !== 'active') {
      throw new SessionError(
        'SESSION_CLOSED',
        `cannot ${mode} ${JSON.stringify(this.redact(name))}: the session is closed`,
        {
          mode,
          name: this.redact(name),
        },
      );
    }
  }

  private watchChildren(
    streams: Record<string, StreamSummary>,
    _connections: Record<string, ConnectionSummary>,
  ): void {
    for (const s of Object.values(streams)) {
      if (s.ref && !this.watched.has(s.ref)) {
        this.watched.add(s.ref);
        // The stream machine names its events by stream name; the key tells two of one name apart.
        const key = s.key;
        this.streams.get(key)?.attach(s.ref);
        s.ref.on('*', (e) => this.publishEvent({ ...e, key } as SessionEvent));
      }
    }
  }

  /** The URL with secrets (stream keys, tokens, passwords) masked: safe for logs. */
  get safeUrl(): string {
    return redactUrl(this.options.url);
  }

  /** Per-connection and per-stream state, from the supervisor's context. */
  summary(): {
    streams: Record<string, StreamSummary>;
    connections: Record<string, ConnectionSummary>;
    state: unknown;
  } {
    const snap = this.actor.getSnapshot();
    return {
      streams: snap.context.streams,
      connections: snap.context.connections,
      state: snap.value,
    };
  }

  /**
   * Plays a stream (default: the URL's playpath). Playing a name that is already open plays it
   * again as a stream of its own (its own actor, and a connection of its own where the server
   * wants one): the first handle's `key` is the name, the next ones' `<name>#2`, `<name>#3`...
   * Without `bufferMs`, a live play (start -1) asks for DEFAULT_LIVE_BUFFER_MS and any other
   * for DEFAULT_VOD_BUFFER_MS, so that servers pacing recorded streams by it send at full speed.
   * Throws a SessionError (SESSION_CLOSED) once the session is closed.
   */
  play(name: string = this.url.playpath, options: ClientPlayOptions = {}): StreamHandle {
    this.assertOpen('play', name);
    const { key: askedKey, ...play } = options;
    play.bufferMs ??= play.start === -1 ? DEFAULT_LIVE_BUFFER_MS : DEFAULT_VOD_BUFFER_MS;
    const key = askedKey ?? this.keyFor(name);
    const handle = new StreamHandle(name, key, 'play', this, this.streamEvents(key), options);
    this.track(handle);
    this.actor.send({ type: 'SESSION.PLAY', name, key, options: { play } });
    return handle;
  }

  /**
   * Publishes media: an FLV file path (paced in real time unless `realtime: false`, optionally
   * looped) or an observable of media messages. Resolves the handle's `done` when the source ends
   * and the stream is stopped. Like `play`, a name already open gets the key `<name>#2`...
   * A file that cannot be read or is not an FLV fails the stream at once (nothing is sent);
   * one that breaks later (or an observable that errors) stops it: either way `done` resolves
   * `failed` with reason SOURCE_ERROR and the error as `cause`. Throws a SessionError
   * (SESSION_CLOSED) once the session is closed.
   */
  publish(
    name: string = this.url.playpath,
    source: string | Observable<MediaMessage>,
    options: PublishOptions & FlvSourceOptions & StreamKeyOptions = {},
  ): PublishHandle {
    this.assertOpen('publish', name);
    const key = options.key ?? this.keyFor(name);
    const handle = new PublishHandle(name, key, 'publish', this, this.streamEvents(key));
    this.track(handle);
    // A file that cannot be read, or is not an FLV, fails the stream before anything is sent.
    const problem = typeof source === 'string' ? flvFileProblem(source) : undefined;
    if (problem) {
      handle.sourceFailed(problem);
      this.announce({ type: 'stream.error', key, name, reason: 'SOURCE_ERROR' });
      handle.settle({
        key,
        name,
        mode: 'publish',
        outcome: 'failed',
        reason: 'SOURCE_ERROR',
        cause: { kind: 'source', error: problem },
      });
      return handle;
    }
    const media$ =
      typeof source === 'string'
        ? flvFileSource(source, options, () => {
            const w = this.router.writer(key);
            return w && w.queued() > 4 * 1024 * 1024 ? w.drained() : undefined;
          })
        : source;
    this.actor.send({
      type: 'SESSION.PUBLISH',
      name,
      key,
      options: {
        publish: {
          type: options.type,
          releaseStream: options.releaseStream ?? true,
          fcPublish: options.fcPublish ?? true,
        },
      },
    });
    void this.pump(handle, media$);
    return handle;
  }

  /**
   * Feeds a publishing stream. Media goes out only while the server has the stream published:
   * from `NetStream.Publish.Start` (the stream turns active) until the stream is interrupted or
   * stops. The source is subscribed at the first Publish.Start, so a paced file starts on time
   * and `@setDataFrame` and the sequence headers go first. After a reconnect, the last
   * metadata and sequence headers are sent again before anything else, and video waits for the
   * next keyframe (live semantics: what came in while the stream was down is dropped). When the
   * source ends the stream stops; when the stream drains (STREAM.STOP), the socket's queue is
   * flushed before STREAM.DRAINED. A ReconnectRequest moves the publish make-before-break: once
   * its copy is accepted on the new connection, the output switches at the next video keyframe
   * (the copy gets the last metadata and sequence headers first), and SESSION.MIGRATED tells the
   * supervisor, which closes the old connection (src/publishSwitch.ts decides where each
   * message goes).
   */
  private async pump(handle: PublishHandle, media$: Observable<MediaMessage>): Promise<void> {
    const key = handle.key;
    let startSub: { unsubscribe(): void } | undefined;
    const started = await new Promise<boolean>((resolve) => {
      startSub = handle.status$.subscribe((e) => {
        if (e.type === 'session.stream' && e.state === 'active') resolve(true);
      });
      void handle.done.then(() => resolve(false));
    });
    startSub?.unsubscribe();
    if (!started) return;
    /** The key the stream's writer is attached under: its own, or its copy's once it moved. */
    let sinkKey = key;
    let writer: MediaWriter | undefined = this.router.writer(sinkKey);
    let needHeaders = false;
    /**
     * A ReconnectRequest moving the publish (src/publishSwitch.ts decides where each message
     * goes); `writer` is the copy's, once its publish is accepted.
     */
    let move: { sw: PublishSwitch; copyKey: string; writer?: MediaWriter } | undefined;
    /** The switch was reported (SESSION.MIGRATED): the `active` that follows is the copy's. */
    let adopting = false;
    /** The source sent video (a move then switches at a video keyframe). */
    let sourceHasVideo = false;
    /** After a (re)start, video resumes on a keyframe (live semantics). */
    const keyframeGate = new KeyframeGate();
    let sourceSub: { unsubscribe(): void } | undefined;
    // The last metadata and codec configuration of each track, to send again after a reconnect.
    const headers = new Map<string, MediaMessage>();
    const send = (w: MediaWriter, m: MediaMessage): void => {
      w.write(m);
      handle.sent.messages++;
      handle.sent.bytes += m.type === 'Data' ? 0 : m.payload.byteLength;
      handle.sent.lastTimestamp = m.timestamp;
    };
    const draining = async (): Promise<void> => {
      sourceSub?.unsubscribe();
      await writer?.drained();
      handle.actor?.send({ type: 'STREAM.DRAINED' });
    };
    const statusSub = handle.status$.subscribe((e) => {
      if (e.type === 'session.migration' && e.state === 'started' && e.copyKey) {
        const m = {
          sw: new PublishSwitch({ sawVideo: sourceHasVideo }),
          copyKey: e.copyKey,
        } as NonNullable<typeof move>;
        move = m;
        void this.router.nextWriter(e.copyKey).then((w) => {
          if (move !== m) return;
          m.writer = w;
          m.sw.copyReady();
        });
      } else if (e.type === 'session.migration' && e.state === 'abandoned') {
        // The copy is gone: forget its sink and the wait for its writer.
        if (move) this.router.delete(move.copyKey);
        move = undefined;
      } else if (e.type === 'session.stream' && e.state === 'active' && adopting) {
        // The stream now is its copy, which the pump switched to at a keyframe already.
        adopting = false;
      } else if (e.type === 'session.stream' && e.state === 'active') {
        writer = this.router.writer(sinkKey);
        needHeaders = true;
        keyframeGate.close();
      } else if (e.type === 'stream.state' && e.state === 'draining') {
        // A stopping publish does not move: it drains where it is.
        move = undefined;
        void draining();
      } else if (e.type === 'stream.state' && NET_STREAM_LIFECYCLE_OF[e.state] !== 'up') {
        // The server has no publish of ours now (being set up again, interrupted, stopping).
        writer = undefined;
      }
    });
    await new Promise<void>((resolve) => {
      sourceSub = media$.subscribe({
        next: (m) => {
          const header = headerKeys(m);
          if (header) for (const k of header) headers.set(k, m);
          if (m.type === 'Video') sourceHasVideo = true;
          const route = move?.sw.route(m) ?? 'old';
          if (route === 'switch' && move?.writer) {
            // The switch point: the copy gets the headers, then this keyframe, then the rest.
            sinkKey = move.copyKey;
            writer = move.writer;
            needHeaders = true;
          }
          const w = writer;
          if (!w) return; // interrupted: drop until the stream is back (live semantics)
          if (needHeaders) {
            needHeaders = false;
            const metadata = headers.get('metadata');
            const configs = new Set([...headers.values()].filter((h) => h !== metadata));
            for (const h of [metadata, ...configs])
              if (h && h !== m) send(w, { ...h, timestamp: m.timestamp });
          }
          if (!header && !keyframeGate.admit(m)) return;
          send(w, m);
          if (route === 'switch') {
            move = undefined;
            adopting = true;
            this.actor.send({ type: 'SESSION.MIGRATED', key });
          }
        },
        error: (err: unknown) => {
          // A file that breaks (or any source that errors) ends the stream as failed, with it.
          const error = err instanceof Error ? err : new Error(String(err));
          handle.sourceFailed(error);
          this.announce({ type: 'stream.error', key, name: handle.name, reason: 'SOURCE_ERROR' });
          resolve();
        },
        complete: () => resolve(),
      });
      void handle.done.then(() => resolve());
    });
    const stoppedMeanwhile = await Promise.race([
      handle.done.then(() => true),
      Promise.resolve(false),
    ]);
    if (!stoppedMeanwhile) {
      await writer?.drained();
      this.actor.send({ type: 'SESSION.STOP_STREAM', key });
      await handle.done;
    }
    sourceSub?.unsubscribe();
    statusSub.unsubscribe();
  }

  /** Stops every stream (deleteStream), closes every connection, and waits for the supervisor. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = new Promise<void>((resolve) => {
        const done = (): void => {
          for (const s of this.subs) s.unsubscribe();
          this.events.complete();
          resolve();
        };
        if (this.actor.getSnapshot().status !== 'active') return done();
        const sub = this.actor.subscribe({ complete: () => done(), error: () => done() });
        this.subs.push(sub);
        this.actor.send({ type: 'SESSION.CLOSE' });
      }).then(() => {
        this.actor.stop();
      });
    }
    return this.closed;
  }
}

/** Creates a session (the supervisor actor, started). */
export function createSession(options: SessionOptions): Session {
  return new Session(options);
}
