/**
 * The sessionSupervisor model's scenarios, shared by its model suite
 * (test/machines/sessionSupervisorMachine.test.ts) and its mutation suite
 * (test/mutation/sessionSupervisor.test.ts): the option sets the paths are walked under, and the
 * scenarios written by hand (what generated paths cannot reach, and the Enhanced RTMP v2
 * ReconnectRequest moves).
 */
import type { SessionSupervisorModelOptions } from './sessionSupervisor';

/** A scenario written by hand: its name, the model's options, the events in order. */
export type DirectedScenario = [
  string,
  SessionSupervisorModelOptions,
  Array<{ type: string; [k: string]: unknown }>,
];

/** The option sets the model suite walks paths under. */
export const SESSION_SUPERVISOR_SCENARIOS: Array<[string, SessionSupervisorModelOptions]> = [
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

export const up = (id: string) => ({ type: 'CONNECTION.UP', connectionId: id });
export const play = (name: string) => ({ type: 'SESSION.PLAY', name });
/** Stream notifications name the stream by key (`a`, or `a#2` for a second stream of `a`). */
const nameOf = (key: string) => key.replace(/#\d+$/, '');
export const active = (key: string) => ({ type: 'STREAM.ACTIVE', key, name: nameOf(key) });
export const displaced = (key: string) => ({
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
/** The same for publish `p`: its copy publishes on the new connection. */
const copyOfP = { key: 'p~m1', name: 'p' };
const movedPublish = [
  { type: 'SESSION.PUBLISH', name: 'p' },
  up('connection-0'),
  active('p'),
  reconnect('connection-0'),
  up('connection-1'),
  { type: 'STREAM.ACTIVE', ...copyOfP },
  { type: 'SESSION.MIGRATED', key: 'p' },
];
const PUBLISH_RECONNECT = { names: [], publish: true, reconnect: true };
/** Enhanced RTMP v2 ReconnectRequest: a play moved, and each way a move can end. */
export const SESSION_SUPERVISOR_RECONNECT_SCENARIOS: DirectedScenario[] = [
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
    'a ReconnectRequest moves a publish to a new connection, the old one closes, and the publish stops there',
    PUBLISH_RECONNECT,
    [
      ...movedPublish,
      { type: 'CONNECTION.CLOSED', connectionId: 'connection-0' },
      { type: 'SESSION.STOP_STREAM', key: 'p' },
    ],
  ],
  [
    'the new server refuses the moved publish (BadName): the publish stays on the old connection',
    PUBLISH_RECONNECT,
    [...movedPublish.slice(0, 5), { type: 'STREAM.FAILED', ...copyOfP, reason: 'REFUSED' }],
  ],
  [
    'a ReconnectRequest before the play is active is declined',
    RECONNECT,
    [play('a'), up('connection-0'), reconnect('connection-0')],
  ],
];

/** Scenarios written by hand: what the generated paths cannot reach (children answer at once). */
export const SESSION_SUPERVISOR_DIRECTED: DirectedScenario[] = [
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
