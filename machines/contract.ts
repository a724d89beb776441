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
import type { ErtmpCapabilities } from '../src/protocol/message/capabilities';
import type { AnyActorRef } from 'xstate';
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
  'REFUSED' | 'RESET' | 'TIMEOUT' | 'DNS' | 'TLS' | 'CLOSED' | 'PROTOCOL' | 'LIMIT';

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
  | { type: 'MEDIA.TICK'; streamId: number; keyframe: boolean; timestamp?: number }
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

/* ------------------------------------------------------------------------------------------------
 * Between the machines (no IO): NetStream <-> NetConnection <-> session supervisor.
 * ---------------------------------------------------------------------------------------------- */

/** What a peer said when it refused or answered: the information object of onStatus/_result/_error. */
export interface StatusReply {
  level: string;
  code: string;
  description?: string;
}

/** A stream actor's requests to its NetConnection. */
export type ConnectionRequest =
  /** Allocate a transaction id, send `createStream`, answer STREAM.CREATED / STREAM.CREATE_FAILED. */
  | { type: 'NC.CREATE_STREAM'; requester: AnyActorRef; sinkKey: string }
  /** Forget the stream registered under `streamId` (after deleteStream): no more routing. */
  | { type: 'NC.RELEASE_STREAM'; streamId: number; requester: AnyActorRef }
  /** Send one message over the connection (play, publish, pause, deleteStream, user control...). */
  | { type: 'NC.SEND'; message: RtmpMessage };

/** Why a createStream request did not produce a stream. */
export type CreateStreamFailure =
  /** The server answered `_error`. */
  | 'ERROR'
  /** The server answered with a message-stream id another stream already uses on this connection. */
  | 'STREAM_ID_IN_USE'
  /** The connection is not (or no longer) connected. */
  | 'NOT_CONNECTED';

/** The NetConnection's answers and routed traffic to a stream actor. */
export type ConnectionReply =
  | { type: 'STREAM.CREATED'; streamId: number }
  | {
      type: 'STREAM.CREATE_FAILED';
      reason: CreateStreamFailure;
      streamId?: number;
      status?: StatusReply;
    };

/** Why a NetConnection attempt ended. */
export type ConnectionFailureReason =
  | 'TRANSPORT_ERROR'
  | 'TRANSPORT_CLOSED'
  | 'TRANSPORT_TIMEOUT'
  | 'HANDSHAKE_TIMEOUT'
  | 'HANDSHAKE_SOCKET_CLOSED'
  | 'BAD_VERSION'
  | 'BAD_DIGEST'
  | 'BAD_ECHO'
  | 'CONNECT_TIMEOUT'
  | 'REJECTED'
  | 'INVALID_APP'
  | 'AUTH_FAILED'
  | 'CONNECT_ERROR'
  | 'RETRIES_EXHAUSTED';

/** One failed attempt, as the NetConnection remembers it. */
export interface ConnectionAttempt {
  /** Clock time (ms) when the attempt failed. */
  time: number;
  reason: ConnectionFailureReason;
  /** Transport error code, handshake code or the server's status code. */
  code?: string;
  message?: string;
}

/** The NetConnection's notifications to its parent (the session supervisor). */
export type ConnectionNotification =
  /** Connected; `capabilities`: what the server stated in its connect `_result` (Enhanced RTMP). */
  | { type: 'CONNECTION.UP'; connectionId: string; capabilities?: ErtmpCapabilities }
  /** Enhanced RTMP v2: the server asked this connection to reconnect, to `tcUrl`. */
  | {
      type: 'CONNECTION.RECONNECT_REQUESTED';
      connectionId: string;
      tcUrl: string;
      description?: string;
    }
  /** The reconnect was abandoned (RECONNECT_TIMEOUT): the connection serves on. */
  | { type: 'CONNECTION.RECONNECT_ABANDONED'; connectionId: string; reason: string }
  | { type: 'CONNECTION.DOWN'; connectionId: string; attempt: ConnectionAttempt }
  | {
      type: 'CONNECTION.FAILED';
      connectionId: string;
      reason: ConnectionFailureReason;
      status?: StatusReply;
    }
  | { type: 'CONNECTION.CLOSED'; connectionId: string };

/** The supervisor's (or any owner's) notices to a stream actor about its connection. */
export type ConnectionNotice =
  /** The connection went down: wait for NC.RESTORED. */
  | { type: 'NC.INTERRUPTED' }
  /** The connection is back (or the stream moved to `connection`): create the stream again. */
  | { type: 'NC.RESTORED'; connection?: AnyActorRef }
  /** The connection failed for good. */
  | { type: 'NC.FAILED'; reason: ConnectionFailureReason }
  /** A displaced stream cannot move: 'MAX_CONNECTIONS' (with the limit) or 'STREAM_ID_IN_USE'. */
  | {
      type: 'STREAM.NOT_MOVED';
      reason: Extract<StreamFailureReason, 'MAX_CONNECTIONS' | 'STREAM_ID_IN_USE'>;
      limit?: StreamLimit;
    };

/** Why a stream ended in `failed`. */
export type StreamFailureReason =
  | 'CREATE_FAILED'
  | 'STREAM_ID_IN_USE'
  | 'CREATE_TIMEOUT'
  | 'START_TIMEOUT'
  /** Play.Start came, but no audio or video within `timeouts.firstFrame`. */
  | 'FIRST_FRAME_TIMEOUT'
  | 'REFUSED'
  | 'CONNECTION_FAILED'
  /** The retry policy's `maxAttempts` ran out (the failure names the last attempt's reason). */
  | 'RETRIES_EXHAUSTED'
  /** The stream had to move to a connection of its own, and the pool was full (`limit`). */
  | 'MAX_CONNECTIONS';

/** A session limit that refused a stream: its option name and value. */
export interface StreamLimit {
  name: 'maxStreams' | 'maxConnections';
  value: number;
}

/** Why a stream is retrying: a transient failure, or a kept-watching live stream that ended. */
export type StreamRetryReason =
  | 'CREATE_TIMEOUT'
  | 'START_TIMEOUT'
  | 'FIRST_FRAME_TIMEOUT'
  /** Play.Failed, or StreamNotFound on a kept-watching live play (the status says which). */
  | 'REFUSED'
  /** UnpublishNotify, Play.Stop or StreamEOF on a kept-watching live play. */
  | 'ENDED';

/** A stream actor's notifications to its parent (the session supervisor). */
export type StreamNotification =
  | { type: 'STREAM.ACTIVE'; name: string; streamId: number }
  | {
      type: 'STREAM.FAILED';
      name: string;
      reason: StreamFailureReason;
      status?: StatusReply;
      /** RETRIES_EXHAUSTED: attempts made and the last one's reason. */
      attempts?: number;
      lastReason?: StreamRetryReason;
      /** MAX_CONNECTIONS: the limit that refused the stream. */
      limit?: StreamLimit;
    }
  /** A transient failure: the stream waits its backoff and creates itself again. */
  | { type: 'STREAM.RETRYING'; name: string; attempt: number; reason: StreamRetryReason }
  /**
   * The server showed that this connection serves one stream (createStream answered with an id
   * another stream uses): move the stream (NC.RESTORED with the new connection) or say why not
   * (STREAM.NOT_MOVED).
   */
  | { type: 'STREAM.DISPLACED'; name: string; reason: 'STREAM_ID_IN_USE' }
  | { type: 'STREAM.STOPPED'; name: string };

/**
 * PlayOptions.endOnIdleMs (netStreamMachine) of a recorded play unless its options say otherwise (ms). Twice the
 * default stall timeout: a recorded play that goes quiet first reads `stalled` (5 s) and ends only
 * if nothing came for 10 s. The end of a file whose end messages were lost is caught sooner by
 * DURATION_REACHED; this one is the fallback for a server gone silent mid-file, where ending too
 * early cuts a play that would have finished and ending later costs only seconds.
 */
export const DEFAULT_VOD_IDLE_MS = 10_000;
