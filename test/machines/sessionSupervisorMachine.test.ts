import { createActor } from 'xstate';
import {
  sessionSupervisorMachine,
  streamKeyFor,
  type SessionSupervisorContext,
} from '../../machines/sessionSupervisorMachine';
import { sessionSupervisorModel } from '../../src/testing/models/sessionSupervisor';
import {
  active,
  displaced,
  play,
  SESSION_SUPERVISOR_DIRECTED,
  SESSION_SUPERVISOR_RECONNECT_SCENARIOS,
  SESSION_SUPERVISOR_SCENARIOS,
  up,
} from '../../src/testing/models/sessionSupervisorScenarios';
import {
  coverage,
  formatCoverage,
  pathFromEvents,
  replayPath,
  samplePaths,
  walkPaths,
  type ReplayRecord,
} from '../../src/testing/paths';

/** Paths replayed per scenario (see samplePaths); MODEL_FULL=1 replays every one. */
const MAX_PATHS = 400;
const MODEL_FULL = process.env.MODEL_FULL === '1';

describe('sessionSupervisorMachine', () => {
  const records: ReplayRecord[] = [];

  describe.each(SESSION_SUPERVISOR_SCENARIOS)('with %s', (_name, options) => {
    const model = sessionSupervisorModel(options);
    const walked = walkPaths(model.machine, {
      input: model.input,
      events: model.events,
      serializeState: model.serializeState,
      skip: ['simple'],
    });
    // One shortest path per distinct context is thousands of replays: every step any of them
    // takes, then an even spread, up to MAX_PATHS (MODEL_FULL=1: all of them).
    const { paths, left } = samplePaths(walked, MODEL_FULL ? Infinity : MAX_PATHS);

    it('replays every path, or says how many shortest paths it left out', () => {
      expect(paths.length + left).toBe(walked.length);
      expect(paths.length).toBeLessThanOrEqual(MODEL_FULL ? walked.length : MAX_PATHS);
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

  describe.each([...SESSION_SUPERVISOR_DIRECTED, ...SESSION_SUPERVISOR_RECONNECT_SCENARIOS])(
    'when %s',
    (_name, options, events) => {
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
    },
  );

  it('moves the second stream to a connection of its own and keeps both playing', () => {
    const model = sessionSupervisorModel({});
    const events = SESSION_SUPERVISOR_DIRECTED[1][2];
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
