import { connect } from 'node:net';
import * as path from 'node:path';
import {
  type AnyEventObject,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type InspectionEvent,
} from 'xstate';
import { serverSupervisorMachine } from '../../machines/serverSupervisorMachine';
import { createSession } from '../../src/client';
import { maskValue } from '../../src/redact';
import type { MediaMessage } from '../../src/io/media';
import { RtmpServer, type ServerEvent } from '../../src/server/server';
import {
  coverage,
  formatCoverage,
  replayPath,
  walkPaths,
  type ModelPath,
  type ReplayHarness,
  type ReplayRecord,
} from '../../src/testing/paths';
import {
  connectionEvents,
  connectionHarness,
  serverProject,
  serverSerializeState,
  streamEvents,
  streamHarness,
  supervisorEvents,
  supervisorHarness,
} from '../../src/testing/models/server';
import {
  connectionRuntimeModel,
  runtimePaths,
  RUNTIME_INPUT,
  STREAM_RUNTIME_INPUT,
  streamRuntimeModel,
} from './serverRuntimeModels';
import { waitFor } from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

// The models are shared with the mutation suite: on the real runtime, real bytes,
// ./serverRuntimeModels.ts; on stand-in IO, src/testing/models/server.ts.

interface ServerModel {
  machine: AnyStateMachine;
  input: unknown;
  events: (snapshot: AnyMachineSnapshot) => AnyEventObject[];
  harness: (path: ModelPath) => (inspect: (ev: InspectionEvent) => void) => ReplayHarness;
  /** What the replays run on. */
  runtime: 'real bytes' | 'stand-in IO';
  finals: string[];
  /**
   * Transitions the real runtime cannot take (with why), replayed on the machine alone with
   * direct events: the coverage of the real replays must miss exactly these.
   */
  alone?: {
    events: (snapshot: AnyMachineSnapshot) => AnyEventObject[];
    harness: (inspect: (ev: InspectionEvent) => void) => ReplayHarness;
    unreachable: Record<string, string>;
  };
}

const models: ServerModel[] = [
  {
    ...connectionRuntimeModel,
    runtime: 'real bytes',
    finals: [
      'awaitingConnect',
      'connected.idle',
      'connected.publishing',
      'connected.active',
      'closing',
      'closed',
      'failed',
    ],
    alone: {
      events: connectionEvents,
      harness: connectionHarness(RUNTIME_INPUT),
      unreachable: {
        'serverConnection.connected.idle:SERVER.STREAM_ROLE:1':
          'a NetStream is authorizing (active) before it publishes: idle never sees publishing first',
      },
    },
  },
  {
    ...streamRuntimeModel,
    runtime: 'real bytes',
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
    alone: {
      events: streamEvents,
      harness: streamHarness(STREAM_RUNTIME_INPUT),
      unreachable: {
        'serverStream.authorized:STREAM.END:0':
          'the registry answers at once: the IO leaves authorized in the step that entered it',
        'serverStream.authorized:STREAM.DELETE:0':
          'the registry answers at once: the IO leaves authorized in the step that entered it',
      },
    },
  },
  {
    machine: serverSupervisorMachine as AnyStateMachine,
    input: {
      maxConnections: 2,
      maxConnectionsPerAddress: 1,
      connection: { handshakeTimeoutMs: 1_000, connectTimeoutMs: 2_000 },
    },
    events: supervisorEvents,
    harness: () =>
      supervisorHarness({
        maxConnections: 2,
        maxConnectionsPerAddress: 1,
        connection: { handshakeTimeoutMs: 1_000, connectTimeoutMs: 2_000 },
      }),
    runtime: 'stand-in IO',
    finals: ['stopped', 'failed'],
  },
];

/**
 * Each server machine's size, pinned (states, transitions): a state or transition added or lost
 * shows here first.
 */
const PINNED_TOTALS: Record<string, { states: number; transitions: number }> = {
  serverSupervisor: { states: 6, transitions: 10 },
  serverConnection: { states: 9, transitions: 31 },
  serverStream: { states: 10, transitions: 23 },
};

describe.each(models)('$machine.id machine (model-based, on $runtime)', (model) => {
  const records: ReplayRecord[] = [];
  // The same walk as the mutation suite's (test/mutation/server.test.ts).
  const paths = runtimePaths(model);

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
        replayPath(model.machine, p, model.harness(p), {
          mode: 'oracle',
          events: model.events,
          // The whole context too (app, roles, label, refusal, failure): what the machine records.
          project: serverProject,
        }),
      );
    },
  );

  it('reaches every state and takes every transition the runtime can take in the replays', () => {
    const report = coverage(model.machine, records, model.input);
    console.log(`${formatCoverage(report)} (${model.runtime})`);
    expect(report.states.missing).toEqual([]);
    expect(report.transitions.missing).toEqual(Object.keys(model.alone?.unreachable ?? {}).sort());
    expect({ states: report.states.total, transitions: report.transitions.total }).toEqual(
      PINNED_TOTALS[model.machine.id],
    );
  });

  if (model.alone) {
    const alone = model.alone;
    it('takes the transitions the runtime cannot take on the machine alone, so all are covered', () => {
      const own: ReplayRecord[] = [];
      for (const p of walkPaths(model.machine, {
        input: model.input as never,
        events: alone.events,
        serializeState: serverSerializeState,
      })) {
        if (!p.steps.length) continue;
        own.push(
          replayPath(model.machine, p, alone.harness, { mode: 'oracle', events: alone.events }),
        );
      }
      const unreachable = new Set(Object.keys(alone.unreachable));
      const extra: ReplayRecord[] = own.map((r) => ({
        ...r,
        transitions: r.transitions.filter((t) => unreachable.has(t)),
      }));
      const report = coverage(model.machine, [...records, ...extra], model.input);
      console.log(
        `${formatCoverage(report)} (real bytes, plus ${unreachable.size} on the machine alone)`,
      );
      expect(report.states.missing).toEqual([]);
      expect(report.transitions.missing).toEqual([]);
      expect(report.transitions.ratio).toBe(1);
    });
  }
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
