/**
 * Every limit the protocol core enforces, named, with a default.
 * A peer that exceeds one gets a typed error naming the limit; nothing grows without bound.
 */
export interface RtmpLimits {
  /** Largest Set Chunk Size we accept from a peer. Real peers stay at or below 65536. */
  maxChunkSize: number;
  /** Largest message length (bytes) we accept in a chunk message header. */
  maxMessageSize: number;
  /** Most chunk streams (csids) that may have header state at once. */
  maxChunkStreams: number;
  /** Most bytes buffered, summed over all chunk streams, for messages not yet complete. */
  maxBufferedBytes: number;
  /**
   * Capacity of the reassembly buffers a chunk decoder keeps to lend again (only when payloads
   * are lent to consumers that do not keep them); above it, buffers are left to the GC. The
   * transport's connections share one pool of `SHARED_LEND_POOL_BYTES` (src/pipeline/decode.ts)
   * unless this is set.
   */
  maxLendPoolBytes: number;
  /** Deepest AMF nesting (objects, arrays) a decoder follows. */
  maxAmfDepth: number;
  /** Longest AMF string (bytes) a decoder accepts. */
  maxAmfStringLength: number;
  /** Most entries in one AMF object, array or ECMA array. */
  maxAmfEntries: number;
  /** Most message streams (NetStreams) a session keeps open. */
  maxStreams: number;
}

export const DEFAULT_LIMITS: Readonly<RtmpLimits> = Object.freeze({
  maxChunkSize: 0x10000, // 65536
  maxMessageSize: 16 * 1024 * 1024, // 16 MiB
  maxChunkStreams: 1024,
  maxBufferedBytes: 64 * 1024 * 1024, // 64 MiB
  maxLendPoolBytes: 8 * 1024 * 1024, // 8 MiB
  maxAmfDepth: 64,
  maxAmfStringLength: 8 * 1024 * 1024,
  maxAmfEntries: 65536,
  maxStreams: 1024,
});

export function resolveLimits(partial?: Partial<RtmpLimits>): RtmpLimits {
  return { ...DEFAULT_LIMITS, ...(partial ?? {}) };
}
