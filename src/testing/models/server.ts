/**
 * The test models of the server machines (serverConnection, serverStream, serverSupervisor):
 * the events worth sending in each state and a harness per machine, with stand-in IO actors on a
 * simulated clock. Each harness factory takes the machine to run (e.g. a mutant); paths come from
 * the original.
 */
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
import { serverConnectionMachine } from '../../../machines/serverConnectionMachine';
import { serverStreamMachine } from '../../../machines/serverStreamMachine';
import { serverSupervisorMachine } from '../../../machines/serverSupervisorMachine';
import { delayOf, type ReplayHarness } from '../paths';

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
      // A command for a message stream never created: ignored.
      { type: 'SERVER.STREAM', streamId: 2, event: { type: 'STREAM.DELETE' } },
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
        { type: 'SERVER.CONNECT', app: 'other' },
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
        // The request names the stream with its query (a token): `cam?token=...`, masked.
        { type: 'STREAM.REQUEST', action: 'publish', label: 'ca***?***' },
        { type: 'STREAM.REQUEST', action: 'play', label: 'ca***?***' },
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
function recordingIo(commands: string[], answerClose: boolean, whole?: AnyEventObject[]) {
  return fromCallback<AnyEventObject>(({ sendBack, receive }) => {
    receive((cmd) => {
      commands.push(cmd.type);
      whole?.push(cmd);
      if (answerClose && cmd.type === 'IO.CLOSE') {
        sendBack({ type: 'SERVER.CLOSED', reason: (cmd as { reason?: string }).reason });
      }
    });
  });
}

/** An authorizer that never answers (the model's events decide instead). */
const silentAuthorizer = fromPromise(() => new Promise<never>(() => undefined)) as never;

/** The live server connection: a stand-in IO on a simulated clock, the real handshake machine. */
function connectionHarness(input: unknown, logic: AnyStateMachine = serverConnectionMachine) {
  return (inspect: (ev: InspectionEvent) => void): ReplayHarness => {
    const clock = new SimulatedClock();
    const io: string[] = [];
    const machine = logic.provide({
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
        if (actual.value === 'failed' && !io.some((c) => /^IO\.(CLOSE|REJECT_CONNECT)$/.test(c))) {
          throw new Error('the IO was not told to close');
        }
        if (event.type === 'SERVER.STREAM_AUTHORIZATION' && io.at(-1) !== 'IO.AUTHORIZATION') {
          throw new Error("the authorizer's answer was not relayed to the IO");
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
/** The role a serverStream reports on entering each state (authorized reports none). */
const STREAM_ROLES: Record<string, string> = {
  created: 'idle',
  authorizing: 'authorizing',
  publishing: 'publishing',
  playing: 'playing',
  waitingForPublisher: 'playing',
  unauthorized: 'idle',
  badName: 'idle',
  notFound: 'idle',
  closed: 'idle',
};

function streamHarness(input: unknown, logic: AnyStateMachine = serverStreamMachine) {
  return (inspect: (ev: InspectionEvent) => void): ReplayHarness => {
    const clock = new SimulatedClock();
    const stream = logic.provide({
      actors: { authorize: silentAuthorizer },
    });
    const reports: AnyEventObject[] = [];
    const parent = setup({ actors: { stream } }).createMachine({
      invoke: { id: 'stream', src: 'stream', input: input as never },
      on: {
        '*': {
          actions: ({ event }) => {
            if (event.type.startsWith('SERVER.STREAM_')) reports.push(event);
          },
        },
      },
    });
    const root = createActor(parent, { clock, inspect });
    root.start();
    const actor = (root.getSnapshot().children as Record<string, AnyActorRef>).stream;
    let seen = reports.length;
    return {
      actor: actor as never,
      realize(event, { before }) {
        const delay = delayOf(serverStreamMachine, event.type, before);
        if (delay) clock.increment(delay.ms);
        else actor.send(event as never);
      },
      check({ before, actual }) {
        // What the connection must hear: the role of each state entered, and the authorizer's
        // answer.
        const expected: string[] = [];
        const value = String(actual.value);
        if (value !== String(before.value) && STREAM_ROLES[value]) {
          expected.push(`role ${STREAM_ROLES[value]}`);
        }
        if (before.matches('authorizing') && value === 'authorized') expected.push('allowed');
        if (before.matches('authorizing') && value === 'unauthorized') {
          expected.push(`refused ${(actual.context as { refusal?: string }).refusal}`);
        }
        const got = reports
          .slice(seen)
          .map((r) =>
            r.type === 'SERVER.STREAM_ROLE'
              ? `role ${r.role}`
              : r.allowed
                ? 'allowed'
                : `refused ${r.reason}`,
          );
        seen = reports.length;
        if (got.sort().join() !== expected.sort().join()) {
          throw new Error(`the connection heard [${got.join(', ')}], not [${expected.join(', ')}]`);
        }
      },
      dispose: () => root.stop(),
    };
  };
}

/** The live supervisor: a stand-in listener, real serverConnection children with stand-in IO. */
function supervisorHarness(input: unknown, logic: AnyStateMachine = serverSupervisorMachine) {
  return (inspect: (ev: InspectionEvent) => void): ReplayHarness => {
    const listener: string[] = [];
    const listenerCommands: AnyEventObject[] = [];
    const machine = logic.provide({
      actors: {
        listener: recordingIo(listener, false, listenerCommands) as never,
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
        if (event.type === 'LISTENER.ACCEPT' && full && before.matches({ serving: 'listening' })) {
          // The refusal names the limit that was hit: maxConnections first.
          const limit =
            ctx0.connections.length >= 2 ? 'maxConnections:' : 'maxConnectionsPerAddress:';
          const reason = String(listenerCommands.at(-1)?.reason ?? '');
          if (!reason.startsWith(limit)) {
            throw new Error(`the refusal says "${reason}", not ${limit}`);
          }
        }
        if (actual.matches({ serving: 'draining' })) {
          for (const [id, child] of Object.entries(
            actual.children as Record<string, AnyActorRef>,
          )) {
            const value = (child.getSnapshot() as AnyMachineSnapshot).value;
            if (id.startsWith('connection-') && value !== 'closing' && value !== 'closed') {
              throw new Error(`draining, but ${id} is still ${JSON.stringify(value)}`);
            }
          }
        }
        if (actual.matches({ serving: 'draining' }) && !listener.includes('LISTENER.CLOSE')) {
          throw new Error('draining did not stop the listener');
        }
      },
    };
  };
}

/**
 * What a replay compares besides the state: the whole context (actor refs by id) and the
 * output, so that what the machine records (app, roles, failure, label, refusal, addresses) is
 * checked along every path.
 */
export function serverProject(snapshot: AnyMachineSnapshot): unknown {
  return { context: snapshot.context, output: snapshot.output ?? null };
}

export const serverModels = [
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
export function serverSerializeState(snapshot: AnyMachineSnapshot): string {
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
  ]);
}
