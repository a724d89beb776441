/**
 * Mutants of sessionSupervisorMachine against its model suite, SAMPLED: the supervisor's full
 * model suite (test/machines/sessionSupervisorMachine.test.ts) walks eight scenarios into some
 * 5,200 paths, whose walk and replay take minutes; the mutants run against the scenarios whose
 * walks are small (the ones below, a few hundred paths) plus the directed and ReconnectRequest
 * scenarios of the model suite, and the same oracle replay. MUTATION_FULL=1 runs all eight scenarios.
 */
import { sessionSupervisorMachine } from '../../machines/sessionSupervisorMachine';
import { pathChecks } from '../../src/testing/mutation';
import {
  sessionSupervisorModel,
  type SessionSupervisorModelOptions,
} from '../../src/testing/models/sessionSupervisor';
import { pathFromEvents, replayPath, walkPaths, type ModelPath } from '../../src/testing/paths';
import { describeMutation } from './describeMutation';

type Logic = typeof sessionSupervisorMachine;

const SAMPLED: Array<[string, SessionSupervisorModelOptions]> = [
  ['rare', { names: ['a'], rare: true }],
  ['keepWatching', { keepWatching: true, names: ['a'] }],
  [
    'oneMaxStreams1',
    { streamsPerConnection: 'one', maxStreams: 1, maxConnections: 1, names: ['a'], publish: true },
  ],
];
/** The rest of the model suite's scenarios (MUTATION_FULL=1). */
const REST: Array<[string, SessionSupervisorModelOptions]> = [
  ['twoPlays', {}],
  ['repeat', { names: ['a'], repeat: true }],
  ['playAndPublish', { names: ['a'], publish: true }],
  ['maxConnections1', { maxConnections: 1 }],
  [
    'oneMaxConnections1',
    { streamsPerConnection: 'one', maxStreams: 2, maxConnections: 1, names: ['a'], publish: true },
  ],
];

const up = (id: string) => ({ type: 'CONNECTION.UP', connectionId: id });
const play = (name: string) => ({ type: 'SESSION.PLAY', name });
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

/** The directed scenarios of the model suite (its reconnect scenarios last). */
const DIRECTED: Array<
  [string, SessionSupervisorModelOptions, Array<{ type: string; [k: string]: unknown }>]
> = [
  ['a play beyond maxStreams', { maxStreams: 1 }, [play('a'), play('b')]],
  [
    'a second stream with one stream per connection and maxConnections 1',
    { streamsPerConnection: 'one', maxStreams: 2, maxConnections: 1, names: ['a'], publish: true },
    [play('a'), { type: 'SESSION.PUBLISH', name: 'p' }],
  ],
  [
    'a stream that cannot move for maxConnections',
    { maxConnections: 1 },
    [play('a'), play('b'), up('connection-0'), active('a'), displaced('b')],
  ],
  [
    'a draining publish while its connection drops, returns and fails',
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
    'a second createStream answered with an id in use',
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
    'a dropped connection and its stream resumed',
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
    'one name played twice, the first stopped',
    { names: ['a'], repeat: true },
    [
      play('a'),
      play('a'),
      up('connection-0'),
      active('a'),
      active('a#2'),
      { type: 'SESSION.STOP_STREAM', key: 'a' },
      play('a'),
      { type: 'SESSION.STOP_STREAM', key: 'a#2' },
    ],
  ],
  [
    'one name served twice, the second moved',
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
  [
    'a play moved by a ReconnectRequest, the old connection closed, the play stopped',
    RECONNECT,
    [
      ...moved,
      { type: 'CONNECTION.CLOSED', connectionId: 'connection-0' },
      { type: 'SESSION.STOP_STREAM', key: 'a' },
    ],
  ],
  ['the session closed right after a move', RECONNECT, [...moved, { type: 'SESSION.CLOSE' }]],
  [
    'a moved play failing with its new connection',
    RECONNECT,
    [
      ...moved,
      { type: 'CONNECTION.CLOSED', connectionId: 'connection-0' },
      { type: 'CONNECTION.FAILED', connectionId: 'connection-1', reason: 'TRANSPORT_ERROR' },
    ],
  ],
  [
    'the new connection refused during a move',
    RECONNECT,
    [
      ...moved.slice(0, 4),
      { type: 'CONNECTION.FAILED', connectionId: 'connection-1', reason: 'REJECTED' },
    ],
  ],
  [
    'the copy refused during a move',
    RECONNECT,
    [...moved.slice(0, 5), { type: 'STREAM.FAILED', ...copyOfA, reason: 'REFUSED' }],
  ],
  [
    'the old connection giving up waiting for the move',
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
    'the old connection dropping during the move',
    RECONNECT,
    [...moved.slice(0, 5), { type: 'CONNECTION.DOWN', connectionId: 'connection-0' }],
  ],
  [
    'a ReconnectRequest before the play is active, declined',
    RECONNECT,
    [play('a'), up('connection-0'), reconnect('connection-0')],
  ],
];

const replayOn =
  (
    options: SessionSupervisorModelOptions,
    model: ReturnType<typeof sessionSupervisorModel>,
    directed = false,
  ) =>
  (machine: Logic, path: ModelPath): void => {
    const mutant = sessionSupervisorModel({ ...options, machine });
    const record = replayPath(model.machine, path, (inspect) => mutant.harness(inspect), {
      mode: 'oracle',
      events: model.events,
      project: model.project,
    });
    // A directed scenario's every step happens (the model suite holds it to that too).
    if (directed && record.skipped) {
      throw new Error(`${record.skipped} steps of the scenario never happened`);
    }
  };

function scenarioChecks(name: string, options: SessionSupervisorModelOptions) {
  const model = sessionSupervisorModel(options);
  const paths = walkPaths(model.machine, {
    input: model.input,
    events: model.events,
    serializeState: model.serializeState,
    skip: ['simple'],
  });
  return pathChecks(paths, replayOn(options, model), `${name} `);
}

function directedChecks() {
  return DIRECTED.flatMap(([name, options, events], i) => {
    const model = sessionSupervisorModel(options);
    const path = pathFromEvents(model.machine, events, {
      input: model.input,
      id: `directed#${i + 1} ${name}`,
    });
    return pathChecks([path], replayOn(options, model, true));
  });
}

const full = Boolean(process.env.MUTATION_FULL);

describeMutation({
  machine: sessionSupervisorMachine,
  checks: () => [
    ...directedChecks(),
    ...[...SAMPLED, ...(full ? REST : [])].flatMap(([name, options]) =>
      scenarioChecks(name, options),
    ),
  ],
  survivors: {
    'guard:hasMigration:true':
      'equivalent: abandonMigration first looks for the streams migrating from (CONNECTION.DOWN, RECONNECT_ABANDONED) or to (CONNECTION.FAILED) the connection and does nothing when there are none, which is exactly when hasMigration answers false; connectionDown / connectionFailed then run as on the unguarded branch',
  },
  sample: full
    ? undefined
    : `scenarios ${SAMPLED.map(([n]) => n).join(', ')} and the directed ones`,
});
