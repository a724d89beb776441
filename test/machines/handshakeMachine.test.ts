import { createActor } from 'xstate';
import { handshakeMachine } from '../../machines/handshakeMachine';
import { handshakeModel } from '../../src/testing/models/handshake';
import {
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
        const record = replayPath(model.machine, path, (inspect) => model.harness(inspect));
        records.push(record);
        expect(record.transitions.length).toBeGreaterThan(0);
      },
    );
  });

  it('reaches every state and takes every transition in the replays', () => {
    const report = coverage(handshakeMachine, records);
    console.log(formatCoverage(report));
    expect(report.states.missing).toEqual([]);
    expect(report.transitions.missing).toEqual([]);
    expect(report.transitions.ratio).toBe(1);
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
