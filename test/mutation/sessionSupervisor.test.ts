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
import {
  active,
  displaced,
  play,
  SESSION_SUPERVISOR_DIRECTED,
  SESSION_SUPERVISOR_RECONNECT_SCENARIOS,
  up,
  type DirectedScenario,
} from '../../src/testing/models/sessionSupervisorScenarios';
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

/** The directed scenarios of the model suite (its reconnect scenarios last). */
const DIRECTED: DirectedScenario[] = [
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
  ...SESSION_SUPERVISOR_DIRECTED,
  ...SESSION_SUPERVISOR_RECONNECT_SCENARIOS,
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
