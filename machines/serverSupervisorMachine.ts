/**
 * The embedded server as a statechart: the root actor of `RtmpServer`, as the session
 * supervisor is the root of a client session.
 *
 *   serving.starting ──listening──▶ serving.listening ──SERVER.SHUTDOWN──▶ serving.draining
 *        │ cannot listen                                                       │ listener closed
 *        ▼                                                                     ▼
 *      failed                                                               stopped
 *
 * The listening socket is the invoked `listener` actor (provided by the runtime). Each accepted
 * socket the machine admits becomes a `serverConnection` actor (`connection-<n>`), up to
 * `maxConnections` in all and `maxConnectionsPerAddress` from one address (0: no such limit, for a
 * server behind a proxy); beyond that the listener is told to refuse the socket, naming the limit.
 * On shutdown the listener stops accepting, every connection is told to close, and the server
 * stops once the listener has closed (which Node does after the last connection).
 *
 * The connection actors are not children of this machine: the invoked `connections` actor (the
 * runtime's registry) starts each one when told to (CONNECTIONS.START) and reports when it has
 * ended (CONNECTION.ENDED). XState copies an actor's children map on every spawn and stop, so a
 * thousand connections leaving at once cost a million copies and stalled the server for seconds;
 * here a connection comes and goes in O(1). The machine keeps what it decides on as numbers: the
 * open connections, and (in each LISTENER.ACCEPT) how many the client's address has open.
 */
import { and, assign, enqueueActions, fromCallback, sendTo, setup } from 'xstate';
import type { ServerConnectionInput } from './serverConnectionMachine';

/** What the supervisor tells its `listener` actor. */
export type ListenerCommand =
  /** Close the accepted socket at once (the server is full or shutting down). */
  | { type: 'LISTENER.REFUSE'; connectionId: number; reason: string }
  /** Stop accepting; answer LISTENER.CLOSED once the listening socket is closed. */
  | { type: 'LISTENER.CLOSE' };

/** What the `listener` actor reports. */
export type ListenerEvent =
  | { type: 'LISTENER.LISTENING'; host: string; port: number }
  | { type: 'LISTENER.FAILED'; message: string }
  /**
   * A client connected. The socket stays with the runtime (no IO object enters a snapshot): the
   * connection's connectionIo actor, or LISTENER.REFUSE, finds it by `connectionId`.
   * `fromAddress`: how many connections the client's address has open now (without this one).
   */
  | { type: 'LISTENER.ACCEPT'; connectionId: number; address: string; fromAddress: number }
  | { type: 'LISTENER.CLOSED' };

/** What the supervisor tells its `connections` actor (the registry of connection actors). */
export type ConnectionsCommand =
  /** Start the serverConnection actor `connection-<connectionId>` with this input. */
  | {
      type: 'CONNECTIONS.START';
      connectionId: number;
      address: string;
      input: ServerConnectionInput;
    }
  /** Tell every open connection the server is shutting down (SERVER.SHUTDOWN). */
  | { type: 'CONNECTIONS.SHUTDOWN' };

/** What the `connections` actor reports. */
export type ConnectionsEvent =
  /** Connection actor `connection-<connectionId>` has ended (closed, failed or stopped). */
  { type: 'CONNECTION.ENDED'; connectionId: number };

export type ServerSupervisorEvent = ListenerEvent | ConnectionsEvent | { type: 'SERVER.SHUTDOWN' };

export interface ServerSupervisorInput {
  /** Most connections open at once; more are refused. */
  maxConnections: number;
  /** Most connections open at once from one address; more are refused. 0: no limit. Default 0. */
  maxConnectionsPerAddress?: number;
  /** Every connection's settings (timeouts, allowed apps). */
  connection: Omit<ServerConnectionInput, 'connectionId'>;
  /** Passed to the listener actor (the runtime puts host and port here). */
  listener?: unknown;
}

export interface ServerSupervisorContext {
  maxConnections: number;
  maxConnectionsPerAddress: number;
  connection: Omit<ServerConnectionInput, 'connectionId'>;
  listener: unknown;
  /** Connections open now (started and not yet ended). */
  open: number;
  /** Sockets accepted / refused so far. */
  accepted: number;
  refused: number;
  address: { host: string; port: number } | undefined;
  failure: string | undefined;
}

/** The actor id of connection `n`. */
export function serverConnectionId(connectionId: number): `connection-${number}` {
  return `connection-${connectionId}`;
}

/** Placeholder: the embedded server (or a test) provides the listener with `.provide()`. */
const listenerPlaceholder = fromCallback<ListenerCommand, unknown>(() => {
  throw new Error(
    'serverSupervisorMachine: no listener actor; use .provide({ actors: { listener } })',
  );
});

/**
 * Placeholder: the embedded server (or a test) provides the registry of connection actors with
 * `.provide()`: it starts a serverConnection actor on CONNECTIONS.START (outside this machine's
 * children, registered in a plain Map), and reports CONNECTION.ENDED when that actor is done.
 */
const connectionsPlaceholder = fromCallback<ConnectionsCommand, unknown>(() => {
  throw new Error(
    'serverSupervisorMachine: no connections actor; use .provide({ actors: { connections } })',
  );
});

export const serverSupervisorMachine = setup({
  types: {
    context: {} as ServerSupervisorContext,
    events: {} as ServerSupervisorEvent,
    input: {} as ServerSupervisorInput,
    children: {} as { listener: 'listener'; connections: 'connections' },
  },
  actors: {
    listener: listenerPlaceholder,
    connections: connectionsPlaceholder,
  },
  actions: {
    recordAddress: assign({
      address: ({ event }) =>
        event.type === 'LISTENER.LISTENING' ? { host: event.host, port: event.port } : undefined,
    }),
    recordListenFailure: assign({
      failure: ({ event }) => (event.type === 'LISTENER.FAILED' ? event.message : 'failed'),
    }),
    /** The registry starts the connection's actor; the machine counts it. */
    admitConnection: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'LISTENER.ACCEPT') return;
      enqueue.sendTo('connections', {
        type: 'CONNECTIONS.START',
        connectionId: event.connectionId,
        address: event.address,
        input: { ...context.connection, connectionId: event.connectionId },
      } satisfies ConnectionsCommand);
      enqueue.assign({ open: context.open + 1, accepted: context.accepted + 1 });
    }),
    refuseConnection: enqueueActions(
      ({ context, event, enqueue }, params: { why: 'full' | 'addressFull' | 'shuttingDown' }) => {
        if (event.type !== 'LISTENER.ACCEPT') return;
        enqueue.sendTo('listener', {
          type: 'LISTENER.REFUSE',
          connectionId: event.connectionId,
          reason:
            params.why === 'full'
              ? `maxConnections: at most ${context.maxConnections} connections`
              : params.why === 'addressFull'
                ? `maxConnectionsPerAddress: at most ${context.maxConnectionsPerAddress} connections from ${event.address}`
                : 'server shutting down',
        });
        enqueue.assign({ refused: context.refused + 1 });
      },
    ),
    forgetConnection: assign({ open: ({ context }) => Math.max(0, context.open - 1) }),
    stopListening: sendTo('listener', { type: 'LISTENER.CLOSE' }),
    shutDownConnections: sendTo('connections', { type: 'CONNECTIONS.SHUTDOWN' }),
  },
  guards: {
    hasRoom: ({ context }) => context.open < context.maxConnections,
    addressHasRoom: ({ context, event }) =>
      event.type === 'LISTENER.ACCEPT' &&
      (context.maxConnectionsPerAddress === 0 ||
        event.fromAddress < context.maxConnectionsPerAddress),
  },
}).createMachine({
  id: 'serverSupervisor',
  description:
    'The embedded server: a listener, and a registry that runs one serverConnection actor per client.',
  context: ({ input }) => ({
    maxConnections: input.maxConnections,
    maxConnectionsPerAddress: input.maxConnectionsPerAddress ?? 0,
    connection: input.connection,
    listener: input.listener,
    open: 0,
    accepted: 0,
    refused: 0,
    address: undefined,
    failure: undefined,
  }),
  initial: 'serving',
  states: {
    serving: {
      description:
        'The listening socket exists: the listener and the connections registry live as long as this state.',
      invoke: [
        {
          id: 'listener',
          src: 'listener',
          input: ({ context }: { context: ServerSupervisorContext }) => context.listener,
        },
        { id: 'connections', src: 'connections' },
      ],
      on: {
        'CONNECTION.ENDED': { actions: 'forgetConnection' },
      },
      initial: 'starting',
      states: {
        starting: {
          description: 'Binding the port.',
          on: {
            'LISTENER.LISTENING': { target: 'listening', actions: 'recordAddress' },
            'LISTENER.FAILED': {
              target: '#serverSupervisor.failed',
              actions: 'recordListenFailure',
            },
            'SERVER.SHUTDOWN': { target: '#serverSupervisor.stopped' },
          },
        },
        listening: {
          description: 'Accepting clients, each a serverConnection actor, up to maxConnections.',
          on: {
            'LISTENER.ACCEPT': [
              { guard: and(['hasRoom', 'addressHasRoom']), actions: 'admitConnection' },
              {
                guard: 'hasRoom',
                actions: { type: 'refuseConnection', params: { why: 'addressFull' } },
              },
              { actions: { type: 'refuseConnection', params: { why: 'full' } } },
            ],
            'SERVER.SHUTDOWN': { target: 'draining' },
          },
        },
        draining: {
          description: 'No new clients; every connection closes; then the listener closes.',
          entry: ['stopListening', 'shutDownConnections'],
          on: {
            'LISTENER.ACCEPT': {
              actions: { type: 'refuseConnection', params: { why: 'shuttingDown' } },
            },
            'LISTENER.CLOSED': { target: '#serverSupervisor.stopped' },
          },
        },
      },
    },
    stopped: { type: 'final', description: 'Shut down cleanly.' },
    failed: { type: 'final', description: 'Could not listen (the port is taken, say).' },
  },
});
