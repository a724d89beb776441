/**
 * One RTMP NetStream (play or publish) as a statechart, one actor per stream. It asks its
 * NetConnection for a message stream (NC.CREATE_STREAM), sends play (with SetBufferLength) or
 * publish, follows onStatus, watches media ticks for stalls, and tears the stream down with
 * deleteStream. A lost connection parks it in `interrupted` until NC.RESTORED, when it creates
 * the stream again (recorded play resumes from the last media time).
 *
 * The public API listens to the emitted `stream.*` events (actor.on('stream.status', ...)).
 */
import { assign, emit, enqueueActions, sendTo, setup, type AnyActorRef } from 'xstate';
import {
  buildCloseStream,
  buildDeleteStream,
  buildFcPublish,
  buildFcUnpublish,
  buildPause,
  buildPlay,
  buildPublish,
  buildReleaseStream,
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
  StreamNotification,
  TransportEvent,
} from './contract';

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
}

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
  failure: { reason: StreamFailureReason; status?: StatusReply } | undefined;
  /** Why playback ended, when it did. */
  endReason: string | undefined;
  /** How often the stream was created again after an interruption. */
  resumes: number;
}

export type NetStreamEvent =
  | { type: 'STREAM.START' }
  | { type: 'STREAM.STOP' }
  | { type: 'STREAM.PAUSE' }
  | { type: 'STREAM.RESUME' }
  /** Publish: the runtime flushed the media queued before STREAM.STOP. */
  | { type: 'STREAM.DRAINED' }
  | ConnectionReply
  | ConnectionNotice
  | Extract<TransportEvent, { type: 'RTMP.MESSAGE' | 'MEDIA.TICK' }>;

/** Events for the public API (`actor.on(type, listener)`). */
export type NetStreamEmitted =
  | { type: 'stream.state'; name: string; state: string }
  | { type: 'stream.status'; name: string; status: StatusReply }
  | {
      type: 'stream.error';
      name: string;
      reason: StreamFailureReason;
      status?: StatusReply;
    }
  | { type: 'stream.stall'; name: string; lastTimestamp: number | undefined }
  | { type: 'stream.resumed'; name: string; lastTimestamp: number | undefined }
  | { type: 'stream.ended'; name: string; reason: string };

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
});

const END_OF_PLAY = new Set<string>([
  StatusCode.PlayStop,
  StatusCode.PlayComplete,
  StatusCode.PlayUnpublishNotify,
]);

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

export const netStreamMachine = setup({
  types: {
    context: {} as NetStreamContext,
    events: {} as NetStreamEvent,
    input: {} as NetStreamInput,
    output: {} as NetStreamOutput,
    emitted: {} as NetStreamEmitted,
  },
  actions: {
    emitState: emit(({ context }, params: { state: string }) => ({
      type: 'stream.state' as const,
      name: context.name,
      state: params.state,
    })),
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
    recordEnd: enqueueActions(({ context, event, enqueue }) => {
      const reason = endOfPlay(messageOf(event)) ?? 'ended';
      enqueue.assign({ endReason: reason });
      enqueue.emit({ type: 'stream.ended', name: context.name, reason });
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
        const failure = status ? { reason, status } : { reason };
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
      ({ context, enqueue, self }, params: { kind: 'active' | 'failed' | 'stopped' }) => {
        if (!self._parent) return;
        const { key, name } = context;
        let notice: NetStreamNotification;
        if (params.kind === 'active') {
          notice = { type: 'STREAM.ACTIVE', key, name, streamId: context.streamId ?? 0 };
        } else if (params.kind === 'stopped') {
          notice = { type: 'STREAM.STOPPED', key, name };
        } else {
          notice = {
            type: 'STREAM.FAILED',
            key,
            name,
            reason: context.failure?.reason ?? 'REFUSED',
            ...(context.failure?.status ? { status: context.failure.status } : {}),
          };
        }
        enqueue.sendParent(notice);
      },
    ),
  },
  guards: {
    isPlay: ({ context }) => context.mode === 'play',
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
      return !(publisherLeft && context.play.start === -1);
    },
    isStreamIsRecorded: ({ event }) => {
      const message = messageOf(event);
      return (
        message !== undefined &&
        message.type === 'UserControl' &&
        message.event === 'StreamIsRecorded'
      );
    },
    isUnpublishSuccess: ({ event }) => {
      const message = messageOf(event);
      return message !== undefined && statusOf(message)?.code === StatusCode.UnpublishSuccess;
    },
  },
  delays: {
    createTimeout: ({ context }) => context.timeouts.create,
    startTimeout: ({ context }) => context.timeouts.start,
    firstFrameTimeout: ({ context }) => context.timeouts.firstFrame,
    stallTimeout: ({ context }) => context.timeouts.stall,
    drainTimeout: ({ context }) => context.timeouts.drain,
    stopTimeout: ({ context }) => context.timeouts.stop,
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
  }),
  initial: 'idle',
  on: {
    'NC.FAILED': {
      target: '.failed',
      actions: { type: 'recordFailure', params: { reason: 'CONNECTION_FAILED' } },
    },
  },
  states: {
    idle: {
      on: {
        'STREAM.START': { target: 'creating' },
        'STREAM.STOP': { target: 'stopped' },
      },
    },
    creating: {
      entry: [
        { type: 'emitState', params: { state: 'creating' } },
        'announcePublish',
        'requestStream',
      ],
      after: {
        createTimeout: {
          target: 'failed',
          actions: { type: 'recordFailure', params: { reason: 'CREATE_TIMEOUT' } },
        },
      },
      on: {
        'STREAM.CREATED': { target: 'requesting', actions: 'recordStreamId' },
        'STREAM.CREATE_FAILED': [
          { guard: 'isNotConnected', target: 'interrupted' },
          {
            target: 'failed',
            actions: { type: 'recordFailure', params: { reason: 'CREATE_FAILED' } },
          },
        ],
        'STREAM.STOP': { target: 'stopped' },
      },
    },
    requesting: {
      entry: [{ type: 'emitState', params: { state: 'requesting' } }, 'sendStartCommand'],
      after: {
        startTimeout: {
          target: 'failed',
          actions: [
            { type: 'recordFailure', params: { reason: 'START_TIMEOUT' } },
            'sendStopCommands',
          ],
        },
      },
      on: {
        'RTMP.MESSAGE': [
          { guard: 'isStartStatus', target: 'active', actions: 'recordStatus' },
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
      entry: { type: 'notifyParent', params: { kind: 'active' } },
      on: {
        'RTMP.MESSAGE': [
          { guard: 'isEndOfPlay', target: 'ended', actions: 'recordEnd' },
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
              entry: { type: 'emitState', params: { state: 'awaitingFirstFrame' } },
              after: { firstFrameTimeout: { target: 'stalled' } },
              on: {
                'MEDIA.TICK': {
                  target: 'flowing',
                  actions: ['recordTick', { type: 'emitState', params: { state: 'flowing' } }],
                },
                'STREAM.PAUSE': { target: 'paused' },
              },
            },
            flowing: {
              description:
                'Each media tick re-enters to restart stallTimeout; the state event is emitted on the way in, not per tick.',
              after: { stallTimeout: { target: 'stalled' } },
              on: {
                'MEDIA.TICK': { target: 'flowing', reenter: true, actions: 'recordTick' },
                'STREAM.PAUSE': { target: 'paused' },
              },
            },
            stalled: {
              entry: [{ type: 'emitState', params: { state: 'stalled' } }, 'emitStall'],
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
              },
            },
            paused: {
              entry: [
                { type: 'emitState', params: { state: 'paused' } },
                { type: 'sendPause', params: { pause: true } },
              ],
              on: {
                'STREAM.RESUME': {
                  target: 'flowing',
                  actions: [
                    { type: 'sendPause', params: { pause: false } },
                    { type: 'emitState', params: { state: 'flowing' } },
                  ],
                },
              },
            },
          },
        },
        publish: {
          initial: 'publishing',
          states: {
            publishing: {
              entry: { type: 'emitState', params: { state: 'publishing' } },
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
      description: 'Play.Stop, Play.Complete, UnpublishNotify or StreamEOF: tear the stream down.',
      always: { target: 'stopping' },
    },
    interrupted: {
      description: 'The connection is down; the stream waits for NC.RESTORED.',
      entry: [{ type: 'emitState', params: { state: 'interrupted' } }, 'forgetStream'],
      on: {
        'NC.RESTORED': { target: 'creating', actions: 'adoptConnection' },
        'STREAM.STOP': { target: 'stopped' },
      },
    },
    stopping: {
      entry: [{ type: 'emitState', params: { state: 'stopping' } }, 'sendStopCommands'],
      always: { guard: 'isPlay', target: 'stopped' },
      after: { stopTimeout: { target: 'stopped' } },
      on: {
        'RTMP.MESSAGE': { guard: 'isUnpublishSuccess', target: 'stopped' },
        'NC.INTERRUPTED': { target: 'stopped' },
      },
    },
    stopped: {
      type: 'final',
      entry: [
        'releaseStream',
        { type: 'emitState', params: { state: 'stopped' } },
        { type: 'notifyParent', params: { kind: 'stopped' } },
      ],
    },
    failed: {
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
