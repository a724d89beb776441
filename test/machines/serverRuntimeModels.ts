/**
 * The server machines' models on the real runtime, real bytes: a real ServerConnection (byte
 * pipeline, ServerSession decisions) on an in-memory socket, facing a scripted client that speaks
 * real RTMP bytes (src/testing/serverRuntime.ts), with the real handshake and serverStream actors.
 * For each state, the events the runtime can be made to report; a harness per machine that makes
 * each happen with the client's bytes (or the authorizer's decision, or the clock) and checks
 * every reply the server writes.
 *
 * Shared by test/machines/serverMachines.test.ts (coverage of the originals) and
 * test/mutation/server.test.ts (each harness takes the machines to run: a mutant in place of an
 * original). Paths always come from the original machines.
 */
import type { AnyEventObject, AnyMachineSnapshot, AnyStateMachine, InspectionEvent } from 'xstate';
import {
  serverConnectionMachine,
  type ServerConnectionContext,
  type ServerConnectionFailure,
  type ServerConnectionInput,
} from '../../machines/serverConnectionMachine';
import { serverStreamMachine, type ServerStreamContext } from '../../machines/serverStreamMachine';
import type { ServerMachines } from '../../src/server/registry';
import { delayOf, walkPaths, type ModelPath, type ReplayHarness } from '../../src/testing/paths';
import { handshakeDone, serverSerializeState, streamEvents } from '../../src/testing/models/server';
import { ServerRuntime, TEST_CONNECTION_OPTIONS } from '../../src/testing/serverRuntime';
import { buildConnect, type RtmpMessage } from '../../src/protocol/message';

/** The machines a real-bytes harness runs: the originals unless given (a mutant). */
export type RuntimeMachines = Partial<Pick<ServerMachines, 'connection' | 'stream'>>;

/**
 * A client's chunk that breaks the protocol: Set Chunk Size 0 (the server's chunk decoder
 * refuses it with CHUNK_SIZE_INVALID, a protocol error).
 */
const SET_CHUNK_SIZE_ZERO = Buffer.from(
  [
    '02', // fmt 0, csid 2
    '00 00 00', // timestamp 0
    '00 00 04', // message length 4
    '01', // type 1: Set Chunk Size
    '00 00 00 00', // message stream id 0
    '00 00 00 00', // u32 chunk size 0
  ]
    .join(' ')
    .replace(/ /g, ''),
  'hex',
);

const REFUSED = {
  type: 'SERVER.STREAM_AUTHORIZATION',
  streamId: 1,
  action: 'publish',
  allowed: false,
  reason: 'hook answered 403',
};

/** Enhanced RTMP's CapsEx.Reconnect bit, as a client's connect advertises it. */
const CAPS_EX_RECONNECT = 1;
const reconnectRequest = { type: 'SERVER.REQUEST_RECONNECT', tcUrl: 'rtmp://127.0.0.2/live' };

/**
 * What the real runtime can be made to report, in each state of the serverConnection model: the
 * harness realizes each with a scripted client's bytes (or the authorizer's decision, or the
 * clock), and the oracle follows whatever else the runtime reports on the way.
 */
export function connectionRuntimeEvents(snapshot: AnyMachineSnapshot): AnyEventObject[] {
  if (snapshot.status !== 'active') return [];
  const hangUp = { type: 'SERVER.CLOSED', reason: 'closed by peer' };
  const broken = { type: 'SERVER.ERROR', code: 'PROTOCOL_ERROR', message: 'bad chunk' };
  const shutdown = { type: 'SERVER.SHUTDOWN' };
  if (snapshot.matches('connected')) {
    const ctx = snapshot.context as ServerConnectionContext;
    const out: AnyEventObject[] = [];
    if (!ctx.streams.includes(1)) out.push({ type: 'SERVER.STREAM_CREATED', streamId: 1 });
    else {
      const role = ctx.roles[1] ?? 'idle';
      for (const r of ['authorizing', 'publishing', 'playing', 'idle'] as const) {
        if (r !== role) out.push({ type: 'SERVER.STREAM_ROLE', streamId: 1, role: r });
      }
      if (role === 'authorizing') out.push(REFUSED);
      out.push({ type: 'xstate.done.actor.stream-1', actorId: 'stream-1' });
    }
    // The owner's ReconnectRequest (RtmpServer.requestReconnect): sent to a client that
    // advertised CapsEx.Reconnect in its connect, refused otherwise.
    out.push(reconnectRequest);
    if (snapshot.matches({ connected: 'publishing' })) {
      out.push({ type: 'SERVER.RECEIVING' });
      // A second NetStream next to a publisher: created (idle), then authorizing (active).
      if (!ctx.streams.includes(2)) out.push({ type: 'SERVER.STREAM_CREATED', streamId: 2 });
    }
    if (ctx.streams.includes(2) && (ctx.roles[2] ?? 'idle') === 'idle') {
      out.push({ type: 'SERVER.STREAM_ROLE', streamId: 2, role: 'authorizing' });
    }
    return [...out, hangUp, broken, shutdown];
  }
  switch (snapshot.value) {
    case 'handshaking':
      return [
        handshakeDone({ ok: true, peer: { version: 3, form: 'simple' } }),
        { type: 'HANDSHAKE.FAILED', code: 'BAD_VERSION', message: 'client sent version 6' },
        handshakeDone({ ok: false, reason: 'TIMEOUT', message: 'no handshake within 1000 ms' }),
        hangUp,
        shutdown,
      ];
    case 'awaitingConnect':
      return [
        { type: 'SERVER.CONNECT', app: 'live' },
        { type: 'SERVER.CONNECT', app: 'live', capsEx: CAPS_EX_RECONNECT },
        { type: 'SERVER.CONNECT', app: 'other' },
        // Before connect: refused (NOT_CONNECTED).
        { type: 'SERVER.REQUEST_RECONNECT' },
        hangUp,
        broken,
        shutdown,
      ];
    case 'closing':
      return [{ type: 'SERVER.CLOSED', reason: 'server shutting down' }];
    default:
      return [];
  }
}

/**
 * What the server's log (events$ `close`) says when the connection fails, by the machine's
 * failure reason and message.
 */
const CLOSE_REASONS: Record<ServerConnectionFailure, (message: string) => string> = {
  HANDSHAKE_TIMEOUT: () => 'handshake timeout',
  HANDSHAKE_FAILED: (m) => `handshake failed: ${m}`,
  CONNECT_TIMEOUT: () => 'connect timeout',
  CONNECT_REJECTED: (m) => `connect rejected: ${m}`,
  IDLE_TIMEOUT: (m) => m,
  PUBLISHER_IDLE: (m) => m,
  PROTOCOL_ERROR: (m) => `error: ${m}`,
};

export const RUNTIME_INPUT: ServerConnectionInput = {
  connectionId: 1,
  handshakeTimeoutMs: 1_000,
  connectTimeoutMs: 2_000,
  idleTimeoutMs: 3_000,
  authorizeTimeoutMs: 1_000,
  apps: ['live'],
};

function statusOf(m: RtmpMessage | undefined): string | undefined {
  if (m?.type !== 'Command') return undefined;
  return String((m.args[0] as { code?: unknown } | undefined)?.code);
}

/** Makes NetStream 1 of the runtime report `role`, the way a client would. */
function makeRole(rt: ServerRuntime, role: string): void {
  const stream = rt.stream(1)?.getSnapshot() as
    { value: string; context: ServerStreamContext } | undefined;
  const pendingAction = stream?.value === 'authorizing' ? stream.context.action : undefined;
  switch (role) {
    case 'authorizing':
      rt.publish(1, 'cam');
      return;
    case 'publishing':
      rt.registry.claim = 'ok';
      if (pendingAction !== 'publish') rt.publish(1, 'cam');
      rt.authorize(1, { allowed: true });
      return;
    case 'playing':
      rt.registry.lookUp = 'playing';
      if (pendingAction !== 'play') rt.play(1, 'cam');
      rt.authorize(1, { allowed: true });
      return;
    default:
      rt.closeStream(1);
  }
}

/**
 * The serverConnection model on the real runtime: a real ServerConnection (the byte pipeline,
 * the ServerSession's decisions) on an in-memory socket, a scripted client's bytes, the real
 * handshake and serverStream actors; every step's replies are decoded and checked.
 */
export function connectionRuntimeHarness(machines: RuntimeMachines = {}) {
  return (inspect: (ev: InspectionEvent) => void): ReplayHarness => {
    const rt = new ServerRuntime(RUNTIME_INPUT, inspect, {}, machines);
    let helloSent = false;
    let shutDown = false;
    let mark = 0;
    const since = (): RtmpMessage[] => rt.received.slice(mark);
    return {
      actor: rt.actor,
      realize(event, { before }) {
        mark = rt.received.length;
        switch (event.type) {
          case 'xstate.done.actor.handshake': {
            const output = (event as unknown as { output: { ok: boolean } }).output;
            if (!output.ok) {
              rt.clock.increment((before.context as ServerConnectionContext).timeouts.handshake);
              return;
            }
            if (!helloSent) rt.hello();
            helloSent = true;
            rt.echo();
            return;
          }
          case 'HANDSHAKE.FAILED':
            rt.hello(6);
            return;
          case 'SERVER.CONNECT': {
            const { app, capsEx } = event as unknown as { app: string; capsEx?: number };
            if (capsEx === undefined) rt.connect(app);
            else {
              rt.send(
                buildConnect({
                  app,
                  tcUrl: `rtmp://127.0.0.1/${app}`,
                  flashVer: 'MODEL',
                  extra: { capsEx },
                }),
              );
            }
            return;
          }
          case 'SERVER.REQUEST_RECONNECT':
            // What RtmpServer.requestReconnect does: the owner's command to the connection.
            rt.actor.send(event as never);
            return;
          case 'SERVER.CLOSED':
            rt.hangUp();
            return;
          case 'SERVER.ERROR':
            rt.write(SET_CHUNK_SIZE_ZERO);
            return;
          case 'SERVER.SHUTDOWN':
            rt.actor.send({ type: 'SERVER.SHUTDOWN' });
            return;
          case 'SERVER.STREAM': {
            // Not in the walk (directed paths only): the client's closeStream or deleteStream.
            const { streamId, event: command } = event as unknown as {
              streamId: number;
              event: { type: string };
            };
            if (command.type === 'STREAM.END') rt.closeStream(streamId);
            else if (command.type === 'STREAM.DELETE') rt.deleteStream(streamId);
            else throw new Error(`no way to realize ${command.type} on stream ${streamId}`);
            return;
          }
          case 'SERVER.STREAM_CREATED':
            if ((event as unknown as { streamId: number }).streamId === 2) {
              rt.createStream();
              return;
            }
            // NetStream 1 ended (refused) stays known to the session: a publish on its id makes
            // it anew (nginx-rtmp is as lenient); a first one comes from createStream.
            if (rt.registry.connection?.session.roleOf(1) === 'ended') rt.publish(1, 'cam');
            else rt.createStream();
            return;
          case 'SERVER.STREAM_ROLE': {
            const { streamId, role } = event as unknown as { streamId: number; role: string };
            if (streamId === 2) rt.publish(2, 'cam2');
            else makeRole(rt, role);
            return;
          }
          case 'SERVER.STREAM_AUTHORIZATION':
            rt.authorize(1, { allowed: false, reason: 'hook answered 403' });
            return;
          case 'xstate.done.actor.stream-1':
            // The stream ends in a final state: the authorizer refuses it.
            if (rt.stream(1)?.getSnapshot().value !== 'authorizing') rt.publish(1, 'cam');
            rt.authorize(1, { allowed: false, reason: 'hook answered 403' });
            return;
          case 'SERVER.RECEIVING':
            rt.clock.increment(TEST_CONNECTION_OPTIONS.receivingReportMs);
            rt.send({ type: 'Acknowledgement', sequenceNumber: 1, timestamp: 0, streamId: 0 });
            return;
          default: {
            const delay = delayOf(serverConnectionMachine, event.type, before);
            if (!delay) throw new Error(`no way to realize ${event.type}`);
            rt.clock.increment(delay.ms);
          }
        }
      },
      check({ event, actual }) {
        const got = since();
        const codes = got.map(statusOf).filter((c) => c !== undefined);
        if (event.type === 'SERVER.CONNECT' && actual.matches('connected')) {
          const types = got.map((m) => m.type);
          expect(types.slice(0, 4)).toEqual([
            'WindowAckSize',
            'SetPeerBandwidth',
            'SetChunkSize',
            'UserControl',
          ]);
          expect(got[0]).toMatchObject({ windowSize: TEST_CONNECTION_OPTIONS.windowAckSize });
          expect(got[2]).toMatchObject({ chunkSize: TEST_CONNECTION_OPTIONS.chunkSize });
          expect(got[4]).toMatchObject({ type: 'Command', name: '_result', transactionId: 1 });
          expect(codes).toEqual(['NetConnection.Connect.Success']);
        }
        if (event.type === 'SERVER.REQUEST_RECONNECT') {
          const sent =
            (actual.context as ServerConnectionContext).reconnectRequest?.outcome === 'sent';
          // Sent: onStatus NetConnection.Connect.ReconnectRequest; refused: nothing on the wire.
          expect(codes).toEqual(sent ? ['NetConnection.Connect.ReconnectRequest'] : []);
        }
        if (event.type === 'SERVER.CONNECT' && !actual.matches('connected')) {
          expect(got).toHaveLength(1);
          expect(got[0]).toMatchObject({ type: 'Command', name: '_error', transactionId: 1 });
          expect(codes).toEqual(['NetConnection.Connect.Rejected']);
          expect(rt.socket.ended).toBe(true);
        }
        if (event.type === 'SERVER.STREAM_CREATED' && got.some((m) => m.type === 'Command')) {
          const reply = got.find((m) => m.type === 'Command' && m.name === '_result');
          expect(reply).toMatchObject({
            args: [(event as unknown as { streamId: number }).streamId],
          });
        }
        if (event.type === 'SERVER.STREAM_ROLE') {
          const role = (event as unknown as { role: string }).role;
          if (role === 'publishing') expect(codes.at(-1)).toBe('NetStream.Publish.Start');
          if (role === 'playing') {
            expect(codes.slice(-2)).toEqual(['NetStream.Play.Reset', 'NetStream.Play.Start']);
            expect(got.at(-1)).toMatchObject({ type: 'Data', name: '|RtmpSampleAccess' });
          }
          if (role === 'authorizing') {
            // Nothing is claimed before the authorizer answers.
            expect(codes.filter((c) => /Start$/.test(c))).toEqual([]);
          }
        }
        if (event.type === 'SERVER.STREAM_AUTHORIZATION') {
          expect(codes).toEqual(['NetStream.Publish.Unauthorized']);
          expect(rt.registry.published.size).toBe(0);
        }
        if (event.type === 'SERVER.SHUTDOWN') shutDown = true;
        if (actual.status === 'done' || event.type === 'SERVER.SHUTDOWN') {
          // The server closed the socket (at once on shutdown) and its log says why, once.
          expect(rt.socket.destroyed || rt.socket.ended).toBe(true);
          const failure = (actual.context as ServerConnectionContext).failure;
          const closes = rt.registry.log.filter((e) => e.type === 'close').map((e) => e.reason);
          expect(closes).toEqual([
            failure
              ? CLOSE_REASONS[failure.reason](failure.message)
              : shutDown
                ? 'server shutting down'
                : 'closed by peer',
          ]);
        }
        if (actual.status === 'done') {
          expect(rt.socket.destroyed || rt.socket.ended).toBe(true);
          // Every NetStream ended with the connection: no name stays published or played.
          expect(rt.registry.published.size).toBe(0);
          expect(rt.registry.players.size).toBe(0);
        }
        if (event.type === 'SERVER.ERROR') {
          expect(rt.registry.log.filter((e) => e.type === 'error')).toHaveLength(1);
        }
      },
      dispose: () => rt.stop(),
    };
  };
}

/**
 * What the real runtime can be made to do to NetStream 1, in each state of the serverStream
 * model. The registry's and the authorizer's answers are the harness's to choose.
 */
export function streamRuntimeEvents(snapshot: AnyMachineSnapshot): AnyEventObject[] {
  return streamEvents(snapshot);
}

/**
 * The name NetStream 1 publishes or plays in the serverStream model: `cam`, with a token, as
 * real clients send it (the registry gets the whole name; the NetStream sees it masked).
 */
const STREAM_REQUEST_NAME = 'cam?token=model-secret';
/**
 * The authorizer allows every publish under another name (nginx-rtmp's redirect), its query
 * kept; plays keep their name.
 */
const PUBLISH_RENAME = 'studio';
const PUBLISHED_NAME = 'studio?token=model-secret';

/**
 * The serverStream model on the real runtime: NetStream 1 of a real server connection (after a
 * real handshake, connect and createStream), driven by the client's publish, play, closeStream
 * and deleteStream bytes, the authorizer's decisions and the registry's answers; every reply
 * the server writes on the stream is decoded and checked.
 */
export function streamRuntimeHarness(path: ModelPath, machines: RuntimeMachines = {}) {
  return (inspect: (ev: InspectionEvent) => void): ReplayHarness => {
    let live = false;
    const rt = new ServerRuntime(
      RUNTIME_INPUT,
      (ev) => {
        if (live) inspect(ev);
      },
      {},
      machines,
    );
    rt.hello();
    rt.echo();
    rt.connect('live');
    rt.createStream();
    const actor = rt.stream(1);
    if (!actor) throw new Error('createStream made no serverStream actor');
    live = true;
    let mark = 0;
    let lastAction: string | undefined;
    return {
      actor: actor as never,
      realize(event, { before, index }) {
        mark = rt.received.length;
        const next = path.steps[index + 1]?.event as { type: string; outcome?: string } | undefined;
        switch (event.type) {
          case 'STREAM.REQUEST': {
            const action = (event as unknown as { action: string }).action;
            lastAction = action;
            if (action === 'publish') rt.publish(1, STREAM_REQUEST_NAME);
            else rt.play(1, STREAM_REQUEST_NAME);
            return;
          }
          case 'xstate.done.actor.authorize': {
            const output = (event as unknown as { output: { allowed: boolean; reason?: string } })
              .output;
            // The registry answers what the path's next step says it answered.
            rt.registry.claim =
              next?.type === 'STREAM.PUBLISH' && next.outcome === 'badName' ? 'badName' : 'ok';
            rt.registry.lookUp =
              next?.type === 'STREAM.PLAY' ? (next.outcome as 'playing') : 'playing';
            rt.authorize(
              1,
              output.allowed && lastAction === 'publish'
                ? { ...output, name: PUBLISH_RENAME }
                : output,
            );
            return;
          }
          case 'xstate.error.actor.authorize':
            rt.authorize(1, new Error('hook unreachable'));
            return;
          case 'STREAM.END':
            rt.closeStream(1);
            return;
          case 'STREAM.DELETE':
            rt.deleteStream(1);
            return;
          case 'STREAM.PUBLISHER_STOPPED':
            rt.registry.players.get(STREAM_REQUEST_NAME)?.publisherStopped();
            return;
          case 'STREAM.PUBLISHER_STARTED':
            rt.registry.players.get(STREAM_REQUEST_NAME)?.publisherStarted();
            return;
          default: {
            const delay = delayOf(serverStreamMachine, event.type, before);
            if (!delay) throw new Error(`no way to realize ${event.type}`);
            rt.clock.increment(delay.ms);
          }
        }
      },
      check({ event, actual }) {
        const got = rt.received.slice(mark).filter((m) => m.streamId === 1);
        const codes = got.map(statusOf).filter((c) => c !== undefined);
        const state = actual.value as string;
        if (event.type === 'STREAM.REQUEST') expect(codes).toEqual([]);
        if (state === 'publishing' && event.type !== 'STREAM.REQUEST') {
          expect(codes).toEqual(['NetStream.Publish.Start']);
          expect(rt.registry.published.has(PUBLISHED_NAME)).toBe(true);
        }
        if (state === 'badName') expect(codes).toEqual(['NetStream.Publish.BadName']);
        if (state === 'notFound') expect(codes).toEqual(['NetStream.Play.StreamNotFound']);
        if (state === 'unauthorized') {
          expect(codes).toEqual([
            lastAction === 'publish' ? 'NetStream.Publish.Unauthorized' : 'NetStream.Play.Failed',
          ]);
        }
        if (
          (state === 'playing' || state === 'waitingForPublisher') &&
          event.type.startsWith('xstate.')
        ) {
          expect(codes).toEqual(['NetStream.Play.Reset', 'NetStream.Play.Start']);
          expect(rt.registry.players.has(STREAM_REQUEST_NAME)).toBe(true);
        }
        if (event.type === 'STREAM.PUBLISHER_STOPPED') {
          expect(codes).toEqual(['NetStream.Play.UnpublishNotify']);
        }
        if (event.type === 'STREAM.PUBLISHER_STARTED') {
          expect(codes).toEqual(['NetStream.Play.PublishNotify']);
        }
        if ((event.type === 'STREAM.END' || event.type === 'STREAM.DELETE') && codes.length > 0) {
          expect(codes).toEqual(['NetStream.Unpublish.Success']);
        }
        if (state === 'created' || state === 'closed') {
          expect(rt.registry.published.size).toBe(0);
          expect(rt.registry.players.size).toBe(0);
        }
      },
      dispose: () => rt.stop(),
    };
  };
}

/** The serverStream model's input (NetStream 1 of connection 1). */
export const STREAM_RUNTIME_INPUT = { streamId: 1, connectionId: 1, authorizeTimeoutMs: 1_000 };

/** A server machine's model on the real runtime. */
export interface RuntimeModel {
  machine: AnyStateMachine;
  input: unknown;
  events: (snapshot: AnyMachineSnapshot) => AnyEventObject[];
  /** The harness for `path`, running `machines` (the originals unless given). */
  harness: (
    path: ModelPath,
    machines?: RuntimeMachines,
  ) => (inspect: (ev: InspectionEvent) => void) => ReplayHarness;
}

export const connectionRuntimeModel: RuntimeModel = {
  machine: serverConnectionMachine as AnyStateMachine,
  input: RUNTIME_INPUT,
  events: connectionRuntimeEvents,
  harness: (_path, machines) => connectionRuntimeHarness(machines),
};

export const streamRuntimeModel: RuntimeModel = {
  machine: serverStreamMachine as AnyStateMachine,
  input: STREAM_RUNTIME_INPUT,
  events: streamRuntimeEvents,
  harness: (path, machines) => streamRuntimeHarness(path, machines),
};

/**
 * The walk of a model on the real runtime: shortest, simple and transition-completing paths of
 * the original machine (`simple: false` leaves the simple ones out, the completing paths then
 * covering what they took); the second NetStream only on the shortest and completing paths
 * (simple paths would explode).
 */
export function runtimePaths(
  model: Pick<RuntimeModel, 'machine' | 'input' | 'events'>,
  options: { simple?: boolean } = {},
): ModelPath[] {
  return walkPaths(model.machine, {
    input: model.input as never,
    events: model.events,
    simpleEvents: (s) => model.events(s).filter((e) => (e as { streamId?: number }).streamId !== 2),
    serializeState: serverSerializeState,
    ...(options.simple === false ? { skip: ['simple' as const] } : {}),
  });
}
