/**
 * The contract between the statecharts (which do no IO) and the IO actors that the runtime
 * (src/io, src/pipeline) or a test (in-memory scripted peer) provides with `.provide({ actors })`.
 *
 * One transport actor per NetConnection. It owns the socket and the byte pipeline
 * (handshake codec, then chunk decoder/encoder). The machines send it commands (TransportCommand)
 * and it sends its parent events (TransportEvent). Audio and video never reach the machines:
 * the transport hands them to the MediaSink for their message stream id, and only tells the
 * machines, at most every `mediaTickMs`, that media is flowing (MEDIA.TICK).
 */
import type { RtmpMessage } from '../src/protocol/message/types';

export type HandshakeRole = 'client' | 'server';
export type HandshakeForm = 'simple' | 'digest';

export interface TransportTarget {
  protocol: 'rtmp' | 'rtmps';
  host: string;
  port: number;
  /** TLS options for rtmps. */
  tls?: { rejectUnauthorized: boolean; servername?: string; ca?: string | Buffer };
}

/** Commands the machines send to the transport actor. */
export type TransportCommand =
  /** Open the TCP/TLS connection to `target`. Answer: TRANSPORT.CONNECTED or TRANSPORT.ERROR. */
  | { type: 'TRANSPORT.OPEN' }
  /** Client role: send C0+C1 now. Server role: start waiting for C0+C1. */
  | { type: 'TRANSPORT.HANDSHAKE_START'; role: HandshakeRole; form: HandshakeForm }
  /** Encode and send one message (control messages jump the media queue). */
  | { type: 'TRANSPORT.SEND'; message: RtmpMessage }
  /** Our own outgoing chunk size: the transport sends Set Chunk Size and switches its encoder. */
  | { type: 'TRANSPORT.SET_CHUNK_SIZE'; chunkSize: number }
  /** The peer's Window Acknowledgement Size: the transport raises TRANSPORT.ACK_DUE each window. */
  | { type: 'TRANSPORT.SET_ACK_WINDOW'; windowSize: number }
  /** Route audio/video/data of message stream `streamId` to the sink registered under `sinkKey`. */
  | { type: 'TRANSPORT.ROUTE_MEDIA'; streamId: number; sinkKey: string }
  | { type: 'TRANSPORT.UNROUTE_MEDIA'; streamId: number; sinkKey: string }
  /** Flush what is queued and close the socket. Answer: TRANSPORT.CLOSED. */
  | { type: 'TRANSPORT.CLOSE' };

export type TransportErrorCode =
  | 'REFUSED'
  | 'RESET'
  | 'TIMEOUT'
  | 'DNS'
  | 'TLS'
  | 'CLOSED'
  | 'PROTOCOL'
  | 'LIMIT';

/** Events the transport actor sends its parent (the NetConnection). */
export type TransportEvent =
  | { type: 'TRANSPORT.CONNECTED' }
  /** S0+S1 (client) or C0+C1 (server) arrived and were accepted. */
  | { type: 'HANDSHAKE.PEER_HELLO'; version: number; form: HandshakeForm }
  /** S2 (client) or C2 (server) arrived: the handshake is done, chunks follow. */
  | { type: 'HANDSHAKE.PEER_ECHO' }
  | { type: 'HANDSHAKE.FAILED'; code: 'BAD_VERSION' | 'BAD_DIGEST' | 'BAD_ECHO'; message: string }
  /** A protocol message (anything but audio/video and routed data) for the machines. */
  | { type: 'RTMP.MESSAGE'; message: RtmpMessage }
  /** Bytes received passed a multiple of the ack window. */
  | { type: 'TRANSPORT.ACK_DUE'; sequenceNumber: number }
  /** Media flowing on message stream `streamId` (throttled); `keyframe` when a keyframe was seen since the last tick. */
  | { type: 'MEDIA.TICK'; streamId: number; keyframe: boolean }
  /** A transient socket failure (retry) or a protocol violation by the peer (no retry for LIMIT/PROTOCOL). */
  | { type: 'TRANSPORT.ERROR'; code: TransportErrorCode; message: string }
  /** The socket is closed (by us or the peer). */
  | { type: 'TRANSPORT.CLOSED'; byPeer: boolean };

/** Transient transport failures that the NetConnection retries with backoff. */
export const TRANSIENT_TRANSPORT_ERRORS: readonly TransportErrorCode[] = [
  'REFUSED',
  'RESET',
  'TIMEOUT',
  'DNS',
  'CLOSED',
];
