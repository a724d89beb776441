import {
  DEFAULT_VOD_IDLE_MS,
  DURATION_GRACE_MS,
  isPermanentRefusal,
  isTransientRefusal,
  NET_STREAM_LIFECYCLE_OF,
  NET_STREAM_LIFECYCLES,
  NET_STREAM_STATE_NAMES,
  netStreamMachine,
  netStreamStatesTagged,
  silentEnd,
  streamRetryPolicy,
  tagsOfNode,
  type NetStreamContext,
} from '../../machines/netStreamMachine';
import { StatusCode } from '../../src/protocol/message';
import {
  NET_STREAM_VARIANTS,
  netStreamModel,
  type NetStreamModelOptions,
} from '../../src/testing/models/netStream';
import {
  coverage,
  formatCoverage,
  PathReplayError,
  pathFromEvents,
  replayPath,
  walkPaths,
  type ReplayRecord,
} from '../../src/testing/paths';

const walked = new Map<NetStreamModelOptions, ReturnType<typeof walkPaths>>();
/** The model's paths of a variant (what the replays and the mutants walk), walked once. */
function pathsOf(options: NetStreamModelOptions) {
  const known = walked.get(options);
  if (known) return known;
  const model = netStreamModel(options);
  const paths = walkPaths(model.machine, {
    input: model.input,
    events: model.events,
    simpleEvents: model.simpleEvents,
    serializeState: model.serializeState,
    maxSimplePaths: 150,
    skip: options.play?.retry || options.play?.endOnIdleMs !== undefined ? ['simple'] : [],
  });
  walked.set(options, paths);
  return paths;
}

describe('netStreamMachine', () => {
  const records: ReplayRecord[] = [];

  describe.each(NET_STREAM_VARIANTS)('as %s', (_name, options) => {
    const model = netStreamModel(options);
    const paths = pathsOf(options);

    it('has paths to stopped and to failed', () => {
      expect(paths.some((p) => p.state.value === 'stopped')).toBe(true);
      expect(paths.some((p) => p.state.value === 'failed')).toBe(true);
    });

    if (options.play?.retry) {
      it('has paths through retrying back to flowing', () => {
        const recovered = paths.filter((p) => {
          const i = p.steps.findIndex((s) => s.state.matches('retrying'));
          return (
            i >= 0 && p.steps.slice(i).some((s) => s.state.matches({ active: { play: 'flowing' } }))
          );
        });
        expect(recovered.length).toBeGreaterThan(0);
      });
    }

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
    // Pinned: a state or transition added without a model path shows here first.
    expect([report.states.total, report.transitions.total]).toEqual([25, 73]);
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

describe('netStreamMachine retries', () => {
  type Harness = ReturnType<ReturnType<typeof netStreamModel>['harness']>;
  const ctxOf = (h: Harness) => h.actor.getSnapshot().context as NetStreamContext;
  const announced = (h: Harness) =>
    h.emitted.filter((e) => e.type === 'stream.state').map((e) => e.state as string);
  /** Starts a play and answers createStream and Play.Start (what nginx-rtmp does for any name). */
  const startPlay = (h: Harness, streamId = 1) => {
    const socket = h.peer.socket('connection-0');
    socket.answerCreateStream(streamId);
    socket.sendStatus(streamId, StatusCode.PlayStart);
    return socket;
  };
  const keepWatching = (retry = { baseMs: 1000, maxMs: 30_000 }) =>
    netStreamModel({
      mode: 'play',
      play: { start: -2, bufferMs: 1000, keepWatching: true, retry },
    });

  it('never reports flowing before media: a play that gets Play.Start and no media fails with FIRST_FRAME_TIMEOUT', () => {
    const h = netStreamModel({ mode: 'play' }).harness(() => undefined);
    h.actor.send({ type: 'STREAM.START' });
    const socket = startPlay(h);
    socket.sendStatus(1, StatusCode.PlayPublishNotify);
    expect(h.actor.getSnapshot().value).toEqual({ active: { play: 'awaitingFirstFrame' } });
    h.clock.increment(ctxOf(h).timeouts.firstFrame);
    expect(h.actor.getSnapshot().output).toMatchObject({
      outcome: 'failed',
      failure: { reason: 'FIRST_FRAME_TIMEOUT' },
    });
    expect(announced(h)).not.toContain('flowing');
    expect(socket.lastReceived('deleteStream')?.args[0]).toBe(1);
    h.dispose();
  });

  it('keeps watching a live stream whose publisher left: retrying with the attempt and reason, then flowing with the next publisher', () => {
    const h = keepWatching().harness(() => undefined);
    h.actor.send({ type: 'STREAM.START' });
    const socket = startPlay(h);
    socket.sendKeyframe(1, 40);
    socket.sendStatus(1, StatusCode.PlayUnpublishNotify);
    const snap = h.actor.getSnapshot();
    expect(snap.value).toEqual({ retrying: 'waiting' });
    expect(socket.lastReceived('deleteStream')?.args[0]).toBe(1);
    const retrying = h.emitted.filter((e) => e.type === 'stream.state').at(-1);
    expect(retrying).toMatchObject({
      state: 'retrying',
      retry: {
        attempt: 1,
        reason: 'ENDED',
        endReason: StatusCode.PlayUnpublishNotify,
        status: { code: StatusCode.PlayUnpublishNotify },
        delayMs: 500,
      },
    });
    h.clock.increment(500);
    expect(h.actor.getSnapshot().value).toBe('creating');
    startPlay(h, 2);
    expect(announced(h).at(-1)).toBe('retrying');
    socket.sendKeyframe(2, 80);
    expect(h.actor.getSnapshot().value).toEqual({ active: { play: 'flowing' } });
    expect(ctxOf(h).attempt).toBe(0);
    expect(announced(h)).toEqual([
      'creating',
      'requesting',
      'awaitingFirstFrame',
      'flowing',
      'retrying',
      'flowing',
    ]);
    h.dispose();
  });

  it('reads retrying steadily through an hour without a publisher, its backoff capped, and flows when one comes', () => {
    const h = keepWatching().harness(() => undefined);
    h.actor.send({ type: 'STREAM.START' });
    let socket = startPlay(h);
    socket.sendKeyframe(1, 40);
    socket.sendStatus(1, StatusCode.PlayUnpublishNotify);
    const hour = h.clock.now() + 3_600_000;
    const delays: number[] = [];
    let streamId = 1;
    // An nginx-rtmp-like server: every play gets Play.Start, and no media comes.
    while (h.clock.now() < hour) {
      const snap = h.actor.getSnapshot();
      if (snap.matches({ retrying: 'waiting' })) {
        const delay = ctxOf(h).retry!.delayMs;
        delays.push(delay);
        h.clock.increment(delay);
      } else if (snap.matches('creating')) {
        socket = startPlay(h, ++streamId);
      } else if (snap.matches({ active: { play: 'awaitingFirstFrame' } })) {
        h.clock.increment(ctxOf(h).timeouts.firstFrame);
      } else {
        throw new Error(`unexpected ${JSON.stringify(snap.value)}`);
      }
    }
    const states = announced(h);
    const sinceGone = states.slice(states.indexOf('retrying'));
    expect(new Set(sinceGone)).toEqual(new Set(['retrying']));
    expect(sinceGone.length).toBe(delays.length);
    // random() is 0 here: the lower half of each ceiling (1 s, 2 s, ... capped at 30 s).
    expect(Math.max(...delays)).toBe(15_000);
    expect(delays.slice(0, 4)).toEqual([500, 1000, 2000, 4000]);
    expect(delays.slice(-3)).toEqual([15_000, 15_000, 15_000]);
    expect(h.actor.getSnapshot().status).toBe('active');
    expect(h.emitted.some((e) => e.type === 'stream.error')).toBe(false);
    // The publisher is back: the next attempt flows, and the count starts over.
    while (!h.actor.getSnapshot().matches('creating')) h.clock.increment(1000);
    startPlay(h, ++streamId).sendKeyframe(streamId, 1000);
    expect(h.actor.getSnapshot().value).toEqual({ active: { play: 'flowing' } });
    expect(ctxOf(h).attempt).toBe(0);
    h.dispose();
  });

  it('retries StreamNotFound on a kept-watching live play, but fails at once on BadName, an authorization refusal or a code the caller marked permanent', () => {
    const cases: Array<[string, string, string | undefined, string[]]> = [
      ['StreamNotFound', StatusCode.PlayStreamNotFound, undefined, []],
      ['BadName', 'NetStream.Play.BadName', undefined, []],
      ['authorization', StatusCode.PlayFailed, 'Unauthorized: bad token', []],
      [
        'marked permanent',
        StatusCode.PlayStreamNotFound,
        undefined,
        [StatusCode.PlayStreamNotFound],
      ],
    ];
    const outcomes = cases.map(([name, code, description, permanentCodes]) => {
      const model = netStreamModel({
        mode: 'play',
        play: { start: -2, bufferMs: 1000, keepWatching: true, retry: { permanentCodes } },
      });
      const h = model.harness(() => undefined);
      h.actor.send({ type: 'STREAM.START' });
      const socket = h.peer.socket('connection-0');
      socket.answerCreateStream(1);
      socket.sendStatus(1, code, 'error', description);
      const snap = h.actor.getSnapshot();
      h.dispose();
      return [name, snap.status === 'done' ? `failed ${ctxOf(h).failure?.reason}` : 'retrying'];
    });
    expect(outcomes).toEqual([
      ['StreamNotFound', 'retrying'],
      ['BadName', 'failed REFUSED'],
      ['authorization', 'failed REFUSED'],
      ['marked permanent', 'failed REFUSED'],
    ]);
  });

  it('fails with RETRIES_EXHAUSTED, the attempts and the last reason when maxAttempts run out', () => {
    const model = netStreamModel({
      mode: 'play',
      play: { start: -2, bufferMs: 1000, retry: { maxAttempts: 3, baseMs: 100, maxMs: 100 } },
    });
    const h = model.harness(() => undefined);
    h.actor.send({ type: 'STREAM.START' });
    for (let i = 1; i <= 3; i++) {
      h.peer.socket('connection-0').answerCreateStream(i);
      h.clock.increment(ctxOf(h).timeouts.start);
      if (i < 3) h.clock.increment(100);
    }
    expect(h.actor.getSnapshot().output).toMatchObject({
      outcome: 'failed',
      failure: { reason: 'RETRIES_EXHAUSTED', attempts: 3, lastReason: 'START_TIMEOUT' },
    });
    expect(h.emitted.filter((e) => e.type === 'stream.error')).toEqual([
      {
        type: 'stream.error',
        name: 'cam1',
        reason: 'RETRIES_EXHAUSTED',
        attempts: 3,
        lastReason: 'START_TIMEOUT',
      },
    ]);
    h.dispose();
  });

  it('classifies refusals: Play.Failed transient, StreamNotFound transient only when watching live, BadName and authorization permanent', () => {
    const watch = { keepWatching: true, live: true };
    expect(
      isTransientRefusal(
        { level: 'error', code: StatusCode.PlayFailed },
        { keepWatching: false, live: true },
      ),
    ).toBe(true);
    expect(isTransientRefusal({ level: 'error', code: StatusCode.PlayStreamNotFound }, watch)).toBe(
      true,
    );
    expect(
      isTransientRefusal(
        { level: 'error', code: StatusCode.PlayStreamNotFound },
        { ...watch, live: false },
      ),
    ).toBe(false);
    expect(isPermanentRefusal({ level: 'error', code: StatusCode.PublishBadName })).toBe(true);
    expect(
      isPermanentRefusal({
        level: 'error',
        code: 'NetStream.Play.Failed',
        description: 'Access denied',
      }),
    ).toBe(true);
    expect(isPermanentRefusal({ level: 'error', code: StatusCode.PlayFailed })).toBe(false);
  });

  it('retries nothing by default and for ever when keeping watch, with the backoff capped', () => {
    expect(streamRetryPolicy(undefined).maxAttempts).toBe(1);
    expect(streamRetryPolicy({ keepWatching: true })).toMatchObject({
      maxAttempts: Number.POSITIVE_INFINITY,
      maxMs: 30_000,
    });
    expect(streamRetryPolicy({ keepWatching: true, retry: { maxAttempts: 5 } }).maxAttempts).toBe(
      5,
    );
  });
});

describe('netStreamMachine retry guard mutants', () => {
  const retryVariants = NET_STREAM_VARIANTS.filter(([, o]) => o.play?.retry);
  const replayAll = (mutant: typeof netStreamMachine): PathReplayError[] => {
    const failures: PathReplayError[] = [];
    for (const [, options] of retryVariants) {
      const model = netStreamModel({ ...options, machine: mutant });
      for (const path of pathsOf(options)) {
        try {
          replayPath(mutant, path, (inspect) => model.harness(inspect), { project: model.project });
        } catch (err) {
          if (err instanceof PathReplayError) failures.push(err);
          else throw err;
        }
      }
    }
    return failures;
  };

  it.each([
    ['isRetryable', true],
    ['isRetryable', false],
    ['canRetry', true],
    ['canRetry', false],
  ] as const)('catches a mutant whose %s guard is constantly %s', (guard, value) => {
    const mutant = netStreamMachine.provide({ guards: { [guard]: () => value } });
    expect(replayAll(mutant).length).toBeGreaterThan(0);
  });
});

describe('netStreamMachine state classification', () => {
  type Node = {
    key: string;
    id: string;
    tags: readonly string[];
    parent?: Node;
    states: Record<string, Node>;
  };
  const nodes = (n: Node): Node[] => [n, ...Object.values(n.states).flatMap(nodes)];
  const all = nodes(netStreamMachine.root as unknown as Node);
  const leaves = all.filter((n) => Object.keys(n.states).length === 0);

  it('gives every leaf state exactly one lifecycle tag (setup, up, down or failed), on itself or an ancestor', () => {
    expect(leaves.length).toBeGreaterThan(10);
    const unclassified = leaves
      .map((n) => ({
        id: n.id,
        lifecycle: tagsOfNode(n as never).filter((t) =>
          (NET_STREAM_LIFECYCLES as readonly string[]).includes(t),
        ),
      }))
      .filter((n) => n.lifecycle.length !== 1);
    expect(unclassified).toEqual([]);
  });

  it('names one state of the machine with each announced state, and classifies each', () => {
    for (const name of NET_STREAM_STATE_NAMES) {
      expect([name, all.filter((n) => n.key === name).length]).toEqual([name, 1]);
      expect(NET_STREAM_LIFECYCLES).toContain(NET_STREAM_LIFECYCLE_OF[name]);
    }
    expect(Object.keys(NET_STREAM_LIFECYCLE_OF).sort()).toEqual([...NET_STREAM_STATE_NAMES].sort());
  });

  it('derives the down, playing and paused sets from the tags', () => {
    expect([...netStreamStatesTagged('down')].sort()).toEqual(
      ['idle', 'interrupted', 'retrying', 'stopped', 'stopping'].sort(),
    );
    expect([...netStreamStatesTagged('playing')].sort()).toEqual(
      ['awaitingFirstFrame', 'flowing', 'stalled'].sort(),
    );
    expect([...netStreamStatesTagged('paused')]).toEqual(['paused']);
    expect([...netStreamStatesTagged('failed')]).toEqual(['failed']);
  });

  it('shows the tags in snapshots: a flowing play is up and playing', () => {
    const h = netStreamModel({ mode: 'play' }).harness(() => undefined);
    h.actor.send({ type: 'STREAM.START' });
    expect(h.actor.getSnapshot().hasTag('setup')).toBe(true);
    const socket = h.peer.socket('connection-0');
    socket.answerCreateStream(1);
    socket.sendStatus(1, StatusCode.PlayStart);
    socket.sendKeyframe(1, 40);
    const snap = h.actor.getSnapshot();
    expect([snap.hasTag('up'), snap.hasTag('playing'), snap.hasTag('down')]).toEqual([
      true,
      true,
      false,
    ]);
    h.dispose();
  });
});

describe('netStreamMachine silent end (endOnIdleMs)', () => {
  type Harness = ReturnType<ReturnType<typeof netStreamModel>['harness']>;
  const start = (h: Harness) => {
    h.actor.send({ type: 'STREAM.START' });
    const socket = h.peer.socket('connection-0');
    socket.answerCreateStream(1);
    socket.sendStatus(1, StatusCode.PlayStart);
    return socket;
  };
  const stall = (h: Harness) => (h.actor.getSnapshot().context as NetStreamContext).timeouts.stall;

  it('ends a recorded play after DEFAULT_VOD_IDLE_MS without media, reading stalled first', () => {
    const h = netStreamModel({ mode: 'play', play: { start: 0, bufferMs: 1000 } }).harness(
      () => undefined,
    );
    const socket = start(h);
    socket.sendKeyframe(1, 40);
    h.clock.increment(stall(h));
    expect(h.actor.getSnapshot().value).toEqual({ active: { play: 'stalled' } });
    h.clock.increment(DEFAULT_VOD_IDLE_MS - stall(h) - 1);
    expect(h.actor.getSnapshot().value).toEqual({ active: { play: 'stalled' } });
    h.clock.increment(1);
    expect(h.actor.getSnapshot().output).toMatchObject({
      outcome: 'stopped',
      endReason: 'IDLE_TIMEOUT',
    });
    expect(h.emitted.find((e) => e.type === 'stream.ended')).toMatchObject({
      reason: 'IDLE_TIMEOUT',
    });
    expect(socket.lastReceived('deleteStream')?.args[0]).toBe(1);
    h.dispose();
  });

  it('never ends a live play on silence by default: it stalls and waits', () => {
    const h = netStreamModel({ mode: 'play', play: { start: -1, bufferMs: 1000 } }).harness(
      () => undefined,
    );
    const socket = start(h);
    socket.sendKeyframe(1, 40);
    h.clock.increment(DEFAULT_VOD_IDLE_MS * 10);
    expect(h.actor.getSnapshot().value).toEqual({ active: { play: 'stalled' } });
    h.dispose();
  });

  it('ends a play that got Play.Start and no media within endOnIdleMs, before the first-frame timeout fails it', () => {
    const h = netStreamModel({
      mode: 'play',
      play: { start: -1, bufferMs: 1000, endOnIdleMs: 300 },
    }).harness(() => undefined);
    start(h);
    h.clock.increment(299);
    expect(h.actor.getSnapshot().value).toEqual({ active: { play: 'awaitingFirstFrame' } });
    h.clock.increment(1);
    expect(h.actor.getSnapshot().output).toMatchObject({
      outcome: 'stopped',
      endReason: 'IDLE_TIMEOUT',
      failure: undefined,
    });
    h.dispose();
  });

  it('ends a recorded play DURATION_GRACE_MS after its media reached the metadata duration', () => {
    const h = netStreamModel({ mode: 'play', play: { start: 0, bufferMs: 1000 } }).harness(
      () => undefined,
    );
    const socket = start(h);
    h.actor.send({ type: 'STREAM.DURATION', ms: 2000 });
    socket.sendKeyframe(1, 1900);
    // The model's stall timeout (500 ms) comes first; the simulated clock jumps, so step by it.
    h.clock.increment(stall(h));
    expect(h.actor.getSnapshot().value).toEqual({ active: { play: 'stalled' } });
    h.clock.increment(DURATION_GRACE_MS - stall(h) - 1);
    expect(h.actor.getSnapshot().status).toBe('active');
    h.clock.increment(1);
    expect(h.actor.getSnapshot().output).toMatchObject({ endReason: 'DURATION_REACHED' });
    h.dispose();
  });

  it('never ends a paused play on silence', () => {
    const h = netStreamModel({
      mode: 'play',
      play: { start: 0, bufferMs: 1000, endOnIdleMs: 300 },
    }).harness(() => undefined);
    const socket = start(h);
    socket.sendKeyframe(1, 40);
    h.actor.send({ type: 'STREAM.PAUSE' });
    h.clock.increment(DEFAULT_VOD_IDLE_MS * 10);
    expect(h.actor.getSnapshot().value).toEqual({ active: { play: 'paused' } });
    h.actor.send({ type: 'STREAM.RESUME' });
    // The silence counts from the resume, not from the last media before the pause.
    h.clock.increment(299);
    expect(h.actor.getSnapshot().value).toEqual({ active: { play: 'flowing' } });
    h.clock.increment(1);
    expect(h.actor.getSnapshot().output).toMatchObject({ endReason: 'IDLE_TIMEOUT' });
    h.dispose();
  });

  it('decides the silent end by one rule: recorded plays by default, live ones only when asked, 0 never', () => {
    const base = {
      mode: 'play' as const,
      recorded: true,
      endOnIdleMs: undefined,
      durationMs: undefined,
      lastTimestamp: undefined,
    };
    expect(silentEnd(base)).toEqual({ reason: 'IDLE_TIMEOUT', ms: DEFAULT_VOD_IDLE_MS });
    expect(silentEnd({ ...base, recorded: false })).toBeUndefined();
    expect(silentEnd({ ...base, recorded: false, endOnIdleMs: 1000 })).toEqual({
      reason: 'IDLE_TIMEOUT',
      ms: 1000,
    });
    expect(silentEnd({ ...base, endOnIdleMs: 0 })).toBeUndefined();
    expect(silentEnd({ ...base, mode: 'publish' })).toBeUndefined();
    expect(silentEnd({ ...base, durationMs: 20_000, lastTimestamp: 19_600 })).toEqual({
      reason: 'DURATION_REACHED',
      ms: DURATION_GRACE_MS,
    });
    expect(silentEnd({ ...base, durationMs: 20_000, lastTimestamp: 19_000 })?.reason).toBe(
      'IDLE_TIMEOUT',
    );
  });
});
