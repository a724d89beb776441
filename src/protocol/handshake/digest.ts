/**
 * The Flash Player 9 ("complex", digest) handshake: HMAC-SHA256 digests inside C1/S1 and the
 * response digests that end C2/S2. Pure functions over 1536-byte packets (HMAC-SHA256 from
 * sha256.ts).
 *
 * Layout (as rtmpdump, FFmpeg and nginx-rtmp implement it):
 * - C1/S1: time (4) | version (4, non-zero) | 1528 bytes, with a 32-byte digest somewhere in them.
 *   The digest offset comes from four bytes of the packet:
 *   scheme 0: `(p[8] + p[9] + p[10] + p[11]) % 728 + 12`;
 *   scheme 1: `(p[772] + p[773] + p[774] + p[775]) % 728 + 776`.
 *   The digest is HMAC-SHA256 over the packet without those 32 bytes (1504 bytes), keyed with the
 *   first 30 bytes of the Flash Player key (C1) or the first 36 bytes of the Media Server key (S1).
 *   (Scheme 0 is rtmpdump's `GetDigestOffset1`, the form rtmpdump and FFmpeg send; tools that count
 *   from 1 call it "scheme 1".)
 * - C2/S2 (response): 1504 random bytes, then HMAC-SHA256(key = HMAC-SHA256(full key, peer's
 *   C1/S1 digest), data = the first 1504 bytes). S2 uses the 68-byte Media Server key with C1's
 *   digest; C2 uses the 62-byte Flash Player key with S1's digest.
 */
import { PACKET_SIZE } from './common';
import { hmacSha256 } from './sha256';

/** Length of an HMAC-SHA256 digest. */
export const DIGEST_SIZE = 32;

const KEY_TAIL = [
  0xf0, 0xee, 0xc2, 0x4a, 0x80, 0x68, 0xbe, 0xe8, 0x2e, 0x00, 0xd0, 0xd1, 0x02, 0x9e, 0x7e, 0x57,
  0x6e, 0xec, 0x5d, 0x2d, 0x29, 0x80, 0x6f, 0xab, 0x93, 0xb8, 0xe6, 0x36, 0xcf, 0xeb, 0x31, 0xae,
];

function asciiThenTail(text: string): Uint8Array {
  const out = new Uint8Array(text.length + KEY_TAIL.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  out.set(KEY_TAIL, text.length);
  return out;
}

/** "Genuine Adobe Flash Player 001" + 32 bytes (62 bytes). */
export const FLASH_PLAYER_KEY: Uint8Array = asciiThenTail('Genuine Adobe Flash Player 001');
/** "Genuine Adobe Flash Media Server 001" + 32 bytes (68 bytes). */
export const FLASH_MEDIA_SERVER_KEY: Uint8Array = asciiThenTail(
  'Genuine Adobe Flash Media Server 001',
);
/** The part of the Flash Player key that signs C1 (first 30 bytes). */
export const FLASH_PLAYER_KEY_PARTIAL: Uint8Array = FLASH_PLAYER_KEY.subarray(0, 30);
/** The part of the Media Server key that signs S1 (first 36 bytes). */
export const FLASH_MEDIA_SERVER_KEY_PARTIAL: Uint8Array = FLASH_MEDIA_SERVER_KEY.subarray(0, 36);

/** Where the digest offset is computed: 0 from bytes 8-11, 1 from bytes 772-775. */
export type DigestScheme = 0 | 1;

/** A digest found in a C1/S1: the scheme that located it and its byte offset in the packet. */
export interface DigestLocation {
  scheme: DigestScheme;
  offset: number;
}

function checkPacket(packet: Uint8Array, what: string): void {
  if (packet.length !== PACKET_SIZE) {
    throw new RangeError(`${what} must be ${PACKET_SIZE} bytes, got ${packet.length}`);
  }
}

/** HMAC-SHA256 (sha256.ts: plain TypeScript, so a handshake does not load node:crypto). */
const hmac = hmacSha256;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** The digest offset a scheme gives for this C1/S1 (12-739 for scheme 0, 776-1503 for scheme 1). */
export function digestOffset(packet: Uint8Array, scheme: DigestScheme): number {
  checkPacket(packet, 'packet');
  const base = scheme === 0 ? 8 : 772;
  return ((packet[base] + packet[base + 1] + packet[base + 2] + packet[base + 3]) % 728) + base + 4;
}

/** HMAC-SHA256 over the packet without the 32 bytes at `offset`, keyed with `key`. */
export function computePacketDigest(
  packet: Uint8Array,
  offset: number,
  key: Uint8Array,
): Uint8Array {
  checkPacket(packet, 'packet');
  return hmac(key, packet.subarray(0, offset), packet.subarray(offset + DIGEST_SIZE));
}

/** Writes the digest into `packet` (in place) at the offset `scheme` gives; returns that offset. */
export function imprintDigest(packet: Uint8Array, scheme: DigestScheme, key: Uint8Array): number {
  const offset = digestOffset(packet, scheme);
  packet.set(computePacketDigest(packet, offset, key), offset);
  return offset;
}

/** Finds a valid digest keyed with `key`, trying scheme 0 then scheme 1; `null` when neither. */
export function findDigest(packet: Uint8Array, key: Uint8Array): DigestLocation | null {
  for (const scheme of [0, 1] as const) {
    const offset = digestOffset(packet, scheme);
    const digest = computePacketDigest(packet, offset, key);
    if (sameBytes(digest, packet.subarray(offset, offset + DIGEST_SIZE))) {
      return { scheme, offset };
    }
  }
  return null;
}

/** Locates a valid Flash Player digest in a 1536-byte C1 (without C0); `null` when none. */
export function validateClientDigest(c1: Uint8Array): DigestLocation | null {
  return findDigest(c1, FLASH_PLAYER_KEY_PARTIAL);
}

/** Locates a valid Media Server digest in a 1536-byte S1 (without S0); `null` when none. */
export function validateServerDigest(s1: Uint8Array): DigestLocation | null {
  return findDigest(s1, FLASH_MEDIA_SERVER_KEY_PARTIAL);
}

/** The 32 digest bytes of a packet at `location` (a copy). */
export function digestAt(packet: Uint8Array, location: DigestLocation): Uint8Array {
  return packet.slice(location.offset, location.offset + DIGEST_SIZE);
}

function responseDigest(
  packet: Uint8Array,
  peerDigest: Uint8Array,
  fullKey: Uint8Array,
): Uint8Array {
  const key = hmac(fullKey, peerDigest);
  return hmac(key, packet.subarray(0, PACKET_SIZE - DIGEST_SIZE));
}

/**
 * Builds a C2/S2 response: `random1504` then the response digest. `fullKey` is
 * FLASH_MEDIA_SERVER_KEY for S2 (with C1's digest), FLASH_PLAYER_KEY for C2 (with S1's digest).
 */
export function makeResponse(
  random1504: Uint8Array,
  peerDigest: Uint8Array,
  fullKey: Uint8Array,
): Uint8Array {
  if (random1504.length !== PACKET_SIZE - DIGEST_SIZE) {
    throw new RangeError(`response body must be ${PACKET_SIZE - DIGEST_SIZE} bytes`);
  }
  const packet = new Uint8Array(PACKET_SIZE);
  packet.set(random1504, 0);
  packet.set(responseDigest(packet, peerDigest, fullKey), PACKET_SIZE - DIGEST_SIZE);
  return packet;
}

/** Whether a C2/S2 ends with the response digest for `ourDigest` (the digest of our C1/S1). */
export function validateResponse(
  packet: Uint8Array,
  ourDigest: Uint8Array,
  fullKey: Uint8Array,
): boolean {
  checkPacket(packet, 'response');
  return sameBytes(
    responseDigest(packet, ourDigest, fullKey),
    packet.subarray(PACKET_SIZE - DIGEST_SIZE),
  );
}
