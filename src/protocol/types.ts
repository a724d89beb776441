/** Message type ids (RTMP spec 5.4, 7.1). */
export const MessageTypeId = {
  SetChunkSize: 1,
  Abort: 2,
  Acknowledgement: 3,
  UserControl: 4,
  WindowAckSize: 5,
  SetPeerBandwidth: 6,
  Audio: 8,
  Video: 9,
  DataAmf3: 15,
  SharedObjectAmf3: 16,
  CommandAmf3: 17,
  DataAmf0: 18,
  SharedObjectAmf0: 19,
  CommandAmf0: 20,
  Aggregate: 22,
} as const;
export type MessageTypeId = (typeof MessageTypeId)[keyof typeof MessageTypeId];

export const MESSAGE_TYPE_NAMES: Readonly<Record<number, string>> = Object.freeze(
  Object.fromEntries(Object.entries(MessageTypeId).map(([k, v]) => [v, k])),
);

/**
 * A whole message as the chunk layer reassembles it (or as the encoder takes it):
 * header fields plus the body, not yet interpreted.
 */
export interface RawMessage {
  /** Chunk stream id it travelled on (2-65599). */
  csid: number;
  /** Absolute timestamp in ms, 32-bit unsigned (wraps at 2^32). */
  timestamp: number;
  typeId: number;
  /** Message stream id (little-endian on the wire). */
  streamId: number;
  /** The body. May be a view into a larger buffer: copy it if you keep it past the next read. */
  payload: Uint8Array;
  /**
   * The payload is lent (ChunkDecoderOptions.lend): valid only while the callback that received
   * the message runs; the decoder reuses its memory afterwards.
   */
  lent?: true;
}

/** Well-known chunk stream ids used by librtmp / FFmpeg when sending. */
export const Csid = {
  Control: 2,
  Command: 3,
  Audio: 4,
  Video: 6,
  Data: 5,
  StreamCommand: 8,
} as const;
