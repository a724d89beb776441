import { HandshakeError } from '../../../src/protocol/errors';
import {
  DIGEST_SIZE,
  FLASH_MEDIA_SERVER_KEY,
  FLASH_PLAYER_KEY,
  FLASH_PLAYER_KEY_PARTIAL,
  HandshakeServer,
  PACKET_SIZE,
  imprintDigest,
  makeResponse,
  validateResponse,
  validateServerDigest,
  type HandshakeProgress,
} from '../../../src/protocol/handshake';
import { concat, fixture, hex, seededRandom, toHex } from './helpers';

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

/** A C1 with a non-zero version field, signed with `scheme` (or unsigned when null). */
function signedC1(seed: number, scheme: 0 | 1 | null): Uint8Array {
  const c1 = seededRandom(seed)(PACKET_SIZE);
  c1.set([0, 0, 0, 0], 0);
  c1.set([128, 0, 7, 2], 4);
  if (scheme !== null) imprintDigest(c1, scheme, FLASH_PLAYER_KEY_PARTIAL);
  return c1;
}

describe('HandshakeServer against the FFmpeg publish capture (digest form)', () => {
  const c2s = fixture('ffmpeg-publish-nginx', 'c2s');
  const c1 = c2s.subarray(1, 1537);
  const c1Digest = c1.subarray(494, 494 + DIGEST_SIZE);

  it('answers with S0+S1+S2 in one piece: a signed S1 and an S2 signed over C1 digest', () => {
    const server = new HandshakeServer({ clock: () => 0x00abcdef, random: seededRandom(1) });
    const hello = server.push(c2s.subarray(0, 1537));
    expect(hello.kind).toBe('inProgress');
    expect(hello.events).toEqual([{ step: 'peerHello', version: 3, form: 'digest' }]);
    expect(hello.send).toHaveLength(1 + 2 * PACKET_SIZE);
    expect(toHex(hello.send.subarray(0, 9))).toBe(
      toHex(
        hex(
          '03' + //       S0: version 3
            '00abcdef' + // S1 time from the injected clock
            '0d0e0a0d', // S1 version field 13.14.10.13 (nginx-rtmp's)
        ),
      ),
    );
    const s1 = hello.send.subarray(1, 1537);
    expect(validateServerDigest(s1)).toMatchObject({ scheme: 0 }); // same scheme as C1
    const s2 = hello.send.subarray(1537);
    expect(validateResponse(s2, c1Digest, FLASH_MEDIA_SERVER_KEY)).toBe(true);
    expect(validateResponse(s2, c1Digest, FLASH_PLAYER_KEY)).toBe(false);
  });

  it("completes on FFmpeg's C2 (an unsigned echo) and passes the chunk stream through", () => {
    const server = new HandshakeServer({ random: seededRandom(2) });
    const done = completed(server.push(c2s));
    expect(done.events).toEqual([
      { step: 'peerHello', version: 3, form: 'digest' },
      { step: 'peerEcho' },
    ]);
    expect(done.peer).toEqual({
      version: 3,
      form: 'digest',
      epoch: 0,
      peerVersion: [9, 0, 124, 2],
      echoValid: false, // FFmpeg echoed nginx's S1, not ours
      c2DigestValid: false,
    });
    expect(done.remaining).toHaveLength(c2s.length - 3073);
    expect(Buffer.compare(done.remaining, c2s.subarray(3073))).toBe(0);
    expect(done.remaining[0]).toBe(0x03); // fmt 0, csid 3: the connect command
  });

  it('answers with the simple form when configured with form: simple', () => {
    const server = new HandshakeServer({ form: 'simple', random: seededRandom(3) });
    const hello = server.push(c2s.subarray(0, 1537));
    expect(hello.events).toEqual([{ step: 'peerHello', version: 3, form: 'simple' }]);
    expect(toHex(hello.send.subarray(5, 9))).toBe('00000000');
    expect(toHex(hello.send.subarray(1537))).toBe(toHex(c1)); // S2 echoes C1
  });
});

describe.each(['rtmpdump-nginx-play', 'rtmpdump-nms-live-play'])(
  'HandshakeServer against the %s capture (simple form)',
  (name) => {
    const c2s = fixture(name, 'c2s');

    it('answers a zero version field with the simple form: S2 echoes C1', () => {
      const server = new HandshakeServer({ random: seededRandom(4) });
      const hello = server.push(c2s.subarray(0, 1537));
      expect(hello.events).toEqual([{ step: 'peerHello', version: 3, form: 'simple' }]);
      expect(toHex(hello.send.subarray(5, 9))).toBe('00000000'); // S1 version field
      expect(toHex(hello.send.subarray(1537))).toBe(toHex(c2s.subarray(1, 1537)));
    });

    it('completes on C2 and hands back everything after it', () => {
      const server = new HandshakeServer({ random: seededRandom(5) });
      const done = completed(server.push(c2s));
      expect(done.peer.form).toBe('simple');
      expect(done.peer.c2DigestValid).toBeUndefined();
      expect(Buffer.compare(done.remaining, c2s.subarray(3073))).toBe(0);
    });
  },
);

describe('HandshakeServer digest detection', () => {
  it.each([0, 1] as const)(
    'accepts a C1 signed with scheme %i and signs S1 the same way',
    (scheme) => {
      const server = new HandshakeServer({ random: seededRandom(6) });
      const hello = server.push(concat(new Uint8Array([3]), signedC1(20 + scheme, scheme)));
      expect(hello.events).toEqual([{ step: 'peerHello', version: 3, form: 'digest' }]);
      expect(validateServerDigest(hello.send.subarray(1, 1537))?.scheme).toBe(scheme);
    },
  );

  it('falls back to the simple form when no digest scheme verifies', () => {
    const c1 = signedC1(30, null);
    const server = new HandshakeServer({ random: seededRandom(7) });
    const hello = server.push(concat(new Uint8Array([3]), c1));
    expect(hello.events).toEqual([{ step: 'peerHello', version: 3, form: 'simple' }]);
    expect(toHex(hello.send.subarray(1537))).toBe(toHex(c1));
    const done = completed(server.push(hello.send.subarray(1, 1537))); // a proper echo of S1
    expect(done.peer).toMatchObject({
      form: 'simple',
      peerVersion: [128, 0, 7, 2],
      echoValid: true,
    });
  });

  it('recognises a properly signed C2 (c2DigestValid: true)', () => {
    const server = new HandshakeServer({ random: seededRandom(8) });
    const hello = server.push(concat(new Uint8Array([3]), signedC1(40, 0)));
    const s1 = hello.send.subarray(1, 1537);
    const loc = validateServerDigest(s1);
    expect(loc).not.toBeNull();
    const s1Digest = s1.subarray(loc?.offset ?? 0, (loc?.offset ?? 0) + DIGEST_SIZE);
    // build C2 the FP9 way: 1504 bytes, then HMAC(HMAC(Player key, S1 digest), them)
    const c2 = makeResponse(seededRandom(9)(1504), s1Digest, FLASH_PLAYER_KEY);
    const done = completed(server.push(c2));
    expect(done.peer.c2DigestValid).toBe(true);
    expect(done.peer.echoValid).toBe(false);
  });
});

describe('HandshakeServer bad and short input', () => {
  it.each([6, 0])('fails with BAD_VERSION when C0 is %i', (version) => {
    const server = new HandshakeServer({ random: seededRandom(10) });
    const err = expectHandshakeError(
      () => server.push(new Uint8Array([version, 0, 0])),
      'BAD_VERSION',
    );
    expect(err.details).toEqual({ version, expected: 3 });
    expect(err.layer).toBe('handshake');
    expectHandshakeError(() => server.push(new Uint8Array(1)), 'BAD_VERSION');
  });

  it('stays inProgress, sending nothing, on a truncated C0+C1', () => {
    const c2s = fixture('rtmpdump-nginx-play', 'c2s');
    const server = new HandshakeServer({ random: seededRandom(11) });
    expect(server.push(c2s.subarray(0, 1536))).toEqual({
      kind: 'inProgress',
      send: new Uint8Array(0),
      events: [],
    });
    const hello = server.push(c2s.subarray(1536, 1537 + 1535)); // C1 completes, C2 short by one
    expect(hello.kind).toBe('inProgress');
    expect(hello.send).toHaveLength(3073);
    expect(server.completed).toBe(false);
  });

  it('fails a non-echo C2 with BAD_ECHO in the simple form only when strictEcho is set', () => {
    const c2s = fixture('rtmpdump-nginx-play', 'c2s').subarray(0, 3073);
    const lenient = new HandshakeServer({ random: seededRandom(12) });
    expect(completed(lenient.push(c2s)).peer.echoValid).toBe(false); // C2 echoes nginx's S1
    const strict = new HandshakeServer({ random: seededRandom(12), strictEcho: true });
    const err = expectHandshakeError(() => strict.push(c2s), 'BAD_ECHO');
    expect(err.details).toEqual({ packet: 'C2' });
  });

  it('rejects an all-zero server version (a configuration bug)', () => {
    expect(() => new HandshakeServer({ serverVersion: [0, 0, 0, 0] })).toThrow(RangeError);
  });
});
