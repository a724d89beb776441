/**
 * The test models of the server machines (serverConnection, serverStream, serverSupervisor) on
 * stand-in IO: the events worth sending in each state and a harness per machine, on a simulated
 * clock, with the real registries (src/server/registry.ts) running the connection and NetStream
 * actors outside the children maps, as the server does. Each harness factory takes the machine to
 * run (e.g. a mutant); paths come from the original. test/machines/serverMachines.test.ts replays
 * them where the real runtime cannot go; the mutation suite replays them on every mutant.
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
import {
  serverConnectionMachine,
  type ServerConnectionInput,
} from '../../../machines/serverConnectionMachine';
import {
  serverStreamMachine,
  type ServerStreamContext,
} from '../../../machines/serverStreamMachine';
import { serverSupervisorMachine } from '../../../machines/serverSupervisorMachine';
import { ServerActors } from '../../server/registry';
import { delayOf, type ReplayHarness } from '../paths';

const CLOSE_EVENTS = [
  { type: 'SERVER.CLOSED', reason: 'closed by peer' },
  { type: 'SERVER.ERROR', code: 'PROTOCOL_ERROR', message: 'bad chunk' },
  { type: 'SERVER.SHUTDOWN' },
];

export const handshakeDone = (output: unknown) => ({
  type: 'xstate.done.actor.handshake',
  output,
});

/** The serverConnection model's input (the limits its delays read). */
export const SERVER_CONNECTION_INPUT: ServerConnectionInput = {
  connectionId: 1,
  handshakeTimeoutMs: 1_000,
  connectTimeoutMs: 2_000,
  idleTimeoutMs: 3_000,
  authorizeTimeoutMs: 1_000,
  apps: ['live'],
};

export const SERVER_STREAM_INPUT = { streamId: 1, connectionId: 1, authorizeTimeoutMs: 1_000 };

/** maxConnections 2, maxConnectionsPerAddress 1. */
export const SERVER_SUPERVISOR_INPUT = {
  maxConnections: 2,
  maxConnectionsPerAddress: 1,
  connection: { handshakeTimeoutMs: 1_000, connectTimeoutMs: 2_000 },
};

export function connectionEvents(snapshot: AnyMachineSnapshot): AnyEventObject[] {
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

export function streamEvents(snapshot: AnyMachineSnapshot): AnyEventObject[] {
  if (snapshot.status !== 'active') return [];
  const end = [{ type: 'STREAM.END' }, { type: 'STREAM.DELETE' }];
  switch (snapshot.value) {
    case 'created':
      return [
        // The request names the stream with its query (a token): `cam?token=...`, masked; the
        // publish or play that follows, by its name alone.
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
      // The IO claims a publish's name, and looks a play's up: never the other way round.
      return (snapshot.context as ServerStreamContext).action === 'publish'
        ? [
            { type: 'STREAM.PUBLISH', label: 'ca***', outcome: 'ok' },
            { type: 'STREAM.PUBLISH', label: 'ca***', outcome: 'badName' },
            ...end,
          ]
        : [
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

export function supervisorEvents(snapshot: AnyMachineSnapshot): AnyEventObject[] {
  if (snapshot.status !== 'active') return [];
  const open = (snapshot.context as { open: number }).open;
  // `fromAddress`: what the runtime counts for the address; the machine decides on it.
  const accept = { type: 'LISTENER.ACCEPT', connectionId: 1, address: '127.0.0.2', fromAddress: 0 };
  // A second client from an address at its limit (maxConnectionsPerAddress 1).
  const again = { type: 'LISTENER.ACCEPT', connectionId: 2, address: '127.0.0.2', fromAddress: 1 };
  // Clients from other addresses fill the server (maxConnections 2).
  const others = [
    { type: 'LISTENER.ACCEPT', connectionId: 3, address: '127.0.0.3', fromAddress: 0 },
    { type: 'LISTENER.ACCEPT', connectionId: 4, address: '127.0.0.4', fromAddress: 0 },
  ];
  const ended = open > 0 ? [{ type: 'CONNECTION.ENDED', connectionId: 1 }] : [];
  if (snapshot.matches({ serving: 'starting' })) {
    return [
      { type: 'LISTENER.LISTENING', host: '127.0.0.1', port: 1935 },
      { type: 'LISTENER.FAILED', message: 'EADDRINUSE' },
      { type: 'SERVER.SHUTDOWN' },
    ];
  }
  if (snapshot.matches({ serving: 'listening' })) {
    return [accept, again, ...others, ...ended, { type: 'SERVER.SHUTDOWN' }];
  }
  return [accept, ...ended, { type: 'LISTENER.CLOSED' }];
}

/** A stand-in IO actor that records the commands it gets (and closes when told to). */
export function recordingIo(commands: string[], answerClose: boolean, whole?: AnyEventObject[]) {
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
export const silentAuthorizer = fromPromise(() => new Promise<never>(() => undefined)) as never;

export function stableSort(list: string[]): string {
  return [...list].sort().join();
}

/**
 * The live server connection: a stand-in IO on a simulated clock, the real handshake machine,
 * the real registry running its NetStream actors (with an authorizer that never answers).
 */
export function connectionHarness(
  input: unknown = SERVER_CONNECTION_INPUT,
  logic: AnyStateMachine = serverConnectionMachine,
) {
  return (inspect: (ev: InspectionEvent) => void): ReplayHarness => {
    const clock = new SimulatedClock();
    const io: string[] = [];
    const registry = new ServerActors();
    const machine = logic.provide({
      actors: {
        connectionIo: recordingIo(io, false) as never,
        streams: registry.streamsActor(
          serverStreamMachine.provide({ actors: { authorize: silentAuthorizer } }),
        ) as never,
      },
    });
    // What the machine tells its streams registry (the events sent to it).
    const toStreams: AnyEventObject[] = [];
    const actor = createActor(machine, {
      input: input as never,
      clock,
      inspect: (ev) => {
        if (ev.type === '@xstate.event' && ev.event.type.startsWith('STREAMS.')) {
          toStreams.push(ev.event);
        }
        inspect(ev);
      },
    });
    actor.start();
    const connectionId = (input as { connectionId: number }).connectionId;
    let told = toStreams.length;
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
          } else clock.increment((input as { handshakeTimeoutMs: number }).handshakeTimeoutMs);
        } else if (event.type === 'xstate.done.actor.stream-1') {
          actor.send({ type: 'SERVER.STREAM', streamId: 1, event: { type: 'STREAM.DELETE' } });
        } else actor.send(event as never);
      },
      check({ event, before, actual }) {
        // A NetStream is started once, and only told what is for a stream the machine knows.
        const known = (before.context as { streams: number[] }).streams;
        for (const cmd of toStreams.slice(told)) {
          const id = (cmd as { streamId?: number }).streamId ?? -1;
          if (cmd.type === 'STREAMS.SEND' && !known.includes(id)) {
            throw new Error(`the registry was told to forward to stream ${id}, never created`);
          }
          if (cmd.type === 'STREAMS.START' && known.includes(id)) {
            throw new Error(`the registry was told to start stream ${id} again`);
          }
        }
        told = toStreams.length;
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
        if (event.type === 'SERVER.STREAM_AUTHORIZATION' && io.at(-1) !== 'IO.AUTHORIZATION') {
          throw new Error("the authorizer's answer was not relayed to the IO");
        }
        if (actual.value === 'closing' && io.at(-1) !== 'IO.CLOSE') {
          throw new Error('shutdown did not close the socket');
        }
        // The registry runs exactly the NetStream actors the machine knows, none as children.
        const streams = [...registry.streams(connectionId).values()]
          .filter((ref) => ref.getSnapshot().status === 'active')
          .map((ref) => ref.id);
        const expected = (actual.context as { streams: number[] }).streams.map(
          (n) => `stream-${n}`,
        );
        if (actual.status === 'active' && stableSort(streams) !== stableSort(expected)) {
          throw new Error(
            `the registry runs ${streams.join()} but context says ${expected.join()}`,
          );
        }
        if (Object.keys(actual.children).some((id) => id.startsWith('stream-'))) {
          throw new Error('a NetStream actor is in the children map');
        }
      },
      dispose: () => actor.stop(),
    };
  };
}

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

/**
 * The serverStream actor as a child of a stand-in connection (it reports its role and its
 * authorization to its parent), on a simulated clock; its authorizer never answers by itself:
 * the replay sends the model's done / error event. Each step checks what the connection heard.
 */
export function streamHarness(
  input: unknown = SERVER_STREAM_INPUT,
  logic: AnyStateMachine = serverStreamMachine,
) {
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

/**
 * The live supervisor: a stand-in listener, the real registry running real serverConnection
 * actors with stand-in IO.
 */
export function supervisorHarness(
  input: unknown = SERVER_SUPERVISOR_INPUT,
  logic: AnyStateMachine = serverSupervisorMachine,
) {
  return (inspect: (ev: InspectionEvent) => void): ReplayHarness => {
    const listener: string[] = [];
    const listenerCommands: AnyEventObject[] = [];
    const registry = new ServerActors();
    const machine = logic.provide({
      actors: {
        listener: recordingIo(listener, false, listenerCommands) as never,
        connections: registry.connectionsActor(
          serverConnectionMachine.provide({
            actors: {
              connectionIo: recordingIo([], true) as never,
              streams: registry.streamsActor(serverStreamMachine) as never,
            },
          }),
        ) as never,
      },
    });
    const actor = createActor(machine, { input: input as never, inspect });
    actor.start();
    const limits = input as { maxConnections: number; maxConnectionsPerAddress: number };
    // Real connection numbers are never reused; the model's are.
    let next = 100;
    return {
      actor,
      realize(event) {
        if (event.type === 'CONNECTION.ENDED') {
          // The oldest open connection's socket closes; the registry reports it ended.
          const first = registry.connections.values().next().value;
          first?.actor.send({ type: 'SERVER.CLOSED', reason: 'closed by peer' });
        } else if (event.type === 'LISTENER.ACCEPT') {
          actor.send({ ...(event as never as object), connectionId: next++ } as never);
        } else actor.send(event as never);
      },
      check({ event, before, actual }) {
        const ctx = actual.context as { open: number };
        if (actual.status === 'active' && registry.connections.size !== ctx.open) {
          throw new Error(
            `the registry runs ${registry.connections.size} connections but context says ${ctx.open}`,
          );
        }
        if (Object.keys(actual.children).some((id) => id.startsWith('connection-'))) {
          throw new Error('a connection actor is in the children map');
        }
        const open0 = (before.context as { open: number }).open;
        const fromAddress = (event as { fromAddress?: number }).fromAddress ?? 0;
        const overall = open0 >= limits.maxConnections;
        const full = overall || fromAddress >= limits.maxConnectionsPerAddress;
        const listening = before.matches({ serving: 'listening' });
        if (
          event.type === 'LISTENER.ACCEPT' &&
          (full || !listening) &&
          listener.at(-1) !== 'LISTENER.REFUSE'
        ) {
          throw new Error('a socket beyond maxConnections (or while draining) was not refused');
        }
        if (event.type === 'LISTENER.ACCEPT' && full && listening) {
          // The refusal names the limit that was hit: maxConnections first.
          const limit = overall ? 'maxConnections:' : 'maxConnectionsPerAddress:';
          const reason = String(listenerCommands.at(-1)?.reason ?? '');
          if (!reason.startsWith(limit)) {
            throw new Error(`the refusal says "${reason}", not ${limit}`);
          }
        }
        if (actual.matches({ serving: 'draining' })) {
          for (const [id, { actor: child }] of registry.connections) {
            const value = (child.getSnapshot() as AnyMachineSnapshot).value;
            if (value !== 'closing' && value !== 'closed') {
              throw new Error(`draining, but connection ${id} is still ${JSON.stringify(value)}`);
            }
          }
        }
        if (actual.matches({ serving: 'draining' }) && !listener.includes('LISTENER.CLOSE')) {
          throw new Error('draining did not stop the listener');
        }
      },
      dispose: () => actor.stop(),
    };
  };
}

/**
 * What a replay compares besides the state: the whole context (actor refs by id) and the
 * output, so that what the machine records (app, roles, failure, label, refusal, counts) is
 * checked along every path.
 */
export function serverProject(snapshot: AnyMachineSnapshot): unknown {
  return { context: snapshot.context, output: snapshot.output ?? null };
}

export interface ServerModel {
  machine: AnyStateMachine;
  input: unknown;
  events: (snapshot: AnyMachineSnapshot) => AnyEventObject[];
  /** The harness factory for `logic` (the original by default, or a mutant). */
  harness: (
    input: unknown,
    logic?: AnyStateMachine,
  ) => (inspect: (ev: InspectionEvent) => void) => ReplayHarness;
  /** Replayed in oracle mode: the actor's children (or the registry's actors) answer on their own. */
  oracle: boolean;
  /** States the paths must reach. */
  finals: string[];
}

export const serverModels: ServerModel[] = [
  {
    machine: serverConnectionMachine as AnyStateMachine,
    input: SERVER_CONNECTION_INPUT,
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
    input: SERVER_STREAM_INPUT,
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
    input: SERVER_SUPERVISOR_INPUT,
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
    c.open,
    c.failure,
    c.app,
    c.label,
    c.action,
    c.roles,
    c.refusal,
    c.clientCapsEx,
  ]);
}
