/**
 * The server side of one NetStream (one message stream id of a connection) as a statechart:
 *
 *   created ──PUBLISH──▶ publishing | badName
 *   created ──PLAY──▶ playing | waitingForPublisher | notFound
 *   publishing | playing | waitingForPublisher ──END──▶ created, ──DELETE──▶ closed
 *
 * The command's outcome (the stream registry's answer) comes with the event; guards choose the
 * state. The embedded server's ServerConnection sends the events and does the IO.
 */
import { assign, setup } from 'xstate';

export interface ServerStreamInput {
  streamId: number;
}

export interface ServerStreamContext {
  streamId: number;
  /** The stream name published or played. */
  name: string | undefined;
}

export type ServerStreamEvent =
  | { type: 'STREAM.PUBLISH'; name: string; outcome: 'ok' | 'badName' }
  | { type: 'STREAM.PLAY'; name: string; outcome: 'playing' | 'waiting' | 'notFound' }
  | { type: 'STREAM.PUBLISHER_STARTED' }
  | { type: 'STREAM.PUBLISHER_STOPPED' }
  | { type: 'STREAM.END' }
  | { type: 'STREAM.DELETE' };

export const serverStreamMachine = setup({
  types: {
    context: {} as ServerStreamContext,
    events: {} as ServerStreamEvent,
    input: {} as ServerStreamInput,
  },
  actions: {
    recordName: assign({
      name: ({ event }) =>
        event.type === 'STREAM.PUBLISH' || event.type === 'STREAM.PLAY' ? event.name : undefined,
    }),
    forgetName: assign({ name: () => undefined }),
  },
  guards: {
    publishAccepted: ({ event }) =>
      event.type === 'STREAM.PUBLISH' && event.outcome === 'ok' && event.name !== '',
    publisherPresent: ({ event }) =>
      event.type === 'STREAM.PLAY' && event.outcome === 'playing' && event.name !== '',
    publisherMayCome: ({ event }) =>
      event.type === 'STREAM.PLAY' && event.outcome === 'waiting' && event.name !== '',
  },
}).createMachine({
  id: 'serverStream',
  description: 'Server role of one NetStream: publish or play a live stream.',
  context: ({ input }) => ({ streamId: input.streamId, name: undefined }),
  initial: 'created',
  states: {
    created: {
      description: 'createStream answered; waiting for publish or play.',
      on: {
        'STREAM.PUBLISH': [
          { guard: 'publishAccepted', target: 'publishing', actions: 'recordName' },
          { target: 'badName', actions: 'recordName' },
        ],
        'STREAM.PLAY': [
          { guard: 'publisherPresent', target: 'playing', actions: 'recordName' },
          { guard: 'publisherMayCome', target: 'waitingForPublisher', actions: 'recordName' },
          { target: 'notFound', actions: 'recordName' },
        ],
        'STREAM.DELETE': { target: 'closed' },
      },
    },
    publishing: {
      description: 'NetStream.Publish.Start sent; media is relayed to the players.',
      on: {
        'STREAM.END': { target: 'created', actions: 'forgetName' },
        'STREAM.DELETE': { target: 'closed' },
      },
    },
    playing: {
      description: 'NetStream.Play.Start sent; the publisher is on air.',
      on: {
        'STREAM.PUBLISHER_STOPPED': { target: 'waitingForPublisher' },
        'STREAM.END': { target: 'created', actions: 'forgetName' },
        'STREAM.DELETE': { target: 'closed' },
      },
    },
    waitingForPublisher: {
      description: 'Playing a name nobody publishes yet (or any more).',
      on: {
        'STREAM.PUBLISHER_STARTED': { target: 'playing' },
        'STREAM.END': { target: 'created', actions: 'forgetName' },
        'STREAM.DELETE': { target: 'closed' },
      },
    },
    badName: { type: 'final', description: 'NetStream.Publish.BadName.' },
    notFound: { type: 'final', description: 'NetStream.Play.StreamNotFound.' },
    closed: { type: 'final', description: 'deleteStream, or the connection closed.' },
  },
});
