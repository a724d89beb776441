/**
 * Mutants of the server machines (serverConnection, serverStream, serverSupervisor) against
 * their model suite: the paths of test/machines/serverMachines.test.ts, each replayed on the
 * mutant with the models' stand-in IO.
 */
import type { AnyStateMachine } from 'xstate';
import { pathChecks } from '../../src/testing/mutation';
import { serverModels, serverProject, serverSerializeState } from '../../src/testing/models/server';
import { replayPath, walkPaths, type ModelPath } from '../../src/testing/paths';
import { describeMutation } from './describeMutation';

type ServerModel = (typeof serverModels)[number];

function modelChecks(model: ServerModel) {
  const paths = walkPaths(model.machine, {
    input: model.input as never,
    events: model.events,
    serializeState: serverSerializeState,
  });
  return pathChecks(paths, (machine: AnyStateMachine, path: ModelPath) => {
    replayPath(
      model.machine,
      path,
      model.harness(model.input, machine),
      model.oracle
        ? { mode: 'oracle', events: model.events, project: serverProject }
        : { project: serverProject },
    );
  });
}

const byId = (id: string): ServerModel => serverModels.find((m) => m.machine.id === id)!;

const SURVIVORS: Record<string, Record<string, string>> = {
  serverConnection: {},
  serverStream: {},
  serverSupervisor: {},
};

for (const id of ['serverConnection', 'serverStream', 'serverSupervisor']) {
  const model = byId(id);
  describeMutation({
    machine: model.machine,
    checks: () => modelChecks(model),
    survivors: SURVIVORS[id],
  });
}
