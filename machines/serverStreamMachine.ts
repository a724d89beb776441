/**
 * The server side of one NetStream (one message stream id of a connection) as a statechart:
 *
 *   created ──PUBLISH──▶ publishing | badName
 *   created ──PLAY──▶ playing | waitingForPublisher | notFound
 *   publishing | playing | waitingForPublisher ──END──▶ created, ──DELETE──▶ closed
 *
 * The command's outcome (the stream registry's answer) comes with the event; guards choose the
 * state. The embedded server's connection IO sends the events (through its serverConnection
 * actor, which spawned this one) and does the IO.
 *
 * Stream names are stream keys, which are secrets: the events carry only a masked `label`
 * (`ca***`), so no key ever reaches a snapshot, the inspector or a trace.
 */
import { assign, setup } from 'xstate';

export interface ServerStreamInput {
  streamId: number;
}

export interface ServerStreamContext {
  streamId: number;
  /** The masked name published or played (`ca***`). */
  label: string | undefined;
}

export type ServerStreamEvent =
  | { type: 'STREAM.PUBLISH'; label: string; outcome: 'ok' | 'badName' }
  | { type: 'STREAM.PLAY'; label: string; outcome: 'playing' | 'waiting' | 'notFound' }
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
    recordLabel: assign({
      label: ({ event }) =>
        event.type === 'STREAM.PUBLISH' || event.type === 'STREAM.PLAY' ? event.label : undefined,
    }),
    forgetLabel: assign({ label: () => undefined }),
  },
  guards: {
    publishAccepted: ({ event }) => event.type === 'STREAM.PUBLISH' && event.outcome === 'ok',
    publisherPresent: ({ event }) => event.type === 'STREAM.PLAY' && event.outcome === 'playing',
    publisherMayCome: ({ event }) => event.type === 'STREAM.PLAY' && event.outcome === 'waiting',
  },
}).createMachine({
  id: 'serverStream',
  description: 'Server role of one NetStream: publish or play a live stream.',
  context: ({ input }) => ({ streamId: input.streamId, label: undefined }),
  initial: 'created',
  states: {
    created: {
      description: 'createStream answered; waiting for publish or play.',
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
        'STREAM.DELETE': { target: 'closed' },
      },
    },
    publishing: {
      description: 'NetStream.Publish.Start sent; media is relayed to the players.',
      on: {
        'STREAM.END': { target: 'created', actions: 'forgetLabel' },
        'STREAM.DELETE': { target: 'closed' },
      },
    },
    playing: {
      description: 'NetStream.Play.Start sent; the publisher is on air.',
      on: {
        'STREAM.PUBLISHER_STOPPED': { target: 'waitingForPublisher' },
        'STREAM.END': { target: 'created', actions: 'forgetLabel' },
        'STREAM.DELETE': { target: 'closed' },
      },
    },
    waitingForPublisher: {
      description: 'Playing a name nobody publishes yet (or any more).',
      on: {
        'STREAM.PUBLISHER_STARTED': { target: 'playing' },
        'STREAM.END': { target: 'created', actions: 'forgetLabel' },
        'STREAM.DELETE': { target: 'closed' },
      },
    },
    badName: { type: 'final', description: 'NetStream.Publish.BadName.' },
    notFound: { type: 'final', description: 'NetStream.Play.StreamNotFound.' },
    closed: { type: 'final', description: 'deleteStream, or the connection closed.' },
  },
});
