/**
 * One RTMP NetStream (play or publish) as a statechart, one actor per stream. It asks its
 * NetConnection for a message stream (NC.CREATE_STREAM), sends play (with SetBufferLength) or
 * publish, follows onStatus, watches media ticks for stalls, and tears the stream down with
 * deleteStream. A lost connection parks it in `interrupted` until NC.RESTORED, when it creates
 * the stream again (recorded play resumes from the last media time).
 *
 * Transient failures (createStream or play timing out, no first frame, `Play.Failed`, a live
 * watch's `StreamNotFound`, and a kept-watching live stream that ends) go to `retrying` when the
 * stream's retry policy allows (`isRetryable`): it deletes the old message stream, waits
 * `retryBackoff` (exponential, capped, jittered by the injected `random`), and creates the
 * stream again, until `canRetry` says the attempts are spent. Media resets the count. While it
 * retries, its public state reads `retrying` (the attempts' `creating`/`requesting` are not
 * announced), so an hour-long outage shows one steady state.
 *
 * The public API listens to the emitted `stream.*` events (actor.on('stream.status', ...)).
 */
import {
  and,
  assign,
  emit,
  enqueueActions,
  sendTo,
  setup,
  type AnyActorRef,
  type SnapshotFrom,
} from 'xstate';
import {
  buildCloseStream,
  buildDeleteStream,
  buildFcPublish,
  buildFcUnpublish,
  buildPause,
  buildPlay,
  buildPublish,
  buildReleaseStream,
  buildSeek,
  readStatus,
  StatusCode,
  type PublishType,
} from '../src/protocol/message/commands';
import type { RtmpMessage } from '../src/protocol/message/types';
import type {
  ConnectionNotice,
  ConnectionReply,
  ConnectionRequest,
  StatusReply,
  StreamFailureReason,
  StreamLimit,
  StreamNotification,
  StreamRetryReason,
  TransportEvent,
} from './contract';
import { DEFAULT_VOD_IDLE_MS } from './contract';
import { retryDelay } from './netConnectionMachine';

export type StreamMode = 'play' | 'publish';

/**
 * A stream actor's notification to its parent, with the key the parent knows it by (its name,
 * unless the parent plays or publishes the same name more than once and gave it another key).
 */
export type NetStreamNotification = StreamNotification & { key: string };

export interface PlayOptions {
  /** -2 live or recorded (default), -1 live only, >= 0 recorded from this many ms. */
  start?: number;
  /** -1 to the end (default). */
  duration?: number;
  /** Flush previous playlists. */
  reset?: boolean;
  /** SetBufferLength sent with play, in ms. Default 3000 (FFmpeg's; nginx-rtmp paces VOD by it). */
  bufferMs?: number;
  /**
   * Keep watching a live stream: when it ends (UnpublishNotify, Play.Stop, StreamEOF), is not
   * found (StreamNotFound), sends no media within `timeouts.firstFrame`, or a step times out,
   * the stream goes to `retrying` and plays again after a backoff, for ever unless `retry`
   * sets `maxAttempts`. Permanent refusals (BadName, authorization, `retry.permanentCodes`)
   * still end it in `failed`. Default false.
   */
  keepWatching?: boolean;
  /**
   * How transient failures are retried. Default: `maxAttempts` 1 (no retry), or unlimited with
   * `keepWatching`; backoff `baseMs` 1000 doubling up to `maxMs` 30 000.
   */
  retry?: Partial<StreamRetryPolicy>;
  /**
   * End the play (`stream.ended`, reason IDLE_TIMEOUT) when no media arrived for this long (ms)
   * since Play.Start, the last media, or a resume/seek: servers drop end-of-stream messages
   * (nginx-rtmp under a VOD burst), so a recorded play must not wait for `Play.Stop` forever.
   * Once a recorded play's media reached the duration its onMetaData announced
   * (`STREAM.DURATION`), DURATION_GRACE_MS of silence (or this, if shorter) ends it with reason
   * DURATION_REACHED. Default DEFAULT_VOD_IDLE_MS for a recorded play (start >= 0, or the server
   * sent StreamIsRecorded), never for a live one (its silence is a stall: `stalled`, and
   * `keepWatching` for more). 0 turns it off. A paused, seeking or retrying play never idles.
   */
  endOnIdleMs?: number;
}

/** How a stream retries its transient failures (a state `retrying` between attempts). */
export interface StreamRetryPolicy {
  /**
   * Attempts in a row (the first included) before `failed` with RETRIES_EXHAUSTED. 1: no retry.
   * `Infinity`: never give up. Media arriving starts the count over.
   */
  maxAttempts: number;
  /** Backoff before the second attempt (ms); doubles each attempt. */
  baseMs: number;
  /** Largest backoff (ms). */
  maxMs: number;
  /** onStatus codes the caller holds permanent: never retried (BadName and authorization never are). */
  permanentCodes: readonly string[];
}

export interface PublishOptions {
  /** live (default), record or append. */
  type?: PublishType;
  /** Send releaseStream(name) before createStream, as FMLE, FFmpeg and OBS do. */
  releaseStream?: boolean;
  /** Send FCPublish(name) before createStream and FCUnpublish(name) when stopping. */
  fcPublish?: boolean;
}

export interface NetStreamTimeouts {
  /** NC.CREATE_STREAM until STREAM.CREATED. */
  create: number;
  /** play/publish until Play.Start / Publish.Start. */
  start: number;
  /** From Play.Start until the first media tick. */
  firstFrame: number;
  /** No media tick for this long while flowing: stalled. */
  stall: number;
  /** Publish: STREAM.STOP until the runtime says the queue is flushed (STREAM.DRAINED). */
  drain: number;
  /** Publish: FCUnpublish/deleteStream until Unpublish.Success. */
  stop: number;
  /** Play: seek until Seek.Notify and then Play.Start/Play.Reset or the first media after it. */
  seek: number;
}

export interface NetStreamInput {
  /** The stream name sent in play/publish. */
  name: string;
  /** What the owner calls this stream (its notifications carry it). Default `name`. */
  key?: string;
  mode: StreamMode;
  play?: PlayOptions;
  publish?: PublishOptions;
  /** The NetConnection actor this stream lives on. */
  connection: AnyActorRef;
  /** Key of the media sink the transport routes this stream's media to. Default `key`. */
  sinkKey?: string;
  timeouts?: Partial<NetStreamTimeouts>;
  /** Uniform random number in [0, 1) for the retry backoff jitter. Default Math.random. */
  random?: () => number;
}

/**
 * How a play that hears nothing more ends: its reason and the silence (ms, since the last media,
 * Play.Start or a resume) after which it ends.
 */
export interface SilentEnd {
  reason: 'IDLE_TIMEOUT' | 'DURATION_REACHED';
  ms: number;
}

/** A transient failure being retried: what the `retrying` state announces. */
export interface StreamRetry {
  /** Failed attempts in a row so far (1 after the first failure). */
  attempt: number;
  /** `maxAttempts` of the policy (Infinity: no limit). */
  maxAttempts: number;
  reason: StreamRetryReason;
  /** The server's status, for a refusal or an end of play. */
  status?: StatusReply;
  /** The end-of-play code (UnpublishNotify, Play.Stop, StreamEOF) when the reason is ENDED. */
  endReason?: string;
  /** The backoff before the next attempt (ms). */
  delayMs: number;
}

/**
 * How a seek ended. `seeked`: the server moved (Seek.Notify, then Play.Start/Play.Reset or
 * media). `refused`: Seek.Failed or Seek.InvalidTime (`status` says which); the stream plays on
 * from where it was. `timeout`: no answer within `timeouts.seek`; the stream plays on.
 * Only `handle.seek()` says the last two (the machine's `stream.seek` event never does):
 * `ended`, the play ended before the seek did (`endReason`; nginx-rtmp answers a seek past the
 * end by playing the last keyframe's group and Play.Complete); `interrupted`, the stream left
 * `seeking` another way (`state`: the connection dropped, it was stopped...).
 */
export type SeekOutcome = 'seeked' | 'refused' | 'timeout' | 'ended' | 'interrupted';

/** What a seek came to (the `stream.seek` event, and what `handle.seek()` resolves with). */
export interface SeekResult {
  outcome: SeekOutcome;
  /** The position asked for (ms). */
  requestedMs: number;
  /** The server's status that settled it: Seek.Notify, Play.Start/Reset, or the refusal. */
  status?: StatusReply;
  /** `ended`: why the play ended (e.g. NetStream.Play.Complete). */
  endReason?: string;
  /** `interrupted`: the state the stream went to instead. */
  state?: NetStreamStateName;
}

/** Why a stream ended in `failed`, with the attempts it made when they ran out. */
export interface NetStreamFailure {
  reason: StreamFailureReason;
  status?: StatusReply;
  /** RETRIES_EXHAUSTED: how many attempts were made. */
  attempts?: number;
  /** RETRIES_EXHAUSTED: the last attempt's failure. */
  lastReason?: StreamRetryReason;
  /** MAX_CONNECTIONS: the session limit that left no connection to move to. */
  limit?: StreamLimit;
}

/**
 * The states a stream announces in `stream.state` events (`handle.state`): each names one state
 * of the machine (checked at compile time against NetStreamStateKey, and at load).
 */
export const NET_STREAM_STATE_NAMES = [
  'idle',
  'creating',
  'requesting',
  'awaitingFirstFrame',
  'flowing',
  'stalled',
  'paused',
  'seeking',
  'publishing',
  'draining',
  'interrupted',
  'retrying',
  'relocating',
  'stopping',
  'stopped',
  'failed',
] as const;

/** A state a stream announces in `stream.state` events (`handle.state`). */
export type NetStreamStateName = (typeof NET_STREAM_STATE_NAMES)[number];

/**
 * Where a stream is in its life, as a state tag (`snapshot.hasTag('down')`): every state has
 * exactly one, on itself or an ancestor. `setup`: asking the server for the stream (createStream,
 * play/publish, a move). `up`: the server has it (Play.Start/Publish.Start came): media flows, is
 * awaited, paused or stalled. `down`: not on the server now (not started, interrupted, between
 * retries, ending, stopped). `failed`: failed for good.
 */
export type NetStreamLifecycle = 'setup' | 'up' | 'down' | 'failed';

/** Every lifecycle tag, in order. */
export const NET_STREAM_LIFECYCLES: readonly NetStreamLifecycle[] = [
  'setup',
  'up',
  'down',
  'failed',
];

/** What a play accepts now, as a state tag: pause and seek (`playing`), resume (`paused`). */
export type NetStreamControlTag = 'playing' | 'paused';

/** The netStream machine's state tags (typed: `snapshot.hasTag` takes only these). */
export type NetStreamTag = NetStreamLifecycle | NetStreamControlTag;

export interface NetStreamContext {
  name: string;
  key: string;
  mode: StreamMode;
  play: Required<Pick<PlayOptions, 'start' | 'duration' | 'bufferMs'>> & { reset?: boolean };
  publish: Required<PublishOptions>;
  connection: AnyActorRef;
  sinkKey: string;
  timeouts: NetStreamTimeouts;
  /** The message stream id the connection gave us (undefined until created). */
  streamId: number | undefined;
  /** Media time (ms) of the last tick: where a recorded play resumes. */
  lastTimestamp: number | undefined;
  /** The server said the stream is recorded (StreamIsRecorded). */
  recorded: boolean;
  /** The last status the server sent. */
  status: StatusReply | undefined;
  failure: NetStreamFailure | undefined;
  /** Why playback ended, when it did. */
  endReason: string | undefined;
  /** How often the stream was created again after an interruption. */
  resumes: number;
  keepWatching: boolean;
  retryPolicy: StreamRetryPolicy;
  random: () => number;
  /** Failed attempts in a row (0 while the first attempt, or one after media, is under way). */
  attempt: number;
  /** The transient failure being retried. */
  retry: StreamRetry | undefined;
  /** The last state announced in a `stream.state` event. */
  announced: NetStreamStateName;
  /** The position (ms) of the seek under way. */
  seekTarget: number | undefined;
  /** The last status of the seek under way (Seek.Notify, Play.Start/Reset). */
  seekStatus: StatusReply | undefined;
  /** PlayOptions.endOnIdleMs as given (undefined: the default for the play's kind). */
  endOnIdleMs: number | undefined;
  /** The media's duration (ms) from its onMetaData, as the runtime reported it (STREAM.DURATION). */
  durationMs: number | undefined;
  /**
   * The silent end of the wait under way (`silentEnd` when it started: Play.Start, the last media,
   * a resume): its timers and guards read this, so what arrives meanwhile (StreamIsRecorded,
   * STREAM.DURATION) counts from the next wait on.
   */
  silentDeadline: SilentEnd | undefined;
}

export type NetStreamEvent =
  | { type: 'STREAM.START' }
  | { type: 'STREAM.STOP' }
  | { type: 'STREAM.PAUSE' }
  | { type: 'STREAM.RESUME' }
  /** Play: seek to this position (ms); answered by a `stream.seek` event. */
  | { type: 'STREAM.SEEK'; ms: number }
  /** Publish: the runtime flushed the media queued before STREAM.STOP. */
  | { type: 'STREAM.DRAINED' }
  /** Play: the media's onMetaData announced this duration (ms); the runtime reads it. */
  | { type: 'STREAM.DURATION'; ms: number }
  | ConnectionReply
  | ConnectionNotice
  | Extract<TransportEvent, { type: 'RTMP.MESSAGE' | 'MEDIA.TICK' }>;

/** Events for the public API (`actor.on(type, listener)`). */
export type NetStreamEmitted =
  | {
      type: 'stream.state';
      name: string;
      state: NetStreamStateName;
      /** With `retrying`: the attempt, its reason and the backoff. */
      retry?: StreamRetry;
    }
  | { type: 'stream.status'; name: string; status: StatusReply }
  | {
      type: 'stream.error';
      name: string;
      reason: StreamFailureReason;
      status?: StatusReply;
      attempts?: number;
      lastReason?: StreamRetryReason;
      limit?: StreamLimit;
    }
  | { type: 'stream.stall'; name: string; lastTimestamp: number | undefined }
  | { type: 'stream.resumed'; name: string; lastTimestamp: number | undefined }
  | { type: 'stream.ended'; name: string; reason: string }
  | { type: 'stream.seek'; name: string; result: SeekResult };

export interface NetStreamOutput {
  name: string;
  outcome: 'stopped' | 'failed';
  failure: NetStreamContext['failure'];
  endReason: string | undefined;
  lastTimestamp: number | undefined;
}

export const DEFAULT_NET_STREAM_TIMEOUTS: Readonly<NetStreamTimeouts> = Object.freeze({
  create: 10_000,
  start: 10_000,
  firstFrame: 15_000,
  stall: 5_000,
  drain: 5_000,
  stop: 2_000,
  seek: 10_000,
});

/** PlayOptions.endOnIdleMs of a recorded play unless its options say otherwise (see contract). */
export { DEFAULT_VOD_IDLE_MS };
/** Once a recorded play's media reached its metadata duration, this much silence ends it (ms). */
export const DURATION_GRACE_MS = 1000;
/** How close (ms) to the metadata duration the last media must be to count as the end of the file. */
export const DURATION_TOLERANCE_MS = 500;
/**
 * The delay of a deadline that is off: the longest a timer waits (2^31 - 1 ms, about 24.8 days).
 * Its transition's guard stays false, so it never acts even then.
 */
export const NO_DEADLINE_MS = 2 ** 31 - 1;

/**
 * How and when a play with this context ends on silence, or undefined when it never does (live,
 * or endOnIdleMs 0). The one rule, used by the machine's delays and guards.
 */
export function silentEnd(
  context: Pick<
    NetStreamContext,
    'mode' | 'recorded' | 'endOnIdleMs' | 'durationMs' | 'lastTimestamp'
  >,
): SilentEnd | undefined {
  if (context.mode !== 'play') return undefined;
  const limit = context.endOnIdleMs ?? (context.recorded ? DEFAULT_VOD_IDLE_MS : 0);
  if (!(limit > 0)) return undefined;
  const { durationMs, lastTimestamp } = context;
  if (
    context.recorded &&
    durationMs !== undefined &&
    lastTimestamp !== undefined &&
    lastTimestamp >= durationMs - DURATION_TOLERANCE_MS
  ) {
    return { reason: 'DURATION_REACHED', ms: Math.min(limit, DURATION_GRACE_MS) };
  }
  return { reason: 'IDLE_TIMEOUT', ms: limit };
}

/** Attempts of a kept-watching live play: no limit (the backoff is capped instead). */
export const KEEP_WATCHING_MAX_ATTEMPTS = Number.POSITIVE_INFINITY;

/** A stream's retry policy unless its options say otherwise: no retry. */
export const DEFAULT_STREAM_RETRY_POLICY: Readonly<StreamRetryPolicy> = Object.freeze({
  maxAttempts: 1,
  baseMs: 1_000,
  maxMs: 30_000,
  permanentCodes: [],
});

/** The retry policy of a stream with these play options. */
export function streamRetryPolicy(play: PlayOptions | undefined): StreamRetryPolicy {
  const base = play?.keepWatching
    ? { ...DEFAULT_STREAM_RETRY_POLICY, maxAttempts: KEEP_WATCHING_MAX_ATTEMPTS }
    : DEFAULT_STREAM_RETRY_POLICY;
  return { ...base, ...(play?.retry ?? {}) };
}

const AUTHORIZATION = /auth|forbidden|denied|unauthori[sz]ed|not allowed/i;

/**
 * A refusal no retry can change: a code the caller marked permanent, a bad name, or an
 * authorization refusal (named so in its code or description).
 */
export function isPermanentRefusal(
  status: StatusReply | undefined,
  permanentCodes: readonly string[] = [],
): boolean {
  if (!status) return false;
  if (permanentCodes.includes(status.code)) return true;
  if (/\.BadName$/.test(status.code)) return true;
  return AUTHORIZATION.test(`${status.code} ${status.description ?? ''}`);
}

/**
 * Whether a refusal may clear up by itself: `Play.Failed` always, `StreamNotFound` when the
 * caller keeps watching a live stream (its publisher may come). Everything else is permanent.
 */
export function isTransientRefusal(
  status: StatusReply | undefined,
  watch: { keepWatching: boolean; live: boolean; permanentCodes?: readonly string[] },
): boolean {
  if (!status || isPermanentRefusal(status, watch.permanentCodes)) return false;
  if (status.code === StatusCode.PlayFailed) return true;
  if (status.code === StatusCode.PlayStreamNotFound) return watch.keepWatching && watch.live;
  return false;
}

const END_OF_PLAY = new Set<string>([
  StatusCode.PlayStop,
  StatusCode.PlayComplete,
  StatusCode.PlayUnpublishNotify,
]);

/** A seek the server refused: the stream plays on from where it was. */
const SEEK_REFUSALS = new Set<string>([StatusCode.SeekFailed, StatusCode.SeekInvalidTime]);

const START_CODES: Record<StreamMode, Set<string>> = {
  play: new Set<string>([StatusCode.PlayStart, StatusCode.PlayReset]),
  publish: new Set<string>([StatusCode.PublishStart]),
};

function statusOf(message: RtmpMessage): StatusReply | undefined {
  const info = readStatus(message);
  if (!info) return undefined;
  const out: StatusReply = { level: info.level, code: info.code };
  if (typeof info.description === 'string') out.description = info.description;
  return out;
}

function messageOf(event: NetStreamEvent): RtmpMessage | undefined {
  return event.type === 'RTMP.MESSAGE' ? event.message : undefined;
}

/** A refusal: StreamNotFound, BadName, Play.Failed, or any status with level 'error'. */
export function isRefusalStatus(status: StatusReply | undefined): boolean {
  if (!status) return false;
  // A refused seek (level 'error') leaves the stream playing where it was.
  if (SEEK_REFUSALS.has(status.code)) return false;
  return (
    status.level === 'error' ||
    status.code === StatusCode.PlayStreamNotFound ||
    status.code === StatusCode.PublishBadName ||
    status.code === StatusCode.PlayFailed
  );
}

/** The reason playback ended, or undefined when `message` does not end it. */
export function endOfPlay(message: RtmpMessage | undefined): string | undefined {
  if (!message) return undefined;
  if (message.type === 'UserControl' && message.event === 'StreamEOF') return 'StreamEOF';
  const status = statusOf(message);
  if (status && END_OF_PLAY.has(status.code)) return status.code;
  return undefined;
}

const command = (message: RtmpMessage): ConnectionRequest => ({ type: 'NC.SEND', message });

/** An attempt's steps, not announced while the stream reads `retrying` (no flapping). */
const QUIET_WHILE_RETRYING: ReadonlySet<NetStreamStateName> = new Set([
  'creating',
  'requesting',
  'awaitingFirstFrame',
]);

/** A live watch: a play that is not (known to be) of a recorded stream. */
function isLiveWatch(context: NetStreamContext): boolean {
  return context.mode === 'play' && context.play.start < 0 && !context.recorded;
}

export const netStreamMachine = setup({
  types: {
    context: {} as NetStreamContext,
    events: {} as NetStreamEvent,
    input: {} as NetStreamInput,
    output: {} as NetStreamOutput,
    emitted: {} as NetStreamEmitted,
    tags: {} as NetStreamTag,
  },
  actions: {
    emitState: enqueueActions(({ context, enqueue }, params: { state: NetStreamStateName }) => {
      if (context.announced === 'retrying' && QUIET_WHILE_RETRYING.has(params.state)) return;
      enqueue.assign({ announced: params.state });
      enqueue.emit({ type: 'stream.state', name: context.name, state: params.state });
    }),
    /** A transient failure: count the attempt and remember why (and the server's status). */
    recordRetry: enqueueActions(
      ({ context, event, enqueue }, params: { reason: StreamRetryReason }) => {
        const message = messageOf(event);
        const status = message ? statusOf(message) : undefined;
        const endReason = params.reason === 'ENDED' ? endOfPlay(message) : undefined;
        const attempt = context.attempt + 1;
        const retry: StreamRetry = {
          attempt,
          maxAttempts: context.retryPolicy.maxAttempts,
          reason: params.reason,
          ...(status ? { status } : {}),
          ...(endReason ? { endReason } : {}),
          delayMs: 0,
        };
        enqueue.assign({ attempt, retry });
        if (status) {
          enqueue.assign({ status });
          enqueue.emit({ type: 'stream.status', name: context.name, status });
        }
      },
    ),
    /** The backoff before the next attempt: exponential, capped at maxMs, jittered. */
    scheduleRetry: assign({
      retry: ({ context }) =>
        context.retry && {
          ...context.retry,
          delayMs: retryDelay(
            context.attempt,
            {
              maxAttempts: context.retryPolicy.maxAttempts,
              baseMs: context.retryPolicy.baseMs,
              maxMs: context.retryPolicy.maxMs,
            },
            context.random,
          ),
        },
    }),
    announceRetry: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ announced: 'retrying' });
      enqueue.emit({
        type: 'stream.state',
        name: context.name,
        state: 'retrying',
        ...(context.retry ? { retry: context.retry } : {}),
      });
    }),
    /** Media arrived (or a publish started): the next failure is the first of a new series. */
    resetRetries: assign({ attempt: 0, retry: undefined }),
    /** The first media after retries: the owner hears that the stream is active again. */
    notifyRecovered: enqueueActions(({ context, enqueue, self }) => {
      if (context.announced !== 'retrying' || !self._parent) return;
      enqueue.sendParent({
        type: 'STREAM.ACTIVE',
        key: context.key,
        name: context.name,
        streamId: context.streamId ?? 0,
      } satisfies NetStreamNotification);
    }),
    recordRetriesExhausted: enqueueActions(({ context, enqueue }) => {
      const last = context.retry;
      const failure: NetStreamFailure = {
        reason: 'RETRIES_EXHAUSTED',
        attempts: context.attempt,
        ...(last ? { lastReason: last.reason } : {}),
        ...(last?.status ? { status: last.status } : {}),
      };
      enqueue.assign({ failure });
      enqueue.emit({ type: 'stream.error', name: context.name, ...failure });
    }),
    /** Publish: releaseStream / FCPublish go out before createStream (FMLE order). */
    announcePublish: enqueueActions(({ context, enqueue }) => {
      if (context.mode !== 'publish') return;
      if (context.publish.releaseStream) {
        enqueue.sendTo(context.connection, command(buildReleaseStream(context.name)));
      }
      if (context.publish.fcPublish) {
        enqueue.sendTo(context.connection, command(buildFcPublish(context.name)));
      }
    }),
    requestStream: sendTo(
      ({ context }) => context.connection,
      ({ context, self }) => ({
        type: 'NC.CREATE_STREAM' as const,
        requester: self,
        sinkKey: context.sinkKey,
      }),
    ),
    recordStreamId: assign({
      streamId: ({ event }) => (event.type === 'STREAM.CREATED' ? event.streamId : undefined),
    }),
    /** play (+ SetBufferLength) or publish on our message stream. */
    sendStartCommand: enqueueActions(({ context, enqueue }) => {
      const streamId = context.streamId ?? 0;
      if (context.mode === 'publish') {
        enqueue.sendTo(
          context.connection,
          command(buildPublish(context.name, context.publish.type, { streamId })),
        );
        return;
      }
      const resumeAt =
        context.resumes > 0 && context.recorded && context.lastTimestamp !== undefined
          ? context.lastTimestamp
          : context.play.start;
      const params: { start: number; duration?: number; reset?: boolean } = { start: resumeAt };
      if (context.play.duration !== -1) params.duration = context.play.duration;
      if (context.play.reset !== undefined) params.reset = context.play.reset;
      enqueue.sendTo(
        context.connection,
        command({
          type: 'UserControl',
          event: 'SetBufferLength',
          streamId,
          bufferLength: context.play.bufferMs,
          timestamp: 0,
        }),
      );
      enqueue.sendTo(context.connection, command(buildPlay(context.name, params, { streamId })));
    }),
    recordStatus: enqueueActions(({ context, event, enqueue }) => {
      const status = statusOf(messageOf(event) as RtmpMessage);
      if (!status) return;
      enqueue.assign({ status });
      enqueue.emit({ type: 'stream.status', name: context.name, status });
    }),
    recordRecorded: assign({ recorded: true }),
    recordTick: assign({
      lastTimestamp: ({ context, event }) =>
        event.type === 'MEDIA.TICK' && event.timestamp !== undefined
          ? event.timestamp
          : context.lastTimestamp,
    }),
    emitStall: emit(({ context }) => ({
      type: 'stream.stall' as const,
      name: context.name,
      lastTimestamp: context.lastTimestamp,
    })),
    emitResumed: emit(({ context }) => ({
      type: 'stream.resumed' as const,
      name: context.name,
      lastTimestamp: context.lastTimestamp,
    })),
    sendPause: sendTo(
      ({ context }) => context.connection,
      ({ context }, params: { pause: boolean }) =>
        command(
          buildPause(params.pause, context.lastTimestamp ?? 0, { streamId: context.streamId ?? 0 }),
        ),
    ),
    recordSeekTarget: assign({
      seekTarget: ({ event }) => (event.type === 'STREAM.SEEK' ? event.ms : undefined),
      seekStatus: undefined,
    }),
    sendSeek: sendTo(
      ({ context }) => context.connection,
      ({ context }) =>
        command(buildSeek(context.seekTarget ?? 0, { streamId: context.streamId ?? 0 })),
    ),
    recordSeekStatus: assign({
      seekStatus: ({ context, event }) => {
        const message = messageOf(event);
        return (message && statusOf(message)) ?? context.seekStatus;
      },
    }),
    /** Announces how the seek ended (`stream.seek`) and forgets it. */
    finishSeek: enqueueActions(({ context, event, enqueue }, params: { outcome: SeekOutcome }) => {
      const message = messageOf(event);
      const status = (message && statusOf(message)) ?? context.seekStatus;
      const result: SeekResult = {
        outcome: params.outcome,
        requestedMs: context.seekTarget ?? 0,
        ...(status ? { status } : {}),
      };
      enqueue.emit({ type: 'stream.seek', name: context.name, result });
      enqueue.assign({ seekTarget: undefined, seekStatus: undefined });
    }),
    recordEnd: enqueueActions(({ context, event, enqueue }) => {
      const reason = endOfPlay(messageOf(event)) ?? 'ended';
      enqueue.assign({ endReason: reason });
      enqueue.emit({ type: 'stream.ended', name: context.name, reason });
    }),
    /**
     * A wait for media starts: how it ends on silence (see `silentEnd`). Every media tick of a
     * flowing play comes through here, and the answer rarely changes: the context is copied
     * only when it does.
     */
    scheduleSilentEnd: enqueueActions(({ context, enqueue }) => {
      const next = silentEnd(context);
      const now = context.silentDeadline;
      if (next?.reason === now?.reason && next?.ms === now?.ms) return;
      enqueue.assign({ silentDeadline: next });
    }),
    /** The play ended on silence (see `silentEnd`): IDLE_TIMEOUT or DURATION_REACHED. */
    recordSilentEnd: enqueueActions(({ context, enqueue }) => {
      const reason = context.silentDeadline?.reason ?? 'IDLE_TIMEOUT';
      enqueue.assign({ endReason: reason });
      enqueue.emit({ type: 'stream.ended', name: context.name, reason });
    }),
    recordDuration: assign({
      durationMs: ({ context, event }) =>
        event.type === 'STREAM.DURATION' && Number.isFinite(event.ms) && event.ms > 0
          ? event.ms
          : context.durationMs,
    }),
    /** Tear down on the server: FCUnpublish (publish), closeStream (publish), deleteStream. */
    sendStopCommands: enqueueActions(({ context, enqueue }) => {
      const streamId = context.streamId;
      if (streamId === undefined) return;
      if (context.mode === 'publish') {
        if (context.publish.fcPublish) {
          enqueue.sendTo(context.connection, command(buildFcUnpublish(context.name)));
        }
        enqueue.sendTo(context.connection, command(buildCloseStream({ streamId })));
      }
      enqueue.sendTo(context.connection, command(buildDeleteStream(streamId)));
    }),
    /** The connection stops routing to us (only now: Unpublish.Success may still come). */
    releaseStream: enqueueActions(({ context, enqueue, self }) => {
      if (context.streamId === undefined) return;
      enqueue.sendTo(context.connection, {
        type: 'NC.RELEASE_STREAM',
        streamId: context.streamId,
        requester: self,
      });
      enqueue.assign({ streamId: undefined });
    }),
    /** The owner could not move a displaced stream: why (the limit, when one refused it). */
    recordNotMoved: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'STREAM.NOT_MOVED') return;
      const failure: NetStreamFailure = {
        reason: event.reason,
        ...(event.limit ? { limit: event.limit } : {}),
      };
      enqueue.assign({ failure });
      enqueue.emit({ type: 'stream.error', name: context.name, ...failure });
    }),
    recordFailure: enqueueActions(
      ({ context, event, enqueue }, params: { reason: StreamFailureReason }) => {
        let reason = params.reason;
        let status: StatusReply | undefined;
        if (event.type === 'STREAM.CREATE_FAILED') {
          reason = event.reason === 'STREAM_ID_IN_USE' ? 'STREAM_ID_IN_USE' : 'CREATE_FAILED';
          status = event.status;
        } else if (event.type === 'RTMP.MESSAGE') {
          status = statusOf(event.message);
          if (status) enqueue.assign({ status });
        }
        const failure: NetStreamFailure = status ? { reason, status } : { reason };
        enqueue.assign({ failure });
        enqueue.emit({ type: 'stream.error', name: context.name, ...failure });
      },
    ),
    /** The connection went away: the server forgot our message stream. */
    forgetStream: assign({ streamId: undefined }),
    /** NC.RESTORED may move the stream to another connection. */
    adoptConnection: assign({
      connection: ({ context, event }) =>
        event.type === 'NC.RESTORED' && event.connection ? event.connection : context.connection,
      resumes: ({ context }) => context.resumes + 1,
    }),
    notifyParent: enqueueActions(
      (
        { context, enqueue, self },
        params: { kind: 'active' | 'retrying' | 'displaced' | 'failed' | 'stopped' },
      ) => {
        if (!self._parent) return;
        const { key, name } = context;
        let notice: NetStreamNotification;
        if (params.kind === 'active') {
          // While retrying, Play.Start alone is no success (a live name nobody publishes gets
          // one too): the owner hears of it with the first media (`notifyRecovered`).
          if (context.announced === 'retrying') return;
          notice = { type: 'STREAM.ACTIVE', key, name, streamId: context.streamId ?? 0 };
        } else if (params.kind === 'stopped') {
          notice = { type: 'STREAM.STOPPED', key, name };
        } else if (params.kind === 'displaced') {
          notice = { type: 'STREAM.DISPLACED', key, name, reason: 'STREAM_ID_IN_USE' };
        } else if (params.kind === 'retrying') {
          notice = {
            type: 'STREAM.RETRYING',
            key,
            name,
            attempt: context.attempt,
            reason: context.retry?.reason ?? 'START_TIMEOUT',
          };
        } else {
          const f = context.failure;
          notice = {
            type: 'STREAM.FAILED',
            key,
            name,
            reason: f?.reason ?? 'REFUSED',
            ...(f?.status ? { status: f.status } : {}),
            ...(f?.attempts !== undefined ? { attempts: f.attempts } : {}),
            ...(f?.lastReason ? { lastReason: f.lastReason } : {}),
            ...(f?.limit ? { limit: f.limit } : {}),
          };
        }
        enqueue.sendParent(notice);
      },
    ),
  },
  guards: {
    isPlay: ({ context }) => context.mode === 'play',
    isIdInUse: ({ event }) =>
      event.type === 'STREAM.CREATE_FAILED' && event.reason === 'STREAM_ID_IN_USE',
    isNotConnected: ({ event }) =>
      event.type === 'STREAM.CREATE_FAILED' && event.reason === 'NOT_CONNECTED',
    isStartStatus: ({ context, event }) => {
      const status = statusOf(messageOf(event) as RtmpMessage);
      return status !== undefined && START_CODES[context.mode].has(status.code);
    },
    isRefusal: ({ event }) => {
      const message = messageOf(event);
      return message !== undefined && isRefusalStatus(statusOf(message));
    },
    isStatus: ({ event }) => {
      const message = messageOf(event);
      return message !== undefined && statusOf(message) !== undefined;
    },
    /**
     * Play.Stop and Play.Complete end any play. StreamEOF and UnpublishNotify (the publisher left)
     * end it too, except a live-only play (start -1): nginx-rtmp keeps that subscription, and the
     * next publisher's media reaches it; meanwhile the stall timer reports the silence.
     */
    isEndOfPlay: ({ context, event }) => {
      if (context.mode !== 'play') return false;
      const reason = endOfPlay(messageOf(event));
      if (reason === undefined) return false;
      const publisherLeft = reason === 'StreamEOF' || reason === StatusCode.PlayUnpublishNotify;
      return !(publisherLeft && context.play.start === -1 && !context.keepWatching);
    },
    /**
     * The retry policy retries this failure: it allows more than one attempt, and the failure is
     * transient (a timeout; Play.Failed; StreamNotFound or the end of a kept-watching live play).
     */
    isRetryable: ({ context, event }, params: { reason: StreamRetryReason }) => {
      if (!(context.retryPolicy.maxAttempts > 1)) return false;
      switch (params.reason) {
        case 'CREATE_TIMEOUT':
        case 'START_TIMEOUT':
        case 'FIRST_FRAME_TIMEOUT':
          return true;
        case 'REFUSED': {
          const message = messageOf(event);
          return isTransientRefusal(message && statusOf(message), {
            keepWatching: context.keepWatching,
            live: isLiveWatch(context),
            permanentCodes: context.retryPolicy.permanentCodes,
          });
        }
        case 'ENDED':
          return (
            context.keepWatching &&
            isLiveWatch(context) &&
            endOfPlay(messageOf(event)) !== StatusCode.PlayComplete
          );
      }
    },
    /**
     * The play ends on silence (`silentDeadline`) by now: the silence that fired the delay, the
     * `within` timeout's, covers its end's. Without `within` (in `stalled`): whenever it has one.
     */
    isSilentEndDue: ({ context }, params: { within?: 'firstFrame' | 'stall' } | undefined) => {
      const end = context.silentDeadline;
      if (!end) return false;
      return params?.within === undefined || end.ms <= context.timeouts[params.within];
    },
    /** Attempts are left: fewer failed in a row than the policy's maxAttempts. */
    canRetry: ({ context }) => context.attempt < context.retryPolicy.maxAttempts,
    isStreamIsRecorded: ({ event }) => {
      const message = messageOf(event);
      return (
        message !== undefined &&
        message.type === 'UserControl' &&
        message.event === 'StreamIsRecorded'
      );
    },
    isSeekNotify: ({ event }) => {
      const message = messageOf(event);
      return message !== undefined && statusOf(message)?.code === StatusCode.SeekNotify;
    },
    /** Seek.Failed or Seek.InvalidTime: the seek is refused, the stream plays on. */
    isSeekRefusal: ({ event }) => {
      const message = messageOf(event);
      const code = message && statusOf(message)?.code;
      return code !== undefined && SEEK_REFUSALS.has(code);
    },
    /** Play.Start or Play.Reset: the play restarts at the new position. */
    isPlayRestart: ({ event }) => {
      const message = messageOf(event);
      const code = message && statusOf(message)?.code;
      return code !== undefined && START_CODES.play.has(code);
    },
    /**
     * StreamEOF while pausing or seeking: nginx-rtmp stops its file reader (and says StreamEOF)
     * before it pauses or moves; it is not the end of the play.
     */
    isStreamEof: ({ event }) => {
      const message = messageOf(event);
      return message?.type === 'UserControl' && message.event === 'StreamEOF';
    },
    isUnpublishSuccess: ({ event }) => {
      const message = messageOf(event);
      return message !== undefined && statusOf(message)?.code === StatusCode.UnpublishSuccess;
    },
  },
  delays: {
    createTimeout: ({ context }) => context.timeouts.create,
    startTimeout: ({ context }) => context.timeouts.start,
    /** timeouts.firstFrame, or the play's silent end (`silentEnd`) when that comes first. */
    firstFrameTimeout: ({ context }) =>
      Math.min(context.timeouts.firstFrame, context.silentDeadline?.ms ?? NO_DEADLINE_MS),
    /** timeouts.stall, or the play's silent end (`silentEnd`) when that comes first. */
    stallTimeout: ({ context }) =>
      Math.min(context.timeouts.stall, context.silentDeadline?.ms ?? NO_DEADLINE_MS),
    /** In `stalled` (entered timeouts.stall into the silence): the rest of the silent end's wait. */
    silentEndTimeout: ({ context }) => {
      const end = context.silentDeadline;
      return end ? Math.max(0, end.ms - context.timeouts.stall) : NO_DEADLINE_MS;
    },
    drainTimeout: ({ context }) => context.timeouts.drain,
    stopTimeout: ({ context }) => context.timeouts.stop,
    seekTimeout: ({ context }) => context.timeouts.seek,
    retryBackoff: ({ context }) => context.retry?.delayMs ?? context.retryPolicy.baseMs,
  },
}).createMachine({
  id: 'netStream',
  description: 'One NetStream: createStream, play or publish, media flow, teardown, resume.',
  context: ({ input }) => ({
    name: input.name,
    key: input.key ?? input.name,
    mode: input.mode,
    play: {
      start: input.play?.start ?? -2,
      duration: input.play?.duration ?? -1,
      bufferMs: input.play?.bufferMs ?? 3000,
      ...(input.play?.reset !== undefined ? { reset: input.play.reset } : {}),
    },
    publish: {
      type: input.publish?.type ?? 'live',
      releaseStream: input.publish?.releaseStream ?? false,
      fcPublish: input.publish?.fcPublish ?? false,
    },
    connection: input.connection,
    sinkKey: input.sinkKey ?? input.key ?? input.name,
    timeouts: { ...DEFAULT_NET_STREAM_TIMEOUTS, ...(input.timeouts ?? {}) },
    streamId: undefined,
    lastTimestamp: undefined,
    recorded: (input.play?.start ?? -2) >= 0,
    status: undefined,
    failure: undefined,
    endReason: undefined,
    resumes: 0,
    keepWatching: input.mode === 'play' && input.play?.keepWatching === true,
    retryPolicy: streamRetryPolicy(input.mode === 'play' ? input.play : undefined),
    random: input.random ?? Math.random,
    attempt: 0,
    retry: undefined,
    announced: 'idle' as NetStreamStateName,
    seekTarget: undefined,
    seekStatus: undefined,
    endOnIdleMs: input.mode === 'play' ? input.play?.endOnIdleMs : undefined,
    durationMs: undefined,
    silentDeadline: undefined,
  }),
  initial: 'idle',
  on: {
    'NC.FAILED': {
      target: '.failed',
      actions: { type: 'recordFailure', params: { reason: 'CONNECTION_FAILED' } },
    },
    'STREAM.DURATION': { actions: 'recordDuration' },
  },
  states: {
    idle: {
      tags: 'down',
      on: {
        'STREAM.START': { target: 'creating' },
        'STREAM.STOP': { target: 'stopped' },
      },
    },
    creating: {
      tags: 'setup',
      entry: [
        { type: 'emitState', params: { state: 'creating' } },
        'announcePublish',
        'requestStream',
      ],
      after: {
        createTimeout: [
          {
            guard: { type: 'isRetryable', params: { reason: 'CREATE_TIMEOUT' } },
            target: 'retrying',
            actions: { type: 'recordRetry', params: { reason: 'CREATE_TIMEOUT' } },
          },
          {
            target: 'failed',
            actions: { type: 'recordFailure', params: { reason: 'CREATE_TIMEOUT' } },
          },
        ],
      },
      on: {
        'STREAM.CREATED': { target: 'requesting', actions: 'recordStreamId' },
        'STREAM.CREATE_FAILED': [
          { guard: 'isNotConnected', target: 'interrupted' },
          { guard: 'isIdInUse', target: 'relocating' },
          {
            target: 'failed',
            actions: { type: 'recordFailure', params: { reason: 'CREATE_FAILED' } },
          },
        ],
        'STREAM.STOP': { target: 'stopped' },
      },
    },
    relocating: {
      tags: 'setup',
      description:
        'createStream answered with an id another stream uses: this connection serves one stream. The owner moves the stream (NC.RESTORED with a connection) or says why it cannot (STREAM.NOT_MOVED). Not a failure.',
      entry: [
        { type: 'emitState', params: { state: 'relocating' } },
        { type: 'notifyParent', params: { kind: 'displaced' } },
      ],
      on: {
        'NC.RESTORED': { target: 'creating', actions: 'adoptConnection' },
        'STREAM.NOT_MOVED': { target: 'failed', actions: 'recordNotMoved' },
        'STREAM.STOP': { target: 'stopped' },
      },
    },
    requesting: {
      tags: 'setup',
      entry: [{ type: 'emitState', params: { state: 'requesting' } }, 'sendStartCommand'],
      after: {
        startTimeout: [
          {
            guard: { type: 'isRetryable', params: { reason: 'START_TIMEOUT' } },
            target: 'retrying',
            actions: { type: 'recordRetry', params: { reason: 'START_TIMEOUT' } },
          },
          {
            target: 'failed',
            actions: [
              { type: 'recordFailure', params: { reason: 'START_TIMEOUT' } },
              'sendStopCommands',
            ],
          },
        ],
      },
      on: {
        'RTMP.MESSAGE': [
          { guard: 'isStartStatus', target: 'active', actions: 'recordStatus' },
          {
            guard: and([
              'isRefusal',
              { type: 'isRetryable', params: { reason: 'REFUSED' as const } },
            ]),
            target: 'retrying',
            actions: { type: 'recordRetry', params: { reason: 'REFUSED' } },
          },
          {
            guard: 'isRefusal',
            target: 'failed',
            actions: [{ type: 'recordFailure', params: { reason: 'REFUSED' } }, 'sendStopCommands'],
          },
          { guard: 'isStreamIsRecorded', actions: 'recordRecorded' },
          { guard: 'isStatus', actions: 'recordStatus' },
        ],
        'NC.INTERRUPTED': { target: 'interrupted' },
        'STREAM.STOP': { target: 'stopping' },
      },
    },
    active: {
      tags: 'up',
      entry: { type: 'notifyParent', params: { kind: 'active' } },
      on: {
        'RTMP.MESSAGE': [
          {
            guard: and([
              'isEndOfPlay',
              { type: 'isRetryable', params: { reason: 'ENDED' as const } },
            ]),
            target: 'retrying',
            actions: { type: 'recordRetry', params: { reason: 'ENDED' } },
          },
          { guard: 'isEndOfPlay', target: 'ended', actions: 'recordEnd' },
          {
            guard: and([
              'isRefusal',
              { type: 'isRetryable', params: { reason: 'REFUSED' as const } },
            ]),
            target: 'retrying',
            actions: { type: 'recordRetry', params: { reason: 'REFUSED' } },
          },
          {
            guard: 'isRefusal',
            target: 'failed',
            actions: [{ type: 'recordFailure', params: { reason: 'REFUSED' } }, 'sendStopCommands'],
          },
          { guard: 'isStreamIsRecorded', actions: 'recordRecorded' },
          { guard: 'isStatus', actions: 'recordStatus' },
        ],
        'NC.INTERRUPTED': { target: 'interrupted' },
      },
      initial: 'choosingMode',
      states: {
        choosingMode: {
          always: [{ guard: 'isPlay', target: 'play' }, { target: 'publish' }],
        },
        play: {
          initial: 'awaitingFirstFrame',
          on: {
            'STREAM.STOP': { target: '#netStream.stopping' },
          },
          states: {
            awaitingFirstFrame: {
              tags: 'playing',
              description:
                'Play.Start came; no `flowing` before audio or video. No media within firstFrameTimeout is a failure (retried as the policy says), unless the silent end (endOnIdleMs) comes first: then the play ends.',
              entry: [
                'scheduleSilentEnd',
                { type: 'emitState', params: { state: 'awaitingFirstFrame' } },
              ],
              after: {
                firstFrameTimeout: [
                  {
                    guard: { type: 'isSilentEndDue', params: { within: 'firstFrame' } },
                    target: '#netStream.ended',
                    actions: 'recordSilentEnd',
                  },
                  {
                    guard: { type: 'isRetryable', params: { reason: 'FIRST_FRAME_TIMEOUT' } },
                    target: '#netStream.retrying',
                    actions: { type: 'recordRetry', params: { reason: 'FIRST_FRAME_TIMEOUT' } },
                  },
                  {
                    target: '#netStream.failed',
                    actions: [
                      { type: 'recordFailure', params: { reason: 'FIRST_FRAME_TIMEOUT' } },
                      'sendStopCommands',
                    ],
                  },
                ],
              },
              on: {
                'MEDIA.TICK': {
                  target: 'flowing',
                  actions: [
                    'recordTick',
                    'notifyRecovered',
                    'resetRetries',
                    { type: 'emitState', params: { state: 'flowing' } },
                  ],
                },
                'STREAM.PAUSE': { target: 'paused' },
                'STREAM.SEEK': { target: 'seeking', actions: 'recordSeekTarget' },
              },
            },
            flowing: {
              tags: 'playing',
              description:
                'Each media tick re-enters to restart stallTimeout; the state event is emitted on the way in, not per tick. A silent end (endOnIdleMs, or the metadata duration reached) due before the stall ends the play instead.',
              entry: 'scheduleSilentEnd',
              after: {
                stallTimeout: [
                  {
                    guard: { type: 'isSilentEndDue', params: { within: 'stall' } },
                    target: '#netStream.ended',
                    actions: 'recordSilentEnd',
                  },
                  { target: 'stalled' },
                ],
              },
              on: {
                'MEDIA.TICK': { target: 'flowing', reenter: true, actions: 'recordTick' },
                'STREAM.PAUSE': { target: 'paused' },
                'STREAM.SEEK': { target: 'seeking', actions: 'recordSeekTarget' },
              },
            },
            stalled: {
              tags: 'playing',
              description:
                'No media for stallTimeout. A play with a silent end (a recorded one by default) ends once the silence reaches it.',
              entry: [{ type: 'emitState', params: { state: 'stalled' } }, 'emitStall'],
              after: {
                silentEndTimeout: {
                  guard: 'isSilentEndDue',
                  target: '#netStream.ended',
                  actions: 'recordSilentEnd',
                },
              },
              on: {
                'MEDIA.TICK': {
                  target: 'flowing',
                  actions: [
                    'recordTick',
                    'emitResumed',
                    { type: 'emitState', params: { state: 'flowing' } },
                  ],
                },
                'STREAM.PAUSE': { target: 'paused' },
                'STREAM.SEEK': { target: 'seeking', actions: 'recordSeekTarget' },
              },
            },
            paused: {
              tags: 'paused',
              description:
                'pause(true) sent; no stall watch. StreamEOF (nginx-rtmp stops its reader) does not end the play.',
              entry: [
                { type: 'emitState', params: { state: 'paused' } },
                { type: 'sendPause', params: { pause: true } },
              ],
              on: {
                'RTMP.MESSAGE': { guard: 'isStreamEof' },
                'MEDIA.TICK': { actions: 'recordTick' },
                'STREAM.RESUME': {
                  target: 'flowing',
                  actions: [
                    { type: 'sendPause', params: { pause: false } },
                    { type: 'emitState', params: { state: 'flowing' } },
                  ],
                },
              },
            },
            seeking: {
              description:
                'seek sent: Seek.Notify, then Play.Start/Play.Reset or media, ends it (flowing). Seek.Failed or Seek.InvalidTime refuse it, and seekTimeout gives up on it: the stream plays on (flowing). StreamEOF (nginx-rtmp stops its reader to move) does not end the play.',
              entry: [{ type: 'emitState', params: { state: 'seeking' } }, 'sendSeek'],
              initial: 'awaitingNotify',
              after: {
                seekTimeout: {
                  target: 'flowing',
                  actions: [
                    { type: 'finishSeek', params: { outcome: 'timeout' } },
                    { type: 'emitState', params: { state: 'flowing' } },
                  ],
                },
              },
              on: {
                'RTMP.MESSAGE': [
                  {
                    guard: 'isSeekRefusal',
                    target: 'flowing',
                    actions: [
                      'recordStatus',
                      { type: 'finishSeek', params: { outcome: 'refused' } },
                      { type: 'emitState', params: { state: 'flowing' } },
                    ],
                  },
                  { guard: 'isStreamEof' },
                ],
              },
              states: {
                awaitingNotify: {
                  description: 'Media still arriving was sent before the seek.',
                  on: {
                    'RTMP.MESSAGE': {
                      guard: 'isSeekNotify',
                      target: 'awaitingStart',
                      actions: ['recordStatus', 'recordSeekStatus'],
                    },
                    'MEDIA.TICK': { actions: 'recordTick' },
                  },
                },
                awaitingStart: {
                  on: {
                    'RTMP.MESSAGE': {
                      guard: 'isPlayRestart',
                      target: '#netStream.active.play.flowing',
                      actions: [
                        'recordStatus',
                        { type: 'finishSeek', params: { outcome: 'seeked' } },
                        { type: 'emitState', params: { state: 'flowing' } },
                      ],
                    },
                    'MEDIA.TICK': {
                      target: '#netStream.active.play.flowing',
                      actions: [
                        'recordTick',
                        { type: 'finishSeek', params: { outcome: 'seeked' } },
                        { type: 'emitState', params: { state: 'flowing' } },
                      ],
                    },
                  },
                },
              },
            },
          },
        },
        publish: {
          initial: 'publishing',
          states: {
            publishing: {
              entry: ['resetRetries', { type: 'emitState', params: { state: 'publishing' } }],
              on: { 'STREAM.STOP': { target: 'draining' } },
            },
            draining: {
              description: 'The runtime flushes the media queued before STREAM.STOP.',
              entry: { type: 'emitState', params: { state: 'draining' } },
              after: { drainTimeout: { target: '#netStream.stopping' } },
              on: { 'STREAM.DRAINED': { target: '#netStream.stopping' } },
            },
          },
        },
      },
    },
    ended: {
      tags: 'down',
      description:
        'Play.Stop, Play.Complete, UnpublishNotify, StreamEOF, or silence (endOnIdleMs, the metadata duration reached): tear the stream down.',
      always: { target: 'stopping' },
    },
    retrying: {
      tags: 'down',
      description:
        'A transient failure: delete the old message stream, wait retryBackoff, create it again; failed once canRetry says the attempts are spent.',
      entry: ['sendStopCommands', 'releaseStream'],
      initial: 'deciding',
      on: {
        'NC.INTERRUPTED': { target: 'interrupted' },
        'STREAM.STOP': { target: 'stopped' },
      },
      states: {
        deciding: {
          always: [
            { guard: 'canRetry', target: 'waiting' },
            { target: '#netStream.failed', actions: 'recordRetriesExhausted' },
          ],
        },
        waiting: {
          entry: [
            'scheduleRetry',
            'announceRetry',
            { type: 'notifyParent', params: { kind: 'retrying' } },
          ],
          after: { retryBackoff: { target: '#netStream.creating' } },
        },
      },
    },
    interrupted: {
      tags: 'down',
      description: 'The connection is down; the stream waits for NC.RESTORED.',
      entry: [{ type: 'emitState', params: { state: 'interrupted' } }, 'forgetStream'],
      on: {
        'NC.RESTORED': { target: 'creating', actions: 'adoptConnection' },
        'STREAM.STOP': { target: 'stopped' },
      },
    },
    stopping: {
      tags: 'down',
      entry: [{ type: 'emitState', params: { state: 'stopping' } }, 'sendStopCommands'],
      always: { guard: 'isPlay', target: 'stopped' },
      after: { stopTimeout: { target: 'stopped' } },
      on: {
        'RTMP.MESSAGE': { guard: 'isUnpublishSuccess', target: 'stopped' },
        'NC.INTERRUPTED': { target: 'stopped' },
      },
    },
    stopped: {
      tags: 'down',
      type: 'final',
      entry: [
        'releaseStream',
        { type: 'emitState', params: { state: 'stopped' } },
        { type: 'notifyParent', params: { kind: 'stopped' } },
      ],
    },
    failed: {
      tags: 'failed',
      type: 'final',
      entry: [
        'releaseStream',
        { type: 'emitState', params: { state: 'failed' } },
        { type: 'notifyParent', params: { kind: 'failed' } },
      ],
    },
  },
  output: ({ context }) => ({
    name: context.name,
    outcome: context.failure ? ('failed' as const) : ('stopped' as const),
    failure: context.failure,
    endReason: context.endReason,
    lastTimestamp: context.lastTimestamp,
  }),
});

/** The machine's state value, typed from its definition (what `snapshot.value` can be). */
export type NetStreamStateValue = SnapshotFrom<typeof netStreamMachine>['value'];

/** Every key of a (nested) state value: the names of the states it can be in. */
type StateKeys<V> = V extends string
  ? V
  : V extends object
    ? { [K in keyof V]: (K & string) | StateKeys<V[K]> }[keyof V]
    : never;

/** The name of any state of the machine, at any depth. */
export type NetStreamStateKey = StateKeys<NetStreamStateValue>;

/** Compile-time: each announced state name is the name of one of the machine's states. */
const announcedAreStates: [Exclude<NetStreamStateName, NetStreamStateKey>] extends [never]
  ? true
  : false = true;
void announcedAreStates;

type AnyNode = {
  key: string;
  tags: readonly string[];
  parent?: AnyNode;
  states: Record<string, AnyNode>;
};

/** Every state node of the machine (depth first). */
function nodesOf(node: AnyNode): AnyNode[] {
  return [node, ...Object.values(node.states).flatMap(nodesOf)];
}

/** The tags a state node carries, its own and its ancestors' (what `snapshot.hasTag` sees). */
export function tagsOfNode(node: AnyNode): NetStreamTag[] {
  const tags: NetStreamTag[] = [];
  for (let n: AnyNode | undefined = node; n; n = n.parent) {
    tags.push(...(n.tags as NetStreamTag[]));
  }
  return tags;
}

/** The state node each announced name names (read from the machine's definition). */
function announcedNodes(): Map<NetStreamStateName, AnyNode> {
  const byKey = new Map<string, AnyNode[]>();
  for (const n of nodesOf(netStreamMachine.root as unknown as AnyNode)) {
    byKey.set(n.key, [...(byKey.get(n.key) ?? []), n]);
  }
  const out = new Map<NetStreamStateName, AnyNode>();
  for (const name of NET_STREAM_STATE_NAMES) {
    const nodes = byKey.get(name) ?? [];
    if (nodes.length !== 1) {
      throw new Error(`netStream: announced state "${name}" names ${nodes.length} states`);
    }
    out.set(name, nodes[0]);
  }
  return out;
}

function lifecycleOfNode(node: AnyNode): NetStreamLifecycle {
  const found = tagsOfNode(node).filter((t): t is NetStreamLifecycle =>
    (NET_STREAM_LIFECYCLES as readonly string[]).includes(t),
  );
  if (found.length !== 1) {
    throw new Error(`netStream: state "${node.key}" has lifecycle tags [${found.join(', ')}]`);
  }
  return found[0];
}

const ANNOUNCED_NODES = announcedNodes();

/**
 * The lifecycle of each state a stream announces (`stream.state` events, `handle.state`), read
 * from the machine's state tags: for code that sees state names in events, not snapshots.
 */
export const NET_STREAM_LIFECYCLE_OF: Readonly<Record<NetStreamStateName, NetStreamLifecycle>> =
  Object.freeze(
    Object.fromEntries(
      [...ANNOUNCED_NODES].map(([name, node]) => [name, lifecycleOfNode(node)]),
    ) as Record<NetStreamStateName, NetStreamLifecycle>,
  );

/** The announced states carrying `tag` (on themselves or an ancestor), from the machine's definition. */
export function netStreamStatesTagged(tag: NetStreamTag): ReadonlySet<NetStreamStateName> {
  return new Set(
    [...ANNOUNCED_NODES].filter(([, node]) => tagsOfNode(node).includes(tag)).map(([name]) => name),
  );
}

/** Whether `state` is an announced state name of the netStream machine. */
export function isNetStreamStateName(state: string): state is NetStreamStateName {
  return ANNOUNCED_NODES.has(state as NetStreamStateName);
}
