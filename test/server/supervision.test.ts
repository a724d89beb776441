/**
 * The embedded server is supervised like the client: a serverSupervisor actor owns the listener
 * and the registry of serverConnection actors, one per client (handshake machine, connect,
 * serverStream actors); the registries keep those actors out of XState's children maps.
 * These tests use real sockets (our client, or a bare client built from our codecs).
 */
import * as path from 'node:path';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { createSession, type Session } from '../../src/client';
import { buildConnect } from '../../src/protocol/message';
import { RtmpServer, type ServerEvent } from '../../src/server';
import { waitFor } from '../helpers';
import { RawClient } from '../helpers/rawClient';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

function childIds(ref: AnyActorRef): string[] {
  return Object.keys((ref.getSnapshot() as { children: Record<string, unknown> }).children);
}

describe('the embedded server as a tree of actors', () => {
  const servers: RtmpServer[] = [];
  const sessions: Session[] = [];
  const clients: RawClient[] = [];

  async function start(
    options: ConstructorParameters<typeof RtmpServer>[0] = {},
  ): Promise<{ server: RtmpServer; port: number; events: ServerEvent[] }> {
    const server = new RtmpServer({ port: 0, ...options });
    const events: ServerEvent[] = [];
    server.events$.subscribe((e) => events.push(e));
    const { port } = await server.listen();
    servers.push(server);
    return { server, port, events };
  }

  function raw(port: number, options?: { handshake?: boolean }): RawClient {
    const c = new RawClient(port, options);
    clients.push(c);
    return c;
  }

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(sessions.splice(0).map((s) => s.close()));
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('runs a connection-N actor per client from the serverSupervisor’s registry, with handshake, io and streams children and stream-N actors', async () => {
    const { server, port } = await start();
    const publisher = createSession({ url: `rtmp://127.0.0.1:${port}/live` });
    sessions.push(publisher);
    publisher.publish('cam1', SMALL_FLV, { loop: true });
    const publishing = await waitFor(
      () =>
        server
          .machines()
          .some((m) => [...m.streams.values()].some((s) => s.value === 'publishing')),
      10_000,
    );
    const root = server.actor;
    const [connection] = server.connectionActors();

    expect(publishing).toBe(true);
    expect(root.getSnapshot().value).toEqual({ serving: 'listening' });
    // Connections are not children of the supervisor: its registry runs them.
    expect(childIds(root).sort()).toEqual(['connections', 'listener']);
    expect(server.connectionActors().map((c) => c.actor.id)).toEqual(['connection-1']);
    expect(connection.actor.getSnapshot().matches('connected')).toBe(true);
    // The handshake machine has finished and is gone; the IO and the streams registry remain.
    expect(childIds(connection.actor).sort()).toEqual(['io', 'streams']);
    // The NetStream actor is the connection's (its parent), kept out of its children map.
    const stream = connection.streams.get(1) as AnyActorRef & { _parent?: unknown };
    expect(stream.id).toBe('stream-1');
    expect(stream._parent).toBe(connection.actor);
  });

  it('runs the handshake as the handshake machine in its server role', async () => {
    const inspected: InspectionEvent[] = [];
    const { server, port } = await start({ inspect: (e) => inspected.push(e) });
    const c = raw(port);
    expect(await waitFor(() => c.handshaken, 5_000)).toBe(true);
    expect(
      await waitFor(() => server.machines()[0]?.connection.value === 'awaitingConnect', 5_000),
    ).toBe(true);
    const handshake = inspected.filter((e) => (e.actorRef as { id?: string }).id === 'handshake');
    const received = handshake
      .filter((e) => e.type === '@xstate.event')
      .map((e) => (e as { event: { type: string } }).event.type);
    const last = handshake.filter((e) => e.type === '@xstate.snapshot').at(-1) as
      { snapshot: { value: unknown; output?: unknown } } | undefined;
    expect(received).toEqual(['xstate.init', 'HANDSHAKE.PEER_HELLO', 'HANDSHAKE.PEER_ECHO']);
    expect(last?.snapshot.value).toBe('done');
    expect(last?.snapshot.output).toMatchObject({ ok: true, peer: { version: 3 } });
  });

  it('rejects a connect to an application it does not serve with NetConnection.Connect.Rejected, and the client does not retry', async () => {
    const { port, events } = await start({ apps: ['live'] });
    const session = createSession({
      url: `rtmp://127.0.0.1:${port}/other/cam1`,
      retry: { maxAttempts: 3, baseMs: 50 },
    });
    sessions.push(session);
    const outcome = await session.play().done;
    expect(outcome).toMatchObject({
      outcome: 'failed',
      status: { code: 'NetConnection.Connect.Rejected' },
    });
    // One connection only: a refusal is final.
    expect(events.filter((e) => e.type === 'connection')).toHaveLength(1);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'close',
        reason: expect.stringMatching(/^connect rejected/),
      }),
    );
  });

  it('answers a bare client’s connect to another application with an _error before closing', async () => {
    const { port } = await start({ apps: ['live'] });
    const c = raw(port);
    expect(await waitFor(() => c.handshaken, 5_000)).toBe(true);
    c.send(buildConnect({ app: 'vod', tcUrl: `rtmp://127.0.0.1:${port}/vod` }));
    expect(await waitFor(() => c.closed, 5_000)).toBe(true);
    expect(c.received).toContainEqual(
      expect.objectContaining({
        type: 'Command',
        name: '_error',
        args: [expect.objectContaining({ code: 'NetConnection.Connect.Rejected' })],
      }),
    );
  });

  it('closes a connection that finishes the handshake but never sends connect on connectTimeoutMs', async () => {
    const { port, events } = await start({ connectTimeoutMs: 300 });
    const c = raw(port);
    expect(await waitFor(() => c.handshaken, 5_000)).toBe(true);
    const t0 = Date.now();
    expect(await waitFor(() => c.closed, 5_000)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'close', reason: 'connect timeout' }),
    );
  });

  it('refuses connections beyond maxConnections and keeps serving the ones it has', async () => {
    const { server, port, events } = await start({ maxConnections: 2 });
    const a = raw(port);
    const b = raw(port);
    expect(await waitFor(() => a.handshaken && b.handshaken, 5_000)).toBe(true);
    const c = raw(port);
    expect(await waitFor(() => c.closed, 5_000)).toBe(true);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'refused', reason: 'maxConnections: at most 2 connections' }),
    );
    // The first two still work: connect is answered.
    a.send(buildConnect({ app: 'live', tcUrl: `rtmp://127.0.0.1:${port}/live` }));
    expect(
      await waitFor(
        () => a.received.some((m) => m.type === 'Command' && m.name === '_result'),
        5_000,
      ),
    ).toBe(true);
    expect(server.actor.getSnapshot().context).toMatchObject({ accepted: 2, refused: 1 });
    // Room again once one leaves.
    b.close();
    expect(await waitFor(() => server.actor.getSnapshot().context.open === 1, 5_000)).toBe(true);
    const d = raw(port);
    expect(await waitFor(() => d.handshaken, 5_000)).toBe(true);
  });

  it('shuts down in order: stops accepting, closes every connection, then stops', async () => {
    const { server, port, events } = await start();
    const a = raw(port);
    const b = raw(port, { handshake: false });
    expect(await waitFor(() => a.handshaken && server.machines().length === 2, 5_000)).toBe(true);
    const states: unknown[] = [];
    server.actor.subscribe((s) => states.push(s.value));
    await server.close();
    expect(states).toEqual(expect.arrayContaining([{ serving: 'draining' }, 'stopped']));
    expect(server.actor.getSnapshot().status).toBe('done');
    expect(await waitFor(() => a.closed && b.closed, 5_000)).toBe(true);
    expect(
      events.filter((e) => e.type === 'close' && e.reason === 'server shutting down'),
    ).toHaveLength(2);
  });

  it('shows its actors to an inspect observer without a stream key in any event or snapshot', async () => {
    const inspected: InspectionEvent[] = [];
    const { port } = await start({ inspect: (e) => inspected.push(e) });
    const key = 'secretStreamKey123';
    const publisher = createSession({ url: `rtmp://127.0.0.1:${port}/live` });
    sessions.push(publisher);
    publisher.publish(key, SMALL_FLV, { loop: true });
    const player = createSession({ url: `rtmp://127.0.0.1:${port}/live` });
    sessions.push(player);
    const handle = player.play(key, { start: -1 });
    let frames = 0;
    handle.media$.subscribe(() => frames++);
    expect(await waitFor(() => frames > 10, 10_000)).toBe(true);

    const actors = new Set(
      inspected
        .filter((e) => e.type === '@xstate.actor')
        .map((e) => (e.actorRef as { id?: string }).id),
    );
    expect([...actors]).toEqual(
      expect.arrayContaining([
        'server',
        'listener',
        'connection-1',
        'connection-2',
        'handshake',
        'io',
        'stream-1',
      ]),
    );
    // Everything an inspector would serialize: events, snapshot values and contexts.
    const text = inspected
      .map((e) => {
        if (e.type === '@xstate.event') return JSON.stringify(e.event);
        if (e.type === '@xstate.snapshot') {
          const snap = e.snapshot as { value?: unknown; context?: unknown };
          return JSON.stringify({ value: snap.value, context: snap.context });
        }
        return '';
      })
      .join('\n');
    expect(text).not.toContain(key);
    expect(text).toContain('STREAM.PUBLISH');
  });

  it('forgets every connection actor, socket and NetStream after 200 clients come and go', async () => {
    const { server, port } = await start();
    for (let round = 0; round < 10; round++) {
      const batch = Array.from({ length: 20 }, () => raw(port));
      expect(await waitFor(() => batch.every((c) => c.handshaken), 5_000)).toBe(true);
      for (const c of batch) {
        c.send(buildConnect({ app: 'live', tcUrl: `rtmp://127.0.0.1:${port}/live` }));
      }
      expect(
        await waitFor(
          () =>
            batch.every((c) =>
              c.received.some((m) => m.type === 'Command' && m.name === '_result'),
            ),
          5_000,
        ),
      ).toBe(true);
      for (const c of batch) c.close();
    }
    expect(await waitFor(() => server.actor.getSnapshot().context.open === 0, 5_000)).toBe(true);
    expect(childIds(server.actor).sort()).toEqual(['connections', 'listener']);
    expect(server.connectionActors()).toEqual([]);
    expect(server.stats().connections).toBe(0);
    expect(server.actor.getSnapshot().context.accepted).toBe(200);
  }, 60_000);

  it('closes at once when it never listened, and refuses a second listen', async () => {
    const idle = new RtmpServer({ port: 0 });
    const seen: string[] = [];
    idle.events$.subscribe({ next: (e) => seen.push(e.type), complete: () => seen.push('end') });
    await idle.close();
    expect(seen).toEqual(['shutdown', 'end']);
    const { server } = await start();
    await expect(server.listen()).rejects.toThrow(/already/);
  });
});
