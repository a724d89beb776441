/**
 * The server side of one RTMP connection as a statechart:
 *
 *   handshaking ──handshake done──▶ awaitingConnect ──connect (app allowed)──▶ connected
 *        │                               │ connect (app not allowed) / connectTimeout
 *        └─ handshake failed ──▶ failed ◀┘
 *   connected: idle ⇄ publishing ⇄ active, by what its NetStreams do (SERVER.STREAM_ROLE);
 *     idle ──idleTimeout──▶ failed; publishing ──idleTimeout with nothing received──▶ failed
 *   any ──socket closed──▶ closed;  any ──SERVER.SHUTDOWN──▶ closing ──socket closed──▶ closed
 *
 * No client can hold a connection without using it: a connection with no publish or play is
 * closed on the named `idleTimeout` delay (the handshake and connect timeouts are never longer
 * than it, so a stalled handshake or a missing connect is covered too), and so is a publisher that
 * has sent nothing that long. A player that only receives is active.
 *
 * It mirrors the client's netConnection: the socket is the invoked `connectionIo` actor (the
 * embedded server's ServerConnection, provided with `.provide({ actors: { connectionIo } })`), the
 * handshake phase is an invoked `handshakeMachine` in its server role (bounded by its own
 * timeout), and inside `connected` every NetStream is a `serverStream` actor
 * (`stream-<message stream id>`) whose parent is this actor. The machine does no IO: it tells the
 * IO actor to answer or refuse connect and to close, and the IO actor reports what the socket says.
 * What to answer to each command (the replies, stream ids and `maxStreams`, BadName,
 * StreamNotFound, the control duties) is decided by the IO's sans-IO ServerSession
 * (src/server/session.ts), which holds the stream names (stream keys, secrets that never enter a
 * snapshot); the IO itself decides nothing.
 *
 * The NetStream actors are not in this actor's children map: the invoked `streams` actor (the
 * runtime's registry) starts one when told to (STREAMS.START), forwards its events (STREAMS.SEND),
 * and deletes those left (STREAM.DELETE) when this actor stops. XState copies the children map on
 * every spawn and stop: a connection with a thousand NetStreams stalled the server for seconds as
 * it closed. The machine keeps which NetStreams exist and what they do (`streams`, `roles`).
 */
import {
  assign,
  enqueueActions,
  fromCallback,
  sendTo,
  setup,
  type ActorRefFrom,
  type AnyActorRef,
  type DoneActorEvent,
} from 'xstate';
import type { TransportCommand } from './contract';
import {
  handshakeMachine,
  type HandshakeEvent,
  type HandshakeOutput,
  type TransportRef,
} from './handshakeMachine';
import type {
  ServerStreamAction,
  ServerStreamEvent,
  ServerStreamInput,
  ServerStreamReport,
  ServerStreamRole,
} from './serverStreamMachine';

export type ServerConnectionFailure =
  | 'HANDSHAKE_TIMEOUT'
  | 'HANDSHAKE_FAILED'
  | 'CONNECT_TIMEOUT'
  | 'CONNECT_REJECTED'
  | 'IDLE_TIMEOUT'
  | 'PUBLISHER_IDLE'
  | 'PROTOCOL_ERROR';

/** What the serverConnection machine tells its `connectionIo` actor. */
export type ServerIoCommand =
  /** From the invoked handshake machine (server role): start reading C0+C1. */
  | Extract<TransportCommand, { type: 'TRANSPORT.HANDSHAKE_START' }>
  /** Answer connect: Window Ack Size, Set Peer Bandwidth, Set Chunk Size, StreamBegin, `_result`. */
  | { type: 'IO.ACCEPT_CONNECT' }
  /** Answer connect with `_error` NetConnection.Connect.Rejected, then close the socket. */
  | { type: 'IO.REJECT_CONNECT'; description: string }
  /** The authorizer decided on NetStream `streamId`'s publish or play: go on, or refuse it. */
  | {
      type: 'IO.AUTHORIZATION';
      streamId: number;
      action: ServerStreamAction;
      allowed: boolean;
      reason?: string;
    }
  /** End every NetStream and close the socket. */
  | { type: 'IO.CLOSE'; reason: string }
  /**
   * Enhanced RTMP v2: send the NetConnection onStatus NetConnection.Connect.ReconnectRequest
   * (level status; `tcUrl` where the client should go, absent: the same server).
   */
  | { type: 'IO.RECONNECT_REQUEST'; tcUrl?: string; description: string };

/** What the `connectionIo` actor reports to its serverConnection machine. */
export type ServerIoEvent =
  | Extract<
      HandshakeEvent,
      { type: 'HANDSHAKE.PEER_HELLO' | 'HANDSHAKE.PEER_ECHO' | 'HANDSHAKE.FAILED' }
    >
  /**
   * The client's connect command; `app` as sent, without slashes or query; `capsEx` the
   * Enhanced RTMP v2 CapsEx bits it advertised (0 or absent: none).
   */
  | { type: 'SERVER.CONNECT'; app: string; capsEx?: number }
  /** createStream (or a command on a new message stream id) made NetStream `streamId`. */
  | { type: 'SERVER.STREAM_CREATED'; streamId: number }
  /** Something happened to NetStream `streamId` (publish, play, publisher came/left, end). */
  | { type: 'SERVER.STREAM'; streamId: number; event: ServerStreamEvent }
  /** The socket closed (by the client, or after IO.CLOSE). */
  | { type: 'SERVER.CLOSED'; reason: string }
  /** The client broke the protocol (a chunk, AMF or limit error). */
  | { type: 'SERVER.ERROR'; code: string; message: string }
  /** The client sent bytes (reported at most a few times per idle timeout). */
  | { type: 'SERVER.RECEIVING' };

/** From the server supervisor. */
export type ServerConnectionEvent =
  | ServerIoEvent
  /** From the invoked handshake machine, relayed to the IO. */
  | Extract<TransportCommand, { type: 'TRANSPORT.HANDSHAKE_START' }>
  | { type: 'SERVER.SHUTDOWN' }
  /**
   * Ask the client to reconnect (Enhanced RTMP v2 ReconnectRequest), to `tcUrl` when given.
   * Sent only to a connected client that advertised CapsEx.Reconnect; otherwise refused, the
   * reason in `context.reconnectRequest`.
   */
  | { type: 'SERVER.REQUEST_RECONNECT'; tcUrl?: string; description?: string }
  /** From a serverStream child: its authorization, its role. */
  | ServerStreamReport
  | DoneActorEvent<HandshakeOutput, 'handshake'>
  | DoneActorEvent<unknown, `stream-${number}`>;

export interface ServerConnectionInput {
  /** The server's number for this connection (its actor id is `connection-<id>`). */
  connectionId: number;
  /** Milliseconds allowed for the handshake (the invoked handshake machine's timeout). */
  handshakeTimeoutMs: number;
  /** Milliseconds allowed between the handshake and connect. */
  connectTimeoutMs: number;
  /** Applications a client may connect to; empty: any. */
  apps?: readonly string[];
  /**
   * Milliseconds a connection may go without a publish or play (and a publisher without sending
   * anything) before it is closed. Default 30000.
   */
  idleTimeoutMs?: number;
  /** Milliseconds the authorizer may take per publish or play. Default 5000. */
  authorizeTimeoutMs?: number;
}

/** What the serverConnection machine tells its `streams` actor (the registry of NetStream actors). */
export type ServerStreamsCommand =
  /** Start the serverStream actor `stream-<streamId>` (its parent: the serverConnection actor). */
  | { type: 'STREAMS.START'; streamId: number; input: ServerStreamInput }
  /** Send `event` to the serverStream actor of `streamId`. */
  | { type: 'STREAMS.SEND'; streamId: number; event: ServerStreamEvent };

/** The `streams` actor's input. */
export interface ServerStreamsInput {
  connectionId: number;
  /** The serverConnection actor: the parent of every serverStream actor. */
  connection: AnyActorRef;
}

/** The connectionIo actor's input (the runtime finds the socket by `connectionId`). */
export interface ServerIoInput {
  connectionId: number;
}

export interface ServerConnectionContext {
  connectionId: number;
  timeouts: { handshake: number; connect: number; idle: number; authorize: number };
  apps: readonly string[];
  /** What each NetStream does now (from its SERVER.STREAM_ROLE reports). */
  roles: Record<number, ServerStreamRole>;
  /** The application the client connected to. */
  app: string;
  /** Message stream ids with a live serverStream actor. */
  streams: number[];
  failure: { reason: ServerConnectionFailure; message: string } | undefined;
  /** The CapsEx bits the client advertised in connect (0: a legacy client). */
  clientCapsEx: number;
  /** The last SERVER.REQUEST_RECONNECT: sent, or refused and why. */
  reconnectRequest: ReconnectRequestOutcome | undefined;
}

/** What became of a SERVER.REQUEST_RECONNECT. */
export type ReconnectRequestOutcome =
  | { outcome: 'sent'; tcUrl?: string }
  /** NOT_CONNECTED: before connect or after close; NOT_SUPPORTED: no CapsEx.Reconnect. */
  | { outcome: 'refused'; reason: 'NOT_CONNECTED' | 'NOT_SUPPORTED' };

/** CapsEx.Reconnect (Enhanced RTMP v2). */
const CAPS_EX_RECONNECT = 0x01;
/** The description of a ReconnectRequest sent without one. */
const DEFAULT_RECONNECT_DESCRIPTION = 'The server asks the client to reconnect.';

/** The actor id of NetStream `streamId`'s serverStream actor. */
export function serverStreamId(streamId: number): `stream-${number}` {
  return `stream-${streamId}`;
}

/** Placeholder: the embedded server (or a test) provides the IO with `.provide()`. */
const connectionIoPlaceholder = fromCallback<ServerIoCommand, ServerIoInput>(() => {
  throw new Error(
    'serverConnectionMachine: no connectionIo actor; use .provide({ actors: { connectionIo } })',
  );
});

/**
 * Placeholder: the embedded server (or a test) provides the registry of NetStream actors with
 * `.provide()` (src/server/registry.ts: `ServerActors.streamsActor`).
 */
const streamsPlaceholder = fromCallback<ServerStreamsCommand, ServerStreamsInput>(() => {
  throw new Error(
    'serverConnectionMachine: no streams actor; use .provide({ actors: { streams } })',
  );
});

function handshakeOutputOf(event: ServerConnectionEvent): HandshakeOutput | undefined {
  return event.type === 'xstate.done.actor.handshake'
    ? (event.output as HandshakeOutput)
    : undefined;
}

/** Why the socket is closed, as the server's log says it. */
function closeReason(failure: ServerConnectionContext['failure']): string {
  switch (failure?.reason) {
    case 'HANDSHAKE_TIMEOUT':
      return 'handshake timeout';
    case 'CONNECT_TIMEOUT':
      return 'connect timeout';
    case 'IDLE_TIMEOUT':
    case 'PUBLISHER_IDLE':
      return failure.message;
    case 'HANDSHAKE_FAILED':
      return `handshake failed: ${failure.message}`;
    case 'CONNECT_REJECTED':
      return `connect rejected: ${failure.message}`;
    default:
      return `error: ${failure?.message ?? 'failed'}`;
  }
}

const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
const DEFAULT_AUTHORIZE_TIMEOUT_MS = 5_000;

/** What a connected client does, from its NetStreams' roles. */
export type ConnectionActivity = 'idle' | 'publishing' | 'active';

/** The roles after a SERVER.STREAM_ROLE report (other events change nothing). */
function rolesAfter(
  context: ServerConnectionContext,
  event: ServerConnectionEvent,
): Record<number, ServerStreamRole> {
  if (event.type !== 'SERVER.STREAM_ROLE' || !context.streams.includes(event.streamId)) {
    return context.roles;
  }
  return { ...context.roles, [event.streamId]: event.role };
}

/** Players and pending authorizations keep a connection active; publishers alone must send. */
export function activityOf(roles: Record<number, ServerStreamRole>): ConnectionActivity {
  const all = Object.values(roles);
  if (all.some((r) => r === 'playing' || r === 'authorizing')) return 'active';
  if (all.includes('publishing')) return 'publishing';
  return 'idle';
}

export const serverConnectionMachine = setup({
  types: {
    context: {} as ServerConnectionContext,
    events: {} as ServerConnectionEvent,
    input: {} as ServerConnectionInput,
    children: {} as { io: 'connectionIo'; handshake: 'handshake'; streams: 'streams' },
  },
  actors: {
    connectionIo: connectionIoPlaceholder,
    handshake: handshakeMachine,
    streams: streamsPlaceholder,
  },
  actions: {
    forwardToHandshake: sendTo('handshake', ({ event }) => event as HandshakeEvent),
    /** The handshake machine started the exchange: the IO starts reading C0+C1. */
    startReading: sendTo('io', ({ event }) => event as ServerIoCommand),
    recordHandshakeFailure: assign({
      failure: ({ event }) => {
        const output = handshakeOutputOf(event);
        const message = output && !output.ok ? output.message : 'handshake failed';
        return output && !output.ok && output.reason === 'TIMEOUT'
          ? { reason: 'HANDSHAKE_TIMEOUT' as const, message }
          : { reason: 'HANDSHAKE_FAILED' as const, message };
      },
    }),
    recordConnect: assign({
      app: ({ event }) => (event.type === 'SERVER.CONNECT' ? event.app : ''),
      clientCapsEx: ({ event }) =>
        event.type === 'SERVER.CONNECT' && typeof event.capsEx === 'number' ? event.capsEx : 0,
    }),
    /** The IO sends onStatus NetConnection.Connect.ReconnectRequest. */
    sendReconnectRequest: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'SERVER.REQUEST_RECONNECT') return;
      enqueue.sendTo('io', {
        type: 'IO.RECONNECT_REQUEST',
        ...(event.tcUrl !== undefined ? { tcUrl: event.tcUrl } : {}),
        description: event.description ?? DEFAULT_RECONNECT_DESCRIPTION,
      });
      enqueue.assign({
        reconnectRequest: {
          outcome: 'sent',
          ...(event.tcUrl !== undefined ? { tcUrl: event.tcUrl } : {}),
        },
      });
    }),
    refuseReconnectRequest: assign((_, params: { reason: 'NOT_CONNECTED' | 'NOT_SUPPORTED' }) => ({
      reconnectRequest: { outcome: 'refused' as const, reason: params.reason },
    })),
    /** The IO answers connect: window, bandwidth, chunk size, StreamBegin, _result. */
    acceptConnect: sendTo('io', { type: 'IO.ACCEPT_CONNECT' }),
    recordRejection: assign({
      failure: ({ context }) => ({
        reason: 'CONNECT_REJECTED' as const,
        message: `application "${context.app}" is not served`,
      }),
    }),
    /** The IO answers `_error` NetConnection.Connect.Rejected and closes the socket. */
    rejectConnect: sendTo('io', ({ context }) => ({
      type: 'IO.REJECT_CONNECT' as const,
      description: context.failure?.message ?? 'rejected',
    })),
    recordConnectTimeout: assign({
      failure: ({ context }) => ({
        reason: 'CONNECT_TIMEOUT' as const,
        message: `no connect within ${context.timeouts.connect} ms`,
      }),
    }),
    recordIdleTimeout: assign({
      failure: ({ context }) => ({
        reason: 'IDLE_TIMEOUT' as const,
        message: `idle timeout: no publish or play within idleTimeoutMs ${context.timeouts.idle}`,
      }),
    }),
    recordPublisherIdle: assign({
      failure: ({ context }) => ({
        reason: 'PUBLISHER_IDLE' as const,
        message: `idle timeout: a publisher sent nothing within idleTimeoutMs ${context.timeouts.idle}`,
      }),
    }),
    recordRole: assign({
      roles: ({ context, event }) => rolesAfter(context, event),
    }),
    /** The IO goes on with an allowed publish or play, or answers the refusal. */
    relayAuthorization: sendTo('io', ({ event }) => {
      const e = event as Extract<ServerStreamReport, { type: 'SERVER.STREAM_AUTHORIZATION' }>;
      return {
        type: 'IO.AUTHORIZATION' as const,
        streamId: e.streamId,
        action: e.action,
        allowed: e.allowed,
        reason: e.reason,
      };
    }),
    recordError: assign({
      failure: ({ event }) => ({
        reason: 'PROTOCOL_ERROR' as const,
        message: event.type === 'SERVER.ERROR' ? event.message : 'protocol error',
      }),
    }),
    /** The IO ends the NetStreams and closes the socket, naming the failure. */
    closeSocket: sendTo('io', ({ context }) => ({
      type: 'IO.CLOSE' as const,
      reason: closeReason(context.failure),
    })),
    closeForShutdown: sendTo('io', { type: 'IO.CLOSE', reason: 'server shutting down' }),
    /** The registry starts the NetStream's actor; the machine records it. */
    startStream: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SERVER.STREAM_CREATED') return;
      enqueue.sendTo('streams', {
        type: 'STREAMS.START',
        streamId: event.streamId,
        input: {
          streamId: event.streamId,
          connectionId: context.connectionId,
          authorizeTimeoutMs: context.timeouts.authorize,
        },
      } satisfies ServerStreamsCommand);
      enqueue.assign({ streams: [...context.streams, event.streamId] });
    }),
    forwardToStream: sendTo('streams', ({ event }) => {
      const e = event as Extract<ServerIoEvent, { type: 'SERVER.STREAM' }>;
      return {
        type: 'STREAMS.SEND' as const,
        streamId: e.streamId,
        event: e.event,
      } satisfies ServerStreamsCommand;
    }),
    /** A NetStream actor ended (deleted, refused, bad name, not found): forget it. */
    forgetStream: assign(({ context, event }) => {
      const id = (event as DoneActorEvent).actorId;
      const roles = { ...context.roles };
      for (const s of context.streams) if (serverStreamId(s) === id) delete roles[s];
      return { streams: context.streams.filter((s) => serverStreamId(s) !== id), roles };
    }),
  },
  guards: {
    handshakeSucceeded: ({ event }) => handshakeOutputOf(event)?.ok === true,
    /** The client advertised CapsEx.Reconnect in connect. */
    clientHandlesReconnect: ({ context }) => (context.clientCapsEx & CAPS_EX_RECONNECT) !== 0,
    appAllowed: ({ context, event }) =>
      event.type === 'SERVER.CONNECT' &&
      (context.apps.length === 0 || context.apps.includes(event.app)),
    streamIdFree: ({ context, event }) =>
      event.type === 'SERVER.STREAM_CREATED' && !context.streams.includes(event.streamId),
    isStreamDone: ({ event }) => event.type.startsWith('xstate.done.actor.stream-'),
    streamKnown: ({ context, event }) =>
      event.type === 'SERVER.STREAM' && context.streams.includes(event.streamId),
    becomesIdle: ({ context, event }) => activityOf(rolesAfter(context, event)) === 'idle',
    becomesPublishing: ({ context, event }) =>
      activityOf(rolesAfter(context, event)) === 'publishing',
    becomesActive: ({ context, event }) => activityOf(rolesAfter(context, event)) === 'active',
  },
  delays: {
    connectTimeout: ({ context }) => context.timeouts.connect,
    idleTimeout: ({ context }) => context.timeouts.idle,
  },
}).createMachine({
  id: 'serverConnection',
  description:
    'Server role of one RTMP connection: handshake, connect, then NetStreams. Decided here: the timeouts, the application (appAllowed), the activity; decided by the sans-IO ServerSession (src/server/session.ts) that the IO feeds: every reply, stream ids and maxStreams, BadName, StreamNotFound, acknowledgements and pings (src/protocol/controlDuties.ts).',
  context: ({ input }) => ({
    connectionId: input.connectionId,
    // A stalled handshake or a missing connect is idle too: neither may outlast idleTimeout.
    timeouts: {
      handshake: Math.min(input.handshakeTimeoutMs, input.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS),
      connect: Math.min(input.connectTimeoutMs, input.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS),
      idle: input.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      authorize: input.authorizeTimeoutMs ?? DEFAULT_AUTHORIZE_TIMEOUT_MS,
    },
    apps: input.apps ?? [],
    roles: {},
    app: '',
    streams: [],
    failure: undefined,
    clientCapsEx: 0,
    reconnectRequest: undefined,
  }),
  invoke: [
    {
      id: 'io',
      src: 'connectionIo',
      input: ({ context }) => ({ connectionId: context.connectionId }),
    },
    {
      id: 'streams',
      src: 'streams',
      input: ({ context, self }) => ({ connectionId: context.connectionId, connection: self }),
    },
  ],
  initial: 'handshaking',
  on: {
    'SERVER.CLOSED': { target: '.closed' },
    'SERVER.ERROR': { target: '.failed', actions: ['recordError', 'closeSocket'] },
    'SERVER.SHUTDOWN': { target: '.closing', actions: 'closeForShutdown' },
    'SERVER.REQUEST_RECONNECT': {
      actions: { type: 'refuseReconnectRequest', params: { reason: 'NOT_CONNECTED' } },
    },
  },
  states: {
    handshaking: {
      description: 'C0+C1, then C2 (the IO answers S0+S1+S2), bounded by handshakeTimeout.',
      invoke: {
        id: 'handshake',
        src: 'handshake',
        input: ({ context, self }) => ({
          role: 'server' as const,
          form: 'simple' as const,
          timeoutMs: context.timeouts.handshake,
          // The handshake's transport commands go through this actor to the IO (both start in
          // the same step, so the IO's ref is not in the snapshot yet).
          transport: self as unknown as TransportRef,
        }),
        onDone: [
          { guard: 'handshakeSucceeded', target: 'awaitingConnect' },
          { target: 'failed', actions: ['recordHandshakeFailure', 'closeSocket'] },
        ],
      },
      on: {
        'TRANSPORT.HANDSHAKE_START': { actions: 'startReading' },
        'HANDSHAKE.PEER_HELLO': { actions: 'forwardToHandshake' },
        'HANDSHAKE.PEER_ECHO': { actions: 'forwardToHandshake' },
        'HANDSHAKE.FAILED': { actions: 'forwardToHandshake' },
      },
    },
    awaitingConnect: {
      description:
        'Only connect is allowed (the ServerSession answers other commands with _error); appAllowed decides whether it is accepted.',
      after: {
        connectTimeout: { target: 'failed', actions: ['recordConnectTimeout', 'closeSocket'] },
      },
      on: {
        'SERVER.CONNECT': [
          { guard: 'appAllowed', target: 'connected', actions: ['recordConnect', 'acceptConnect'] },
          { target: 'failed', actions: ['recordConnect', 'recordRejection', 'rejectConnect'] },
        ],
      },
    },
    connected: {
      description:
        'NetConnection commands (answered by the ServerSession); one serverStream actor per message stream id.',
      on: {
        'SERVER.STREAM_CREATED': { guard: 'streamIdFree', actions: 'startStream' },
        'SERVER.STREAM': { guard: 'streamKnown', actions: 'forwardToStream' },
        'SERVER.STREAM_AUTHORIZATION': { actions: 'relayAuthorization' },
        'xstate.done.actor.*': { guard: 'isStreamDone', actions: 'forgetStream' },
        'SERVER.REQUEST_RECONNECT': [
          { guard: 'clientHandlesReconnect', actions: 'sendReconnectRequest' },
          {
            actions: { type: 'refuseReconnectRequest', params: { reason: 'NOT_SUPPORTED' } },
          },
        ],
      },
      initial: 'idle',
      states: {
        idle: {
          description: 'No NetStream publishes or plays: closed on idleTimeout.',
          after: {
            idleTimeout: {
              target: '#serverConnection.failed',
              actions: ['recordIdleTimeout', 'closeSocket'],
            },
          },
          on: {
            'SERVER.STREAM_ROLE': [
              { guard: 'becomesActive', target: 'active', actions: 'recordRole' },
              { guard: 'becomesPublishing', target: 'publishing', actions: 'recordRole' },
              { actions: 'recordRole' },
            ],
          },
        },
        publishing: {
          description:
            'Only publishers: closed when the client sends nothing for idleTimeout (each SERVER.RECEIVING restarts it).',
          after: {
            idleTimeout: {
              target: '#serverConnection.failed',
              actions: ['recordPublisherIdle', 'closeSocket'],
            },
          },
          on: {
            'SERVER.RECEIVING': { target: 'publishing', reenter: true },
            'SERVER.STREAM_ROLE': [
              { guard: 'becomesActive', target: 'active', actions: 'recordRole' },
              { guard: 'becomesIdle', target: 'idle', actions: 'recordRole' },
              { actions: 'recordRole' },
            ],
          },
        },
        active: {
          description:
            'A NetStream plays (or waits for its publisher) or is being authorized: never idle.',
          on: {
            'SERVER.STREAM_ROLE': [
              { guard: 'becomesPublishing', target: 'publishing', actions: 'recordRole' },
              { guard: 'becomesIdle', target: 'idle', actions: 'recordRole' },
              { actions: 'recordRole' },
            ],
          },
        },
      },
    },
    closing: {
      description: 'The server is shutting down: the IO ends the NetStreams and closes the socket.',
    },
    closed: { type: 'final', description: 'The socket closed.' },
    failed: {
      type: 'final',
      description:
        'Handshake failed or timed out, connect timed out or refused, or a protocol error.',
    },
  },
});

export type ServerConnectionActor = ActorRefFrom<typeof serverConnectionMachine>;
