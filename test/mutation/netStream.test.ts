/**
 * Mutants of netStreamMachine against its model suite: the paths of
 * test/machines/netStreamMachine.test.ts (the same variants), each replayed on a live
 * NetConnection over a scripted peer with the mutant as the stream.
 */
import { netStreamMachine } from '../../machines/netStreamMachine';
import { pathChecks } from '../../src/testing/mutation';
import {
  NET_STREAM_VARIANTS,
  netStreamModel,
  type NetStreamModelOptions,
} from '../../src/testing/models/netStream';
import { replayPath, walkPaths, type ModelPath } from '../../src/testing/paths';
import { buildOnStatus, StatusCode } from '../../src/protocol/message';
import { describeMutation } from './describeMutation';
import { directedPath } from './directed';

type NetStreamLogic = typeof netStreamMachine;

/** The variants of the model suite (test/machines/netStreamMachine.test.ts). */
const variants = NET_STREAM_VARIANTS;

const replayOn =
  (options: NetStreamModelOptions, model: ReturnType<typeof netStreamModel>) =>
  (machine: NetStreamLogic, path: ModelPath): void => {
    const mutant = netStreamModel({ ...options, machine });
    replayPath(model.machine, path, (inspect) => mutant.harness(inspect), {
      project: mutant.project,
    });
  };

/**
 * What the walk never does: a status a stopping publish ignores before Unpublish.Success; the
 * first media after a retry (the walk reaches flowing with a retry under way through pause and
 * resume only).
 */
function directedChecks() {
  const watching = variants[2][1];
  const watchModel = netStreamModel(watching);
  const recovered = directedPath(watchModel, 'directed#2 the first media after a retry', [
    'STREAM.START',
    { type: 'xstate.after.createTimeout.netStream.creating' },
    { type: 'xstate.after.retryBackoff.netStream.retrying.waiting' },
    'STREAM.CREATED',
    `RTMP.MESSAGE:${StatusCode.PlayStart}`,
    'MEDIA.TICK',
  ]);
  const options: NetStreamModelOptions = { mode: 'publish' };
  const model = netStreamModel(options);
  const idle = {
    type: 'RTMP.MESSAGE',
    message: buildOnStatus(
      { level: 'status', code: StatusCode.PublishIdle, description: 'idle' },
      { streamId: 1 },
    ),
  };
  const path = directedPath(model, 'directed#1 a stopping publish waits for Unpublish.Success', [
    'STREAM.START',
    'STREAM.CREATED',
    `RTMP.MESSAGE:${StatusCode.PublishStart}`,
    'STREAM.STOP',
    'STREAM.DRAINED',
    idle,
    `RTMP.MESSAGE:${StatusCode.UnpublishSuccess}`,
  ]);
  return [
    ...pathChecks([path], replayOn(options, model)),
    ...pathChecks([recovered], replayOn(watching, watchModel)),
  ];
}

function modelChecks(name: string, options: NetStreamModelOptions) {
  const model = netStreamModel(options);
  const paths = walkPaths(model.machine, {
    input: model.input,
    events: model.events,
    simpleEvents: model.simpleEvents,
    serializeState: model.serializeState,
    maxSimplePaths: 150,
    skip: options.play?.retry ? ['simple'] : [],
  });
  return pathChecks(paths, replayOn(options, model), `${name} `);
}

describeMutation({
  machine: netStreamMachine,
  checks: () => [
    ...directedChecks(),
    ...variants.flatMap(([name, options]) => modelChecks(name, options)),
  ],
  survivors: {
    'guard:isStatus:true':
      'equivalent: it is the last RTMP.MESSAGE guard in requesting and active, and the action it guards (recordStatus) does nothing for a message that carries no status',
  },
});
