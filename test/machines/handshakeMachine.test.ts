import { createActor } from 'xstate';
import { handshakeMachine } from '../../machines/handshakeMachine';
import { handshakeModel } from '../../src/testing/models/handshake';
import {
  allStates,
  allTransitions,
  coverage,
  formatCoverage,
  replayPath,
  walkPaths,
  type ReplayRecord,
} from '../../src/testing/paths';

const variants = [
  { role: 'client', form: 'digest' },
  { role: 'client', form: 'simple' },
  { role: 'server', form: 'digest' },
  { role: 'server', form: 'simple' },
] as const;

/** The machine's size, pinned: a state or transition added or lost shows here first. */
const HANDSHAKE_STATES = 12;
const HANDSHAKE_TRANSITIONS = 11;

describe('handshakeMachine', () => {
  const records: ReplayRecord[] = [];

  describe.each(variants)('as $role in the $form form', (variant) => {
    const model = handshakeModel(variant);
    const paths = walkPaths(model.machine, { input: model.input, events: model.events });

    it('has paths to done and to failed', () => {
      expect(paths.some((p) => p.state.value === 'done')).toBe(true);
      expect(paths.some((p) => p.state.value === 'failed')).toBe(true);
    });

    it.each(paths.map((p) => [p.id, p.description, p] as const))(
      'follows the model with real handshake codecs along %s: %s',
      (_id, _description, path) => {
        const record = replayPath(model.machine, path, (inspect) => model.harness(inspect), {
          project: model.project,
        });
        records.push(record);
        expect(record.transitions.length).toBeGreaterThan(0);
        // A strict replay makes every step of the path happen: none is skipped.
        expect(record.skipped).toBe(0);
      },
    );
  });

  it('reaches every state and takes every transition in the replays', () => {
    const report = coverage(handshakeMachine, records);
    console.log(formatCoverage(report));
    expect(report.states.missing).toEqual([]);
    expect(report.transitions.missing).toEqual([]);
    expect(report.transitions.ratio).toBe(1);
    expect(report.states.total).toBe(HANDSHAKE_STATES);
    expect(report.transitions.total).toBe(HANDSHAKE_TRANSITIONS);
    expect(allStates(handshakeMachine)).toHaveLength(HANDSHAKE_STATES);
    expect(allTransitions(handshakeMachine)).toHaveLength(HANDSHAKE_TRANSITIONS);
  });

  it('reports the peer it met when the handshake completes', () => {
    const model = handshakeModel({ role: 'client', form: 'digest' });
    const h = model.harness(() => undefined);
    h.socket.hello();
    h.socket.echo();
    expect(h.actor.getSnapshot().output).toEqual({
      ok: true,
      peer: { version: 3, form: 'digest' },
    });
    h.dispose?.();
  });

  it('fails with BAD_DIGEST when the server digest does not verify', () => {
    const model = handshakeModel({ role: 'client', form: 'digest' });
    const h = model.harness(() => undefined);
    h.socket.hello('BAD_DIGEST');
    expect(h.actor.getSnapshot().output).toMatchObject({ ok: false, reason: 'BAD_DIGEST' });
    h.dispose?.();
  });

  it('waits for the client hello in the server role', () => {
    const actor = createActor(handshakeMachine, { input: { role: 'server', form: 'simple' } });
    expect(actor.getSnapshot().value).toEqual({ running: { server: 'awaitingClientHello' } });
  });
});
