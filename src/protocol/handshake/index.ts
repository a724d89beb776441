/** The RTMP handshake layer: sans-IO client and server roles and the FP9 digest helpers. */
export { HandshakeClient, DEFAULT_FLASH_VERSION, type HandshakeClientOptions } from './client';
export { HandshakeServer, DEFAULT_SERVER_VERSION, type HandshakeServerOptions } from './server';
export {
  PACKET_SIZE,
  RTMP_VERSION,
  type FourBytes,
  type HandshakeCommonOptions,
  type HandshakeForm,
  type HandshakePeer,
  type HandshakeProgress,
  type HandshakeStep,
} from './common';
export {
  DIGEST_SIZE,
  FLASH_MEDIA_SERVER_KEY,
  FLASH_MEDIA_SERVER_KEY_PARTIAL,
  FLASH_PLAYER_KEY,
  FLASH_PLAYER_KEY_PARTIAL,
  computePacketDigest,
  digestOffset,
  findDigest,
  imprintDigest,
  makeResponse,
  validateClientDigest,
  validateResponse,
  validateServerDigest,
  type DigestLocation,
  type DigestScheme,
} from './digest';
