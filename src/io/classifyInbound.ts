/**
 * Where each inbound message goes, decided in one pure function: audio and video to the media
 * sink of their stream, data to the sink or the machines, everything else to the machines;
 * aggregates are split, and a server's deleteStream of a stream we play also means StreamEOF.
 */
import type { HandshakeRole } from '../../machines/contract';
import type { RtmpMessage } from '../protocol/message/types';
import type { MediaMessage } from './media';

/** Data messages that are protocol (status and bandwidth notices), never media. */
export const DATA_FOR_MACHINES: ReadonlySet<string> = new Set([
  'onStatus',
  'onPlayStatus',
  'onBWDone',
  'onFCPublish',
  'onFCUnpublish',
]);

/** What the transport knows about its streams when a message arrives. */
export interface InboundRoutes {
  /** Message stream id -> sink key, for every routed stream (TRANSPORT.ROUTE_MEDIA). */
  readonly streams: ReadonlyMap<number, string>;
  /** Whether a media sink is registered under `key` (someone takes the stream's media). */
  hasSink(key: string): boolean;
  /** Our side of the connection: only a client reads a peer's deleteStream as the end. */
  readonly role: HandshakeRole;
}

/** One decision of classifyInbound. */
export type InboundRoute =
  /** Audio or video for the sink `sinkKey` (the transport ticks the machines). */
  | { to: 'media'; message: Extract<MediaMessage, { type: 'Audio' | 'Video' }>; sinkKey: string }
  /** Data (onMetaData, |RtmpSampleAccess...) for the sink `sinkKey`. */
  | { to: 'data'; message: Extract<MediaMessage, { type: 'Data' }>; sinkKey: string }
  /** A protocol message for the machines (RTMP.MESSAGE). */
  | { to: 'machines'; message: RtmpMessage }
  /** Audio or video of a stream nobody takes. */
  | { to: 'dropped'; message: RtmpMessage; reason: 'NO_SINK' };

/**
 * The sink key of `streamId`: its route, or the only route there is (node-media-server and
 * FFmpeg's listener send everything on message stream 0).
 */
export function sinkKeyFor(routes: InboundRoutes, streamId: number): string | undefined {
  const key = routes.streams.get(streamId);
  if (key !== undefined) return key;
  if (routes.streams.size === 1) return routes.streams.values().next().value;
  return undefined;
}

/**
 * FFmpeg's `-listen` server ends a play the way a publisher ends a publish: FCUnpublish and
 * `deleteStream(0)`, then it closes the socket. To a client, a server's deleteStream for a
 * stream we play means its end: the stream id it names (0 = the only stream we have).
 */
export function streamDeletedByPeer(
  message: RtmpMessage,
  routes: InboundRoutes,
): number | undefined {
  if (routes.role !== 'client') return undefined;
  if (message.type !== 'Command' || message.name !== 'deleteStream') return undefined;
  const named = typeof message.args[0] === 'number' ? message.args[0] : 0;
  if (routes.streams.has(named)) return named;
  if (routes.streams.size === 1) return routes.streams.keys().next().value;
  return undefined;
}

/** Decides where `message` goes; an aggregate yields one decision per message inside it. */
export function classifyInbound(message: RtmpMessage, routes: InboundRoutes): InboundRoute[] {
  const out: InboundRoute[] = [];
  classifyInboundEach(message, routes, {
    media: (m, sinkKey) => out.push({ to: 'media', message: m, sinkKey }),
    data: (m, sinkKey) => out.push({ to: 'data', message: m, sinkKey }),
    machines: (m) => out.push({ to: 'machines', message: m }),
    dropped: (m) => out.push({ to: 'dropped', message: m, reason: 'NO_SINK' }),
  });
  return out;
}

/** Takes classifyInbound's decisions one by one, as calls (one per InboundRoute kind). */
export interface InboundVisitor {
  media(message: Extract<MediaMessage, { type: 'Audio' | 'Video' }>, sinkKey: string): void;
  data(message: Extract<MediaMessage, { type: 'Data' }>, sinkKey: string): void;
  machines(message: RtmpMessage): void;
  /** Audio or video of a stream nobody takes ('NO_SINK'). */
  dropped(message: RtmpMessage): void;
}

/** Hands one decision of classifyInbound to `visit`. */
export function visitRoute(route: InboundRoute, visit: InboundVisitor): void {
  switch (route.to) {
    case 'media':
      return visit.media(route.message, route.sinkKey);
    case 'data':
      return visit.data(route.message, route.sinkKey);
    case 'machines':
      return visit.machines(route.message);
    case 'dropped':
      return visit.dropped(route.message);
  }
}

/**
 * classifyInbound's decisions, in the same order, handed to `visit` instead of collected: the
 * transport decides this for every message it receives, and this form allocates nothing. Each
 * decision reaches `visit` before the next is made (classifyInbound makes them all first).
 */
export function classifyInboundEach(
  message: RtmpMessage,
  routes: InboundRoutes,
  visit: InboundVisitor,
): void {
  if (message.type === 'Aggregate') {
    for (const m of message.messages) classifyInboundEach(m, routes, visit);
    return;
  }
  if (message.type === 'Audio' || message.type === 'Video') {
    const sinkKey = sinkKeyFor(routes, message.streamId);
    if (sinkKey !== undefined && routes.hasSink(sinkKey)) visit.media(message, sinkKey);
    else visit.dropped(message);
    return;
  }
  if (message.type === 'Data' && !DATA_FOR_MACHINES.has(message.name)) {
    const sinkKey = sinkKeyFor(routes, message.streamId);
    if (sinkKey !== undefined && routes.hasSink(sinkKey)) {
      visit.data(message, sinkKey);
      return;
    }
  }
  // Decided before the machines hear of it: they may unroute the stream as they do.
  const ended = streamDeletedByPeer(message, routes);
  visit.machines(message);
  if (ended !== undefined) {
    visit.machines({ type: 'UserControl', event: 'StreamEOF', streamId: ended, timestamp: 0 });
  }
}
