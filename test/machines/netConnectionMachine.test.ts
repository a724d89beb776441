import { createActor, fromCallback, setup, SimulatedClock } from 'xstate';
import {
  classifyConnectRefusal,
  netConnectionMachine,
  retryDelay,
  type NetConnectionContext,
} from '../../machines/netConnectionMachine';
import { buildCommand, StatusCode } from '../../src/protocol/message/commands';
import { netConnectionModel } from '../../src/testing/models/netConnection';
import {
  allStates,
  allTransitions,
  coverage,
  formatCoverage,
  PathReplayError,
  probeInitial,
  probeTransition,
  replayPath,
  walkPaths,
  type ModelPath,
  type ReplayRecord,
} from '../../src/testing/paths';
import { createScriptedPeer } from '../../src/testing/scriptedPeer';

/** The machine's size, pinned (see the coverage test). */
const NET_CONNECTION_STATES = 13;
const NET_CONNECTION_TRANSITIONS = 52;

type NetConnectionLogic = typeof netConnectionMachine;

/**
 * A connection that connects, then gets a Set Chunk Size, an onBWDone and a PingRequest while
 * connected: what went back to the peer, and the context.
 */
function connectThenChatter(machine: NetConnectionLogic): {
  sent: string[];
  pingTimes: number[];
  context: NetConnectionContext;
} {
  const peer = createScriptedPeer();
  const actor = createActor(machine.provide({ actors: { transport: peer.transport } }), {
    input: { connect: { app: 'live' }, autostart: true },
  }).start();
  try {
    const socket = peer.socket();
    socket.accept();
    socket.completeHandshake();
    socket.answerConnect();
    const before = socket.received.length;
    socket.send({ type: 'SetChunkSize', chunkSize: 4096, timestamp: 0, streamId: 0 });
    socket.send(buildCommand('onBWDone', null, []));
    socket.send({
      type: 'UserControl',
      event: 'PingRequest',
      time: 1234,
      timestamp: 0,
      streamId: 0,
    });
    const after = socket.received.slice(before);
    return {
      sent: after.map((m) => (m.type === 'Command' ? m.name : m.type)),
      pingTimes: after.flatMap((m) =>
        m.type === 'UserControl' && m.event === 'PingResponse' ? [m.time] : [],
      ),
      context: actor.getSnapshot().context,
    };
  } finally {
    actor.stop();
  }
}

/** The transitions the model takes from `session.connected` (no stream open) on `event`. */
function takenWhenConnected(
  machine: NetConnectionLogic,
  event: Parameters<typeof probeTransition>[2],
): string[] {
  const init = probeInitial(machine, { connect: { app: 'live' } }).next;
  const connected = machine.resolveState({
    value: { session: 'connected' },
    context: init.context,
  });
  // The transport the connected state invokes (never started: the probe runs no action).
  (connected as { children: Record<string, unknown> }).children = {
    transport: createActor(
      fromCallback(() => undefined),
      { id: 'transport' },
    ),
  };
  return probeTransition(machine, connected, event).transitions;
}

describe('netConnectionMachine', () => {
  const records: ReplayRecord[] = [];
  const model = netConnectionModel();
  const walked = walkPaths(model.machine, {
    input: model.input,
    events: model.events,
    simpleEvents: model.simpleEvents,
    serializeState: model.serializeState,
    // Shortest and transition-completing paths cover every transition; simple paths add depth,
    // and over the real transport each costs a replay: the first 150 (as netStream walks).
    maxSimplePaths: 150,
  });
  const paths = [...walked, ...model.closingPaths()];
  const auto = netConnectionModel({ autostart: true });
  const autoPaths = walkPaths(auto.machine, {
    input: auto.input,
    events: auto.events,
    serializeState: auto.serializeState,
    skip: ['simple', 'transition'],
  });

  it('has shortest, simple and transition-completing paths to connected, closed and failed', () => {
    const sources = new Set(paths.map((p) => p.source));
    expect([...sources].sort()).toEqual(['shortest', 'simple', 'transition']);
    for (const end of ['closed', 'failed']) {
      expect(paths.some((p) => p.state.value === end)).toBe(true);
    }
    expect(paths.some((p) => p.steps.some((s) => s.state.matches({ session: 'connected' })))).toBe(
      true,
    );
  });

  it.each(paths.map((p) => [p.id, p.description, p] as const))(
    'follows the model over real RTMP bytes along %s: %s',
    (_id, _d, path) => {
      const record = replayPath(model.machine, path, (inspect) => model.harness(inspect), {
        project: model.project,
        mode: 'oracle',
        events: model.events,
      });
      records.push(record);
      expect(record.transitions.length).toBeGreaterThan(0);
      // Every step of the path happens, through the harness or by the transport itself.
      expect(record.skipped).toBe(model.answeredAtOnce(path));
    },
  );

  it.each(autoPaths.slice(0, 6).map((p) => [p.id, p.description, p] as const))(
    'connects by itself with autostart along %s: %s',
    (_id, _d, path) => {
      records.push(
        replayPath(auto.machine, path, (inspect) => auto.harness(inspect), {
          project: auto.project,
          mode: 'oracle',
          events: auto.events,
        }),
      );
      expect(path.steps[0]?.event.type).not.toBe('NC.CONNECT');
    },
  );

  it('reaches every state and takes every transition in the replays', () => {
    const report = coverage(netConnectionMachine, records);
    console.log(formatCoverage(report));
    expect(report.states.missing).toEqual([]);
    expect(report.transitions.missing).toEqual([]);
    expect(report.transitions.ratio).toBe(1);
    // Pinned: a state or transition added to (or lost from) the machine shows here first.
    expect(report.states.total).toBe(NET_CONNECTION_STATES);
    expect(report.transitions.total).toBe(NET_CONNECTION_TRANSITIONS);
  });

  it('has the pinned number of states and transitions', () => {
    expect(allStates(netConnectionMachine)).toHaveLength(NET_CONNECTION_STATES);
    expect(allTransitions(netConnectionMachine)).toHaveLength(NET_CONNECTION_TRANSITIONS);
  });

  const replayAll = (machine: typeof netConnectionMachine, list: ModelPath[]) => {
    const mutant = netConnectionModel({ machine });
    const failures: PathReplayError[] = [];
    for (const path of list) {
      try {
        replayPath(mutant.machine, path, (inspect) => mutant.harness(inspect), {
          project: mutant.project,
          mode: 'oracle',
          events: mutant.events,
        });
      } catch (err) {
        if (err instanceof PathReplayError) failures.push(err);
        else throw err;
      }
    }
    return failures;
  };

  it('catches a mutant whose canRetry guard always allows another attempt', () => {
    const mutant = netConnectionMachine.provide({ guards: { canRetry: () => true } });
    const failures = replayAll(mutant, paths);
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.some((f) => /model in failed/.test(f.message))).toBe(true);
  });

  it('catches a mutant that no longer answers PingRequest', () => {
    const mutant = netConnectionMachine.provide({ actions: { answerPing: () => undefined } });
    const failures = replayAll(mutant, paths);
    expect(failures.some((f) => /PingRequest was not answered/.test(f.message))).toBe(true);
  });

  it('answers a PingRequest, and only it, with a PingResponse, and keeps the chunk size and the connect reply', () => {
    const { sent, pingTimes, context } = connectThenChatter(netConnectionMachine);
    expect(sent).toEqual(['UserControl']);
    expect(pingTimes).toEqual([1234]);
    expect(context.peer.chunkSize).toBe(4096);
    expect(context.server?.info?.code).toBe(StatusCode.ConnectSuccess);
    expect(context.server?.properties).toMatchObject({ fmsVer: 'FMS/3,0,1,123' });
  });

  // Mutants the path replays let through (they compare states and a projection of the context,
  // not every message back to the peer). isSetChunkSize constantly true is equivalent: the
  // action it guards ignores anything but a SetChunkSize, so it cannot be observed.
  it.each([
    ['isPingRequest always true', { guards: { isPingRequest: () => true } }],
    ['isSetChunkSize always false', { guards: { isSetChunkSize: () => false } }],
    ['recordPeerChunkSize a no-op', { actions: { recordPeerChunkSize: () => undefined } }],
    ['recordServerInfo a no-op', { actions: { recordServerInfo: () => undefined } }],
  ] as const)('catches a mutant whose %s in the connected chatter', (_name, mutation) => {
    const mutant = netConnectionMachine.provide(mutation as never);
    const { sent, pingTimes, context } = connectThenChatter(mutant);
    const right =
      sent.join() === 'UserControl' &&
      pingTimes.join() === '1234' &&
      context.peer.chunkSize === 4096 &&
      context.server?.info?.code === StatusCode.ConnectSuccess;
    expect(right).toBe(false);
  });

  it('routes nothing to a stream it does not have: a PingRequest stays with the connection, a tick for an unknown stream goes nowhere', () => {
    const ping = {
      type: 'RTMP.MESSAGE',
      message: { type: 'UserControl', event: 'PingRequest', time: 5, timestamp: 0, streamId: 0 },
    } as const;
    const tick = { type: 'MEDIA.TICK', streamId: 7, keyframe: true, timestamp: 0 } as const;
    expect(takenWhenConnected(netConnectionMachine, ping)).toEqual([
      'netConnection.session:RTMP.MESSAGE:2',
    ]);
    expect(takenWhenConnected(netConnectionMachine, tick)).toEqual([]);
    // The mutants would send the event to an undefined stream, which xstate turns into a send
    // to the connection itself: an endless loop in a live actor, so they are caught on the model.
    const forStream = netConnectionMachine.provide({ guards: { isForStream: () => true } });
    expect(takenWhenConnected(forStream, ping)).toEqual([
      'netConnection.session.connected:RTMP.MESSAGE:1',
    ]);
    const forTick = netConnectionMachine.provide({ guards: { hasStreamForTick: () => true } });
    expect(takenWhenConnected(forTick, tick)).toEqual([
      'netConnection.session.connected:MEDIA.TICK:0',
    ]);
  });

  it('waits the whole backoff it chose before the next attempt (and a mutant that skips scheduling it does not)', () => {
    const run = (machine: NetConnectionLogic) => {
      const clock = new SimulatedClock();
      const peer = createScriptedPeer();
      const actor = createActor(machine.provide({ actors: { transport: peer.transport } }), {
        clock,
        input: {
          connect: { app: 'live' },
          autostart: true,
          retry: { maxAttempts: 3, baseMs: 100, maxMs: 1000 },
          random: () => 0,
          now: () => clock.now(),
        },
      }).start();
      peer.socket().fail('REFUSED');
      const waiting = actor.getSnapshot();
      clock.increment(49);
      const sockets49 = peer.sockets.length;
      clock.increment(1);
      const result = {
        delay: waiting.context.nextRetryDelay,
        state: JSON.stringify(waiting.value),
        sockets49,
        sockets50: peer.sockets.length,
      };
      actor.stop();
      return result;
    };
    expect(run(netConnectionMachine)).toEqual({
      delay: 50,
      state: JSON.stringify({ retrying: 'waiting' }),
      sockets49: 1,
      sockets50: 2,
    });
    const mutant = netConnectionMachine.provide({ actions: { scheduleRetry: () => undefined } });
    expect(run(mutant)).not.toEqual(run(netConnectionMachine));
  });

  it('tells its parent when it is up, down, closed and failed (a mutant that stays silent does not)', () => {
    const run = (machine: NetConnectionLogic, ending: 'close' | 'refuse') => {
      const peer = createScriptedPeer();
      const got: Array<Record<string, unknown>> = [];
      const parent = setup({
        actors: { connection: machine.provide({ actors: { transport: peer.transport } }) },
      }).createMachine({
        invoke: {
          id: 'connection-7',
          src: 'connection',
          input: { connectionId: 'connection-7', connect: { app: 'live' }, autostart: true },
        },
        on: {
          '*': {
            actions: ({ event }) => {
              if (event.type.startsWith('CONNECTION.')) got.push(event);
            },
          },
        },
      });
      const actor = createActor(parent).start();
      const socket = peer.socket();
      socket.accept();
      socket.completeHandshake();
      if (ending === 'refuse') {
        socket.answerConnect({ ok: false, code: 'NetConnection.Connect.Rejected' });
      } else {
        socket.answerConnect();
        socket.hangUp();
        const child = actor.getSnapshot().children['connection-7'];
        child?.send({ type: 'NC.CLOSE' });
      }
      actor.stop();
      return got;
    };
    const id = { connectionId: 'connection-7' };
    expect(run(netConnectionMachine, 'close')).toEqual([
      {
        type: 'CONNECTION.UP',
        ...id,
        capabilities: expect.objectContaining({ enhanced: false, capsEx: 0 }),
      },
      {
        type: 'CONNECTION.DOWN',
        ...id,
        attempt: expect.objectContaining({ reason: 'TRANSPORT_CLOSED', code: 'CLOSED' }),
      },
      { type: 'CONNECTION.CLOSED', ...id },
    ]);
    expect(run(netConnectionMachine, 'refuse')).toEqual([
      expect.objectContaining({ type: 'CONNECTION.FAILED', ...id, reason: 'REJECTED' }),
    ]);
    const silent = netConnectionMachine.provide({ actions: { notifyParent: () => undefined } });
    expect(run(silent, 'close')).toEqual([]);
    expect(run(silent, 'refuse')).toEqual([]);
  });

  it('backs off exponentially with jitter from the injected random, up to maxMs', () => {
    const policy = { maxAttempts: 5, baseMs: 100, maxMs: 1000 };
    expect([1, 2, 3, 4, 5].map((n) => retryDelay(n, policy, () => 0))).toEqual([
      50, 100, 200, 400, 500,
    ]);
    expect([1, 2, 3, 4, 5].map((n) => retryDelay(n, policy, () => 0.999999))).toEqual([
      100, 200, 400, 800, 1000,
    ]);
  });

  it('names an authentication refusal, an invalid app and a plain rejection apart', () => {
    expect(
      classifyConnectRefusal({
        level: 'error',
        code: 'NetConnection.Connect.Rejected',
        description: '[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ]',
      }),
    ).toBe('AUTH_FAILED');
    expect(
      classifyConnectRefusal({ level: 'error', code: 'NetConnection.Connect.InvalidApp' }),
    ).toBe('INVALID_APP');
    expect(classifyConnectRefusal({ level: 'error', code: 'NetConnection.Connect.Rejected' })).toBe(
      'REJECTED',
    );
  });

  it('keeps the time and reason of every failed attempt when it gives up', () => {
    const clock = new SimulatedClock();
    const peer = createScriptedPeer();
    const actor = createActor(
      netConnectionMachine.provide({ actors: { transport: peer.transport } }),
      {
        id: 'c',
        clock,
        input: {
          connect: { app: 'live' },
          autostart: true,
          retry: { maxAttempts: 3, baseMs: 100, maxMs: 1000 },
          random: () => 0,
          now: () => clock.now(),
        },
      },
    ).start();
    peer.socket().fail('REFUSED');
    clock.increment(50);
    peer.socket().fail('RESET');
    clock.increment(100);
    peer.socket().accept();
    peer.socket().hangUp();
    const snap = actor.getSnapshot();
    expect(snap.value).toBe('failed');
    const ctx = snap.context as NetConnectionContext;
    expect(ctx.attempts).toEqual([
      {
        time: 0,
        reason: 'TRANSPORT_ERROR',
        code: 'REFUSED',
        message: expect.stringContaining('[ECONNREFUSED]'),
      },
      {
        time: 50,
        reason: 'TRANSPORT_ERROR',
        code: 'RESET',
        message: expect.stringContaining('[ECONNRESET]'),
      },
      // Connected, then closed by the peer before the handshake completed.
      {
        time: 150,
        reason: 'HANDSHAKE_SOCKET_CLOSED',
        code: 'SOCKET_CLOSED',
        message: 'the socket closed during the handshake',
      },
    ]);
    expect(ctx.failure?.reason).toBe('RETRIES_EXHAUSTED');
    expect(snap.output).toMatchObject({ outcome: 'failed', connectionId: 'connection' });
  });

  it('answers Set Peer Bandwidth with its Window Acknowledgement Size before anything else', () => {
    const peer = createScriptedPeer();
    const actor = createActor(
      netConnectionMachine.provide({ actors: { transport: peer.transport } }),
      {
        input: { connect: { app: 'live' }, autostart: true, windowAckSize: 2_500_000 },
      },
    ).start();
    const socket = peer.socket();
    socket.accept();
    socket.completeHandshake();
    socket.send({ type: 'WindowAckSize', windowSize: 5_000_000, timestamp: 0, streamId: 0 });
    socket.send({
      type: 'SetPeerBandwidth',
      windowSize: 5_000_000,
      limitType: 2,
      timestamp: 0,
      streamId: 0,
    });
    expect(socket.received.map((m) => (m.type === 'Command' ? m.name : m.type))).toEqual([
      'SetChunkSize',
      'connect',
      'WindowAckSize',
    ]);
    expect(socket.lastCommand('TRANSPORT.SET_ACK_WINDOW')?.windowSize).toBe(5_000_000);
    actor.stop();
  });
});
