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
 * socket becomes a spawned `serverConnection` actor (`connection-<n>`), up to `maxConnections` in
 * all and `maxConnectionsPerAddress` from one address (0: no such limit, for a server behind a
 * proxy); beyond that the listener is told to refuse the socket, naming the limit. On shutdown the listener stops
 * accepting, every connection is told to close, and the server stops once the listener has
 * closed (which Node does after the last connection).
 */
import {
  and,
  assign,
  enqueueActions,
  fromCallback,
  sendTo,
  setup,
  spawnChild,
  stopChild,
  type DoneActorEvent,
} from 'xstate';
import { serverConnectionMachine, type ServerConnectionInput } from './serverConnectionMachine';

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
   */
  | { type: 'LISTENER.ACCEPT'; connectionId: number; address: string }
  | { type: 'LISTENER.CLOSED' };

export type ServerSupervisorEvent =
  ListenerEvent | { type: 'SERVER.SHUTDOWN' } | DoneActorEvent<unknown, `connection-${number}`>;

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
  /** Open connections per client address. */
  perAddress: Record<string, number>;
  /** The address of each open connection (`connection-<n>` → address). */
  addressOf: Record<string, string>;
  /** Ids (`connection-<n>`) of the open connections. */
  connections: string[];
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

export const serverSupervisorMachine = setup({
  types: {
    context: {} as ServerSupervisorContext,
    events: {} as ServerSupervisorEvent,
    input: {} as ServerSupervisorInput,
    children: {} as { listener: 'listener' },
  },
  actors: {
    listener: listenerPlaceholder,
    serverConnection: serverConnectionMachine,
  },
  actions: {
    recordAddress: assign({
      address: ({ event }) =>
        event.type === 'LISTENER.LISTENING' ? { host: event.host, port: event.port } : undefined,
    }),
    recordListenFailure: assign({
      failure: ({ event }) => (event.type === 'LISTENER.FAILED' ? event.message : 'failed'),
    }),
    spawnConnection: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'LISTENER.ACCEPT') return;
      const id = serverConnectionId(event.connectionId);
      enqueue(
        spawnChild('serverConnection', {
          id,
          input: { ...context.connection, connectionId: event.connectionId },
        }),
      );
      enqueue.assign({
        connections: [...context.connections, id],
        accepted: context.accepted + 1,
        perAddress: {
          ...context.perAddress,
          [event.address]: (context.perAddress[event.address] ?? 0) + 1,
        },
        addressOf: { ...context.addressOf, [id]: event.address },
      });
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
    forgetConnection: enqueueActions(({ context, event, enqueue }) => {
      const id = (event as DoneActorEvent).actorId;
      enqueue(stopChild(id));
      const address = context.addressOf[id];
      const perAddress = { ...context.perAddress };
      if (address !== undefined) {
        const left = (perAddress[address] ?? 1) - 1;
        if (left > 0) perAddress[address] = left;
        else delete perAddress[address];
      }
      const addressOf = { ...context.addressOf };
      delete addressOf[id];
      enqueue.assign({
        connections: context.connections.filter((c) => c !== id),
        perAddress,
        addressOf,
      });
    }),
    stopListening: sendTo('listener', { type: 'LISTENER.CLOSE' }),
    shutDownConnections: enqueueActions(({ context, enqueue }) => {
      for (const id of context.connections) enqueue.sendTo(id, { type: 'SERVER.SHUTDOWN' });
    }),
  },
  guards: {
    hasRoom: ({ context }) => context.connections.length < context.maxConnections,
    addressHasRoom: ({ context, event }) =>
      event.type === 'LISTENER.ACCEPT' &&
      (context.maxConnectionsPerAddress === 0 ||
        (context.perAddress[event.address] ?? 0) < context.maxConnectionsPerAddress),
    isConnectionDone: ({ event }) => event.type.startsWith('xstate.done.actor.connection-'),
  },
}).createMachine({
  id: 'serverSupervisor',
  description: 'The embedded server: a listener and one serverConnection actor per client.',
  context: ({ input }) => ({
    maxConnections: input.maxConnections,
    maxConnectionsPerAddress: input.maxConnectionsPerAddress ?? 0,
    connection: input.connection,
    listener: input.listener,
    perAddress: {},
    addressOf: {},
    connections: [],
    accepted: 0,
    refused: 0,
    address: undefined,
    failure: undefined,
  }),
  initial: 'serving',
  states: {
    serving: {
      description: 'The listening socket exists: the listener actor lives as long as this state.',
      invoke: {
        id: 'listener',
        src: 'listener',
        input: ({ context }: { context: ServerSupervisorContext }) => context.listener,
      },
      on: {
        'xstate.done.actor.*': { guard: 'isConnectionDone', actions: 'forgetConnection' },
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
              { guard: and(['hasRoom', 'addressHasRoom']), actions: 'spawnConnection' },
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
