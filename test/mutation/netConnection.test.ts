/**
 * Mutants of netConnectionMachine against its model suite: the paths of
 * test/machines/netConnectionMachine.test.ts (the walk's shortest and transition-completing
 * paths, with MUTATION_FULL=1 its simple ones too, the closing paths and the first six autostart
 * paths), each replayed over real RTMP bytes on the mutant in oracle mode (the original machine
 * is the oracle), plus directed paths through what the walk never does while connected (the
 * connection's duties, a tick for a stream it does not have).
 */
import type { AnyEventObject } from 'xstate';
import { netConnectionMachine } from '../../machines/netConnectionMachine';
import { pathChecks } from '../../src/testing/mutation';
import { netConnectionModel } from '../../src/testing/models/netConnection';
import { replayPath, walkPaths, type ModelPath } from '../../src/testing/paths';
import { describeMutation } from './describeMutation';
import { directedPath } from './directed';

type NetConnectionLogic = typeof netConnectionMachine;
type Model = ReturnType<typeof netConnectionModel>;

const replayOn =
  (options: { autostart?: boolean }, model: Model, extra: AnyEventObject[] = []) =>
  (machine: NetConnectionLogic, path: ModelPath): void => {
    const mutant = netConnectionModel({ ...options, machine });
    // Oracle mode, as the model suite replays: the real transport answers an NC.CLOSE while
    // opening at once, so the steps the model takes in closing afterwards have already happened.
    // The original is the oracle; the mutant must skip exactly the steps the original does.
    const record = replayPath(
      model.machine,
      path,
      (inspect) => mutant.harness(inspect),
      // A directed path's events the model does not offer are offered too (not skipped).
      extra.length
        ? {
            ...model.replayOptions,
            events: (snapshot) => [...model.replayOptions.events(snapshot), ...extra],
          }
        : model.replayOptions,
    );
    const expected = model.answeredAtOnce(path);
    if (record.skipped !== expected) {
      throw new Error(`${record.skipped} steps skipped, the transport answers ${expected} at once`);
    }
  };

function modelChecks(
  options: { autostart?: boolean },
  walk: { skip?: ModelPath['source'][] },
  limit?: number,
) {
  const model = netConnectionModel(options);
  const paths = walkPaths(model.machine, {
    input: model.input,
    events: model.events,
    simpleEvents: model.simpleEvents,
    serializeState: model.serializeState,
    ...walk,
  });
  return pathChecks(
    [...paths, ...(options.autostart ? [] : model.closingPaths())].slice(0, limit),
    replayOn(options, model),
    options.autostart ? 'autostart ' : '',
  );
}

function directedChecks() {
  const model = netConnectionModel();
  const connect = [
    'NC.CONNECT',
    'TRANSPORT.CONNECTED',
    'xstate.done.actor.handshake',
    'RTMP.MESSAGE:_result',
  ];
  const duties = [
    'RTMP.MESSAGE:SetChunkSize',
    'RTMP.MESSAGE:PingRequest',
    'RTMP.MESSAGE:WindowAckSize',
    'RTMP.MESSAGE:SetPeerBandwidth',
    'TRANSPORT.ACK_DUE',
  ];
  // The transport hands a single stream media from any message stream id.
  const strayTick = { type: 'MEDIA.TICK', streamId: 5, keyframe: true, timestamp: 40 };
  const paths = [
    directedPath(model, 'directed#1 the duties while connected', [...connect, ...duties]),
    directedPath(model, 'directed#2 the duties and a stray tick with a stream open', [
      ...connect,
      'NC.CREATE_STREAM',
      'RTMP.MESSAGE:_result',
      ...duties,
      strayTick,
    ]),
  ];
  return pathChecks(paths, replayOn({}, model, [strayTick]));
}

/**
 * The simple paths (236 more, whose walk alone takes some 30 s) kill no mutant the shortest,
 * transition-completing, closing and directed paths leave: MUTATION_FULL=1 runs them too.
 */
const full = Boolean(process.env.MUTATION_FULL);

describeMutation({
  machine: netConnectionMachine,
  checks: () => [
    ...directedChecks(),
    ...modelChecks({}, full ? {} : { skip: ['simple'] }),
    ...modelChecks({ autostart: true }, { skip: ['simple', 'transition'] }, 6),
  ],
  survivors: {
    'guard:isSetChunkSize:true':
      'equivalent: it is the last of the session-level RTMP.MESSAGE guards, and the action it guards (recordPeerChunkSize) leaves the context as it is for anything but a Set Chunk Size',
  },
  sample: full
    ? undefined
    : 'shortest, transition-completing, closing and directed paths (MUTATION_FULL=1 adds the simple ones)',
});
