/**
 * Layered errors: one class per layer, each with a `code` union and the offending data.
 * Errors chain with `cause`. Only broken bytes and our own bugs throw; a peer's refusal is an event.
 */

export type HandshakeErrorCode =
  | 'BAD_VERSION' // C0/S0 is not 3 (or 6 for encrypted, which we do not support)
  | 'BAD_DIGEST' // the peer's FP9 digest does not verify
  | 'BAD_ECHO' // C2/S2 does not echo what we sent, where the form requires it
  | 'TRUNCATED' // the stream ended before the handshake completed
  | 'TIMEOUT'
  | 'SOCKET_CLOSED';

export type ChunkErrorCode =
  | 'CHUNK_SIZE_INVALID' // Set Chunk Size 0 or with the high bit set
  | 'CHUNK_SIZE_TOO_LARGE' // above limits.maxChunkSize
  | 'MESSAGE_TOO_LARGE' // message length above limits.maxMessageSize
  | 'TOO_MANY_CHUNK_STREAMS' // more than limits.maxChunkStreams with state
  | 'BUFFER_LIMIT' // bytes buffered for partial messages above limits.maxBufferedBytes
  | 'UNKNOWN_CHUNK_STREAM' // fmt 1/2/3 on a chunk stream never opened with fmt 0
  | 'BAD_CSID' // chunk stream id 0/1 after decoding, or out of range when encoding
  | 'BAD_MESSAGE' // a message the encoder cannot frame (negative length, bad stream id)
  | 'LENGTH_MISMATCH'; // fmt-1 changed the length while a message was in progress

export type MessageErrorCode =
  | 'TRUNCATED_BODY' // a control message body shorter than its type requires
  | 'BAD_COMMAND' // a command message whose first values are not name + transaction id
  | 'BAD_AGGREGATE' // aggregate sub-tags that overrun the body
  | 'BAD_VALUE' // a field outside its range (Set Peer Bandwidth limit type; a u32 to encode)
  | 'UNKNOWN_USER_CONTROL';

export type AmfErrorCode =
  | 'UNEXPECTED_END'
  | 'UNKNOWN_MARKER'
  | 'TOO_DEEP'
  | 'STRING_TOO_LONG'
  | 'TOO_MANY_ENTRIES'
  | 'BAD_REFERENCE'
  | 'UNSUPPORTED_VALUE'; // encoding a JS value AMF cannot represent

export type FlvErrorCode =
  | 'BAD_SIGNATURE'
  | 'BAD_HEADER'
  | 'TRUNCATED_TAG'
  | 'BAD_PREVIOUS_TAG_SIZE'
  | 'TAG_TOO_LARGE'
  | 'BAD_MEDIA_HEADER' // a media tag body (classic or Enhanced RTMP) that cannot be parsed
  | 'BAD_MEDIA_BODY' // the writer was given an Enhanced RTMP body it cannot encode as it is
  | 'BAD_TAG_TYPE' // a tag type other than 8 (audio), 9 (video) or 18 (script data)
  | 'BAD_TIMESTAMP'; // the writer was given a timestamp that is not an integer in 0 … 2^32-1

abstract class RtmpLayerError<C extends string> extends Error {
  abstract readonly layer: string;
  constructor(
    readonly code: C,
    message: string,
    /** The offending data: offsets, lengths, limits, csids. */
    readonly details: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The handshake bytes are not RTMP, or a digest fails, or the peer went away mid-handshake. */
export class HandshakeError extends RtmpLayerError<HandshakeErrorCode> {
  readonly layer = 'handshake';
}

/** The chunk stream is malformed or exceeds one of the named limits. */
export class ChunkError extends RtmpLayerError<ChunkErrorCode> {
  readonly layer = 'chunk';
}

/** A reassembled message body does not match its type. */
export class MessageError extends RtmpLayerError<MessageErrorCode> {
  readonly layer = 'message';
}

/** AMF bytes are malformed, hostile (too deep, too long), or a value cannot be encoded. */
export class AmfError extends RtmpLayerError<AmfErrorCode> {
  readonly layer = 'amf';
}

/** An FLV file or tag is malformed. */
export class FlvError extends RtmpLayerError<FlvErrorCode> {
  readonly layer = 'flv';
}

export type ProtocolError = HandshakeError | ChunkError | MessageError | AmfError | FlvError;

export function isProtocolError(e: unknown): e is ProtocolError {
  return (
    e instanceof HandshakeError ||
    e instanceof ChunkError ||
    e instanceof MessageError ||
    e instanceof AmfError ||
    e instanceof FlvError
  );
}
