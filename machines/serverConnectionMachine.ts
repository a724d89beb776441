/**
 * The server side of one RTMP connection as a statechart:
 *
 *   handshaking ──HANDSHAKE_DONE──▶ awaitingConnect ──CONNECT──▶ connected ──CLOSED──▶ closed
 *
 * with `failed` for a handshake that times out, a connect that never comes or is refused, and
 * protocol errors. The machine does no IO: the embedded server's ServerConnection sends it
 * SERVER.* events where the socket tells it something, and listens (actor.on) to the emitted
 * `server.acceptConnect` (send WindowAckSize, SetPeerBandwidth, SetChunkSize, StreamBegin and the
 * connect _result) and `server.failed` (close the socket) events.
 */
import { assign, emit, setup } from 'xstate';

export type ServerConnectionFailure =
  'HANDSHAKE_TIMEOUT' | 'CONNECT_TIMEOUT' | 'CONNECT_REJECTED' | 'PROTOCOL_ERROR';

export interface ServerConnectionInput {
  /** Milliseconds allowed for the handshake. */
  handshakeTimeoutMs: number;
  /** Milliseconds allowed between the handshake and connect. */
  connectTimeoutMs: number;
}

export interface ServerConnectionContext {
  timeouts: { handshake: number; connect: number };
  /** The application the client connected to. */
  app: string;
  failure: { reason: ServerConnectionFailure; message: string } | undefined;
}

export type ServerConnectionEvent =
  | { type: 'SERVER.HANDSHAKE_DONE' }
  | { type: 'SERVER.CONNECT'; app: string }
  | { type: 'SERVER.CONNECT_REJECTED'; message: string }
  | { type: 'SERVER.CLOSED' }
  | { type: 'SERVER.ERROR'; code: string; message?: string };

/** Events for the owner of the actor (`actor.on(type, listener)`). */
export type ServerConnectionEmitted =
  | { type: 'server.acceptConnect'; app: string }
  | { type: 'server.failed'; reason: ServerConnectionFailure; message: string };

export const serverConnectionMachine = setup({
  types: {
    context: {} as ServerConnectionContext,
    events: {} as ServerConnectionEvent,
    input: {} as ServerConnectionInput,
    emitted: {} as ServerConnectionEmitted,
  },
  actions: {
    recordConnect: assign({
      app: ({ event }) => (event.type === 'SERVER.CONNECT' ? event.app : ''),
    }),
    /** The owner answers connect: window, bandwidth, chunk size, StreamBegin, _result. */
    acceptConnect: emit(({ context }) => ({
      type: 'server.acceptConnect' as const,
      app: context.app,
    })),
    recordHandshakeTimeout: assign({
      failure: ({ context }) => ({
        reason: 'HANDSHAKE_TIMEOUT' as const,
        message: `no handshake within ${context.timeouts.handshake} ms`,
      }),
    }),
    recordConnectTimeout: assign({
      failure: ({ context }) => ({
        reason: 'CONNECT_TIMEOUT' as const,
        message: `no connect within ${context.timeouts.connect} ms`,
      }),
    }),
    recordRejection: assign({
      failure: ({ event }) => ({
        reason: 'CONNECT_REJECTED' as const,
        message: event.type === 'SERVER.CONNECT_REJECTED' ? event.message : 'rejected',
      }),
    }),
    recordError: assign({
      failure: ({ event }) => ({
        reason: 'PROTOCOL_ERROR' as const,
        message: event.type === 'SERVER.ERROR' ? (event.message ?? event.code) : 'protocol error',
      }),
    }),
    /** The owner closes the socket. */
    reportFailure: emit(({ context }) => ({
      type: 'server.failed' as const,
      reason: context.failure?.reason ?? ('PROTOCOL_ERROR' as const),
      message: context.failure?.message ?? 'failed',
    })),
  },
  delays: {
    handshakeTimeout: ({ context }) => context.timeouts.handshake,
    connectTimeout: ({ context }) => context.timeouts.connect,
  },
}).createMachine({
  id: 'serverConnection',
  description: 'Server role of one RTMP connection: handshake, connect, then NetStreams.',
  context: ({ input }) => ({
    timeouts: { handshake: input.handshakeTimeoutMs, connect: input.connectTimeoutMs },
    app: '',
    failure: undefined,
  }),
  initial: 'handshaking',
  on: {
    'SERVER.CLOSED': { target: '.closed' },
    'SERVER.ERROR': { target: '.failed', actions: 'recordError' },
  },
  states: {
    handshaking: {
      description: 'Waiting for C0+C1 and C2 (the transport answers S0+S1+S2).',
      after: {
        handshakeTimeout: { target: 'failed', actions: 'recordHandshakeTimeout' },
      },
      on: { 'SERVER.HANDSHAKE_DONE': { target: 'awaitingConnect' } },
    },
    awaitingConnect: {
      description: 'Only connect is allowed; other commands get _error.',
      after: {
        connectTimeout: { target: 'failed', actions: 'recordConnectTimeout' },
      },
      on: {
        'SERVER.CONNECT': { target: 'connected', actions: ['recordConnect', 'acceptConnect'] },
        'SERVER.CONNECT_REJECTED': { target: 'failed', actions: 'recordRejection' },
      },
    },
    connected: {
      description: 'NetConnection commands; one serverStream actor per message stream id.',
    },
    closed: { type: 'final', description: 'The socket closed.' },
    failed: {
      type: 'final',
      description: 'Handshake or connect timeout, refused connect, or a protocol error.',
      entry: 'reportFailure',
    },
  },
});
