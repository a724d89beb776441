import { createActor } from 'xstate';
import {
  sessionSupervisorMachine,
  streamKeyFor,
  type SessionSupervisorContext,
} from '../../machines/sessionSupervisorMachine';
import {
  sessionSupervisorModel,
  type SessionSupervisorModelOptions,
} from '../../src/testing/models/sessionSupervisor';
import {
  coverage,
  formatCoverage,
  pathFromEvents,
  replayPath,
  walkPaths,
  type ReplayRecord,
} from '../../src/testing/paths';

const scenarios: Array<[string, SessionSupervisorModelOptions]> = [
  ['auto mode with two plays', {}],
  ['auto mode with one name played twice', { names: ['a'], repeat: true }],
  ['auto mode with a play and a publish', { names: ['a'], publish: true }],
  ['auto mode with refused connects and createStream errors', { names: ['a'], rare: true }],
  ['auto mode with a play that keeps watching', { keepWatching: true, names: ['a'] }],
  ['auto mode with maxConnections 1', { maxConnections: 1 }],
  [
    'one stream per connection and maxStreams 1',
    { streamsPerConnection: 'one', maxStreams: 1, maxConnections: 1, names: ['a'], publish: true },
  ],
  [
    'one stream per connection and maxConnections 1',
    { streamsPerConnection: 'one', maxStreams: 2, maxConnections: 1, names: ['a'], publish: true },
  ],
];

const up = (id: string) => ({ type: 'CONNECTION.UP', connectionId: id });
const play = (name: string) => ({ type: 'SESSION.PLAY', name });
/** Stream notifications name the stream by key (`a`, or `a#2` for a second stream of `a`). */
const nameOf = (key: string) => key.replace(/#\d+$/, '');
const active = (key: string) => ({ type: 'STREAM.ACTIVE', key, name: nameOf(key) });
const displaced = (key: string) => ({
  type: 'STREAM.DISPLACED',
  key,
  name: nameOf(key),
  reason: 'STREAM_ID_IN_USE',
});

/** Enhanced RTMP v2 ReconnectRequest: the events of a move of play `a` from connection-0. */
const reconnect = (id: string) => ({
  type: 'CONNECTION.RECONNECT_REQUESTED',
  connectionId: id,
  tcUrl: 'rtmp://127.0.0.2/live',
});
const copyOfA = { key: 'a~m1', name: 'a' };
const moved = [
  play('a'),
  up('connection-0'),
  active('a'),
  reconnect('connection-0'),
  up('connection-1'),
  { type: 'STREAM.ACTIVE', ...copyOfA },
  { type: 'SESSION.MIGRATED', key: 'a' },
];
const RECONNECT = { names: ['a'], reconnect: true };
const reconnectScenarios: Array<
  [string, SessionSupervisorModelOptions, Array<{ type: string; [k: string]: unknown }>]
> = [
  [
    'a ReconnectRequest moves a play to a new connection, the old one closes, and the play stops there',
    RECONNECT,
    [
      ...moved,
      { type: 'CONNECTION.CLOSED', connectionId: 'connection-0' },
      { type: 'SESSION.STOP_STREAM', key: 'a' },
    ],
  ],
  ['the session closes right after a move', RECONNECT, [...moved, { type: 'SESSION.CLOSE' }]],
  [
    'a moved play fails with its new connection',
    RECONNECT,
    [
      ...moved,
      { type: 'CONNECTION.CLOSED', connectionId: 'connection-0' },
      { type: 'CONNECTION.FAILED', connectionId: 'connection-1', reason: 'TRANSPORT_ERROR' },
    ],
  ],
  [
    'the new connection is refused: the play stays on the old one',
    RECONNECT,
    [
      ...moved.slice(0, 4),
      { type: 'CONNECTION.FAILED', connectionId: 'connection-1', reason: 'REJECTED' },
    ],
  ],
  [
    'the copy is refused: the play stays on the old one',
    RECONNECT,
    [...moved.slice(0, 5), { type: 'STREAM.FAILED', ...copyOfA, reason: 'REFUSED' }],
  ],
  [
    'the old connection gives up waiting for the move',
    RECONNECT,
    [
      ...moved.slice(0, 6),
      {
        type: 'CONNECTION.RECONNECT_ABANDONED',
        connectionId: 'connection-0',
        reason: 'RECONNECT_TIMEOUT',
      },
    ],
  ],
  [
    'the old connection drops during the move',
    RECONNECT,
    [...moved.slice(0, 5), { type: 'CONNECTION.DOWN', connectionId: 'connection-0' }],
  ],
  [
    'a ReconnectRequest before the play is active is declined',
    RECONNECT,
    [play('a'), up('connection-0'), reconnect('connection-0')],
  ],
];

/** Scenarios written by hand: what the generated paths cannot reach (children answer at once). */
const directed: Array<
  [string, SessionSupervisorModelOptions, Array<{ type: string; [k: string]: unknown }>]
> = [
  [
    'closing waits for a draining publish while its connection drops, returns and fails',
    { names: ['a'], publish: true },
    [
      { type: 'SESSION.PUBLISH', name: 'p' },
      up('connection-0'),
      active('p'),
      { type: 'SESSION.CLOSE' },
      { type: 'CONNECTION.DOWN', connectionId: 'connection-0' },
      up('connection-0'),
      { type: 'CONNECTION.FAILED', connectionId: 'connection-0', reason: 'TRANSPORT_ERROR' },
    ],
  ],
  [
    'an nginx-like server answers a second createStream with an id in use: the stream moves',
    {},
    [
      play('a'),
      play('b'),
      up('connection-0'),
      active('a'),
      displaced('b'),
      up('connection-1'),
      active('b'),
    ],
  ],
  [
    'a dropped connection interrupts its stream and resumes it when it is back',
    { names: ['a'] },
    [
      play('a'),
      up('connection-0'),
      active('a'),
      { type: 'CONNECTION.DOWN', connectionId: 'connection-0' },
      up('connection-0'),
      active('a'),
    ],
  ],
  [
    'one name is played twice: two streams, and stopping the first leaves the second',
    { names: ['a'], repeat: true },
    [
      play('a'),
      play('a'),
      up('connection-0'),
      active('a'),
      active('a#2'),
      // A play stops at once (deleteStream needs no answer): STREAM.STOPPED follows by itself.
      { type: 'SESSION.STOP_STREAM', key: 'a' },
      play('a'),
      { type: 'SESSION.STOP_STREAM', key: 'a#2' },
    ],
  ],
  [
    'an nginx-like server serves one name twice: the second stream moves',
    { names: ['a'], repeat: true },
    [
      play('a'),
      play('a'),
      up('connection-0'),
      active('a'),
      displaced('a#2'),
      up('connection-1'),
      active('a#2'),
    ],
  ],
];

describe('sessionSupervisorMachine', () => {
  const records: ReplayRecord[] = [];

  describe.each(scenarios)('with %s', (_name, options) => {
    const model = sessionSupervisorModel(options);
    const paths = walkPaths(model.machine, {
      input: model.input,
      events: model.events,
      serializeState: model.serializeState,
      skip: ['simple'],
    });

    it('has model paths to running and to closed', () => {
      expect(paths.some((p) => p.state.value === 'running')).toBe(true);
      expect(paths.some((p) => p.state.value === 'closed')).toBe(true);
    });

    it.each(paths.map((p) => [p.id, p.description, p] as const))(
      'agrees with its live connections and streams along %s: %s',
      (_id, _d, path) => {
        const record = replayPath(model.machine, path, (inspect) => model.harness(inspect), {
          mode: 'oracle',
          events: model.events,
          project: model.project,
        });
        records.push(record);
        expect(record.states.length).toBeGreaterThan(0);
      },
    );
  });

  describe.each([...directed, ...reconnectScenarios])('when %s', (_name, options, events) => {
    const model = sessionSupervisorModel(options);
    const path = pathFromEvents(model.machine, events, { input: model.input, id: 'directed' });

    it('replays every step against the live children without skipping any', () => {
      const record = replayPath(model.machine, path, (inspect) => model.harness(inspect), {
        mode: 'oracle',
        events: model.events,
        project: model.project,
      });
      records.push(record);
      expect(record.skipped).toBe(0);
    });
  });

  it('moves the second stream to a connection of its own and keeps both playing', () => {
    const model = sessionSupervisorModel({});
    const events = directed[1][2];
    const h = model.harness(() => undefined);
    const emitted: string[] = [];
    const streamStates: string[] = [];
    const sessionStates: string[] = [];
    h.actor.on('session.sharing', (e) => emitted.push(e.sharing));
    h.actor.on('session.stream', (e) => {
      if (e.key === 'b') sessionStates.push(e.state);
    });
    let actorOfB: unknown;
    events.forEach((event, index) => {
      h.realize(event as never, { before: h.actor.getSnapshot(), index });
      const b = (h.actor.getSnapshot().context as SessionSupervisorContext).streams.b?.ref;
      if (b && !actorOfB) {
        actorOfB = b;
        b.on('*', (e) => {
          if (e.type === 'stream.state') streamStates.push(e.state);
          if (e.type === 'stream.error') streamStates.push(`error ${e.reason}`);
        });
      }
    });
    const ctx = h.actor.getSnapshot().context as SessionSupervisorContext;
    // The same actor moved: it read `relocating`, never `failed`, and said no error.
    expect(ctx.streams.b.ref).toBe(actorOfB);
    expect(streamStates).toEqual([
      'creating',
      'relocating',
      'creating',
      'requesting',
      'awaitingFirstFrame',
    ]);
    expect(sessionStates).toEqual(['waiting', 'relocating', 'active']);
    expect(ctx.sharing).toBe('single');
    expect(ctx.streams.a).toMatchObject({ state: 'active', connectionId: 'connection-0' });
    expect(ctx.streams.b).toMatchObject({
      state: 'active',
      connectionId: 'connection-1',
      moves: 1,
    });
    expect(emitted).toEqual(['single']);
    expect(h.peer.socket('connection-1').lastReceived('play')?.args[0]).toBe('b');
    h.actor.stop();
  });

  it('fails a stream that cannot move for maxConnections with MAX_CONNECTIONS and the limit', () => {
    const model = sessionSupervisorModel({ maxConnections: 1 });
    const h = model.harness(() => undefined);
    const steps = [play('a'), play('b'), up('connection-0'), active('a'), displaced('b')];
    steps.forEach((event, index) =>
      h.realize(event as never, { before: h.actor.getSnapshot(), index }),
    );
    const ctx = h.actor.getSnapshot().context as SessionSupervisorContext;
    expect(ctx.streams.b).toMatchObject({
      state: 'failed',
      reason: 'MAX_CONNECTIONS',
      limit: { name: 'maxConnections', value: 1 },
    });
    expect(ctx.streams.a.state).toBe('active');
    h.actor.stop();
  });

  it('sizes the pool from the streams asked for: no connection cap below them by default', () => {
    const model = sessionSupervisorModel({});
    const h = model.harness(() => undefined);
    const input = { ...model.input, maxStreams: undefined, maxConnections: undefined };
    const actor = createActor(sessionSupervisorMachine, { input });
    const { options } = actor.getSnapshot().context;
    expect(options.maxStreams).toBe(Number.POSITIVE_INFINITY);
    expect(options.maxConnections).toBe(Number.POSITIVE_INFINITY);
    const limited = createActor(sessionSupervisorMachine, { input: { ...input, maxStreams: 300 } });
    expect(limited.getSnapshot().context.options.maxConnections).toBe(300);
    h.actor.stop();
  });

  it('names the limit and its value in a refusal beyond maxStreams', () => {
    const model = sessionSupervisorModel({ maxStreams: 1 });
    const h = model.harness(() => undefined);
    const errors: unknown[] = [];
    h.actor.on('session.error', (e) => errors.push(e));
    h.actor.send({ type: 'SESSION.PLAY', name: 'a' });
    h.actor.send({ type: 'SESSION.PLAY', name: 'b' });
    expect(errors).toEqual([
      {
        type: 'session.error',
        reason: 'MAX_STREAMS',
        key: 'b',
        name: 'b',
        message: 'stream "b" refused: maxStreams (1) reached',
        limit: { name: 'maxStreams', value: 1 },
      },
    ]);
    h.actor.stop();
  });

  it('refuses a stream beyond maxStreams, or an explicit key already open, with an emitted error', () => {
    const model = sessionSupervisorModel({ maxStreams: 2 });
    const h = model.harness(() => undefined);
    const errors: Array<{ reason: string; key: string; name: string }> = [];
    h.actor.on('session.error', (e) => errors.push({ reason: e.reason, key: e.key, name: e.name }));
    h.actor.send({ type: 'SESSION.PLAY', name: 'a' });
    h.actor.send({ type: 'SESSION.PLAY', name: 'b', key: 'a' });
    h.actor.send({ type: 'SESSION.PLAY', name: 'a' });
    h.actor.send({ type: 'SESSION.PLAY', name: 'a' });
    expect(errors).toEqual([
      { reason: 'DUPLICATE_KEY', key: 'a', name: 'b' },
      { reason: 'MAX_STREAMS', key: 'a#3', name: 'a' },
    ]);
    expect(
      Object.keys((h.actor.getSnapshot().context as SessionSupervisorContext).streams),
    ).toEqual(['a', 'a#2']);
    h.actor.stop();
  });

  it('plays one name twice as two stream actors, and stopping one leaves the other', () => {
    const model = sessionSupervisorModel({ names: ['cam'] });
    const h = model.harness(() => undefined);
    const emitted: string[] = [];
    h.actor.on('session.stream', (e) => emitted.push(`${e.key}(${e.name}):${e.state}`));
    const steps = [play('cam'), play('cam'), up('connection-0'), active('cam'), active('cam#2')];
    steps.forEach((event, index) =>
      h.realize(event as never, { before: h.actor.getSnapshot(), index }),
    );
    const children = () => Object.keys(h.actor.getSnapshot().children).sort();
    const ctx = () => h.actor.getSnapshot().context as SessionSupervisorContext;
    expect(children()).toEqual(['connection-0', 'stream-cam', 'stream-cam#2']);
    expect(ctx().streams['cam#2']).toMatchObject({ key: 'cam#2', name: 'cam', state: 'active' });
    expect(ctx().connections['connection-0'].streams).toEqual(['cam', 'cam#2']);
    // Both went out as plays of `cam` on their own message streams.
    const socket = h.peer.socket('connection-0');
    const plays = socket.receivedOf('Command').filter((m) => m.name === 'play');
    expect(plays.map((m) => m.args[0])).toEqual(['cam', 'cam']);
    expect(new Set(plays.map((m) => m.streamId)).size).toBe(2);

    h.actor.send({ type: 'SESSION.STOP_STREAM', key: 'cam' });
    expect(children()).toEqual(['connection-0', 'stream-cam#2']);
    expect(Object.keys(ctx().streams)).toEqual(['cam#2']);
    expect(ctx().streams['cam#2'].state).toBe('active');
    expect(ctx().connections['connection-0']).toMatchObject({ state: 'up', streams: ['cam#2'] });
    // The name is free again: a new play of it takes the key `cam`.
    h.actor.send({ type: 'SESSION.PLAY', name: 'cam' });
    expect(children()).toEqual(['connection-0', 'stream-cam', 'stream-cam#2']);
    expect(emitted).toEqual([
      'cam(cam):waiting',
      'cam#2(cam):waiting',
      'cam(cam):active',
      'cam#2(cam):active',
      'cam(cam):stopping',
      'cam(cam):stopped',
      'cam(cam):starting',
    ]);
    h.actor.stop();
  });

  it('keys a request by its name, or by the first free <name>#n while that name is open', () => {
    const open = new Set(['cam', 'cam#2', 'cam#4', 'other']);
    expect(streamKeyFor('new', (k) => open.has(k))).toBe('new');
    expect(streamKeyFor('cam', (k) => open.has(k))).toBe('cam#3');
    expect(streamKeyFor('other', (k) => open.has(k))).toBe('other#2');
  });

  it('stops every stream, then closes every connection, then reaches closed', () => {
    const model = sessionSupervisorModel({ names: ['a'] });
    const h = model.harness(() => undefined);
    for (const [index, event] of [play('a'), up('connection-0'), active('a')].entries()) {
      h.realize(event as never, { before: h.actor.getSnapshot(), index });
    }
    h.actor.send({ type: 'SESSION.CLOSE' });
    const socket = h.peer.socket('connection-0');
    expect(socket.lastReceived('deleteStream')?.args[0]).toBe(1);
    expect(socket.hasCommand('TRANSPORT.CLOSE')).toBe(true);
    expect(h.actor.getSnapshot().value).toEqual({ closing: 'closingConnections' });
    socket.confirmClose();
    expect(h.actor.getSnapshot().status).toBe('done');
  });

  it('reaches every state and takes every transition in the replays', () => {
    const report = coverage(sessionSupervisorMachine, records);
    console.log(formatCoverage(report));
    expect(report.states.missing).toEqual([]);
    expect(report.transitions.missing).toEqual([]);
    expect(report.states.ratio).toBe(1);
    expect(report.transitions.ratio).toBe(1);
    // Pinned: a state or transition added without a model path shows here first.
    expect([report.states.total, report.transitions.total]).toEqual([5, 37]);
  });
});
