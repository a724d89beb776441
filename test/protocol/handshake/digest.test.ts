import {
  DIGEST_SIZE,
  FLASH_MEDIA_SERVER_KEY,
  FLASH_MEDIA_SERVER_KEY_PARTIAL,
  FLASH_PLAYER_KEY,
  FLASH_PLAYER_KEY_PARTIAL,
  PACKET_SIZE,
  digestOffset,
  findDigest,
  imprintDigest,
  makeResponse,
  validateClientDigest,
  validateResponse,
  validateServerDigest,
} from '../../../src/protocol/handshake';
import { fixture, fixtureInfo, hex, seededRandom, toHex } from './helpers';

const ffmpegC2s = fixture('ffmpeg-publish-nginx', 'c2s');
const ffmpegS2c = fixture('ffmpeg-publish-nginx', 's2c');
const ffmpegC1 = ffmpegC2s.subarray(1, 1537);
const ffmpegC2 = ffmpegC2s.subarray(1537, 3073);
const nginxS1 = ffmpegS2c.subarray(1, 1537);
const nginxS2 = ffmpegS2c.subarray(1537, 3073);

/** A packet of seeded random bytes with a non-zero version field. */
function packet(seed: number): Uint8Array {
  const p = seededRandom(seed)(PACKET_SIZE);
  p.set([9, 0, 124, 2], 4);
  return p;
}

describe('FP9 keys', () => {
  it('builds the Flash Player key as the 30-byte text then 32 fixed bytes', () => {
    expect(FLASH_PLAYER_KEY).toHaveLength(62);
    expect(Buffer.from(FLASH_PLAYER_KEY_PARTIAL).toString('latin1')).toBe(
      'Genuine Adobe Flash Player 001',
    );
    expect(toHex(FLASH_PLAYER_KEY.subarray(30))).toBe(
      toHex(
        hex(
          'f0eec24a8068bee8' + // fixed tail, bytes 0-7
            '2e00d0d1029e7e57' + // bytes 8-15
            '6eec5d2d29806fab' + // bytes 16-23
            '93b8e636cfeb31ae', // bytes 24-31
        ),
      ),
    );
  });

  it('builds the Media Server key as the 36-byte text then the same 32 bytes', () => {
    expect(FLASH_MEDIA_SERVER_KEY).toHaveLength(68);
    expect(Buffer.from(FLASH_MEDIA_SERVER_KEY_PARTIAL).toString('latin1')).toBe(
      'Genuine Adobe Flash Media Server 001',
    );
    expect(toHex(FLASH_MEDIA_SERVER_KEY.subarray(36))).toBe(toHex(FLASH_PLAYER_KEY.subarray(30)));
  });
});

describe('digestOffset', () => {
  it('computes scheme 0 from bytes 8-11 as sum % 728 + 12', () => {
    const p = new Uint8Array(PACKET_SIZE);
    p.set([0xff, 0xff, 0xff, 0xff], 8); // sum 1020 -> 1020 % 728 = 292
    expect(digestOffset(p, 0)).toBe(292 + 12);
  });

  it('computes scheme 1 from bytes 772-775 as sum % 728 + 776', () => {
    const p = new Uint8Array(PACKET_SIZE);
    p.set([1, 2, 3, 4], 772); // sum 10
    expect(digestOffset(p, 1)).toBe(10 + 776);
  });

  it('rejects a packet that is not 1536 bytes (a caller bug)', () => {
    expect(() => digestOffset(new Uint8Array(1537), 0)).toThrow(RangeError);
  });
});

describe('validateClientDigest on a real FFmpeg C1', () => {
  it('finds the digest at offset 494, located from bytes 8-11 (scheme 0 here)', () => {
    // info.json names it "scheme 1 (offset 494)": that decoder counts schemes from 1, like
    // rtmpdump's GetDigestOffset1. Here scheme 0 is the offset computed from bytes 8-11.
    expect(fixtureInfo('ffmpeg-publish-nginx').C1_digest).toBe('scheme 1 (offset 494)');
    expect(validateClientDigest(ffmpegC1)).toEqual({ scheme: 0, offset: 494 });
  });

  it('returns null once one digest byte is flipped', () => {
    const broken = ffmpegC1.slice();
    broken[494 + 7] ^= 0x01;
    expect(validateClientDigest(broken)).toBeNull();
  });

  it('does not accept a client digest as a server digest', () => {
    expect(validateServerDigest(ffmpegC1)).toBeNull();
  });
});

describe('validateServerDigest on a real nginx-rtmp S1', () => {
  it('finds the digest at offset 372 (info.json: "scheme 1 (offset 372)", counted from 1)', () => {
    expect(fixtureInfo('ffmpeg-publish-nginx').S1_digest).toBe('scheme 1 (offset 372)');
    expect(validateServerDigest(nginxS1)).toEqual({ scheme: 0, offset: 372 });
  });

  it('returns null for a simple-form S1 (rtmpdump against nginx)', () => {
    const s1 = fixture('rtmpdump-nginx-play', 's2c').subarray(1, 1537);
    expect(validateServerDigest(s1)).toBeNull();
  });
});

describe('response digests (C2/S2)', () => {
  it("verifies nginx-rtmp's S2 as the response to FFmpeg's C1 digest", () => {
    const c1Digest = ffmpegC1.subarray(494, 494 + DIGEST_SIZE);
    expect(fixtureInfo('ffmpeg-publish-nginx').S2_digest_valid).toBe(true);
    expect(validateResponse(nginxS2, c1Digest, FLASH_MEDIA_SERVER_KEY)).toBe(true);
    expect(validateResponse(nginxS2, c1Digest, FLASH_PLAYER_KEY)).toBe(false);
  });

  it("finds FFmpeg's publishing C2 unsigned (an echo of S1), as info.json says", () => {
    const s1Digest = nginxS1.subarray(372, 372 + DIGEST_SIZE);
    expect(fixtureInfo('ffmpeg-publish-nginx').C2_digest_valid).toBe(false);
    expect(validateResponse(ffmpegC2, s1Digest, FLASH_PLAYER_KEY)).toBe(false);
    expect(toHex(ffmpegC2)).toBe(toHex(nginxS1));
  });

  it('makes a response that keeps the 1504 body bytes and validates against the peer digest', () => {
    const body = seededRandom(7)(PACKET_SIZE - DIGEST_SIZE);
    const peerDigest = seededRandom(8)(DIGEST_SIZE);
    const response = makeResponse(body, peerDigest, FLASH_PLAYER_KEY);
    expect(response).toHaveLength(PACKET_SIZE);
    expect(toHex(response.subarray(0, 1504))).toBe(toHex(body));
    expect(validateResponse(response, peerDigest, FLASH_PLAYER_KEY)).toBe(true);
    const otherDigest = peerDigest.slice();
    otherDigest[0] ^= 0x80;
    expect(validateResponse(response, otherDigest, FLASH_PLAYER_KEY)).toBe(false);
  });
});

describe('imprintDigest and findDigest', () => {
  it.each([0, 1] as const)('round-trips a digest written with scheme %i', (scheme) => {
    for (let seed = 1; seed <= 20; seed++) {
      const p = packet(seed);
      const offset = imprintDigest(p, scheme, FLASH_PLAYER_KEY_PARTIAL);
      expect(offset).toBe(digestOffset(p, scheme));
      expect(findDigest(p, FLASH_PLAYER_KEY_PARTIAL)).toEqual({ scheme, offset });
      expect(validateClientDigest(p)).toEqual({ scheme, offset });
    }
  });

  it('leaves every byte outside the 32-byte digest slot untouched', () => {
    const p = packet(99);
    const before = p.slice();
    const offset = imprintDigest(p, 1, FLASH_MEDIA_SERVER_KEY_PARTIAL);
    expect(toHex(p.subarray(0, offset))).toBe(toHex(before.subarray(0, offset)));
    expect(toHex(p.subarray(offset + 32))).toBe(toHex(before.subarray(offset + 32)));
    expect(validateServerDigest(p)).toEqual({ scheme: 1, offset });
  });
});
