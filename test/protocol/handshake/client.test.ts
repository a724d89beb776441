import { HandshakeError } from '../../../src/protocol/errors';
import {
  FLASH_MEDIA_SERVER_KEY_PARTIAL,
  FLASH_PLAYER_KEY,
  HandshakeClient,
  HandshakeServer,
  PACKET_SIZE,
  imprintDigest,
  validateClientDigest,
  validateResponse,
  type HandshakeProgress,
} from '../../../src/protocol/handshake';
import { concat, fixture, fixtureInfo, hex, scriptedRandom, seededRandom, toHex } from './helpers';

function expectHandshakeError(fn: () => unknown, code: HandshakeError['code']): HandshakeError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(HandshakeError);
  expect((caught as HandshakeError).code).toBe(code);
  return caught as HandshakeError;
}

function completed(p: HandshakeProgress): Extract<HandshakeProgress, { kind: 'completed' }> {
  if (p.kind !== 'completed') throw new Error(`expected completed, got ${p.kind}`);
  return p;
}

describe('HandshakeClient C0+C1', () => {
  it('writes the simple-form C0+C1 from the injected clock and random bytes', () => {
    const pattern = (n: number) => Uint8Array.from({ length: n }, (_, i) => i & 0xff);
    const client = new HandshakeClient({
      form: 'simple',
      clock: () => 0x01020304,
      random: pattern,
    });
    const out = client.start();
    expect(out).toHaveLength(1537);
    expect(toHex(out.subarray(0, 21))).toBe(
      toHex(
        hex(
          '03' + //        C0: RTMP version 3
            '01020304' + // C1 time: clock() = 0x01020304 ms, big-endian
            '00000000' + // C1 version field: zero in the simple form
            '00010203' + // C1 random bytes 0-3 (injected: i & 0xff)
            '04050607' + // C1 random bytes 4-7
            '08090a0b', //  C1 random bytes 8-11
        ),
      ),
    );
    expect(toHex(out.subarray(9))).toBe(toHex(pattern(1528))); // all 1528 random bytes, in order
    expect(toHex(out.subarray(1533))).toBe(toHex(hex('f4f5f6f7'))); // last: 1527 & 0xff = 0xf7
  });

  it('writes the time field as the clock modulo 2^32, floored', () => {
    const client = new HandshakeClient({
      form: 'simple',
      clock: () => 2 ** 32 + 5.9,
      random: seededRandom(1),
    });
    expect(toHex(client.start().subarray(1, 5))).toBe('00000005');
  });

  it('writes a digest-form C1 with the Flash version and a valid scheme-0 digest', () => {
    const client = new HandshakeClient({ form: 'digest', clock: () => 0, random: seededRandom(2) });
    const c1 = client.start().subarray(1);
    expect(toHex(c1.subarray(0, 8))).toBe(
      toHex(
        hex(
          '00000000' + // time 0
            '09007c02', // version field 9.0.124.2 (FFmpeg's)
        ),
      ),
    );
    expect(validateClientDigest(c1)?.scheme).toBe(0);
  });

  it("reproduces FFmpeg's digest C0+C1 byte for byte given its time and random bytes", () => {
    const c2s = fixture('ffmpeg-publish-nginx', 'c2s');
    const client = new HandshakeClient({
      form: 'digest',
      clock: () => 0,
      random: scriptedRandom(c2s.slice(9, 1537)),
    });
    expect(toHex(client.start())).toBe(toHex(c2s.subarray(0, 1537)));
  });

  it('refuses start() twice and push() before start()', () => {
    const client = new HandshakeClient({ form: 'simple', random: seededRandom(3) });
    expect(() => client.push(new Uint8Array([3]))).toThrow('before start');
    client.start();
    expect(() => client.start()).toThrow('twice');
  });

  it('refuses an all-zero Flash version in the digest form', () => {
    expect(() => new HandshakeClient({ form: 'digest', flashVersion: [0, 0, 0, 0] })).toThrow(
      RangeError,
    );
  });
});

describe('HandshakeClient against the rtmpdump -> nginx-rtmp capture (simple form)', () => {
  const c2s = fixture('rtmpdump-nginx-play', 'c2s');
  const s2c = fixture('rtmpdump-nginx-play', 's2c');
  const rtmpdumpTime = (c2s[1] << 24) | (c2s[2] << 16) | (c2s[3] << 8) | c2s[4];

  /** A client whose C1 equals the one rtmpdump sent, so nginx's S2 echoes it. */
  function rtmpdumpClient(): HandshakeClient {
    return new HandshakeClient({
      form: 'simple',
      clock: () => rtmpdumpTime,
      random: scriptedRandom(c2s.slice(9, 1537)),
    });
  }

  it("reproduces rtmpdump's C0+C1 given its time and random bytes", () => {
    expect(fixtureInfo('rtmpdump-nginx-play').C1_time).toBe(rtmpdumpTime);
    expect(toHex(rtmpdumpClient().start())).toBe(toHex(c2s.subarray(0, 1537)));
  });

  it('completes after exactly 3073 bytes and hands back the chunk stream as remaining', () => {
    const client = rtmpdumpClient();
    client.start();
    const first = client.push(s2c.subarray(0, 3072));
    expect(first.kind).toBe('inProgress');
    expect(first.events).toEqual([{ step: 'peerHello', version: 3, form: 'simple' }]);
    // C2 echoes S1, byte for byte, and equals what rtmpdump sent
    expect(toHex(first.send)).toBe(toHex(s2c.subarray(1, 1537)));
    expect(toHex(first.send)).toBe(toHex(c2s.subarray(1537, 3073)));

    const last = completed(client.push(s2c.subarray(3072, 3073)));
    expect(last.events).toEqual([{ step: 'peerEcho' }]);
    expect(last.send).toHaveLength(0);
    expect(last.remaining).toHaveLength(0);
    expect(last.peer).toEqual({
      version: 3,
      form: 'simple',
      epoch: 2295236, // S1 time, as info.json says
      peerVersion: [0, 0, 0, 0],
      echoValid: true,
    });
  });

  it('passes everything after S2 through as remaining when the whole stream arrives at once', () => {
    const client = rtmpdumpClient();
    client.start();
    const done = completed(client.push(s2c));
    expect(done.events).toEqual([
      { step: 'peerHello', version: 3, form: 'simple' },
      { step: 'peerEcho' },
    ]);
    expect(toHex(done.send)).toBe(toHex(c2s.subarray(1537, 3073)));
    expect(done.remaining).toHaveLength(s2c.length - 3073);
    expect(Buffer.compare(done.remaining, s2c.subarray(3073))).toBe(0);
    // the chunk stream starts with Window Acknowledgement Size on csid 2
    expect(toHex(done.remaining.subarray(0, 12))).toBe(
      toHex(
        hex(
          '02' + //      basic header: fmt 0, csid 2
            '000000' + // timestamp 0
            '000004' + // message length 4
            '05' + //      type 5: Window Acknowledgement Size
            '00000000', // message stream id 0 (little-endian)
        ),
      ),
    );
  });

  it('records a non-echo S2 without failing (a client with its own random C1)', () => {
    const client = new HandshakeClient({ form: 'simple', random: seededRandom(4) });
    client.start();
    const done = completed(client.push(s2c.subarray(0, 3073)));
    expect(done.peer.echoValid).toBe(false);
  });

  it('fails a non-echo S2 with BAD_ECHO when strictEcho is set', () => {
    const client = new HandshakeClient({
      form: 'simple',
      random: seededRandom(4),
      strictEcho: true,
    });
    client.start();
    expectHandshakeError(() => client.push(s2c.subarray(0, 3073)), 'BAD_ECHO');
  });
});

describe('HandshakeClient against the FFmpeg -> nginx-rtmp capture (digest form)', () => {
  const c2s = fixture('ffmpeg-publish-nginx', 'c2s');
  const s2c = fixture('ffmpeg-publish-nginx', 's2c');
  const c2Body = seededRandom(5)(1504);

  function ffmpegClient(): HandshakeClient {
    return new HandshakeClient({
      form: 'digest',
      clock: () => 0,
      random: scriptedRandom(c2s.slice(9, 1537), c2Body),
    });
  }

  it("checks nginx's S1 digest, answers with a signed C2 and finds nginx's S2 signed", () => {
    const client = ffmpegClient();
    client.start();
    const done = completed(client.push(s2c));
    expect(done.events[0]).toEqual({ step: 'peerHello', version: 3, form: 'digest' });
    expect(done.peer).toEqual({
      version: 3,
      form: 'digest',
      epoch: 2596984,
      peerVersion: [13, 14, 10, 13],
      echoValid: false,
      s2DigestValid: true,
    });
    // C2 = 1504 random bytes + HMAC(HMAC(FP key, S1 digest at 372), those bytes)
    expect(toHex(done.send.subarray(0, 1504))).toBe(toHex(c2Body));
    const s1Digest = s2c.subarray(1 + 372, 1 + 372 + 32);
    expect(validateResponse(done.send, s1Digest, FLASH_PLAYER_KEY)).toBe(true);
    expect(Buffer.compare(done.remaining, s2c.subarray(3073))).toBe(0);
  });

  it('fails with BAD_DIGEST when one byte of the S1 digest is flipped', () => {
    const broken = s2c.slice(0, 3073);
    broken[1 + 372] ^= 0x40;
    const client = ffmpegClient();
    client.start();
    const err = expectHandshakeError(() => client.push(broken), 'BAD_DIGEST');
    expect(err.details).toMatchObject({ packet: 'S1', serverVersion: '13.14.10.13' });
    // the client stays failed
    expectHandshakeError(() => client.push(new Uint8Array(1)), 'BAD_DIGEST');
  });

  it('records an unsigned S2 as s2DigestValid: false instead of failing', () => {
    const unsigned = s2c.slice(0, 3073);
    unsigned[3072] ^= 0x01; // last byte of the S2 response digest
    const client = ffmpegClient();
    client.start();
    const done = completed(client.push(unsigned));
    expect(done.peer.form).toBe('digest');
    expect(done.peer.s2DigestValid).toBe(false);
  });

  it('accepts a simple-form S1 (version field zero) and echoes it, as nginx answers simple C1s', () => {
    const s2cSimple = fixture('rtmpdump-nginx-play', 's2c').subarray(0, 3073);
    const client = new HandshakeClient({ form: 'digest', random: seededRandom(6) });
    client.start();
    const done = completed(client.push(s2cSimple));
    expect(done.peer.form).toBe('simple');
    expect(done.peer.s2DigestValid).toBeUndefined();
    expect(toHex(done.send)).toBe(toHex(s2cSimple.subarray(1, 1537)));
  });

  it('accepts an S1 signed with scheme 1 (offset from bytes 772-775)', () => {
    const s1 = seededRandom(10)(PACKET_SIZE);
    s1.set([3, 5, 1, 1], 4);
    const offset = imprintDigest(s1, 1, FLASH_MEDIA_SERVER_KEY_PARTIAL);
    expect(offset).toBeGreaterThanOrEqual(776);
    const client = new HandshakeClient({ form: 'digest', random: seededRandom(11) });
    client.start();
    const hello = client.push(concat(new Uint8Array([3]), s1));
    expect(hello.kind).toBe('inProgress');
    expect(hello.events).toEqual([{ step: 'peerHello', version: 3, form: 'digest' }]);
    expect(validateResponse(hello.send, s1.subarray(offset, offset + 32), FLASH_PLAYER_KEY)).toBe(
      true,
    );
  });
});

describe('HandshakeClient bad and short input', () => {
  it.each([6, 0])('fails with BAD_VERSION when S0 is %i', (version) => {
    const client = new HandshakeClient({ form: 'simple', random: seededRandom(12) });
    client.start();
    const err = expectHandshakeError(() => client.push(new Uint8Array([version])), 'BAD_VERSION');
    expect(err.details).toEqual({ version, expected: 3 });
  });

  it('stays inProgress, sending nothing, while S0+S1 are incomplete', () => {
    const s2c = fixture('rtmpdump-nginx-play', 's2c');
    const client = new HandshakeClient({ form: 'simple', random: seededRandom(13) });
    client.start();
    for (const piece of [s2c.subarray(0, 0), s2c.subarray(0, 1), s2c.subarray(1, 1536)]) {
      const p = client.push(piece);
      expect(p).toEqual({ kind: 'inProgress', send: new Uint8Array(0), events: [] });
    }
    expect(client.completed).toBe(false);
  });

  it('refuses push() after completion (the caller owns the bytes from then on)', () => {
    const server = new HandshakeServer({ random: seededRandom(14) });
    const client = new HandshakeClient({ form: 'simple', random: seededRandom(15) });
    const s = server.push(client.start());
    completed(client.push(s.send));
    expect(client.completed).toBe(true);
    expect(() => client.push(new Uint8Array(1))).toThrow('after completion');
  });
});
