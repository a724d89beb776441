/**
 * The test model of netStreamMachine. The stream under test lives on a real netConnectionMachine
 * whose transport is a scripted peer: createStream, play/publish and onStatus travel as real
 * RTMP bytes, and the harness plays the supervisor's part (NC.INTERRUPTED / NC.RESTORED /
 * NC.FAILED after really dropping or failing the connection).
 */
import {
  createActor,
  fromCallback,
  SimulatedClock,
  type Actor,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type InspectionEvent,
} from 'xstate';
import {
  netConnectionMachine,
  type NetConnectionContext,
} from '../../../machines/netConnectionMachine';
import {
  netStreamMachine,
  type NetStreamContext,
  type NetStreamInput,
  type PlayOptions,
  type StreamMode,
} from '../../../machines/netStreamMachine';
import {
  buildOnPlayStatus,
  buildOnStatus,
  buildResult,
  readStatus,
  StatusCode,
} from '../../protocol/message';
import type { RtmpMessage } from '../../protocol/message/types';
import { delayOf, type ReplayHarness } from '../paths';
import { createScriptedPeer, ScriptError } from '../scriptedPeer';
import { createProbe } from './netConnection';

export interface NetStreamModelOptions {
  mode: StreamMode;
  /** Play options of the stream under test. Default `{ start: -2, bufferMs: 1000 }`. */
  play?: PlayOptions;
  /** Interruptions explored per path (each adds a resume). Default 2. */
  maxResumes?: number;
  /** Alternative machine (a mutant) to model and replay. Default netStreamMachine. */
  machine?: typeof netStreamMachine;
}

/** Failed attempts told apart in the model's states (more behave alike under an unlimited policy). */
const ATTEMPTS_TOLD_APART = 2;

const STREAM_ID = 1;
const TICK_TIMESTAMP = 1000;
/** Where the model's seeks go (ms). */
const SEEK_TO = 5000;

/** The NetStream's test model for play or publish. */
export function netStreamModel(options: NetStreamModelOptions) {
  const machine = options.machine ?? netStreamMachine;
  const maxResumes = options.maxResumes ?? 2;
  const modelConnection = createProbe('connection-0');
  const baseInput = (connection: NetStreamInput['connection']): NetStreamInput => ({
    name: 'cam1',
    mode: options.mode,
    play: options.play ?? { start: -2, bufferMs: 1000 },
    publish: { type: 'live', releaseStream: true, fcPublish: true },
    connection,
    timeouts: {
      create: 1000,
      start: 1000,
      firstFrame: 2000,
      stall: 500,
      drain: 800,
      stop: 300,
      seek: 1500,
    },
    random: () => 0,
  });
  const input = baseInput(modelConnection.ref);

  const status = (code: string, level = 'status', streamId = STREAM_ID): AnyEventObject => ({
    type: 'RTMP.MESSAGE',
    message: buildOnStatus({ level, code, description: code }, { streamId }),
  });
  const userControl = (event: 'StreamEOF' | 'StreamIsRecorded'): AnyEventObject => ({
    type: 'RTMP.MESSAGE',
    message: { type: 'UserControl', event, streamId: STREAM_ID, timestamp: 0 } as RtmpMessage,
  });

  const events = (snapshot: AnyMachineSnapshot): AnyEventObject[] => {
    if (snapshot.status !== 'active') return [];
    const ctx = snapshot.context as NetStreamContext;
    const play = ctx.mode === 'play';
    const failed = { type: 'NC.FAILED', reason: 'TRANSPORT_ERROR' };
    const interrupted = ctx.resumes < maxResumes ? [{ type: 'NC.INTERRUPTED' }] : [];
    const stop = { type: 'STREAM.STOP' };
    if (snapshot.matches('idle')) return [{ type: 'STREAM.START' }, stop, failed];
    if (snapshot.matches('creating')) {
      return [
        { type: 'STREAM.CREATED', streamId: STREAM_ID },
        {
          type: 'STREAM.CREATE_FAILED',
          reason: 'ERROR',
          status: { level: 'error', code: 'NetConnection.Call.Failed' },
        },
        { type: 'STREAM.CREATE_FAILED', reason: 'STREAM_ID_IN_USE', streamId: STREAM_ID },
        ...(ctx.resumes < maxResumes
          ? [{ type: 'STREAM.CREATE_FAILED', reason: 'NOT_CONNECTED' }]
          : []),
        stop,
        failed,
      ];
    }
    if (snapshot.matches('requesting')) {
      return play
        ? [
            status(StatusCode.PlayStart),
            status(StatusCode.PlayReset),
            status(StatusCode.PlayStreamNotFound, 'error'),
            status(StatusCode.PlayFailed, 'error'),
            status('NetStream.Play.Forbidden', 'error'),
            userControl('StreamIsRecorded'),
            status(StatusCode.PlayPublishNotify),
            ...interrupted,
            stop,
            failed,
          ]
        : [
            status(StatusCode.PublishStart),
            status(StatusCode.PublishBadName, 'error'),
            ...interrupted,
            stop,
            failed,
          ];
    }
    if (snapshot.matches({ active: 'play' })) {
      const common: AnyEventObject[] = [
        status(StatusCode.PlayStop),
        {
          type: 'RTMP.MESSAGE',
          message: buildOnPlayStatus(
            { level: 'status', code: StatusCode.PlayComplete },
            { streamId: STREAM_ID },
          ),
        },
        status(StatusCode.PlayUnpublishNotify),
        userControl('StreamEOF'),
        status(StatusCode.PlayFailed, 'error'),
        status(StatusCode.PlayPublishNotify),
        userControl('StreamIsRecorded'),
        ...interrupted,
        stop,
        failed,
      ];
      const tick = {
        type: 'MEDIA.TICK',
        streamId: STREAM_ID,
        keyframe: true,
        timestamp: TICK_TIMESTAMP,
      };
      // The file's onMetaData says it lasts until the model's media time: its end is reached.
      if (ctx.durationMs === undefined) {
        common.push({ type: 'STREAM.DURATION', ms: TICK_TIMESTAMP });
      }
      if (snapshot.matches({ active: { play: 'paused' } }))
        return [{ type: 'STREAM.RESUME' }, tick, ...common];
      const seekRefusals = [
        status(StatusCode.SeekFailed, 'error'),
        status(StatusCode.SeekInvalidTime, 'error'),
      ];
      if (snapshot.matches({ active: { play: { seeking: 'awaitingNotify' } } }))
        return [status(StatusCode.SeekNotify), ...seekRefusals, tick, ...common];
      if (snapshot.matches({ active: { play: { seeking: 'awaitingStart' } } })) {
        return [
          status(StatusCode.PlayStart),
          status(StatusCode.PlayReset),
          tick,
          ...seekRefusals,
          ...common,
        ];
      }
      return [tick, { type: 'STREAM.PAUSE' }, { type: 'STREAM.SEEK', ms: SEEK_TO }, ...common];
    }
    if (snapshot.matches({ active: { publish: 'publishing' } })) {
      return [
        stop,
        status('NetStream.Publish.Denied', 'error'),
        status(StatusCode.PublishIdle),
        ...interrupted,
        failed,
      ];
    }
    if (snapshot.matches({ active: { publish: 'draining' } })) {
      return [{ type: 'STREAM.DRAINED' }, ...interrupted, failed];
    }
    if (snapshot.matches('interrupted')) return [{ type: 'NC.RESTORED' }, stop, failed];
    if (snapshot.matches('retrying')) return [...interrupted, stop, failed];
    if (snapshot.matches('relocating')) {
      return [
        ...(ctx.resumes < maxResumes ? [{ type: 'NC.RESTORED' }] : []),
        {
          type: 'STREAM.NOT_MOVED',
          reason: 'MAX_CONNECTIONS',
          limit: { name: 'maxConnections', value: 1 },
        },
        { type: 'STREAM.NOT_MOVED', reason: 'STREAM_ID_IN_USE' },
        stop,
        failed,
      ];
    }
    if (snapshot.matches('stopping')) {
      return [status(StatusCode.UnpublishSuccess), ...interrupted, failed];
    }
    return [];
  };

  /** What tells the model's states apart. */
  const stateKey = (snapshot: AnyMachineSnapshot) => {
    const ctx = snapshot.context as NetStreamContext;
    return {
      streamId: ctx.streamId ?? null,
      failure: ctx.failure?.reason ?? null,
      resumes: ctx.resumes,
      recorded: ctx.recorded,
      lastTimestamp: ctx.lastTimestamp ?? null,
      endReason: ctx.endReason ?? null,
      attempt: Math.min(ctx.attempt, ATTEMPTS_TOLD_APART),
      lastReason: ctx.failure?.lastReason ?? null,
      limit: ctx.failure?.limit?.name ?? null,
      durationMs: ctx.durationMs ?? null,
      // Read only while a play waits for media (set when each wait starts): elsewhere it is stale.
      silentDeadline: (snapshot.hasTag('playing') && ctx.silentDeadline) || null,
    };
  };
  /**
   * What the replay must agree on: the state key, plus what follows from the path without
   * telling more states apart: the last status, the seek's status, the retry under way.
   */
  const project = (snapshot: AnyMachineSnapshot) => {
    const ctx = snapshot.context as NetStreamContext;
    return {
      ...stateKey(snapshot),
      status: ctx.status?.code ?? null,
      seekStatus: ctx.seekStatus?.code ?? null,
      retry: ctx.retry ? [ctx.retry.reason, ctx.retry.delayMs] : null,
    };
  };
  const serializeState = (snapshot: AnyMachineSnapshot): string =>
    JSON.stringify({ value: snapshot.value, ...stateKey(snapshot) });

  /** A live stream on a live NetConnection (connected over a scripted peer). */
  const harness = (inspect: (ev: InspectionEvent) => void) => {
    const clock = new SimulatedClock();
    const peer = createScriptedPeer();
    const connection = createActor(
      netConnectionMachine.provide({ actors: { transport: peer.transport } }),
      {
        id: 'connection-0',
        clock,
        input: {
          connectionId: 'connection-0',
          connect: { app: 'live', tcUrl: 'rtmp://127.0.0.1/live' },
          form: 'simple',
          timeouts: { transport: 60_000, handshake: 60_000, connect: 60_000, close: 60_000 },
          retry: { maxAttempts: 10, baseMs: 50, maxMs: 50 },
          random: () => 0,
          now: () => clock.now(),
          autostart: true,
        },
      },
    ).start();
    const socket = () => peer.socket('connection-0');
    const bringUp = (): void => {
      const nc = connection.getSnapshot();
      if (nc.matches({ session: 'connected' })) return;
      if (nc.matches('retrying'))
        clock.increment((nc.context as NetConnectionContext).nextRetryDelay);
      socket().accept();
      socket().completeHandshake();
      socket().answerConnect();
      if (!connection.getSnapshot().matches({ session: 'connected' })) {
        throw new ScriptError('the connection did not come up');
      }
    };
    bringUp();
    const emitted: AnyEventObject[] = [];
    const sibling = createProbe('sibling');
    // The stream's owner (the session supervisor in real life): records what it is told.
    const notices: AnyEventObject[] = [];
    const owner = createActor(
      fromCallback<AnyEventObject>(({ receive }) => {
        receive((event) => {
          if (event.type.startsWith('STREAM.')) notices.push(event);
        });
      }),
      { clock, inspect },
    ).start();
    const actor = createActor(machine, {
      input: baseInput(connection),
      parent: owner,
      id: 'stream-cam1',
      clock,
    } as never) as unknown as Actor<typeof machine>;
    actor.on('*', (e) => emitted.push(e));
    actor.start();

    /** Where the current step's emitted events start. */
    let stepStart = 0;
    const realize: ReplayHarness['realize'] = (event, { before }) => {
      stepStart = emitted.length;
      const ctx = before.context as NetStreamContext;
      switch (event.type) {
        case 'STREAM.START':
        case 'STREAM.NOT_MOVED':
        case 'STREAM.STOP':
        case 'STREAM.PAUSE':
        case 'STREAM.RESUME':
        case 'STREAM.SEEK':
        case 'STREAM.DRAINED':
        case 'STREAM.DURATION':
          actor.send(event as never);
          return;
        case 'STREAM.CREATED':
          socket().answerCreateStream(event.streamId);
          return;
        case 'STREAM.CREATE_FAILED':
          if (event.reason === 'ERROR') socket().answerCreateStream(null);
          else if (event.reason === 'NOT_CONNECTED') socket().hangUp();
          else {
            // Another stream takes the id first (nginx-rtmp answers every createStream with 1).
            connection.send({
              type: 'NC.CREATE_STREAM',
              requester: sibling.ref,
              sinkKey: 'sibling',
            });
            const request = socket().lastReceived('createStream')!;
            socket().send(buildResult(request.transactionId, null, event.streamId));
            socket().answerCreateStream(event.streamId);
          }
          return;
        case 'RTMP.MESSAGE':
          socket().send(event.message);
          return;
        case 'MEDIA.TICK':
          socket().sendKeyframe(event.streamId, event.timestamp);
          return;
        case 'NC.INTERRUPTED':
          if (connection.getSnapshot().matches('session')) socket().hangUp();
          actor.send(event as never);
          return;
        case 'NC.RESTORED':
          // A move (from relocating): the owner found a connection where the id is free. Here
          // the sibling that held it lets it go.
          if (before.matches('relocating')) {
            connection.send({
              type: 'NC.RELEASE_STREAM',
              streamId: STREAM_ID,
              requester: sibling.ref,
            });
          }
          bringUp();
          actor.send(event as never);
          return;
        case 'NC.FAILED':
          if (connection.getSnapshot().matches('session')) socket().fail('PROTOCOL');
          actor.send(event as never);
          return;
        default: {
          const delay = delayOf(machine, event.type, before);
          if (!delay)
            throw new ScriptError(`no way to realize ${event.type} (${String(ctx.name)})`);
          clock.increment(delay.ms);
        }
      }
    };

    let noticesSeen = 0;
    /** What the owner must have been told along one step. */
    const expectedNotices = (
      event: AnyEventObject,
      before: AnyMachineSnapshot,
      actual: AnyMachineSnapshot,
      announcedBefore: string | undefined,
    ): string[] => {
      const ctx = actual.context as NetStreamContext;
      const entered = (state: unknown) =>
        actual.matches(state as never) && !before.matches(state as never);
      const out: string[] = [];
      if (entered('relocating')) out.push('STREAM.DISPLACED');
      // While retrying, Play.Start is no success: the first media is.
      if (entered('active') && announcedBefore !== 'retrying') out.push('STREAM.ACTIVE');
      if (
        event.type === 'MEDIA.TICK' &&
        announcedBefore === 'retrying' &&
        before.matches({ active: { play: 'awaitingFirstFrame' } }) &&
        actual.matches({ active: { play: 'flowing' } })
      ) {
        out.push('STREAM.ACTIVE');
      }
      if (entered({ retrying: 'waiting' })) out.push(`STREAM.RETRYING ${ctx.attempt}`);
      if (entered('stopped')) out.push('STREAM.STOPPED');
      if (entered('failed')) out.push(`STREAM.FAILED ${ctx.failure?.reason}`);
      return out.sort();
    };

    const check: NonNullable<ReplayHarness['check']> = ({ event, before, actual }) => {
      const ctx = actual.context as NetStreamContext;
      const prev = before.context as NetStreamContext;
      const s = socket();
      if (s.violations.length) throw new Error(s.violations.join('; '));
      const entered = (state: unknown) =>
        actual.matches(state as never) && !before.matches(state as never);
      const told = notices
        .slice(noticesSeen)
        .map((n) =>
          n.type === 'STREAM.FAILED'
            ? `${n.type} ${String(n.reason)}`
            : n.type === 'STREAM.RETRYING'
              ? `${n.type} ${String(n.attempt)}`
              : n.type,
        )
        .sort();
      const wrongKey = notices
        .slice(noticesSeen)
        .find((n) => n.key !== 'cam1' || n.name !== 'cam1');
      noticesSeen = notices.length;
      const announcedBefore = emitted
        .slice(0, stepStart)
        .filter((e) => e.type === 'stream.state')
        .at(-1)?.state as string | undefined;
      const expectedTold = expectedNotices(event, before, actual, announcedBefore);
      if (told.join() !== expectedTold.join()) {
        throw new Error(
          `the owner was told [${told.join(', ')}], not [${expectedTold.join(', ')}]`,
        );
      }
      if (wrongKey) throw new Error(`a notice names another stream: ${JSON.stringify(wrongKey)}`);
      if (
        before.matches({ active: { play: 'stalled' } }) &&
        actual.matches({ active: { play: 'flowing' } }) &&
        !emitted.slice(stepStart).some((e) => e.type === 'stream.resumed')
      ) {
        throw new Error('flowing again without stream.resumed');
      }
      if (entered('creating')) {
        if (
          connection.getSnapshot().matches({ session: 'connected' }) &&
          !s.pending('createStream').length
        ) {
          throw new Error('creating without a createStream on the wire');
        }
        if (
          ctx.mode === 'publish' &&
          (!s.lastReceived('releaseStream') || !s.lastReceived('FCPublish'))
        ) {
          throw new Error('publish without releaseStream/FCPublish first');
        }
      }
      if (entered('requesting')) {
        if (ctx.mode === 'play') {
          const play = s.lastReceived('play');
          const buffer = s.receivedOf('UserControl').at(-1);
          const resumeAt =
            ctx.resumes > 0 && ctx.recorded && ctx.lastTimestamp !== undefined
              ? ctx.lastTimestamp
              : ctx.play.start;
          if (
            !play ||
            play.streamId !== ctx.streamId ||
            play.args[0] !== 'cam1' ||
            play.args[1] !== resumeAt
          ) {
            throw new Error(
              `play not sent as expected (start ${resumeAt}): ${JSON.stringify(play?.args)}`,
            );
          }
          if (!buffer || buffer.event !== 'SetBufferLength' || buffer.bufferLength !== 1000) {
            throw new Error('SetBufferLength not sent with play');
          }
        } else {
          const publish = s.lastReceived('publish');
          if (!publish || publish.streamId !== ctx.streamId || publish.args[1] !== 'live') {
            throw new Error('publish not sent');
          }
        }
      }
      if (entered({ active: { play: 'paused' } }) && s.lastReceived('pause')?.args[0] !== true) {
        throw new Error('pause(true) not sent');
      }
      if (event.type === 'STREAM.RESUME' && s.lastReceived('pause')?.args[0] !== false) {
        throw new Error('pause(false) not sent');
      }
      const seeking = { active: { play: 'seeking' } };
      if (entered(seeking)) {
        const seek = s.lastReceived('seek');
        if (!seek || seek.streamId !== ctx.streamId || seek.args[0] !== SEEK_TO) {
          throw new Error(`seek(${SEEK_TO}) not sent: ${JSON.stringify(seek?.args)}`);
        }
        if (
          !emitted.slice(stepStart).some((e) => e.type === 'stream.state' && e.state === 'seeking')
        )
          throw new Error('seeking not announced');
      }
      if (before.matches(seeking) && !actual.matches(seeking)) {
        const result = emitted.slice(stepStart).find((e) => e.type === 'stream.seek')?.result as
          { outcome?: string; requestedMs?: number; status?: { code?: string } } | undefined;
        const code = event.type === 'RTMP.MESSAGE' ? readStatus(event.message)?.code : undefined;
        const expected =
          code === StatusCode.SeekFailed || code === StatusCode.SeekInvalidTime
            ? 'refused'
            : code === StatusCode.PlayStart ||
                code === StatusCode.PlayReset ||
                event.type === 'MEDIA.TICK'
              ? 'seeked'
              : event.type.startsWith('xstate.after')
                ? 'timeout'
                : undefined;
        if (expected && (result?.outcome !== expected || result.requestedMs !== SEEK_TO)) {
          throw new Error(
            `seek ended by ${event.type} ${code ?? ''} said ${JSON.stringify(result)}`,
          );
        }
        if (expected === 'refused' && result?.status?.code !== code) {
          throw new Error('a refused seek without the refusal status');
        }
        if (expected && !actual.matches({ active: { play: 'flowing' } })) {
          throw new Error('the stream does not play on after the seek');
        }
        if (!expected && result) throw new Error(`a seek result on ${event.type}`);
        if (expected && ctx.seekTarget !== undefined)
          throw new Error('the seek outlived its result');
      }
      if (
        prev.streamId !== undefined &&
        ctx.streamId === undefined &&
        (actual.matches('stopping') ||
          actual.matches('stopped') ||
          actual.matches('failed') ||
          actual.matches('retrying')) &&
        connection.getSnapshot().matches({ session: 'connected' })
      ) {
        const deleted = s.lastReceived('deleteStream');
        if (!deleted || deleted.args[0] !== prev.streamId) throw new Error('deleteStream not sent');
        if (ctx.mode === 'publish' && !s.lastReceived('FCUnpublish'))
          throw new Error('FCUnpublish not sent');
      }
      if (entered({ active: { play: 'stalled' } }) && emitted.at(-1)?.type !== 'stream.stall') {
        throw new Error('no stream.stall emitted');
      }
      if (entered('stopped') && before.hasTag('playing') && event.type.startsWith('xstate.after')) {
        // Silence ended the play: it says why (the deadline its wait started with).
        const ended = emitted.slice(stepStart).find((e) => e.type === 'stream.ended');
        const expected = prev.silentDeadline?.reason;
        if (!expected || ended?.reason !== expected || ctx.endReason !== expected) {
          throw new Error(`a silent end said ${JSON.stringify(ended)}, expected ${expected}`);
        }
      }
      if (entered('failed') && !emitted.some((e) => e.type === 'stream.error')) {
        throw new Error('no stream.error emitted');
      }
      if (entered('relocating')) {
        const now = emitted.slice(stepStart);
        if (now.some((e) => e.type === 'stream.error' || e.state === 'failed')) {
          throw new Error('a stream being moved reported a failure');
        }
        if (!now.some((e) => e.type === 'stream.state' && e.state === 'relocating')) {
          throw new Error('relocating not announced');
        }
      }
      if (
        event.type === 'STREAM.NOT_MOVED' &&
        event.limit &&
        JSON.stringify(ctx.failure?.limit) !== JSON.stringify(event.limit)
      ) {
        throw new Error('the limit that refused the move is not in the failure');
      }
      const states = (list: AnyEventObject[]) =>
        list.filter((e) => e.type === 'stream.state').map((e) => e.state as string);
      const announcedNow = states(emitted.slice(stepStart));
      if (entered({ retrying: 'waiting' })) {
        const last = [...emitted].reverse().find((e) => e.type === 'stream.state');
        const retry = last?.retry as { attempt?: number; reason?: string } | undefined;
        if (last?.state !== 'retrying' || retry?.attempt !== ctx.attempt || !retry.reason) {
          throw new Error(`retrying not announced with its attempt: ${JSON.stringify(last)}`);
        }
      }
      if (
        announcedBefore === 'retrying' &&
        announcedNow.some((st) => ['creating', 'requesting', 'awaitingFirstFrame'].includes(st))
      ) {
        throw new Error(`a retry attempt announced its steps: ${announcedNow.join(', ')}`);
      }
      if (entered('failed') && ctx.failure?.reason === 'RETRIES_EXHAUSTED') {
        const error = [...emitted].reverse().find((e) => e.type === 'stream.error');
        if (error?.attempts !== ctx.attempt || !error.lastReason) {
          throw new Error(
            `exhausted retries without attempts and last reason: ${JSON.stringify(error)}`,
          );
        }
      }
      const lastState = [...emitted].reverse().find((e) => e.type === 'stream.state');
      if (actual.matches('stopped') && lastState?.state !== 'stopped') {
        throw new Error('stream.state stopped not emitted');
      }
    };

    return {
      actor,
      peer,
      clock,
      connection,
      emitted,
      realize,
      check,
      dispose() {
        // A child is stopped by its own stop event (only a root may be stopped directly).
        if (actor.getSnapshot().status === 'active') actor.send({ type: 'xstate.stop' } as never);
        owner.stop();
        connection.stop();
        sibling.ref.stop();
      },
    };
  };

  /** The main line without interruptions and rarer replies: keeps getSimplePaths small. */
  const LEAN_SKIP = new Set([
    'NC.FAILED',
    'NC.INTERRUPTED',
    'NC.RESTORED',
    StatusCode.PlayPublishNotify,
    StatusCode.PlayReset,
    StatusCode.PlayUnpublishNotify,
    StatusCode.PlayFailed,
    StatusCode.SeekInvalidTime,
    StatusCode.PublishIdle,
    'NetStream.Publish.Denied',
    'STREAM.DURATION',
    'StreamIsRecorded',
    'StreamEOF',
    'STREAM_ID_IN_USE',
    'NOT_CONNECTED',
  ]);
  const leanKey = (e: AnyEventObject): string => {
    if (e.type === 'STREAM.CREATE_FAILED') return String(e.reason);
    if (e.type !== 'RTMP.MESSAGE') return e.type;
    const m = e.message as RtmpMessage;
    if (m.type === 'UserControl') return m.event;
    const info = m.type === 'Command' ? m.args[0] : m.type === 'Data' ? m.values[1] : undefined;
    return (info as { code?: string } | undefined)?.code ?? m.type;
  };
  const simpleEvents = (snapshot: AnyMachineSnapshot): AnyEventObject[] =>
    events(snapshot).filter((e) => !LEAN_SKIP.has(leanKey(e)) && !LEAN_SKIP.has(e.type));

  return { machine, input, events, simpleEvents, project, serializeState, harness };
}

const RETRY = { baseMs: 100, maxMs: 400 };
/**
 * The variants the netStream model suite (test/machines/netStreamMachine.test.ts) and its mutation
 * suite (test/mutation/netStream.test.ts) walk paths under.
 * The retrying variants walk shortest and transition-completing paths only: their simple paths
 * are too many to enumerate.
 */
export const NET_STREAM_VARIANTS: Array<[string, NetStreamModelOptions]> = [
  ['a play', { mode: 'play' }],
  ['a publish', { mode: 'publish' }],
  [
    'a play that keeps watching a live stream',
    {
      mode: 'play',
      play: { start: -2, bufferMs: 1000, keepWatching: true, retry: RETRY },
      maxResumes: 1,
    },
  ],
  [
    'a play that may try twice',
    {
      mode: 'play',
      play: { start: -2, bufferMs: 1000, retry: { ...RETRY, maxAttempts: 2 } },
      maxResumes: 1,
    },
  ],
  [
    // endOnIdleMs below the model's stall (500) and first-frame (2000) timeouts: silence ends
    // the play from awaitingFirstFrame and flowing (the default, 10 s, ends it from stalled).
    'a recorded play that ends after 300 ms of silence',
    {
      mode: 'play',
      play: { start: 0, bufferMs: 1000, endOnIdleMs: 300 },
      maxResumes: 1,
    },
  ],
];
