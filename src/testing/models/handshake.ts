/**
 * The test model of handshakeMachine: the events worth sending in each state, and a harness that
 * realizes them through the runtime transport, connected in memory to a scripted far end.
 */
import {
  createActor,
  SimulatedClock,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type InspectionEvent,
} from 'xstate';
import type { HandshakeForm, HandshakeRole } from '../../../machines/contract';
import {
  handshakeMachine,
  type HandshakeContext,
  type HandshakeInput,
  type HandshakeOutput,
} from '../../../machines/handshakeMachine';
import { delayOf, type ReplayHarness } from '../paths';
import { createScriptedPeer, ScriptError, type PeerSocket } from '../scriptedPeer';

export interface HandshakeModelOptions {
  role: HandshakeRole;
  form: HandshakeForm;
  timeoutMs?: number;
  /** The machine to replay (e.g. a mutant); paths still come from handshakeMachine. */
  machine?: typeof handshakeMachine;
}

function matches(snapshot: AnyMachineSnapshot, path: string): boolean {
  return snapshot.matches(path as never);
}

/** The handshake machine's test model for one role and form. */
export function handshakeModel(options: HandshakeModelOptions) {
  const machine = handshakeMachine;
  const input: HandshakeInput = {
    role: options.role,
    form: options.form,
    timeoutMs: options.timeoutMs ?? 1_000,
  };
  // What the peer reports in its hello: the form both sides ended up in.
  const helloForm: HandshakeForm = options.form;

  const events = (snapshot: AnyMachineSnapshot): AnyEventObject[] => {
    if (snapshot.status !== 'active') return [];
    const closed = { type: 'TRANSPORT.CLOSED', byPeer: true };
    const badVersion = { type: 'HANDSHAKE.FAILED', code: 'BAD_VERSION', message: 'bad version' };
    const badDigest = { type: 'HANDSHAKE.FAILED', code: 'BAD_DIGEST', message: 'bad digest' };
    const hello = { type: 'HANDSHAKE.PEER_HELLO', version: 3, form: helloForm };
    const echo = { type: 'HANDSHAKE.PEER_ECHO' };
    if (matches(snapshot, 'running.client.awaitingPeerHello')) {
      return options.form === 'digest'
        ? [hello, badVersion, badDigest, closed]
        : [hello, badVersion, closed];
    }
    // No BAD_ECHO: the runtime accepts any echo (as nginx-rtmp and FFmpeg do).
    if (matches(snapshot, 'running.client.awaitingPeerEcho')) return [echo, closed];
    if (matches(snapshot, 'running.server.awaitingClientHello')) return [hello, badVersion, closed];
    if (matches(snapshot, 'running.server.awaitingClientEcho')) return [echo, closed];
    return [];
  };

  /** What the replay must agree on besides the state: the peer met, the failure, the output. */
  const project = (snapshot: AnyMachineSnapshot) => {
    const ctx = snapshot.context as HandshakeContext;
    const output = snapshot.output as HandshakeOutput | undefined;
    return {
      peer: ctx.peer ?? null,
      failure: ctx.failure?.reason ?? null,
      output: output ? (output.ok ? output : { ok: false, reason: output.reason }) : null,
    };
  };

  /** A live handshake actor whose transport is the runtime's, over an in-memory socket. */
  const harness = (
    inspect: (ev: InspectionEvent) => void,
  ): ReplayHarness & { socket: PeerSocket } => {
    const clock = new SimulatedClock();
    const peer = createScriptedPeer({ clientForm: options.form });
    let deliver: (event: AnyEventObject) => void = () => undefined;
    const { socket, transport } = peer.detached((event) => deliver(event));
    const actor = createActor(options.machine ?? machine, {
      input: { ...input, transport },
      clock,
      inspect,
    });
    deliver = (event) => actor.send(event as never);
    actor.start();
    const expectCode = (produced: AnyEventObject, wanted: AnyEventObject): void => {
      if (
        produced.type !== wanted.type ||
        ('code' in wanted && produced.code !== wanted.code) ||
        ('form' in wanted && produced.form !== wanted.form) ||
        ('version' in wanted && produced.version !== wanted.version)
      ) {
        throw new ScriptError(
          `the codecs produced ${JSON.stringify(produced)}, the model wanted ${JSON.stringify(wanted)}`,
        );
      }
    };
    return {
      actor,
      socket,
      realize(event, { before }) {
        switch (event.type) {
          case 'HANDSHAKE.PEER_HELLO':
            expectCode(socket.hello(), event);
            return;
          case 'HANDSHAKE.PEER_ECHO':
            expectCode(socket.echo(), event);
            return;
          case 'HANDSHAKE.FAILED':
            expectCode(socket.hello(event.code), event);
            return;
          case 'TRANSPORT.CLOSED':
            socket.hangUp();
            return;
          default: {
            const delay = delayOf(machine, event.type, before);
            if (!delay) throw new ScriptError(`no way to realize ${event.type}`);
            clock.increment(delay.ms);
          }
        }
      },
      check() {
        const start = socket.lastCommand('TRANSPORT.HANDSHAKE_START');
        if (!start || start.role !== options.role || start.form !== options.form) {
          throw new Error(
            `the transport got ${JSON.stringify(start)} instead of HANDSHAKE_START ${options.role}/${options.form}`,
          );
        }
      },
      dispose() {
        transport.stop();
      },
    };
  };

  return { machine, input, events, project, harness };
}
