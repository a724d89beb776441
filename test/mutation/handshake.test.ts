/**
 * Mutants of handshakeMachine against its model suite: the paths of
 * test/machines/handshakeMachine.test.ts (the same four variants), each replayed with the real
 * handshake codecs on the mutant.
 */
import { handshakeMachine } from '../../machines/handshakeMachine';
import { pathChecks } from '../../src/testing/mutation';
import { handshakeModel } from '../../src/testing/models/handshake';
import { replayPath, walkPaths } from '../../src/testing/paths';
import { describeMutation } from './describeMutation';

/** The variants of the model suite (test/machines/handshakeMachine.test.ts). */
const variants = [
  { role: 'client', form: 'digest' },
  { role: 'client', form: 'simple' },
  { role: 'server', form: 'digest' },
  { role: 'server', form: 'simple' },
] as const;

describeMutation({
  machine: handshakeMachine,
  checks: () =>
    variants.flatMap((variant) => {
      const model = handshakeModel(variant);
      const paths = walkPaths(model.machine, { input: model.input, events: model.events });
      return pathChecks<typeof handshakeMachine, (typeof paths)[number]>(
        paths,
        (machine, path) => {
          const mutant = handshakeModel({ ...variant, machine });
          replayPath(model.machine, path, (inspect) => mutant.harness(inspect), {
            project: model.project,
          });
        },
        `${variant.role}/${variant.form} `,
      );
    }),
  survivors: {},
});
