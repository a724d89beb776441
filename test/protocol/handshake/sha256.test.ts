/** The handshake's own SHA-256 / HMAC-SHA256 (no node:crypto at run time) against node:crypto. */
import { createHash, createHmac } from 'node:crypto';
import { hmacSha256, sha256 } from '../../../src/protocol/handshake/sha256';
import { defaultRandom } from '../../../src/protocol/handshake/common';
import {
  FLASH_MEDIA_SERVER_KEY,
  FLASH_MEDIA_SERVER_KEY_PARTIAL,
  FLASH_PLAYER_KEY,
  FLASH_PLAYER_KEY_PARTIAL,
} from '../../../src/protocol/handshake/digest';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Deterministic bytes (mulberry32), so a failure names the same input every run. */
function bytes(n: number, seed: number): Uint8Array {
  let a = seed >>> 0;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (t ^ (t >>> 14)) & 0xff;
  }
  return out;
}

describe('sha256', () => {
  it('gives the FIPS 180-4 digests of "" and "abc"', () => {
    expect(hex(sha256(new Uint8Array(0)))).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(hex(sha256(new TextEncoder().encode('abc')))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('matches node:crypto for every length from 0 to 300 bytes and for 1504 and 1536, whole or in parts', () => {
    const lengths = [...Array.from({ length: 301 }, (_, i) => i), 1504, 1536, 4096];
    for (const n of lengths) {
      const data = bytes(n, n + 1);
      const expected = createHash('sha256').update(data).digest('hex');
      expect(hex(sha256(data))).toBe(expected);
      const cut = Math.floor(n / 3);
      expect(hex(sha256(data.subarray(0, cut), data.subarray(cut)))).toBe(expected);
    }
  });
});

describe('hmacSha256', () => {
  it('gives RFC 4231 test case 2 ("Jefe")', () => {
    const enc = new TextEncoder();
    expect(hex(hmacSha256(enc.encode('Jefe'), enc.encode('what do ya want for nothing?')))).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('matches node:crypto with the handshake keys and with keys shorter, equal to and longer than a block', () => {
    const keys = [
      FLASH_PLAYER_KEY_PARTIAL,
      FLASH_MEDIA_SERVER_KEY_PARTIAL,
      FLASH_PLAYER_KEY,
      FLASH_MEDIA_SERVER_KEY,
      bytes(0, 7),
      bytes(32, 8),
      bytes(64, 9),
      bytes(65, 10),
      bytes(200, 11),
    ];
    for (const key of keys) {
      for (const n of [0, 32, 55, 56, 64, 1504]) {
        const data = bytes(n, key.length * 1000 + n);
        const expected = createHmac('sha256', key).update(data).digest('hex');
        expect(hex(hmacSha256(key, data))).toBe(expected);
        expect(hex(hmacSha256(key, data.subarray(0, 7), data.subarray(7)))).toBe(expected);
      }
    }
  });
});

describe('defaultRandom', () => {
  it('returns exactly n bytes, and two calls differ', () => {
    for (const n of [0, 1, 2, 3, 4, 5, 1528]) expect(defaultRandom(n)).toHaveLength(n);
    expect(hex(defaultRandom(1528))).not.toBe(hex(defaultRandom(1528)));
  });
});
