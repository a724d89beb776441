/**
 * The embedded server's actors that are not in an XState children map: every serverConnection
 * actor, and every serverStream actor of a connection.
 *
 * XState v5 copies an actor's `children` object on every spawn and every stop, and the copy of an
 * object that has had keys deleted is slow (about a millisecond at a thousand keys). A thousand
 * idle connections timing out together cost a million such copies and stalled the event loop for
 * up to 13 s; a connection with a thousand NetStreams, about 5 s as it closed. Here each actor is
 * started with `createActor` and kept in a plain Map, so starting or stopping one is O(1).
 *
 * The machines still decide everything (admission, the per-address limit, when a connection or a
 * NetStream starts and ends); these registries only run what they are told to:
 * - `connections` (invoked by serverSupervisorMachine): CONNECTIONS.START starts the connection's
 *   actor as a root actor of its own (its own XState system, so its timers are cancelled without
 *   walking every other connection's), observed by the same `inspect` as the server;
 *   CONNECTIONS.SHUTDOWN tells each one SERVER.SHUTDOWN; CONNECTION.ENDED reports one that ended.
 *   Stopping the registry stops every connection actor left.
 * - `streams` (invoked by serverConnectionMachine): STREAMS.START starts a serverStream actor whose
 *   parent is the connection's actor (its reports and its done event go there, as a child's
 *   would); STREAMS.SEND forwards an event; stopping the registry deletes every NetStream left
 *   (STREAM.DELETE: each ends in its `closed` state).
 */
import {
  createActor,
  fromCallback,
  type AnyActorLogic,
  type AnyActorRef,
  type InspectionEvent,
  type PromiseActorLogic,
} from 'xstate';
import {
  serverConnectionMachine,
  serverStreamId,
  type ServerStreamsCommand,
  type ServerStreamsInput,
} from '../../machines/serverConnectionMachine';
import {
  serverStreamMachine,
  type AuthorizeActorInput,
  type AuthorizeActorOutput,
} from '../../machines/serverStreamMachine';
import type { connectionIo } from './connection';
import {
  serverConnectionId,
  serverSupervisorMachine,
  type ConnectionsCommand,
  type ConnectionsEvent,
} from '../../machines/serverSupervisorMachine';

/**
 * The machine definitions the embedded server runs: the originals ({@link SERVER_MACHINES}),
 * always, for users. Internal, for testing only: the mutation suite gives RtmpServer (and the
 * in-memory server runtime of src/testing/serverRuntime.ts) a mutant in their place, so that a
 * mutant runs through the very code users run, on real bytes. A mutant is the original machine
 * with guards or actions replaced (`machine.provide`), hence the same types.
 * @internal
 */
export interface ServerMachines {
  supervisor: typeof serverSupervisorMachine;
  connection: typeof serverConnectionMachine;
  stream: typeof serverStreamMachine;
}

/** The server's statecharts, as users run them. */
export const SERVER_MACHINES: Readonly<ServerMachines> = Object.freeze({
  supervisor: serverSupervisorMachine,
  connection: serverConnectionMachine,
  stream: serverStreamMachine,
});

/** The server's machines: the originals, with any given in their place (testing only). */
export function serverMachines(machines: Partial<ServerMachines> = {}): ServerMachines {
  return { ...SERVER_MACHINES, ...machines };
}

/** What a connection's actor logic is made of besides its machines: its IO and its authorizer. */
export interface ConnectionParts {
  /** The `connectionIo` actor (a ServerConnection on the connection's socket). */
  io: ReturnType<typeof connectionIo>;
  /** The `authorize` actor each NetStream's `authorizing` state invokes. */
  authorize: PromiseActorLogic<AuthorizeActorOutput, AuthorizeActorInput>;
  /** The machines to run (the originals unless a test gives a mutant). @internal */
  machines?: Partial<ServerMachines>;
}

/** One connection actor the registry runs. */
export interface RegisteredConnection {
  actor: AnyActorRef;
  /** The client's address (for the per-address count). */
  address: string;
}

export class ServerActors {
  /** The connection actors running now, by connection number. */
  readonly connections = new Map<number, RegisteredConnection>();
  /** The NetStream actors of each connection, by connection number, then message stream id. */
  private readonly streamsOf = new Map<number, Map<number, AnyActorRef>>();
  /** Connections running now per client address. */
  private readonly perAddress = new Map<string, number>();

  /** How many connections `address` has open now. */
  fromAddress(address: string): number {
    return this.perAddress.get(address) ?? 0;
  }

  /** The serverStream actor of NetStream `streamId` on connection `connectionId`. */
  streamActor(connectionId: number, streamId: number): AnyActorRef | undefined {
    return this.streamsOf.get(connectionId)?.get(streamId);
  }

  /** The serverStream actors of connection `connectionId`, by message stream id. */
  streams(connectionId: number): ReadonlyMap<number, AnyActorRef> {
    return this.streamsOf.get(connectionId) ?? new Map();
  }

  private count(address: string, by: 1 | -1): void {
    const n = (this.perAddress.get(address) ?? 0) + by;
    if (n > 0) this.perAddress.set(address, n);
    else this.perAddress.delete(address);
  }

  /**
   * The logic of every client connection the server runs: the serverConnection machine with
   * `io` as its `connectionIo` and this registry's `streams` actor, which runs the serverStream
   * machine with `authorize` for each NetStream. RtmpServer and the in-memory test runtime build
   * their connections here, and only here.
   */
  connectionLogic(parts: ConnectionParts) {
    const machines = serverMachines(parts.machines);
    return machines.connection.provide({
      actors: {
        connectionIo: parts.io,
        streams: this.streamsActor(
          machines.stream.provide({ actors: { authorize: parts.authorize } }),
        ),
      },
    });
  }

  /**
   * The supervisor's `connections` actor: runs `logic` (the serverConnection machine, provided
   * with its IO) for each CONNECTIONS.START, each a root actor observed by `inspect`.
   */
  connectionsActor(logic: AnyActorLogic, inspect?: (event: InspectionEvent) => void) {
    return fromCallback<ConnectionsCommand, unknown>(({ sendBack, receive }) => {
      let stopping = false;
      const ended = (connectionId: number, actor: AnyActorRef): void => {
        const entry = this.connections.get(connectionId);
        if (!entry || entry.actor !== actor) return;
        this.connections.delete(connectionId);
        this.count(entry.address, -1);
        if (!stopping) {
          sendBack({ type: 'CONNECTION.ENDED', connectionId } satisfies ConnectionsEvent);
        }
      };
      receive((cmd) => {
        if (cmd.type === 'CONNECTIONS.START') {
          const actor = createActor(logic, {
            id: serverConnectionId(cmd.connectionId),
            input: cmd.input,
            inspect,
          });
          this.connections.set(cmd.connectionId, { actor, address: cmd.address });
          this.count(cmd.address, 1);
          actor.subscribe({
            complete: () => ended(cmd.connectionId, actor),
            error: () => ended(cmd.connectionId, actor),
          });
          actor.start();
        } else {
          for (const { actor } of [...this.connections.values()]) {
            actor.send({ type: 'SERVER.SHUTDOWN' });
          }
        }
      });
      return () => {
        stopping = true;
        for (const { actor } of [...this.connections.values()]) actor.stop();
        this.connections.clear();
        this.perAddress.clear();
      };
    });
  }

  /**
   * A connection's `streams` actor: runs `logic` (the serverStream machine, provided with the
   * authorizer) for each STREAMS.START, each with the connection's actor as its parent.
   */
  streamsActor(logic: AnyActorLogic) {
    return fromCallback<ServerStreamsCommand, ServerStreamsInput>(({ input, receive }) => {
      const streams = new Map<number, AnyActorRef>();
      this.streamsOf.set(input.connectionId, streams);
      receive((cmd) => {
        if (cmd.type === 'STREAMS.START') {
          const actor = createActor(logic, {
            id: serverStreamId(cmd.streamId),
            parent: input.connection,
            input: cmd.input,
          });
          streams.set(cmd.streamId, actor);
          const forget = (): void => {
            if (streams.get(cmd.streamId) === actor) streams.delete(cmd.streamId);
          };
          actor.subscribe({ complete: forget, error: forget });
          actor.start();
        } else {
          streams.get(cmd.streamId)?.send(cmd.event);
        }
      });
      return () => {
        // The connection has ended: so has each of its NetStreams (deleteStream, as it were).
        for (const actor of [...streams.values()]) actor.send({ type: 'STREAM.DELETE' });
        streams.clear();
        if (this.streamsOf.get(input.connectionId) === streams) {
          this.streamsOf.delete(input.connectionId);
        }
      };
    });
  }
}
