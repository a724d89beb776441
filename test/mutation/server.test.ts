/**
 * Mutants of the server machines (serverConnection, serverStream, serverSupervisor) against
 * their stand-in IO models (src/testing/models/server.ts, shared with
 * test/machines/serverMachines.test.ts, which replays them where the real runtime cannot go): the
 * walk's paths, each replayed on the mutant with the real registries running the connection and
 * NetStream actors. The real-bytes harnesses of serverMachines.test.ts are not used here: the
 * ServerRuntime (src/testing/serverRuntime.ts) builds the original serverConnection machine itself.
 */
import type { AnyStateMachine } from 'xstate';
import { pathChecks } from '../../src/testing/mutation';
import { serverModels, serverProject, serverSerializeState } from '../../src/testing/models/server';
import { pathFromEvents, replayPath, walkPaths, type ModelPath } from '../../src/testing/paths';
import { describeMutation } from './describeMutation';

type ServerModel = (typeof serverModels)[number];

/**
 * What the walk never does (an event ignored takes no transition): a second createStream for an
 * id in use, a command for a stream never created.
 */
function directedChecks(model: ServerModel) {
  if (model.machine.id !== 'serverConnection') return [];
  const path = pathFromEvents(
    model.machine,
    [
      {
        type: 'xstate.done.actor.handshake',
        output: { ok: true, peer: { version: 3, form: 'simple' } },
      },
      { type: 'SERVER.CONNECT', app: 'live' },
      { type: 'SERVER.STREAM_CREATED', streamId: 1 },
      { type: 'SERVER.STREAM_CREATED', streamId: 1 },
      { type: 'SERVER.STREAM', streamId: 2, event: { type: 'STREAM.DELETE' } },
    ],
    { input: model.input as never, id: 'directed#1 a stream id in use, a stream never created' },
  );
  // The oracle replay skips what the model does not offer: offer the stray command too.
  const stray = path.steps.at(-1)!.event;
  return pathChecks(
    [path],
    replayOn(model, (s) => [...model.events(s), stray]),
  );
}

const replayOn =
  (model: ServerModel, events = model.events) =>
  (machine: AnyStateMachine, path: ModelPath) => {
    const record = replayPath(
      model.machine,
      path,
      model.harness(model.input, machine),
      model.oracle
        ? { mode: 'oracle', events, project: serverProject }
        : { project: serverProject },
    );
    // Every step of a connection's path happens (none is skipped as done already): its stand-in
    // IO answers nothing by itself (the supervisor's connections do close by themselves).
    if (model.machine.id === 'serverConnection' && record.skipped)
      throw new Error(`${record.skipped} steps of the path never happened`);
  };

function modelChecks(model: ServerModel) {
  const paths = walkPaths(model.machine, {
    input: model.input as never,
    events: model.events,
    serializeState: serverSerializeState,
  });
  return pathChecks(paths, replayOn(model));
}

const byId = (id: string): ServerModel => serverModels.find((m) => m.machine.id === id)!;

/**
 * Not reached by the server models (0 relevant checks: the model never makes the guard answer
 * false, and no real session can either).
 */
const SURVIVORS: Record<string, Record<string, string>> = {
  serverConnection: {
    'guard:isStreamDone:true':
      'cannot be observed: while connected the only actors whose end reaches the connection are its NetStreams (stream-N, run by the streams registry with the connection as their parent); the handshake finished before connected, and the io and streams children are callback actors that never finish, so the guard never answers false',
  },
  serverStream: {},
  serverSupervisor: {},
};

for (const id of ['serverConnection', 'serverStream', 'serverSupervisor']) {
  const model = byId(id);
  describeMutation({
    machine: model.machine,
    checks: () => [...directedChecks(model), ...modelChecks(model)],
    survivors: SURVIVORS[id],
  });
}
