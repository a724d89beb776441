/** The chunk stream layer: bytes ⇄ whole RTMP messages (RawMessage). */
export {
  ChunkDecoder,
  LendPool,
  DEFAULT_CHUNK_SIZE,
  MAX_CHUNK_HEADER_SIZE,
  type ChunkDecoderOptions,
} from './decoder';
export { ChunkEncoder, validateChunkSize } from './encoder';
