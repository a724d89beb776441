import { connect } from 'node:net';
import * as path from 'node:path';
import {
  createActor,
  SimulatedClock,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type InspectionEvent,
} from 'xstate';
import { serverConnectionMachine } from '../../machines/serverConnectionMachine';
import { serverStreamMachine } from '../../machines/serverStreamMachine';
import { createSession } from '../../src/client';
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

function connectionEvents(snapshot: AnyMachineSnapshot): AnyEventObject[] {
  if (snapshot.status !== 'active') return [];
  const always = [
    { type: 'SERVER.CLOSED' },
    { type: 'SERVER.ERROR', code: 'PROTOCOL_ERROR', message: 'bad chunk' },
  ];
  switch (snapshot.value) {
    case 'handshaking':
      return [{ type: 'SERVER.HANDSHAKE_DONE' }, ...always];
    case 'awaitingConnect':
      return [
        { type: 'SERVER.CONNECT', app: 'live' },
        { type: 'SERVER.CONNECT_REJECTED', message: 'no such app' },
        ...always,
      ];
    default:
      return always;
  }
}

function streamEvents(snapshot: AnyMachineSnapshot): AnyEventObject[] {
  if (snapshot.status !== 'active') return [];
  const end = [{ type: 'STREAM.END' }, { type: 'STREAM.DELETE' }];
  switch (snapshot.value) {
    case 'created':
      return [
        { type: 'STREAM.PUBLISH', name: 'cam', outcome: 'ok' },
        { type: 'STREAM.PUBLISH', name: 'cam', outcome: 'badName' },
        { type: 'STREAM.PLAY', name: 'cam', outcome: 'playing' },
        { type: 'STREAM.PLAY', name: 'cam', outcome: 'waiting' },
        { type: 'STREAM.PLAY', name: 'cam', outcome: 'notFound' },
        { type: 'STREAM.DELETE' },
      ];
    case 'playing':
      return [{ type: 'STREAM.PUBLISHER_STOPPED' }, ...end];
    case 'waitingForPublisher':
      return [{ type: 'STREAM.PUBLISHER_STARTED' }, ...end];
    default:
      return end;
  }
}

/** A live actor on a simulated clock: delays advance the clock, other events are sent. */
function harness(machine: AnyStateMachine, input: unknown) {
  return (inspect: (ev: InspectionEvent) => void): ReplayHarness & { emitted: string[] } => {
    const clock = new SimulatedClock();
    const actor = createActor(machine, { input, clock, inspect });
    const emitted: string[] = [];
    actor.on('*', (e: AnyEventObject) => emitted.push(e.type));
    actor.start();
    return {
      actor,
      emitted,
      realize(event, { before }) {
        const delay = delayOf(machine, event.type, before);
        if (delay) clock.increment(delay.ms);
        else actor.send(event);
      },
      check({ event, actual }) {
        if (event.type === 'SERVER.CONNECT' && !emitted.includes('server.acceptConnect')) {
          throw new Error('connect was not accepted');
        }
        if (actual.value === 'failed' && !emitted.includes('server.failed')) {
          throw new Error('failure was not reported');
        }
      },
      dispose() {
        actor.stop();
      },
    };
  };
}

const models = [
  {
    machine: serverConnectionMachine as AnyStateMachine,
    input: { handshakeTimeoutMs: 1_000, connectTimeoutMs: 2_000 },
    events: connectionEvents,
    finals: ['connected', 'closed', 'failed'],
  },
  {
    machine: serverStreamMachine as AnyStateMachine,
    input: { streamId: 1 },
    events: streamEvents,
    finals: ['publishing', 'playing', 'waitingForPublisher', 'badName', 'notFound', 'closed'],
  },
];

describe.each(models)('$machine.id machine (model-based)', (model) => {
  const records: ReplayRecord[] = [];
  const paths = walkPaths(model.machine, { input: model.input as never, events: model.events });

  it('has paths to every state that matters', () => {
    for (const state of model.finals) {
      expect(paths.some((p) => p.steps.some((step) => step.state.value === state))).toBe(true);
    }
  });

  it.each(paths.map((p) => [p.id, p.description, p] as const))(
    'follows the model along %s: %s',
    (_id, _description, p) => {
      records.push(replayPath(model.machine, p, harness(model.machine, model.input)));
    },
  );

  it('reaches every state and takes every transition in the replays', () => {
    const report = coverage(model.machine, records, model.input);
    console.log(formatCoverage(report));
    expect(report.states.missing).toEqual([]);
    expect(report.transitions.missing).toEqual([]);
    expect(report.transitions.ratio).toBe(1);
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
    expect(machines.map((m) => m.connection.value)).toEqual(['connected', 'connected']);
    expect(machines.every((m) => m.connection.context.app === 'live')).toBe(true);
    const player0 = machines.find((m) =>
      [...m.streams.values()].some((s) => s.value === 'playing'),
    );
    expect([...player0!.streams.values()].find((s) => s.value === 'playing')?.context.name).toBe(
      'cam',
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
