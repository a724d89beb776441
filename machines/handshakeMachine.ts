/**
 * The RTMP handshake as a statechart: C0+C1 / S0+S1 / S2 (client) or the mirror image (server).
 * The bytes are the transport's business (src/protocol/handshake runs inside it); this machine
 * starts the exchange, follows the steps the transport reports, and bounds the whole phase with
 * the named `handshakeTimeout`. It ends in `done` (output `{ ok: true, peer }`) or `failed`
 * (output `{ ok: false, reason }`).
 *
 * Its parent forwards HANDSHAKE.* and TRANSPORT.CLOSED events to it.
 */
import { assign, sendTo, setup, type ActorRef, type Snapshot } from 'xstate';
import type { HandshakeForm, HandshakeRole, TransportCommand, TransportEvent } from './contract';

/** Anything that accepts transport commands (the transport actor, or a test's recorder). */
export type TransportRef = ActorRef<Snapshot<unknown>, TransportCommand>;

export interface HandshakeInput {
  role: HandshakeRole;
  form: HandshakeForm;
  /** The transport actor to send TRANSPORT.HANDSHAKE_START to. */
  transport?: TransportRef;
  /** Milliseconds allowed for the whole handshake. Default 10 000. */
  timeoutMs?: number;
}

export type HandshakeFailureReason =
  'BAD_VERSION' | 'BAD_DIGEST' | 'BAD_ECHO' | 'TIMEOUT' | 'SOCKET_CLOSED';

export interface HandshakePeerInfo {
  /** The peer's C0/S0 version byte. */
  version: number;
  /** The form the peer answered in. */
  form: HandshakeForm;
}

export type HandshakeOutput =
  | { ok: true; peer: HandshakePeerInfo }
  | { ok: false; reason: HandshakeFailureReason; message: string };

export interface HandshakeContext {
  role: HandshakeRole;
  form: HandshakeForm;
  transport: TransportRef | undefined;
  timeouts: { handshake: number };
  peer: HandshakePeerInfo | undefined;
  failure: { reason: HandshakeFailureReason; message: string } | undefined;
}

/** The events the handshake machine reacts to (forwarded by its parent). */
export type HandshakeEvent = Extract<
  TransportEvent,
  { type: 'HANDSHAKE.PEER_HELLO' | 'HANDSHAKE.PEER_ECHO' | 'HANDSHAKE.FAILED' | 'TRANSPORT.CLOSED' }
>;

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

export const handshakeMachine = setup({
  types: {
    context: {} as HandshakeContext,
    events: {} as HandshakeEvent,
    input: {} as HandshakeInput,
    output: {} as HandshakeOutput,
  },
  actions: {
    /** Client: the transport sends C0+C1. Server: the transport starts waiting for C0+C1. */
    startTransportHandshake: sendTo(
      ({ context }) => context.transport as TransportRef,
      ({ context }) => ({
        type: 'TRANSPORT.HANDSHAKE_START' as const,
        role: context.role,
        form: context.form,
      }),
    ),
    recordPeerHello: assign({
      peer: ({ event }) =>
        event.type === 'HANDSHAKE.PEER_HELLO'
          ? { version: event.version, form: event.form }
          : undefined,
    }),
    recordHandshakeFailure: assign({
      failure: ({ event }) =>
        event.type === 'HANDSHAKE.FAILED'
          ? { reason: event.code, message: event.message }
          : { reason: 'BAD_VERSION' as const, message: 'unexpected event' },
    }),
    recordSocketClosed: assign({
      failure: () => ({
        reason: 'SOCKET_CLOSED' as const,
        message: 'the socket closed during the handshake',
      }),
    }),
    recordTimeout: assign({
      failure: ({ context }) => ({
        reason: 'TIMEOUT' as const,
        message: `no handshake within ${context.timeouts.handshake} ms`,
      }),
    }),
  },
  guards: {
    isClient: ({ context }) => context.role === 'client',
  },
  delays: {
    handshakeTimeout: ({ context }) => context.timeouts.handshake,
  },
}).createMachine({
  id: 'handshake',
  description: 'RTMP handshake: C0/C1, S0/S1/S2, C2 (or the server mirror image).',
  context: ({ input }) => ({
    role: input.role,
    form: input.form,
    transport: input.transport,
    timeouts: { handshake: input.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS },
    peer: undefined,
    failure: undefined,
  }),
  initial: 'running',
  states: {
    running: {
      description: 'The whole handshake phase, bounded by handshakeTimeout.',
      initial: 'choosingRole',
      after: {
        handshakeTimeout: { target: 'failed', actions: 'recordTimeout' },
      },
      on: {
        'HANDSHAKE.FAILED': { target: 'failed', actions: 'recordHandshakeFailure' },
        'TRANSPORT.CLOSED': { target: 'failed', actions: 'recordSocketClosed' },
      },
      states: {
        choosingRole: {
          always: [{ guard: 'isClient', target: 'client' }, { target: 'server' }],
        },
        client: {
          initial: 'sendingHello',
          states: {
            sendingHello: {
              description: 'The transport writes C0+C1.',
              entry: 'startTransportHandshake',
              always: { target: 'awaitingPeerHello' },
            },
            awaitingPeerHello: {
              description: 'Waiting for S0+S1 (the transport answers C2 by itself).',
              on: {
                'HANDSHAKE.PEER_HELLO': { target: 'awaitingPeerEcho', actions: 'recordPeerHello' },
              },
            },
            awaitingPeerEcho: {
              description: 'Waiting for S2.',
              on: { 'HANDSHAKE.PEER_ECHO': { target: '#handshake.done' } },
            },
          },
        },
        server: {
          initial: 'listening',
          states: {
            listening: {
              description: 'The transport starts reading C0+C1.',
              entry: 'startTransportHandshake',
              always: { target: 'awaitingClientHello' },
            },
            awaitingClientHello: {
              description: 'Waiting for C0+C1 (the transport answers S0+S1+S2).',
              on: {
                'HANDSHAKE.PEER_HELLO': {
                  target: 'awaitingClientEcho',
                  actions: 'recordPeerHello',
                },
              },
            },
            awaitingClientEcho: {
              description: 'Waiting for C2.',
              on: { 'HANDSHAKE.PEER_ECHO': { target: '#handshake.done' } },
            },
          },
        },
      },
    },
    done: { type: 'final', description: 'Chunks follow.' },
    failed: { type: 'final', description: 'The handshake failed; output.reason says why.' },
  },
  output: ({ context }) =>
    context.failure
      ? { ok: false as const, reason: context.failure.reason, message: context.failure.message }
      : {
          ok: true as const,
          peer: context.peer ?? { version: 3, form: context.form },
        },
});
