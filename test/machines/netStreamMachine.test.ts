import { netStreamMachine, type NetStreamContext } from '../../machines/netStreamMachine';
import { StatusCode } from '../../src/protocol/message';
import { netStreamModel } from '../../src/testing/models/netStream';
import {
  coverage,
  formatCoverage,
  pathFromEvents,
  replayPath,
  walkPaths,
  type ReplayRecord,
} from '../../src/testing/paths';

describe('netStreamMachine', () => {
  const records: ReplayRecord[] = [];

  describe.each(['play', 'publish'] as const)('in %s mode', (mode) => {
    const model = netStreamModel({ mode });
    const paths = walkPaths(model.machine, {
      input: model.input,
      events: model.events,
      simpleEvents: model.simpleEvents,
      serializeState: model.serializeState,
      maxSimplePaths: 150,
    });

    it('has paths to stopped and to failed', () => {
      expect(paths.some((p) => p.state.value === 'stopped')).toBe(true);
      expect(paths.some((p) => p.state.value === 'failed')).toBe(true);
    });

    it.each(paths.map((p) => [p.id, p.description, p] as const))(
      'follows the model on a live connection along %s: %s',
      (_id, _d, path) => {
        const record = replayPath(model.machine, path, (inspect) => model.harness(inspect), {
          project: model.project,
        });
        records.push(record);
        expect(record.states.length).toBeGreaterThan(0);
      },
    );
  });

  it('reaches every state and takes every transition in the replays', () => {
    const report = coverage(netStreamMachine, records);
    console.log(formatCoverage(report));
    expect(report.states.missing).toEqual([]);
    expect(report.transitions.missing).toEqual([]);
    expect(report.transitions.ratio).toBe(1);
  });

  const status = (code: string) => ({
    type: 'RTMP.MESSAGE',
    message: {
      type: 'Command',
      amf: 0,
      name: 'onStatus',
      transactionId: 0,
      commandObject: null,
      args: [{ level: 'status', code }],
      timestamp: 0,
      streamId: 1,
    },
  });

  it('resumes a recorded play from the last media time after the connection comes back', () => {
    const model = netStreamModel({ mode: 'play' });
    const path = pathFromEvents(
      model.machine,
      [
        { type: 'STREAM.START' },
        { type: 'STREAM.CREATED', streamId: 1 },
        {
          type: 'RTMP.MESSAGE',
          message: { type: 'UserControl', event: 'StreamIsRecorded', streamId: 1, timestamp: 0 },
        },
        status(StatusCode.PlayStart),
        { type: 'MEDIA.TICK', streamId: 1, keyframe: true, timestamp: 1000 },
        { type: 'NC.INTERRUPTED' },
        { type: 'NC.RESTORED' },
        { type: 'STREAM.CREATED', streamId: 1 },
      ],
      { input: model.input },
    );
    let harness: ReturnType<typeof model.harness> | undefined;
    replayPath(model.machine, path, (inspect) => (harness = model.harness(inspect)), {
      project: model.project,
    });
    const plays = harness!.peer
      .socket('connection-0')
      .receivedOf('Command')
      .filter((m) => m.name === 'play');
    expect(plays.map((p) => p.args[1])).toEqual([1000]);
    const first = harness!.peer.sockets[0].receivedOf('Command').filter((m) => m.name === 'play');
    expect(first.map((p) => p.args[1])).toEqual([-2]);
  });

  it('emits stall and resumed when media stops and starts again', () => {
    const model = netStreamModel({ mode: 'play' });
    const h = model.harness(() => undefined);
    const steps = [
      { type: 'STREAM.START' },
      { type: 'STREAM.CREATED', streamId: 1 },
      status(StatusCode.PlayStart),
      { type: 'MEDIA.TICK', streamId: 1, keyframe: true, timestamp: 1000 },
    ];
    steps.forEach((event, index) =>
      h.realize(event as never, { before: h.actor.getSnapshot(), index }),
    );
    h.clock.increment((h.actor.getSnapshot().context as NetStreamContext).timeouts.stall);
    expect(h.actor.getSnapshot().value).toEqual({ active: { play: 'stalled' } });
    h.peer.socket('connection-0').sendKeyframe(1, 1040);
    expect(h.actor.getSnapshot().value).toEqual({ active: { play: 'flowing' } });
    expect(
      h.emitted.filter((e) => e.type === 'stream.stall' || e.type === 'stream.resumed'),
    ).toEqual([
      { type: 'stream.stall', name: 'cam1', lastTimestamp: 1000 },
      { type: 'stream.resumed', name: 'cam1', lastTimestamp: 1040 },
    ]);
    h.dispose();
  });

  it('fails with the server status when the stream is not found, and says so in an event', () => {
    const model = netStreamModel({ mode: 'play' });
    const h = model.harness(() => undefined);
    h.actor.send({ type: 'STREAM.START' });
    const socket = h.peer.socket('connection-0');
    socket.answerCreateStream(1);
    socket.sendStatus(1, StatusCode.PlayStreamNotFound, 'error', 'No such stream');
    const snap = h.actor.getSnapshot();
    expect(snap.value).toBe('failed');
    expect(snap.output).toMatchObject({
      outcome: 'failed',
      failure: {
        reason: 'REFUSED',
        status: { code: StatusCode.PlayStreamNotFound, level: 'error' },
      },
    });
    expect(h.emitted.find((e) => e.type === 'stream.error')).toMatchObject({ reason: 'REFUSED' });
    expect(socket.lastReceived('deleteStream')?.args[0]).toBe(1);
    h.dispose();
  });
});

describe('netStreamMachine live-only play', () => {
  it('outlives its publisher (StreamEOF, UnpublishNotify) and flows again with the next one', () => {
    const model = netStreamModel({ mode: 'play', play: { start: -1, bufferMs: 1000 } });
    const h = model.harness(() => undefined);
    h.actor.send({ type: 'STREAM.START' });
    const socket = h.peer.socket('connection-0');
    socket.answerCreateStream(1);
    expect(socket.lastReceived('play')?.args[1]).toBe(-1);
    socket.sendStatus(1, StatusCode.PlayStart);
    socket.sendKeyframe(1, 40);
    socket.send({ type: 'UserControl', event: 'StreamEOF', streamId: 1, timestamp: 0 });
    socket.sendStatus(1, StatusCode.PlayUnpublishNotify);
    expect(h.actor.getSnapshot().value).toEqual({ active: { play: 'flowing' } });
    h.clock.increment((h.actor.getSnapshot().context as NetStreamContext).timeouts.stall);
    expect(h.actor.getSnapshot().value).toEqual({ active: { play: 'stalled' } });
    socket.sendStatus(1, StatusCode.PlayPublishNotify);
    socket.sendKeyframe(1, 80);
    expect(h.actor.getSnapshot().value).toEqual({ active: { play: 'flowing' } });
    expect(h.emitted.some((e) => e.type === 'stream.ended')).toBe(false);
    socket.sendStatus(1, StatusCode.PlayStop);
    expect(h.actor.getSnapshot().output).toMatchObject({
      outcome: 'stopped',
      endReason: StatusCode.PlayStop,
    });
    h.dispose();
  });

  it('ends a live-or-recorded play on StreamEOF', () => {
    const model = netStreamModel({ mode: 'play' });
    const h = model.harness(() => undefined);
    h.actor.send({ type: 'STREAM.START' });
    const socket = h.peer.socket('connection-0');
    socket.answerCreateStream(1);
    socket.sendStatus(1, StatusCode.PlayStart);
    socket.send({ type: 'UserControl', event: 'StreamEOF', streamId: 1, timestamp: 0 });
    expect(h.actor.getSnapshot().output).toMatchObject({
      outcome: 'stopped',
      endReason: 'StreamEOF',
    });
    h.dispose();
  });
});
