/**
 * The registries that run the server's connection and NetStream actors outside XState's children
 * maps (src/server/registry.ts), driven through the real machines with stand-in IO.
 */
import { createActor, fromCallback, type AnyActorRef, type AnyEventObject } from 'xstate';
import { serverConnectionMachine } from '../../machines/serverConnectionMachine';
import { serverStreamMachine } from '../../machines/serverStreamMachine';
import { serverSupervisorMachine } from '../../machines/serverSupervisorMachine';
import { ServerActors } from '../../src/server/registry';

/** A stand-in IO that closes when told to. */
const closingIo = fromCallback<AnyEventObject>(({ sendBack, receive }) => {
  receive((cmd) => {
    if (cmd.type === 'IO.CLOSE') sendBack({ type: 'SERVER.CLOSED', reason: 'closed' });
  });
});

function childIds(ref: AnyActorRef): string[] {
  return Object.keys((ref.getSnapshot() as { children: Record<string, unknown> }).children);
}

describe('the server registries', () => {
  it('runs a thousand NetStream actors of one connection as its children in all but the map, and deletes them all when it ends', () => {
    const registry = new ServerActors();
    const connection = createActor(
      serverConnectionMachine.provide({
        actors: {
          connectionIo: closingIo as never,
          streams: registry.streamsActor(serverStreamMachine) as never,
        },
      }),
      { input: { connectionId: 7, handshakeTimeoutMs: 60_000, connectTimeoutMs: 60_000 } },
    );
    connection.start();
    connection.send({ type: 'HANDSHAKE.PEER_HELLO', version: 3, form: 'simple' });
    connection.send({ type: 'HANDSHAKE.PEER_ECHO' });
    connection.send({ type: 'SERVER.CONNECT', app: 'live' });
    expect(connection.getSnapshot().value).toEqual({ connected: 'idle' });

    for (let id = 1; id <= 1000; id++)
      connection.send({ type: 'SERVER.STREAM_CREATED', streamId: id });
    const streams = [...registry.streams(7).values()];
    expect(streams).toHaveLength(1000);
    expect(connection.getSnapshot().context.streams).toHaveLength(1000);
    // Not in the children map; the connection is their parent all the same.
    expect(childIds(connection).sort()).toEqual(['io', 'streams']);
    expect(streams.every((s) => (s as { _parent?: unknown })._parent === connection)).toBe(true);

    // An event reaches its NetStream through the registry; a NetStream that ends is forgotten.
    connection.send({ type: 'SERVER.STREAM', streamId: 5, event: { type: 'STREAM.DELETE' } });
    expect(streams[4].getSnapshot().value).toBe('closed');
    expect(registry.streamActor(7, 5)).toBeUndefined();
    expect(connection.getSnapshot().context.streams).not.toContain(5);

    // The connection ends: every NetStream left ends in `closed`, and the registry is empty.
    connection.send({ type: 'SERVER.SHUTDOWN' });
    expect(connection.getSnapshot().status).toBe('done');
    expect(streams.every((s) => s.getSnapshot().value === 'closed')).toBe(true);
    expect(streams.every((s) => s.getSnapshot().status === 'done')).toBe(true);
    expect(registry.streams(7).size).toBe(0);
  });

  it('starts the connections the supervisor admits as root actors, counts them per address, and reports each that ends', () => {
    const registry = new ServerActors();
    const listener: string[] = [];
    const supervisor = createActor(
      serverSupervisorMachine.provide({
        actors: {
          listener: fromCallback<AnyEventObject>(({ receive }) => {
            receive((cmd) => listener.push(cmd.type));
          }) as never,
          connections: registry.connectionsActor(
            serverConnectionMachine.provide({
              actors: {
                connectionIo: closingIo as never,
                streams: registry.streamsActor(serverStreamMachine) as never,
              },
            }),
          ) as never,
        },
      }),
      {
        input: {
          maxConnections: 1000,
          maxConnectionsPerAddress: 500,
          connection: { handshakeTimeoutMs: 60_000, connectTimeoutMs: 60_000 },
        },
      },
    );
    supervisor.start();
    supervisor.send({ type: 'LISTENER.LISTENING', host: '127.0.0.1', port: 1935 });
    for (let id = 1; id <= 1000; id++) {
      const address = id % 2 ? '127.0.0.2' : '127.0.0.3';
      supervisor.send({
        type: 'LISTENER.ACCEPT',
        connectionId: id,
        address,
        fromAddress: registry.fromAddress(address),
      });
    }
    expect(registry.connections.size).toBe(1000);
    expect(registry.fromAddress('127.0.0.2')).toBe(500);
    expect(supervisor.getSnapshot().context.open).toBe(1000);
    expect(childIds(supervisor).sort()).toEqual(['connections', 'listener']);
    const first = registry.connections.get(1)?.actor as AnyActorRef & { _parent?: unknown };
    expect(first.id).toBe('connection-1');
    expect(first._parent).toBeUndefined();

    // The server is full: one more is refused, naming the limit.
    supervisor.send({
      type: 'LISTENER.ACCEPT',
      connectionId: 1001,
      address: '127.0.0.4',
      fromAddress: 0,
    });
    expect(listener).toEqual(['LISTENER.REFUSE']);

    // Every connection is told to shut down; each that ends is counted out.
    const connections = [...registry.connections.values()].map((c) => c.actor);
    supervisor.send({ type: 'SERVER.SHUTDOWN' });
    expect(connections.every((c) => c.getSnapshot().status === 'done')).toBe(true);
    expect(registry.connections.size).toBe(0);
    expect(registry.fromAddress('127.0.0.2')).toBe(0);
    expect(supervisor.getSnapshot().context.open).toBe(0);
    expect(supervisor.getSnapshot().value).toEqual({ serving: 'draining' });
    supervisor.stop();
  });
});
