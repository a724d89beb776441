import { connect } from 'node:net';
import * as path from 'node:path';
import {
  createActor,
  fromCallback,
  fromPromise,
  setup,
  SimulatedClock,
  type AnyActorRef,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type InspectionEvent,
} from 'xstate';
import { serverConnectionMachine } from '../../machines/serverConnectionMachine';
import { serverStreamMachine } from '../../machines/serverStreamMachine';
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
  type ReplayHarness,
  type ReplayRecord,
} from '../../src/testing/paths';
import { waitFor } from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

const CLOSE_EVENTS = [
  { type: 'SERVER.CLOSED', reason: 'closed by peer' },
  { type: 'SERVER.ERROR', code: 'PROTOCOL_ERROR', message: 'bad chunk' },
  { type: 'SERVER.SHUTDOWN' },
];

const handshakeDone = (output: unknown) => ({ type: 'xstate.done.actor.handshake', output });

function connectionEvents(snapshot: AnyMachineSnapshot): AnyEventObject[] {
  if (snapshot.status !== 'active') return [];
  const context = snapshot.context as { streams: number[] };
  if (snapshot.matches('connected')) {
    const known = context.streams.includes(1);
    return [
      { type: 'SERVER.STREAM_CREATED', streamId: 1 },
      {
        type: 'SERVER.STREAM',
        streamId: 1,
        event: { type: 'STREAM.REQUEST', action: 'publish', label: 'ca***' },
      },
      {
        type: 'SERVER.STREAM_AUTHORIZATION',
        streamId: 1,
        action: 'publish',
        allowed: false,
        reason: 'hook answered 403',
      },
      ...(known
        ? [
            { type: 'SERVER.STREAM_ROLE', streamId: 1, role: 'publishing' },
            { type: 'SERVER.STREAM_ROLE', streamId: 1, role: 'playing' },
            { type: 'SERVER.STREAM_ROLE', streamId: 1, role: 'idle' },
            { type: 'xstate.done.actor.stream-1' },
          ]
        : []),
      { type: 'SERVER.RECEIVING' },
      // Sent when the client advertised CapsEx.Reconnect, refused otherwise.
      { type: 'SERVER.REQUEST_RECONNECT', tcUrl: 'rtmp://127.0.0.2/live' },
      ...CLOSE_EVENTS,
    ];
  }
  switch (snapshot.value) {
    case 'handshaking':
      return [
        { type: 'HANDSHAKE.PEER_HELLO', version: 3, form: 'simple' },
        { type: 'HANDSHAKE.PEER_ECHO' },
        { type: 'HANDSHAKE.FAILED', code: 'BAD_VERSION', message: 'version 6' },
        handshakeDone({ ok: true, peer: { version: 3, form: 'simple' } }),
        handshakeDone({ ok: false, reason: 'TIMEOUT', message: 'no handshake within 1000 ms' }),
        ...CLOSE_EVENTS,
      ];
    case 'awaitingConnect':
      return [
        { type: 'SERVER.CONNECT', app: 'live' },
        { type: 'SERVER.CONNECT', app: 'live', capsEx: 1 },
        { type: 'SERVER.CONNECT', app: 'other' },
        // Before connect: refused (NOT_CONNECTED).
        { type: 'SERVER.REQUEST_RECONNECT' },
        ...CLOSE_EVENTS,
      ];
    case 'closing':
      return [{ type: 'SERVER.CLOSED', reason: 'server shutting down' }];
    default:
      return [];
  }
}

function streamEvents(snapshot: AnyMachineSnapshot): AnyEventObject[] {
  if (snapshot.status !== 'active') return [];
  const end = [{ type: 'STREAM.END' }, { type: 'STREAM.DELETE' }];
  switch (snapshot.value) {
    case 'created':
      return [
        { type: 'STREAM.REQUEST', action: 'publish', label: 'ca***' },
        { type: 'STREAM.REQUEST', action: 'play', label: 'ca***' },
        { type: 'STREAM.DELETE' },
      ];
    case 'authorizing':
      return [
        { type: 'xstate.done.actor.authorize', output: { allowed: true } },
        {
          type: 'xstate.done.actor.authorize',
          output: { allowed: false, reason: 'hook answered 403' },
        },
        { type: 'xstate.error.actor.authorize', error: new Error('hook unreachable') },
        ...end,
      ];
    case 'authorized':
      return [
        { type: 'STREAM.PUBLISH', label: 'ca***', outcome: 'ok' },
        { type: 'STREAM.PUBLISH', label: 'ca***', outcome: 'badName' },
        { type: 'STREAM.PLAY', label: 'ca***', outcome: 'playing' },
        { type: 'STREAM.PLAY', label: 'ca***', outcome: 'waiting' },
        { type: 'STREAM.PLAY', label: 'ca***', outcome: 'notFound' },
        ...end,
      ];
    case 'playing':
      return [{ type: 'STREAM.PUBLISHER_STOPPED' }, ...end];
    case 'waitingForPublisher':
      return [{ type: 'STREAM.PUBLISHER_STARTED' }, ...end];
    default:
      return end;
  }
}

function supervisorEvents(snapshot: AnyMachineSnapshot): AnyEventObject[] {
  if (snapshot.status !== 'active') return [];
  const context = snapshot.context as { connections: string[] };
  const accept = { type: 'LISTENER.ACCEPT', connectionId: 1, address: '127.0.0.2' };
  const perAddress = (snapshot.context as { perAddress: Record<string, number> }).perAddress;
  // A second client from the same address, while the first is open (maxConnectionsPerAddress 1).
  const again =
    (perAddress['127.0.0.2'] ?? 0) > 0
      ? [{ type: 'LISTENER.ACCEPT', connectionId: 2, address: '127.0.0.2' }]
      : [];
  // Clients from other addresses fill the server (maxConnections 2).
  const others = [
    { type: 'LISTENER.ACCEPT', connectionId: 3, address: '127.0.0.3' },
    { type: 'LISTENER.ACCEPT', connectionId: 4, address: '127.0.0.4' },
  ];
  const done = context.connections.includes('connection-1')
    ? [{ type: 'xstate.done.actor.connection-1' }]
    : [];
  if (snapshot.matches({ serving: 'starting' })) {
    return [
      { type: 'LISTENER.LISTENING', host: '127.0.0.1', port: 1935 },
      { type: 'LISTENER.FAILED', message: 'EADDRINUSE' },
      { type: 'SERVER.SHUTDOWN' },
    ];
  }
  if (snapshot.matches({ serving: 'listening' })) {
    return [accept, ...again, ...others, ...done, { type: 'SERVER.SHUTDOWN' }];
  }
  return [accept, ...done, { type: 'LISTENER.CLOSED' }];
}

/** A stand-in IO actor that records the commands it gets (and closes when told to). */
function recordingIo(commands: string[], answerClose: boolean) {
  return fromCallback<AnyEventObject>(({ sendBack, receive }) => {
    receive((cmd) => {
      commands.push(cmd.type);
      if (answerClose && cmd.type === 'IO.CLOSE') {
        sendBack({ type: 'SERVER.CLOSED', reason: (cmd as { reason?: string }).reason });
      }
    });
  });
}

/** An authorizer that never answers (the model's events decide instead). */
const silentAuthorizer = fromPromise(() => new Promise<never>(() => undefined)) as never;

/** The live server connection: a stand-in IO on a simulated clock, the real handshake machine. */
function connectionHarness(input: unknown) {
  return (inspect: (ev: InspectionEvent) => void): ReplayHarness => {
    const clock = new SimulatedClock();
    const io: string[] = [];
    const machine = serverConnectionMachine.provide({
      actors: {
        connectionIo: recordingIo(io, false) as never,
        serverStream: serverStreamMachine.provide({ actors: { authorize: silentAuthorizer } }),
      },
    });
    const actor = createActor(machine, { input: input as never, clock, inspect });
    actor.start();
    return {
      actor,
      realize(event, { before }) {
        const delay = delayOf(machine, event.type, before);
        if (delay) clock.increment(delay.ms);
        else if (event.type === 'xstate.done.actor.handshake') {
          const output = (event as unknown as { output: { ok: boolean; reason?: string } }).output;
          // What the IO reports makes the real handshake machine end as the model says.
          if (output.ok) {
            actor.send({ type: 'HANDSHAKE.PEER_HELLO', version: 3, form: 'simple' });
            actor.send({ type: 'HANDSHAKE.PEER_ECHO' });
          } else clock.increment(1_000);
        } else if (event.type === 'xstate.done.actor.stream-1') {
          actor.send({ type: 'SERVER.STREAM', streamId: 1, event: { type: 'STREAM.DELETE' } });
        } else actor.send(event as never);
      },
      check({ event, actual }) {
        if (actual.value === 'awaitingConnect' && !io.includes('TRANSPORT.HANDSHAKE_START')) {
          throw new Error('the IO never started reading the handshake');
        }
        if (event.type === 'SERVER.CONNECT') {
          const expected = actual.matches('connected') ? 'IO.ACCEPT_CONNECT' : 'IO.REJECT_CONNECT';
          if (io.at(-1) !== expected) throw new Error(`connect was not answered with ${expected}`);
        }
        if (event.type === 'SERVER.REQUEST_RECONNECT') {
          const ctx = actual.context as {
            clientCapsEx: number;
            reconnectRequest?: { outcome: string; reason?: string };
          };
          const sends = actual.matches('connected') && (ctx.clientCapsEx & 1) === 1;
          if (sends !== (io.at(-1) === 'IO.RECONNECT_REQUEST')) {
            throw new Error(
              `ReconnectRequest ${sends ? 'not sent' : 'sent to a client that cannot take it'}`,
            );
          }
          if (ctx.reconnectRequest?.outcome !== (sends ? 'sent' : 'refused')) {
            throw new Error('the ReconnectRequest outcome was not recorded');
          }
        }
        if (actual.value === 'failed' && !io.some((c) => /^IO\.(CLOSE|REJECT_CONNECT)$/.test(c))) {
          throw new Error('the IO was not told to close');
        }
        if (actual.value === 'closing' && io.at(-1) !== 'IO.CLOSE') {
          throw new Error('shutdown did not close the socket');
        }
        const streams = Object.keys(actual.children).filter((id) => id.startsWith('stream-'));
        const expected = (actual.context as { streams: number[] }).streams.map(
          (n) => `stream-${n}`,
        );
        if (actual.status === 'active' && stableSort(streams) !== stableSort(expected)) {
          throw new Error(`children ${streams.join()} but context says ${expected.join()}`);
        }
      },
    };
  };
}

function stableSort(list: string[]): string {
  return [...list].sort().join();
}

/**
 * The serverStream actor as a child of a stand-in connection (it reports its role and its
 * authorization to its parent), on a simulated clock; its authorizer never answers by itself:
 * the replay sends the model's done / error event.
 */
function streamHarness(input: unknown) {
  return (inspect: (ev: InspectionEvent) => void): ReplayHarness => {
    const clock = new SimulatedClock();
    const stream = serverStreamMachine.provide({
      actors: { authorize: silentAuthorizer },
    });
    const parent = setup({ actors: { stream } }).createMachine({
      invoke: { id: 'stream', src: 'stream', input: input as never },
    });
    const root = createActor(parent, { clock, inspect });
    root.start();
    const actor = (root.getSnapshot().children as Record<string, AnyActorRef>).stream;
    return {
      actor: actor as never,
      realize(event, { before }) {
        const delay = delayOf(serverStreamMachine, event.type, before);
        if (delay) clock.increment(delay.ms);
        else actor.send(event as never);
      },
      dispose: () => root.stop(),
    };
  };
}

/** The live supervisor: a stand-in listener, real serverConnection children with stand-in IO. */
function supervisorHarness(input: unknown) {
  return (inspect: (ev: InspectionEvent) => void): ReplayHarness => {
    const listener: string[] = [];
    const machine = serverSupervisorMachine.provide({
      actors: {
        listener: recordingIo(listener, false) as never,
        serverConnection: serverConnectionMachine.provide({
          actors: { connectionIo: recordingIo([], true) as never },
        }),
      },
    });
    const actor = createActor(machine, { input: input as never, inspect });
    actor.start();
    return {
      actor,
      realize(event) {
        if (event.type === 'xstate.done.actor.connection-1') {
          const child = (actor.getSnapshot().children as Record<string, AnyActorRef>)[
            'connection-1'
          ];
          child.send({ type: 'SERVER.CLOSED', reason: 'closed by peer' });
        } else actor.send(event as never);
      },
      check({ event, before, actual }) {
        const ctx = actual.context as { connections: string[]; maxConnections: number };
        const children = Object.keys(actual.children).filter((id) => id.startsWith('connection-'));
        if (actual.status === 'active' && stableSort(children) !== stableSort(ctx.connections)) {
          throw new Error(`children ${children.join()} but context says ${ctx.connections.join()}`);
        }
        const ctx0 = before.context as {
          connections: string[];
          perAddress: Record<string, number>;
        };
        const address = (event as { address?: string }).address ?? '';
        const full = ctx0.connections.length >= 2 || (ctx0.perAddress[address] ?? 0) >= 1;
        if (
          event.type === 'LISTENER.ACCEPT' &&
          (full || !before.matches({ serving: 'listening' })) &&
          listener.at(-1) !== 'LISTENER.REFUSE'
        ) {
          throw new Error('a socket beyond maxConnections (or while draining) was not refused');
        }
        if (actual.matches({ serving: 'draining' }) && !listener.includes('LISTENER.CLOSE')) {
          throw new Error('draining did not stop the listener');
        }
      },
    };
  };
}

const models = [
  {
    machine: serverConnectionMachine as AnyStateMachine,
    input: {
      connectionId: 1,
      handshakeTimeoutMs: 1_000,
      connectTimeoutMs: 2_000,
      idleTimeoutMs: 3_000,
      apps: ['live'],
    },
    events: connectionEvents,
    harness: connectionHarness,
    oracle: true,
    finals: [
      'awaitingConnect',
      'connected.idle',
      'connected.publishing',
      'connected.active',
      'closing',
      'closed',
      'failed',
    ],
  },
  {
    machine: serverStreamMachine as AnyStateMachine,
    input: { streamId: 1, connectionId: 1, authorizeTimeoutMs: 1_000 },
    events: streamEvents,
    harness: streamHarness,
    oracle: false,
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
  },
  {
    machine: serverSupervisorMachine as AnyStateMachine,
    input: {
      maxConnections: 2,
      maxConnectionsPerAddress: 1,
      connection: { handshakeTimeoutMs: 1_000, connectTimeoutMs: 2_000 },
    },
    events: supervisorEvents,
    harness: supervisorHarness,
    oracle: true,
    finals: ['stopped', 'failed'],
  },
];

/** States told apart by value and the context that matters (not counters). */
function serializeState(snapshot: AnyMachineSnapshot): string {
  const c = snapshot.context as Record<string, unknown>;
  return JSON.stringify([
    snapshot.value,
    c.streams,
    c.connections,
    c.failure,
    c.app,
    c.label,
    c.roles,
    c.perAddress,
    c.refusal,
    c.clientCapsEx,
  ]);
}

/**
 * Each server machine's size, pinned (states, transitions): a state or transition added or lost
 * shows here first.
 */
const PINNED_TOTALS: Record<string, { states: number; transitions: number }> = {
  serverSupervisor: { states: 6, transitions: 10 },
  serverConnection: { states: 9, transitions: 31 },
  serverStream: { states: 10, transitions: 23 },
};

describe.each(models)('$machine.id machine (model-based)', (model) => {
  const records: ReplayRecord[] = [];
  const paths = walkPaths(model.machine, {
    input: model.input as never,
    events: model.events,
    serializeState,
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
        replayPath(
          model.machine,
          p,
          model.harness(model.input),
          model.oracle ? { mode: 'oracle', events: model.events } : {},
        ),
      );
    },
  );

  it('reaches every state and takes every transition in the replays', () => {
    const report = coverage(model.machine, records, model.input);
    console.log(formatCoverage(report));
    expect(report.states.missing).toEqual([]);
    expect(report.transitions.missing).toEqual([]);
    expect(report.transitions.ratio).toBe(1);
    expect({ states: report.states.total, transitions: report.transitions.total }).toEqual(
      PINNED_TOTALS[model.machine.id],
    );
  });
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
