import { createActor, SimulatedClock } from 'xstate';
import {
  classifyConnectRefusal,
  netConnectionMachine,
  retryDelay,
  type NetConnectionContext,
} from '../../machines/netConnectionMachine';
import { netConnectionModel } from '../../src/testing/models/netConnection';
import {
  coverage,
  formatCoverage,
  PathReplayError,
  replayPath,
  walkPaths,
  type ModelPath,
  type ReplayRecord,
} from '../../src/testing/paths';
import { createScriptedPeer } from '../../src/testing/scriptedPeer';

describe('netConnectionMachine', () => {
  const records: ReplayRecord[] = [];
  const model = netConnectionModel();
  const paths = walkPaths(model.machine, {
    input: model.input,
    events: model.events,
    simpleEvents: model.simpleEvents,
    serializeState: model.serializeState,
  });
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
      });
      records.push(record);
      expect(record.transitions.length).toBeGreaterThan(0);
    },
  );

  it.each(autoPaths.slice(0, 6).map((p) => [p.id, p.description, p] as const))(
    'connects by itself with autostart along %s: %s',
    (_id, _d, path) => {
      records.push(
        replayPath(auto.machine, path, (inspect) => auto.harness(inspect), {
          project: auto.project,
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
  });

  const replayAll = (machine: typeof netConnectionMachine, list: ModelPath[]) => {
    const mutant = netConnectionModel({ machine });
    const failures: PathReplayError[] = [];
    for (const path of list) {
      try {
        replayPath(mutant.machine, path, (inspect) => mutant.harness(inspect), {
          project: mutant.project,
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
    peer.socket().hangUp();
    const snap = actor.getSnapshot();
    expect(snap.value).toBe('failed');
    const ctx = snap.context as NetConnectionContext;
    expect(ctx.attempts).toEqual([
      { time: 0, reason: 'TRANSPORT_ERROR', code: 'REFUSED', message: 'scripted REFUSED' },
      { time: 50, reason: 'TRANSPORT_ERROR', code: 'RESET', message: 'scripted RESET' },
      { time: 150, reason: 'TRANSPORT_CLOSED', code: 'CLOSED' },
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
