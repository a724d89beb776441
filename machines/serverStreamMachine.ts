/**
 * The server side of one NetStream (one message stream id of a connection) as a statechart:
 *
 *   created ──REQUEST──▶ authorizing ──allowed──▶ authorized ──PUBLISH──▶ publishing | badName
 *                           │ refused, failed,              └──PLAY──▶ playing | waitingForPublisher | notFound
 *                           │ authorizeTimeout
 *                           ▼
 *                      unauthorized
 *   publishing | playing | waitingForPublisher | authorizing | authorized ──END──▶ created, ──DELETE──▶ closed
 *
 * `authorizing` invokes the `authorize` actor (the server's authorizer: a function, or
 * nginx-rtmp-style HTTP hooks), bounded by the named `authorizeTimeout` delay: no answer in time
 * refuses (fail closed). A server without an authorizer provides one that allows at once. The decision goes to the parent serverConnection actor
 * (`SERVER.STREAM_AUTHORIZATION`), which tells its IO to go on or to refuse; nothing is claimed
 * before it. Every state tells the parent its role (`SERVER.STREAM_ROLE`), so the connection knows
 * whether it is idle, publishing or playing.
 *
 * Stream names are stream keys, which are secrets: the events carry only a masked `label`
 * (`ca***`), so no key ever reaches a snapshot, the inspector or a trace. The `authorize` actor
 * gets ids only; the runtime looks the request up.
 */
import { assign, enqueueActions, fromPromise, setup, type AnyActorRef } from 'xstate';

export type ServerStreamRole = 'idle' | 'authorizing' | 'publishing' | 'playing';

export type ServerStreamAction = 'publish' | 'play';

export interface ServerStreamInput {
  streamId: number;
  /** The connection's number (the authorize actor finds the request by it). */
  connectionId?: number;
  /** Milliseconds the `authorize` actor may take. Default 5000. */
  authorizeTimeoutMs?: number;
}

/** What the `authorize` actor gets: ids only (the request itself holds the stream key). */
export interface AuthorizeActorInput {
  connectionId: number;
  streamId: number;
  action: ServerStreamAction;
}

/** What the `authorize` actor answers. */
export interface AuthorizeActorOutput {
  allowed: boolean;
  reason?: string;
}

export interface ServerStreamContext {
  streamId: number;
  connectionId: number;
  authorizeTimeoutMs: number;
  /** What the client asked for. */
  action: ServerStreamAction | undefined;
  /** The masked name published or played (`ca***`). */
  label: string | undefined;
  /** Why the authorizer refused. */
  refusal: string | undefined;
}

export type ServerStreamEvent =
  /** publish or play arrived: authorize it. */
  | { type: 'STREAM.REQUEST'; action: ServerStreamAction; label: string }
  /** The IO did the publish the authorizer allowed: `ok`, or `badName` (published already). */
  | { type: 'STREAM.PUBLISH'; label: string; outcome: 'ok' | 'badName' }
  /** The IO did the play the authorizer allowed. */
  | { type: 'STREAM.PLAY'; label: string; outcome: 'playing' | 'waiting' | 'notFound' }
  | { type: 'STREAM.PUBLISHER_STARTED' }
  | { type: 'STREAM.PUBLISHER_STOPPED' }
  | { type: 'STREAM.END' }
  | { type: 'STREAM.DELETE' };

/** What a serverStream actor tells its parent serverConnection actor. */
export type ServerStreamReport =
  | {
      type: 'SERVER.STREAM_AUTHORIZATION';
      streamId: number;
      action: ServerStreamAction;
      allowed: boolean;
      reason?: string;
    }
  | { type: 'SERVER.STREAM_ROLE'; streamId: number; role: ServerStreamRole };

/** Placeholder: the embedded server provides its authorizer with `.provide()`; refuses. */
const authorizePlaceholder = fromPromise<AuthorizeActorOutput, AuthorizeActorInput>(() =>
  Promise.reject(new Error('no authorizer: use .provide({ actors: { authorize } })')),
);

const DEFAULT_AUTHORIZE_TIMEOUT_MS = 5_000;

/** Whether the actor runs under a serverConnection (a model walk or a lone test actor does not). */
function hasParent(self: AnyActorRef): boolean {
  return (self as { _parent?: unknown })._parent !== undefined;
}

export const serverStreamMachine = setup({
  types: {
    context: {} as ServerStreamContext,
    events: {} as ServerStreamEvent,
    input: {} as ServerStreamInput,
    children: {} as { authorize: 'authorize' },
  },
  actors: {
    authorize: authorizePlaceholder,
  },
  actions: {
    recordRequest: assign({
      action: ({ event }) => (event.type === 'STREAM.REQUEST' ? event.action : undefined),
      label: ({ event }) => (event.type === 'STREAM.REQUEST' ? event.label : undefined),
      refusal: () => undefined,
    }),
    recordLabel: assign({
      label: ({ event }) =>
        event.type === 'STREAM.PUBLISH' || event.type === 'STREAM.PLAY' ? event.label : undefined,
    }),
    forgetLabel: assign({ label: () => undefined, action: () => undefined }),
    recordRefusal: assign({
      refusal: ({ event }) => {
        const output = (event as { output?: AuthorizeActorOutput }).output;
        return output?.reason ?? 'refused by the authorizer';
      },
    }),
    recordAuthorizerFailure: assign({
      refusal: ({ event }) => {
        const error = (event as { error?: unknown }).error;
        return `the authorizer failed: ${error instanceof Error ? error.message : String(error)}`;
      },
    }),
    recordAuthorizeTimeout: assign({
      refusal: ({ context }) => `no authorization within ${context.authorizeTimeoutMs} ms`,
    }),
    /** The connection's IO goes on with the publish or play. */
    reportAllowed: enqueueActions(({ context, self, enqueue }) => {
      if (!hasParent(self)) return;
      enqueue.sendParent({
        type: 'SERVER.STREAM_AUTHORIZATION',
        streamId: context.streamId,
        action: context.action ?? 'play',
        allowed: true,
      } satisfies ServerStreamReport);
    }),
    /** The connection's IO answers the refusal status. */
    reportRefused: enqueueActions(({ context, self, enqueue }) => {
      if (!hasParent(self)) return;
      enqueue.sendParent({
        type: 'SERVER.STREAM_AUTHORIZATION',
        streamId: context.streamId,
        action: context.action ?? 'play',
        allowed: false,
        reason: context.refusal,
      } satisfies ServerStreamReport);
    }),
    /** The connection learns what this NetStream does (idle, authorizing, publishing, playing). */
    reportRole: enqueueActions(({ context, self, enqueue }, params: { role: ServerStreamRole }) => {
      if (!hasParent(self)) return;
      enqueue.sendParent({
        type: 'SERVER.STREAM_ROLE',
        streamId: context.streamId,
        role: params.role,
      } satisfies ServerStreamReport);
    }),
  },
  guards: {
    allowed: ({ event }) => (event as { output?: AuthorizeActorOutput }).output?.allowed === true,
    publishAccepted: ({ event }) => event.type === 'STREAM.PUBLISH' && event.outcome === 'ok',
    publisherPresent: ({ event }) => event.type === 'STREAM.PLAY' && event.outcome === 'playing',
    publisherMayCome: ({ event }) => event.type === 'STREAM.PLAY' && event.outcome === 'waiting',
  },
  delays: {
    authorizeTimeout: ({ context }) => context.authorizeTimeoutMs,
  },
}).createMachine({
  id: 'serverStream',
  description:
    'Server role of one NetStream: authorize, then publish or play a live stream. The ServerSession (src/server/session.ts) sends the requests and answers the client; the registry answers claims and look-ups at once.',
  context: ({ input }) => ({
    streamId: input.streamId,
    connectionId: input.connectionId ?? 0,
    authorizeTimeoutMs: input.authorizeTimeoutMs ?? DEFAULT_AUTHORIZE_TIMEOUT_MS,
    action: undefined,
    label: undefined,
    refusal: undefined,
  }),
  initial: 'created',
  states: {
    created: {
      description: 'createStream answered; waiting for publish or play.',
      entry: { type: 'reportRole', params: { role: 'idle' } },
      on: {
        'STREAM.REQUEST': { target: 'authorizing', actions: 'recordRequest' },
        'STREAM.DELETE': { target: 'closed' },
      },
    },
    authorizing: {
      description:
        'The authorizer decides (bounded by authorizeTimeout; no answer refuses). Nothing is claimed yet.',
      entry: { type: 'reportRole', params: { role: 'authorizing' } },
      invoke: {
        id: 'authorize',
        src: 'authorize',
        input: ({ context }) => ({
          connectionId: context.connectionId,
          streamId: context.streamId,
          action: context.action ?? 'play',
        }),
        onDone: [
          { guard: 'allowed', target: 'authorized', actions: 'reportAllowed' },
          { target: 'unauthorized', actions: ['recordRefusal', 'reportRefused'] },
        ],
        onError: { target: 'unauthorized', actions: ['recordAuthorizerFailure', 'reportRefused'] },
      },
      after: {
        authorizeTimeout: {
          target: 'unauthorized',
          actions: ['recordAuthorizeTimeout', 'reportRefused'],
        },
      },
      on: {
        'STREAM.END': { target: 'created', actions: 'forgetLabel' },
        'STREAM.DELETE': { target: 'closed' },
      },
    },
    authorized: {
      description:
        'Allowed: the ServerSession claims the name (publish) or looks for it (play) in the same step, so nothing else arrives here.',
      on: {
        'STREAM.PUBLISH': [
          { guard: 'publishAccepted', target: 'publishing', actions: 'recordLabel' },
          { target: 'badName', actions: 'recordLabel' },
        ],
        'STREAM.PLAY': [
          { guard: 'publisherPresent', target: 'playing', actions: 'recordLabel' },
          { guard: 'publisherMayCome', target: 'waitingForPublisher', actions: 'recordLabel' },
          { target: 'notFound', actions: 'recordLabel' },
        ],
        'STREAM.END': { target: 'created', actions: 'forgetLabel' },
        'STREAM.DELETE': { target: 'closed' },
      },
    },
    publishing: {
      description: 'NetStream.Publish.Start sent; media is relayed to the players.',
      entry: { type: 'reportRole', params: { role: 'publishing' } },
      on: {
        'STREAM.END': { target: 'created', actions: 'forgetLabel' },
        'STREAM.DELETE': { target: 'closed' },
      },
    },
    playing: {
      description: 'NetStream.Play.Start sent; the publisher is on air.',
      entry: { type: 'reportRole', params: { role: 'playing' } },
      on: {
        'STREAM.PUBLISHER_STOPPED': { target: 'waitingForPublisher' },
        'STREAM.END': { target: 'created', actions: 'forgetLabel' },
        'STREAM.DELETE': { target: 'closed' },
      },
    },
    waitingForPublisher: {
      description: 'Playing a name nobody publishes yet (or any more): a player, not idle.',
      entry: { type: 'reportRole', params: { role: 'playing' } },
      on: {
        'STREAM.PUBLISHER_STARTED': { target: 'playing' },
        'STREAM.END': { target: 'created', actions: 'forgetLabel' },
        'STREAM.DELETE': { target: 'closed' },
      },
    },
    unauthorized: {
      type: 'final',
      description:
        'The authorizer refused, failed or took too long: NetStream.Publish.Unauthorized or NetStream.Play.Failed.',
      entry: { type: 'reportRole', params: { role: 'idle' } },
    },
    badName: {
      type: 'final',
      description: 'NetStream.Publish.BadName.',
      entry: { type: 'reportRole', params: { role: 'idle' } },
    },
    notFound: {
      type: 'final',
      description: 'NetStream.Play.StreamNotFound.',
      entry: { type: 'reportRole', params: { role: 'idle' } },
    },
    closed: {
      type: 'final',
      description: 'deleteStream, or the connection closed.',
      entry: { type: 'reportRole', params: { role: 'idle' } },
    },
  },
});
