import { connect } from 'node:net';
import * as path from 'node:path';
import {
  type AnyEventObject,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type InspectionEvent,
} from 'xstate';
import {
  serverConnectionMachine,
  type ServerConnectionContext,
  type ServerConnectionInput,
} from '../../machines/serverConnectionMachine';
import { serverStreamMachine, type ServerStreamContext } from '../../machines/serverStreamMachine';
import { serverSupervisorMachine } from '../../machines/serverSupervisorMachine';
import { createSession } from '../../src/client';
import { maskValue } from '../../src/redact';
import type { MediaMessage } from '../../src/io/media';
import { RtmpServer, type ServerEvent } from '../../src/server/server';
import {
  coverage,
  delayOf,
  formatCoverage,
  replayPath,
  walkPaths,
  type ModelPath,
  type ReplayHarness,
  type ReplayRecord,
} from '../../src/testing/paths';
import {
  connectionEvents,
  connectionHarness,
  handshakeDone,
  serverSerializeState,
  streamEvents,
  streamHarness,
  supervisorEvents,
  supervisorHarness,
} from '../../src/testing/models/server';
import { ServerRuntime, TEST_CONNECTION_OPTIONS } from '../../src/testing/serverRuntime';
import { buildConnect, type RtmpMessage } from '../../src/protocol/message';
import { waitFor } from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

// The stand-in IO models (events, harnesses) are shared with the mutation suite:
// src/testing/models/server.ts.

// ------------------------------------------------------------------ the real runtime, real bytes

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
function connectionRuntimeEvents(snapshot: AnyMachineSnapshot): AnyEventObject[] {
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

const RUNTIME_INPUT: ServerConnectionInput = {
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
function connectionRuntimeHarness() {
  return (inspect: (ev: InspectionEvent) => void): ReplayHarness => {
    const rt = new ServerRuntime(RUNTIME_INPUT, inspect);
    let helloSent = false;
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
function streamRuntimeEvents(snapshot: AnyMachineSnapshot): AnyEventObject[] {
  return streamEvents(snapshot);
}

/**
 * The serverStream model on the real runtime: NetStream 1 of a real server connection (after a
 * real handshake, connect and createStream), driven by the client's publish, play, closeStream
 * and deleteStream bytes, the authorizer's decisions and the registry's answers; every reply
 * the server writes on the stream is decoded and checked.
 */
function streamRuntimeHarness(path: ModelPath) {
  return (inspect: (ev: InspectionEvent) => void): ReplayHarness => {
    let live = false;
    const rt = new ServerRuntime(RUNTIME_INPUT, (ev) => {
      if (live) inspect(ev);
    });
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
            if (action === 'publish') rt.publish(1, 'cam');
            else rt.play(1, 'cam');
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
            rt.authorize(1, output);
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
            rt.registry.players.get('cam')?.publisherStopped();
            return;
          case 'STREAM.PUBLISHER_STARTED':
            rt.registry.players.get('cam')?.publisherStarted();
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
          expect(rt.registry.published.has('cam')).toBe(true);
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
          expect(rt.registry.players.has('cam')).toBe(true);
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

interface ServerModel {
  machine: AnyStateMachine;
  input: unknown;
  events: (snapshot: AnyMachineSnapshot) => AnyEventObject[];
  harness: (path: ModelPath) => (inspect: (ev: InspectionEvent) => void) => ReplayHarness;
  /** What the replays run on. */
  runtime: 'real bytes' | 'stand-in IO';
  finals: string[];
  /**
   * Transitions the real runtime cannot take (with why), replayed on the machine alone with
   * direct events: the coverage of the real replays must miss exactly these.
   */
  alone?: {
    events: (snapshot: AnyMachineSnapshot) => AnyEventObject[];
    harness: (inspect: (ev: InspectionEvent) => void) => ReplayHarness;
    unreachable: Record<string, string>;
  };
}

const models: ServerModel[] = [
  {
    machine: serverConnectionMachine as AnyStateMachine,
    input: RUNTIME_INPUT,
    events: connectionRuntimeEvents,
    harness: () => connectionRuntimeHarness(),
    runtime: 'real bytes',
    finals: [
      'awaitingConnect',
      'connected.idle',
      'connected.publishing',
      'connected.active',
      'closing',
      'closed',
      'failed',
    ],
    alone: {
      events: connectionEvents,
      harness: connectionHarness(RUNTIME_INPUT),
      unreachable: {
        'serverConnection.connected.idle:SERVER.STREAM_ROLE:1':
          'a NetStream is authorizing (active) before it publishes: idle never sees publishing first',
      },
    },
  },
  {
    machine: serverStreamMachine as AnyStateMachine,
    input: { streamId: 1, connectionId: 1, authorizeTimeoutMs: 1_000 },
    events: streamRuntimeEvents,
    harness: (path) => streamRuntimeHarness(path),
    runtime: 'real bytes',
    finals: [
      'authorizing',
      'authorized',
      'publishing',
      'playing',
      'waitingForPublisher',
      'unauthorized',
      'badName',
      'notFound',
      'closed',
    ],
    alone: {
      events: streamEvents,
      harness: streamHarness({ streamId: 1, connectionId: 1, authorizeTimeoutMs: 1_000 }),
      unreachable: {
        'serverStream.authorized:STREAM.END:0':
          'the registry answers at once: the IO leaves authorized in the step that entered it',
        'serverStream.authorized:STREAM.DELETE:0':
          'the registry answers at once: the IO leaves authorized in the step that entered it',
      },
    },
  },
  {
    machine: serverSupervisorMachine as AnyStateMachine,
    input: {
      maxConnections: 2,
      maxConnectionsPerAddress: 1,
      connection: { handshakeTimeoutMs: 1_000, connectTimeoutMs: 2_000 },
    },
    events: supervisorEvents,
    harness: () =>
      supervisorHarness({
        maxConnections: 2,
        maxConnectionsPerAddress: 1,
        connection: { handshakeTimeoutMs: 1_000, connectTimeoutMs: 2_000 },
      }),
    runtime: 'stand-in IO',
    finals: ['stopped', 'failed'],
  },
];

/**
 * Each server machine's size, pinned (states, transitions): a state or transition added or lost
 * shows here first.
 */
const PINNED_TOTALS: Record<string, { states: number; transitions: number }> = {
  serverSupervisor: { states: 6, transitions: 10 },
  serverConnection: { states: 9, transitions: 31 },
  serverStream: { states: 10, transitions: 23 },
};

describe.each(models)('$machine.id machine (model-based, on $runtime)', (model) => {
  const records: ReplayRecord[] = [];
  const paths = walkPaths(model.machine, {
    input: model.input as never,
    events: model.events,
    // The second NetStream only on the shortest and completing paths (simple paths would explode).
    simpleEvents: (s) => model.events(s).filter((e) => (e as { streamId?: number }).streamId !== 2),
    serializeState: serverSerializeState,
  });

  it('has paths to every state that matters', () => {
    const reached = (p: (typeof paths)[number], state: string) =>
      p.steps.some((step) => step.state.matches(state));
    for (const state of model.finals) {
      expect(paths.some((p) => reached(p, state))).toBe(true);
    }
  });

  it.each(paths.map((p) => [p.id, p.description, p] as const))(
    'follows the model along %s: %s',
    (_id, _description, p) => {
      records.push(
        replayPath(model.machine, p, model.harness(p), { mode: 'oracle', events: model.events }),
      );
    },
  );

  it('reaches every state and takes every transition the runtime can take in the replays', () => {
    const report = coverage(model.machine, records, model.input);
    console.log(`${formatCoverage(report)} (${model.runtime})`);
    expect(report.states.missing).toEqual([]);
    expect(report.transitions.missing).toEqual(Object.keys(model.alone?.unreachable ?? {}).sort());
    expect({ states: report.states.total, transitions: report.transitions.total }).toEqual(
      PINNED_TOTALS[model.machine.id],
    );
  });

  if (model.alone) {
    const alone = model.alone;
    it('takes the transitions the runtime cannot take on the machine alone, so all are covered', () => {
      const own: ReplayRecord[] = [];
      for (const p of walkPaths(model.machine, {
        input: model.input as never,
        events: alone.events,
        serializeState: serverSerializeState,
      })) {
        if (!p.steps.length) continue;
        own.push(
          replayPath(model.machine, p, alone.harness, { mode: 'oracle', events: alone.events }),
        );
      }
      const unreachable = new Set(Object.keys(alone.unreachable));
      const extra: ReplayRecord[] = own.map((r) => ({
        ...r,
        transitions: r.transitions.filter((t) => unreachable.has(t)),
      }));
      const report = coverage(model.machine, [...records, ...extra], model.input);
      console.log(
        `${formatCoverage(report)} (real bytes, plus ${unreachable.size} on the machine alone)`,
      );
      expect(report.states.missing).toEqual([]);
      expect(report.transitions.missing).toEqual([]);
      expect(report.transitions.ratio).toBe(1);
    });
  }
});

describe('the embedded server runs on the server statecharts', () => {
  let server: RtmpServer;
  let port: number;
  const events: ServerEvent[] = [];
  beforeAll(async () => {
    server = new RtmpServer({ port: 0, handshakeTimeoutMs: 300 });
    server.events$.subscribe((e) => events.push(e));
    ({ port } = await server.listen());
  });
  afterAll(async () => {
    await server.close();
  });

  it('takes a publisher and a player to connected, publishing and playing', async () => {
    const base = `rtmp://127.0.0.1:${port}/live`;
    const publisher = createSession({ url: base });
    const published = publisher.publish('cam', SMALL_FLV, { loop: true });
    const publishing = await waitFor(
      () =>
        server
          .machines()
          .some((c) => [...c.streams.values()].some((s) => s.value === 'publishing')),
      10_000,
    );
    const player = createSession({ url: base });
    const media: MediaMessage[] = [];
    const handle = player.play('cam', { start: -1 });
    handle.media$.subscribe((m) => media.push(m));
    const playing = await waitFor(
      () =>
        media.length > 0 &&
        server.machines().some((c) => [...c.streams.values()].some((s) => s.value === 'playing')),
      10_000,
    );
    const machines = server.machines();
    await handle.stop();
    await player.close();
    await published.stop();
    await publisher.close();

    expect(publishing).toBe(true);
    expect(playing).toBe(true);
    expect(machines.map((m) => m.connection.value)).toEqual([
      { connected: 'publishing' },
      { connected: 'active' },
    ]);
    expect(machines.every((m) => m.connection.context.app === 'live')).toBe(true);
    const player0 = machines.find((m) =>
      [...m.streams.values()].some((s) => s.value === 'playing'),
    );
    // The machines see stream names masked: a stream key never reaches a snapshot.
    expect([...player0!.streams.values()].find((s) => s.value === 'playing')?.context.label).toBe(
      maskValue('cam'),
    );
    expect(server.stats().clients.every((c) => c.phase === 'closed' || c.phase === 'connected'));
  }, 30_000);

  it('closes a connection whose handshake never comes on the handshakeTimeout delay', async () => {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const seen = await waitFor(() => server.machines().length > 0, 2_000);
    const before = server.machines().map((m) => m.connection.value);
    const closed = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 3_000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    socket.destroy();
    expect(seen).toBe(true);
    expect(before).toContain('handshaking');
    expect(closed).toBe(true);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'close', reason: 'handshake timeout' }),
    );
  });
});
