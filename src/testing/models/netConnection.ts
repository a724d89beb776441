/**
 * The test model of netConnectionMachine: the events worth sending in each state (success,
 * refusals, each transport error the runtime can raise there, duties, stream traffic), and a
 * harness that realizes them through the runtime transport, connected in memory to a scripted far
 * end speaking real RTMP bytes, with a simulated clock.
 */
import {
  createActor,
  fromCallback,
  setup,
  SimulatedClock,
  type AnyActor,
  type AnyActorRef,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type InspectionEvent,
} from 'xstate';
import type { TransportErrorCode } from '../../../machines/contract';
import {
  netConnectionMachine,
  streamFor,
  type NetConnectionContext,
  type NetConnectionInput,
} from '../../../machines/netConnectionMachine';
import {
  buildError,
  buildOnStatus,
  buildPlay,
  buildResult,
  StatusCode,
} from '../../protocol/message';
import { delayOf, pathFromEvents, type ModelPath, type ReplayHarness } from '../paths';
import { createScriptedPeer, ScriptError, type ScriptedPeer } from '../scriptedPeer';

/** A stand-in stream actor that records what the connection tells it. */
export function createProbe(id = 'stream-probe'): { ref: AnyActorRef; log: AnyEventObject[] } {
  const log: AnyEventObject[] = [];
  const ref = createActor(
    fromCallback<AnyEventObject>(({ receive }) => {
      receive((event) => log.push(event));
    }),
    { id },
  ).start();
  return { ref, log };
}

/** What a connect attempt can fail with (the socket opener's errors). */
const CONNECT_ERRORS: TransportErrorCode[] = [
  'REFUSED',
  'RESET',
  'TIMEOUT',
  'DNS',
  'CLOSED',
  'TLS',
];
/** What a connected socket can raise before chunks flow (REFUSED and DNS only come from a connect). */
const SOCKET_ERRORS: TransportErrorCode[] = ['RESET', 'TIMEOUT', 'CLOSED', 'TLS'];
/** ... and once chunks flow, bytes the transport refuses too. */
const CHUNK_ERRORS: TransportErrorCode[] = [...SOCKET_ERRORS, 'PROTOCOL', 'LIMIT'];
/** The peer's Window Acknowledgement Size in the model: small, so that filling it is cheap. */
const MODEL_ACK_WINDOW = 2_048;

export const CONNECT_REFUSALS = {
  rejected: {
    level: 'error',
    code: StatusCode.ConnectRejected,
    description: 'Connection rejected.',
  },
  invalidApp: {
    level: 'error',
    code: 'NetConnection.Connect.InvalidApp',
    description: 'No such application.',
  },
  auth: {
    level: 'error',
    code: StatusCode.ConnectRejected,
    description: '[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ]',
  },
};

export interface NetConnectionModelOptions {
  autostart?: boolean;
  maxAttempts?: number;
  /** Fewer event variants (for getSimplePaths and quick runs). */
  lean?: boolean;
  /** The machine to replay (e.g. a mutant); paths still come from netConnectionMachine. */
  machine?: AnyStateMachine;
}

/** The NetConnection's test model. */
export function netConnectionModel(options: NetConnectionModelOptions = {}) {
  const machine = netConnectionMachine;
  const modelProbe = createProbe();
  const baseInput = (clock?: SimulatedClock): NetConnectionInput => ({
    connectionId: 'connection-0',
    connect: { app: 'live', tcUrl: 'rtmp://127.0.0.1:1935/live', flashVer: 'LNX 9,0,124,2' },
    form: 'digest',
    autostart: options.autostart ?? false,
    timeouts: { transport: 1_000, handshake: 1_000, connect: 1_000, close: 500 },
    retry: { maxAttempts: options.maxAttempts ?? 2, baseMs: 100, maxMs: 1_000 },
    random: () => 0.5,
    now: clock ? () => clock.now() : () => 0,
  });
  const input = baseInput();

  const errorEvents = (codes: TransportErrorCode[]): AnyEventObject[] =>
    codes.map((code) => ({ type: 'TRANSPORT.ERROR', code, message: `scripted ${code}` }));

  const events = (snapshot: AnyMachineSnapshot, lean = options.lean ?? false): AnyEventObject[] => {
    if (snapshot.status !== 'active') return [];
    const ctx = snapshot.context as NetConnectionContext;
    const createStream = { type: 'NC.CREATE_STREAM', requester: modelProbe.ref, sinkKey: 'probe' };
    // The transport errors the runtime can raise in each state (realized as a socket would).
    const errors = errorEvents(lean ? ['RESET', 'PROTOCOL'] : CHUNK_ERRORS);
    const hangUp = { type: 'TRANSPORT.CLOSED', byPeer: true };
    const close = { type: 'NC.CLOSE' };
    if (snapshot.matches('idle')) return [{ type: 'NC.CONNECT' }, close, createStream];
    if (snapshot.matches('retrying')) return [close, ...(lean ? [] : [createStream])];
    if (snapshot.matches({ session: 'opening' })) {
      // No TRANSPORT.CLOSED: a socket closed while connecting fails the connect (CLOSED).
      const connectErrors = errorEvents(lean ? ['RESET', 'TLS'] : CONNECT_ERRORS);
      return [{ type: 'TRANSPORT.CONNECTED' }, ...connectErrors, close];
    }
    if (snapshot.matches({ session: 'handshaking' })) {
      const done = (output: unknown) => ({ type: 'xstate.done.actor.handshake', output });
      const outputs = [
        done({ ok: true, peer: { version: 3, form: 'digest' } }),
        done({ ok: false, reason: 'TIMEOUT', message: 'timeout' }),
        done({ ok: false, reason: 'SOCKET_CLOSED', message: 'closed' }),
        done({ ok: false, reason: 'BAD_DIGEST', message: 'bad digest' }),
      ];
      if (!lean) outputs.push(done({ ok: false, reason: 'BAD_VERSION', message: 'bad version' }));
      return [...outputs, ...errorEvents(lean ? ['RESET'] : SOCKET_ERRORS), close];
    }
    const duties: AnyEventObject[] = [
      {
        type: 'RTMP.MESSAGE',
        message: { type: 'WindowAckSize', windowSize: MODEL_ACK_WINDOW, timestamp: 0, streamId: 0 },
      },
      {
        type: 'RTMP.MESSAGE',
        message: {
          type: 'SetPeerBandwidth',
          windowSize: 5_000_000,
          limitType: 2,
          timestamp: 0,
          streamId: 0,
        },
      },
      {
        type: 'RTMP.MESSAGE',
        message: {
          type: 'UserControl',
          event: 'PingRequest',
          time: 4242,
          timestamp: 0,
          streamId: 0,
        },
      },
      {
        type: 'RTMP.MESSAGE',
        message: { type: 'SetChunkSize', chunkSize: 4096, timestamp: 0, streamId: 0 },
      },
      // The transport raises ACK_DUE only once the peer set a window (its sequence number is
      // whatever it counted: the harness checks the Acknowledgement against that).
      ...((ctx.peer.ackWindow ?? 0) > 0 ? [{ type: 'TRANSPORT.ACK_DUE', sequenceNumber: 0 }] : []),
    ];
    if (snapshot.matches({ session: 'connecting' })) {
      const tid = ctx.connectTransactionId;
      const replies: AnyEventObject[] = [
        {
          type: 'RTMP.MESSAGE',
          message: buildResult(
            tid,
            { fmsVer: 'FMS/3,0,1,123' },
            {
              level: 'status',
              code: StatusCode.ConnectSuccess,
              description: 'Connection succeeded.',
            },
          ),
        },
        { type: 'RTMP.MESSAGE', message: buildError(tid, null, CONNECT_REFUSALS.rejected) },
      ];
      if (!lean) {
        replies.push(
          { type: 'RTMP.MESSAGE', message: buildError(tid, null, CONNECT_REFUSALS.invalidApp) },
          { type: 'RTMP.MESSAGE', message: buildError(tid, null, CONNECT_REFUSALS.auth) },
          { type: 'RTMP.MESSAGE', message: buildOnStatus(CONNECT_REFUSALS.rejected) },
        );
      }
      return [...replies, ...(lean ? [] : duties), ...errors, hangUp, close];
    }
    const reconnecting = snapshot.matches({ session: 'reconnecting' });
    if (snapshot.matches({ session: 'connected' }) || reconnecting) {
      const out: AnyEventObject[] = [];
      if (reconnecting) {
        out.push(
          { type: 'NC.RECONNECT_DONE' },
          { type: 'NC.RECONNECT_FAILED', reason: 'NEW_CONNECTION_FAILED: REFUSED' },
        );
      } else if (!lean || Object.keys(ctx.streams).length > 0) {
        // Enhanced RTMP v2: the server asks the client to reconnect elsewhere.
        out.push({
          type: 'RTMP.MESSAGE',
          message: buildOnStatus({
            level: 'status',
            code: StatusCode.ConnectReconnectRequest,
            tcUrl: '//127.0.0.2/live',
            description: 'maintenance',
          }),
        });
      }
      const pending = Object.keys(ctx.pendingCreates).map(Number);
      const streams = Object.keys(ctx.streams).map(Number);
      // At most two streams at once and three createStream per socket keep the graph finite.
      if (pending.length + streams.length < 2 && ctx.nextTransactionId <= 4) out.push(createStream);
      for (const tid of pending) {
        out.push({
          type: 'RTMP.MESSAGE',
          message: buildResult(tid, null, streams.length ? streams[0] : 1),
        });
        if (!lean && streams.length === 0) {
          out.push({
            type: 'RTMP.MESSAGE',
            message: buildError(tid, null, { level: 'error', code: 'NetConnection.Call.Failed' }),
          });
        }
      }
      for (const streamId of streams) {
        out.push(
          {
            type: 'RTMP.MESSAGE',
            message: buildOnStatus({ level: 'status', code: StatusCode.PlayStart }, { streamId }),
          },
          // node-media-server: stream-level messages on message stream 0.
          {
            type: 'RTMP.MESSAGE',
            message: buildOnStatus({ level: 'status', code: StatusCode.PlayReset }),
          },
          { type: 'MEDIA.TICK', streamId, keyframe: true, timestamp: 40 },
          { type: 'NC.RELEASE_STREAM', streamId, requester: modelProbe.ref },
        );
      }
      out.push({ type: 'NC.SEND', message: buildPlay('probe', {}, { streamId: 1 }) });
      return [...out, ...(lean ? [] : duties), ...errors, hangUp, close];
    }
    if (snapshot.matches({ session: 'closing' })) {
      // Socket errors after our close are not reported; broken bytes still are.
      return [{ type: 'TRANSPORT.CLOSED', byPeer: false }, ...errorEvents(['PROTOCOL'])];
    }
    return [];
  };

  /** value, attempt, failure reason, streams: what tells the model's states apart. */
  const stateKey = (snapshot: AnyMachineSnapshot) => {
    const ctx = snapshot.context as NetConnectionContext;
    return {
      attempt: ctx.attempt,
      failure: ctx.failure?.reason ?? null,
      pending: Object.keys(ctx.pendingCreates),
      nextTransactionId: ctx.nextTransactionId,
      streams: Object.keys(ctx.streams),
    };
  };
  /**
   * What the replay must agree on: the state key, plus what follows from it (so the model's
   * states stay as many): the backoff chosen while waiting, the server's connect reply while
   * connected, the outcome at the end.
   */
  const project = (snapshot: AnyMachineSnapshot) => {
    const ctx = snapshot.context as NetConnectionContext;
    const connected = snapshot.matches({ session: 'connected' });
    return {
      ...stateKey(snapshot),
      retryDelay: snapshot.matches({ retrying: 'waiting' }) ? ctx.nextRetryDelay : null,
      server: connected
        ? [
            ctx.server?.info?.code ?? null,
            (ctx.server?.properties as { fmsVer?: unknown } | null | undefined)?.fmsVer ?? null,
          ]
        : null,
      outcome: (snapshot.output as { outcome?: string } | undefined)?.outcome ?? null,
    };
  };
  /** ... and whether the peer set an acknowledgement window (ACK_DUE needs one). */
  const serializeState = (snapshot: AnyMachineSnapshot): string =>
    JSON.stringify({
      value: snapshot.value,
      ...stateKey(snapshot),
      ackWindow: ((snapshot.context as NetConnectionContext).peer.ackWindow ?? 0) > 0,
    });

  /**
   * A live NetConnection on a scripted peer, with a simulated clock, invoked by a parent (as the
   * session supervisor does) that records what the connection tells it.
   */
  const harness = (inspect: (ev: InspectionEvent) => void) => {
    const clock = new SimulatedClock();
    const peer: ScriptedPeer = createScriptedPeer();
    const probe = createProbe();
    const logic = (options.machine ?? machine).provide({ actors: { transport: peer.transport } });
    const notices: AnyEventObject[] = [];
    const parent = setup({ actors: { connection: logic } }).createMachine({
      invoke: { id: 'connection-0', src: 'connection', input: baseInput(clock) },
      on: {
        '*': {
          actions: ({ event }) => {
            if (event.type.startsWith('CONNECTION.')) notices.push(event);
          },
        },
      },
    });
    const root = createActor(parent, { clock, inspect }).start();
    const actor = (root.getSnapshot().children as Record<string, AnyActor>)['connection-0'];
    const swap = (event: AnyEventObject): AnyEventObject =>
      'requester' in event ? { ...event, requester: probe.ref } : event;
    const socket = () => peer.socket('connection-0');
    const lastLog = () => probe.log[probe.log.length - 1];

    /** The stream probe's log and the PingResponses sent, before the step. */
    let logBefore = 0;
    let pingResponses = 0;
    const realize: ReplayHarness['realize'] = (event, { before }) => {
      logBefore = probe.log.length;
      pingResponses = peer.hasSocket('connection-0')
        ? socket()
            .receivedOf('UserControl')
            .filter((u) => u.event === 'PingResponse').length
        : 0;
      switch (event.type) {
        case 'NC.CONNECT':
        case 'NC.CLOSE':
        case 'NC.CREATE_STREAM':
        case 'NC.RELEASE_STREAM':
        case 'NC.SEND':
        case 'NC.RECONNECT_DONE':
        case 'NC.RECONNECT_FAILED':
          actor.send(swap(event) as never);
          return;
        case 'TRANSPORT.CONNECTED':
          socket().accept();
          return;
        case 'TRANSPORT.ERROR':
          socket().fail(event.code, event.message);
          return;
        case 'TRANSPORT.CLOSED':
          if (event.byPeer) socket().hangUp();
          else socket().confirmClose();
          return;
        case 'TRANSPORT.ACK_DUE':
          socket().ackDue();
          return;
        case 'RTMP.MESSAGE':
          socket().send(event.message);
          return;
        case 'MEDIA.TICK': {
          socket().sendKeyframe(event.streamId, event.timestamp);
          const tick = socket().delivered[socket().delivered.length - 1];
          if (JSON.stringify(tick) !== JSON.stringify(event)) {
            throw new ScriptError(`the transport reported ${JSON.stringify(tick)}`);
          }
          return;
        }
        case 'xstate.done.actor.handshake': {
          const output = event.output as { ok: boolean; reason?: string };
          if (output.ok) {
            socket().hello();
            socket().echo();
          } else if (output.reason === 'TIMEOUT') {
            clock.increment((before.context as NetConnectionContext).timeouts.handshake);
          } else if (output.reason === 'SOCKET_CLOSED') {
            socket().hangUp();
          } else {
            socket().hello(output.reason as 'BAD_VERSION' | 'BAD_DIGEST');
          }
          return;
        }
        default: {
          const delay = delayOf(logic, event.type, before);
          if (!delay) throw new ScriptError(`no way to realize ${event.type}`);
          clock.increment(delay.ms);
        }
      }
    };

    /** What the parent must have been told along one step, from the states before and after. */
    const expectedNotices = (before: AnyMachineSnapshot, actual: AnyMachineSnapshot): string[] => {
      const ctx = actual.context as NetConnectionContext;
      const out: string[] = [];
      const connected = { session: 'connected' } as const;
      const reconnecting = { session: 'reconnecting' } as const;
      if (actual.matches(reconnecting) && !before.matches(reconnecting)) {
        out.push('CONNECTION.RECONNECT_REQUESTED');
      }
      // The move timed out (the owner's NC.RECONNECT_FAILED is not told back): abandoned, then
      // connected entered anew (up again).
      if (
        before.matches(reconnecting) &&
        actual.matches(connected) &&
        ctx.reconnect?.reason === 'RECONNECT_TIMEOUT'
      ) {
        out.push('CONNECTION.RECONNECT_ABANDONED');
      }
      if (actual.matches(connected) && !before.matches(connected)) out.push('CONNECTION.UP');
      if (actual.matches('retrying') && !before.matches('retrying')) out.push('CONNECTION.DOWN');
      if (actual.matches('failed') && !before.matches('failed')) {
        // Out of attempts: the connection went down (retrying) on its way to failed.
        if (before.matches('session') && ctx.failure?.reason === 'RETRIES_EXHAUSTED') {
          out.push('CONNECTION.DOWN');
        }
        out.push(`CONNECTION.FAILED ${ctx.failure?.reason}`);
      }
      if (actual.matches('closed') && !before.matches('closed')) out.push('CONNECTION.CLOSED');
      return out;
    };
    let noticesSeen = 0;

    const check: NonNullable<ReplayHarness['check']> = ({ event, before, actual }) => {
      const ctx = actual.context as NetConnectionContext;
      const s = peer.hasSocket('connection-0') ? socket() : undefined;
      if (s && s.violations.length) throw new Error(s.violations.join('; '));
      const told = notices
        .slice(noticesSeen)
        .map((n) => (n.type === 'CONNECTION.FAILED' ? `${n.type} ${String(n.reason)}` : n.type));
      noticesSeen = notices.length;
      const expected = expectedNotices(before, actual);
      if (told.join() !== expected.join()) {
        throw new Error(`the parent was told [${told.join(', ')}], not [${expected.join(', ')}]`);
      }
      for (const n of notices) {
        if (n.connectionId !== 'connection-0') throw new Error(`a notice for ${n.connectionId}`);
      }
      if (actual.matches({ session: 'opening' }) && !s?.hasCommand('TRANSPORT.OPEN')) {
        throw new Error('opening without TRANSPORT.OPEN');
      }
      if (actual.matches({ session: 'connecting' })) {
        const connect = s?.lastReceived('connect');
        const chunk = s?.receivedOf('SetChunkSize')[0];
        if (!connect || connect.transactionId !== ctx.connectTransactionId || !chunk) {
          throw new Error('connecting without SetChunkSize and connect on the wire');
        }
      }
      if (!actual.matches('session') && s && !s.isStopped && before.matches('session')) {
        throw new Error('the transport actor outlived the session state');
      }
      if (event.type === 'RTMP.MESSAGE') {
        const m = event.message;
        if (
          m.type === 'WindowAckSize' &&
          s?.lastCommand('TRANSPORT.SET_ACK_WINDOW')?.windowSize !== m.windowSize
        ) {
          throw new Error('WindowAckSize did not set the transport ack window');
        }
        if (
          m.type === 'SetPeerBandwidth' &&
          s?.receivedOf('WindowAckSize').at(-1)?.windowSize !== ctx.windowAckSize
        ) {
          throw new Error(
            'Set Peer Bandwidth was not answered with our Window Acknowledgement Size',
          );
        }
        if (m.type === 'SetChunkSize' && ctx.peer.chunkSize !== m.chunkSize) {
          throw new Error(`the peer's chunk size is ${ctx.peer.chunkSize}, not ${m.chunkSize}`);
        }
        if (
          !(m.type === 'UserControl' && m.event === 'PingRequest') &&
          s &&
          s.receivedOf('UserControl').filter((u) => u.event === 'PingResponse').length !==
            pingResponses
        ) {
          throw new Error(`a ${m.type} was answered with a PingResponse`);
        }
        if (
          m.type === 'UserControl' &&
          m.event === 'PingRequest' &&
          !s?.receivedOf('UserControl').some((u) => u.event === 'PingResponse' && u.time === m.time)
        ) {
          throw new Error('PingRequest was not answered');
        }
        if (m.type === 'Command' && m.name === '_result' && typeof m.args[0] === 'number') {
          const answer = lastLog();
          const inUse = (before.context as NetConnectionContext).streams[String(m.args[0])];
          if (inUse ? answer?.type !== 'STREAM.CREATE_FAILED' : answer?.type !== 'STREAM.CREATED') {
            throw new Error(`createStream reply answered the requester with ${answer?.type}`);
          }
          if (!inUse && s?.lastCommand('TRANSPORT.ROUTE_MEDIA')?.streamId !== m.args[0]) {
            throw new Error('the new stream was not routed');
          }
        }
        if (
          m.type === 'Command' &&
          m.name === 'onStatus' &&
          actual.matches({ session: 'connected' })
        ) {
          if (lastLog()?.type !== 'RTMP.MESSAGE')
            throw new Error('onStatus was not routed to the stream');
        }
      }
      if (event.type === 'TRANSPORT.ACK_DUE') {
        const due = s?.delivered.filter((e) => e.type === 'TRANSPORT.ACK_DUE').at(-1);
        if (
          !due ||
          !s?.receivedOf('Acknowledgement').some((a) => a.sequenceNumber === due.sequenceNumber)
        ) {
          throw new Error('no Acknowledgement sent');
        }
      }
      if (event.type === 'MEDIA.TICK') {
        const known = streamFor((before.context as NetConnectionContext).streams, event.streamId);
        const routed = probe.log.length > logBefore && lastLog()?.type === 'MEDIA.TICK';
        if (known && !routed) throw new Error('the media tick was not routed to the stream');
        if (!known && probe.log.length > logBefore) {
          throw new Error(
            `a tick for stream ${event.streamId}, which it does not have, was routed`,
          );
        }
      }
      if (
        event.type === 'RTMP.MESSAGE' &&
        actual.matches({ session: 'reconnecting' }) &&
        actual.context.reconnect?.tcUrl !== 'rtmp://127.0.0.2/live'
      ) {
        throw new Error('the ReconnectRequest tcUrl was not resolved against ours');
      }
      if (event.type === 'NC.SEND' && s?.lastReceived('play') === undefined) {
        throw new Error('NC.SEND did not reach the wire');
      }
      if (event.type === 'NC.CREATE_STREAM') {
        if (
          before.matches({ session: 'connected' }) ||
          before.matches({ session: 'reconnecting' })
        ) {
          const sent = s?.lastReceived('createStream');
          if (
            !sent ||
            sent.transactionId !== (before.context as NetConnectionContext).nextTransactionId
          ) {
            throw new Error('createStream not sent with the next transaction id');
          }
        } else if (lastLog()?.type !== 'STREAM.CREATE_FAILED') {
          throw new Error('a createStream request while not connected was not refused');
        }
      }
    };

    return {
      actor,
      peer,
      clock,
      probe,
      socket,
      realize,
      check,
      dispose() {
        root.stop();
        probe.ref.stop();
      },
    };
  };

  /**
   * Path steps the runtime transport takes by itself: told to close while its socket is still
   * connecting, it answers TRANSPORT.CLOSED at once, so the steps the model takes in `closing`
   * after an NC.CLOSE in `opening` have already happened (an oracle replay skips them).
   */
  const answeredAtOnce = (path: ModelPath): number => {
    let n = 0;
    let prev = path.initial;
    let fromOpening = false;
    for (const step of path.steps) {
      if (fromOpening && prev.matches({ session: 'closing' })) n++;
      else fromOpening = false;
      if (step.event.type === 'NC.CLOSE' && prev.matches({ session: 'opening' })) {
        fromOpening = true;
      }
      prev = step.state;
    }
    return n;
  };

  /**
   * `closing` with a connected socket, left each way (closed, broken bytes, close timeout): the
   * walk reaches `closing` first from `opening`, where the transport answers at once.
   */
  const closingPaths = (): ModelPath[] => {
    const connected: AnyEventObject[] = [
      { type: 'NC.CONNECT' },
      { type: 'TRANSPORT.CONNECTED' },
      {
        type: 'xstate.done.actor.handshake',
        output: { ok: true, peer: { version: 3, form: 'digest' } },
      },
      {
        type: 'RTMP.MESSAGE',
        message: buildResult(
          1,
          { fmsVer: 'FMS/3,0,1,123' },
          {
            level: 'status',
            code: StatusCode.ConnectSuccess,
            description: 'Connection succeeded.',
          },
        ),
      },
    ];
    if (input.autostart) connected.shift();
    return [
      { type: 'TRANSPORT.CLOSED', byPeer: false },
      { type: 'TRANSPORT.ERROR', code: 'PROTOCOL', message: 'scripted PROTOCOL' },
      { type: 'xstate.after.closeTimeout.netConnection.session.closing' },
    ].map((last, i) =>
      pathFromEvents(machine, [...connected, { type: 'NC.CLOSE' }, last], {
        input,
        id: `closing#${i + 1}`,
      }),
    );
  };

  return {
    machine,
    input,
    answeredAtOnce,
    closingPaths,
    /** How to replay this model's paths: the transport answers some steps itself (oracle). */
    replayOptions: {
      mode: 'oracle' as const,
      events: (s: AnyMachineSnapshot) => events(s),
      project,
    },
    events: (s: AnyMachineSnapshot) => events(s),
    /** The main line and one failure of each kind: keeps getSimplePaths' path count small. */
    simpleEvents: (s: AnyMachineSnapshot) =>
      events(s, true).filter(
        (e) =>
          !(e.type === 'TRANSPORT.ERROR' && !s.matches({ session: 'opening' })) &&
          !(e.type === 'TRANSPORT.CLOSED' && s.matches({ session: 'opening' })) &&
          !(e.type === 'NC.CLOSE' && !s.matches({ session: 'connected' })) &&
          !(
            e.type === 'xstate.done.actor.handshake' &&
            (e.output as { reason?: string }).reason === 'SOCKET_CLOSED'
          ) &&
          e.type !== 'NC.SEND' &&
          e.type !== 'NC.RELEASE_STREAM',
      ),
    serializeState,
    project,
    harness,
  };
}
