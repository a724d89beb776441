import fc from 'fast-check';
import { ChunkDecoder, ChunkEncoder } from '../../../src/protocol/chunk';
import { ChunkError } from '../../../src/protocol/errors';
import { DEFAULT_LIMITS, type RtmpLimits } from '../../../src/protocol/limits';
import { hex, loadSession, HANDSHAKE_BYTES } from './helpers';

/** Pushes `bytes` and returns the ChunkError it throws (fails the test if it throws anything else or nothing). */
function chunkErrorOf(
  bytes: Uint8Array,
  limits?: Partial<RtmpLimits>,
  decoder = new ChunkDecoder(limits),
): ChunkError {
  try {
    decoder.push(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(ChunkError);
    return e as ChunkError;
  }
  throw new Error('expected a ChunkError');
}

const setChunkSize = (value: string): Buffer =>
  hex(
    '02 000000 000004 01 00000000', // fmt 0, csid 2, ts 0, length 4, Set Chunk Size, stream 0
    value, //                          the new chunk size
  );

describe('truncated input', () => {
  const bytes = loadSession('rtmpdump-nginx-play').s2c.subarray(HANDSHAKE_BYTES);

  it('returns nothing and keeps its state when a stream stops inside a chunk header', () => {
    const decoder = new ChunkDecoder();
    expect(decoder.push(hex('03 000000 0000'))).toEqual([]); // fmt 0 header cut after 6 bytes
    expect(decoder.hasPartialHeader).toBe(true);
    expect(decoder.push(hex('04 14 00000000 01020304'))).toHaveLength(1);
  });

  it('returns nothing and keeps its state when a stream stops inside a message', () => {
    const decoder = new ChunkDecoder();
    expect(decoder.push(hex('03 000000 0000c8 14 00000000', '00'.repeat(100)))).toEqual([]);
    expect(decoder.bufferedBytes).toBe(200);
    expect(decoder.hasPartialHeader).toBe(false);
  });

  it('decodes every message before the cut of a real session and none after, without throwing', () => {
    const full = new ChunkDecoder().push(bytes).length;
    for (const cut of [1, 100, 1000, 50_000, 700_000, bytes.length - 1]) {
      const decoder = new ChunkDecoder();
      const n = decoder.push(bytes.subarray(0, cut)).length;
      expect(n).toBeLessThan(full);
      expect(n + decoder.push(bytes.subarray(cut)).length).toBe(full);
    }
  });
});

describe('broken and hostile input', () => {
  it('refuses fmt 1, 2 or 3 on a chunk stream no fmt-0 chunk opened', () => {
    for (const [fmt, wire] of [
      [1, hex('45 000000 000001 08 aa')], // fmt 1, csid 5
      [2, hex('85 000000 aa')], //           fmt 2, csid 5
      [3, hex('c5 aa')], //                  fmt 3, csid 5
    ] as const) {
      const e = chunkErrorOf(wire);
      expect(e.code).toBe('UNKNOWN_CHUNK_STREAM');
      expect(e.details).toMatchObject({ csid: 5, fmt, offset: 0 });
    }
  });

  it('refuses a message longer than maxMessageSize when the header is read, before buffering', () => {
    // The 24-bit length field tops out at 16 MiB - 1 (0xFFFFFF), so "16 MiB + 1" cannot be
    // sent; we lower the limit instead.
    const decoder = new ChunkDecoder({ maxMessageSize: 1 << 20 });
    const e = chunkErrorOf(hex('06 000000 ffffff 09 01000000'), undefined, decoder); // length 0xFFFFFF
    expect(e.code).toBe('MESSAGE_TOO_LARGE');
    expect(e.details).toMatchObject({ csid: 6, length: 0xffffff, limit: 1 << 20 });
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('refuses a fmt-1 header with a length above maxMessageSize', () => {
    const e = chunkErrorOf(
      hex('06 000000 000001 09 01000000 aa', '46 000000 000401 09'), // fmt 1, length 1025
      { maxMessageSize: 1024 },
    );
    expect(e.code).toBe('MESSAGE_TOO_LARGE');
    expect(e.details).toMatchObject({ length: 1025, limit: 1024, offset: 13 });
  });

  it.each([
    ['00000000', 'CHUNK_SIZE_INVALID', 0], //                 zero
    ['80000000', 'CHUNK_SIZE_INVALID', 0x80000000], //        high bit set
    ['ffffffff', 'CHUNK_SIZE_INVALID', 0xffffffff], //        high bit set
    ['00010001', 'CHUNK_SIZE_TOO_LARGE', 0x10001], //         above maxChunkSize (65536)
    ['7fffffff', 'CHUNK_SIZE_TOO_LARGE', 0x7fffffff], //      the largest legal value, above the limit
  ])('refuses Set Chunk Size %s with %s', (value, code, chunkSize) => {
    const e = chunkErrorOf(setChunkSize(value));
    expect(e.code).toBe(code);
    expect(e.details).toMatchObject({ chunkSize });
  });

  it('refuses a Set Chunk Size body shorter than 4 bytes', () => {
    const e = chunkErrorOf(hex('02 000000 000002 01 00000000 0100'));
    expect(e.code).toBe('CHUNK_SIZE_INVALID');
  });

  it('refuses a never-ending message after Set Chunk Size 0x7FFFFFFF', () => {
    // With the default limits the chunk size itself is refused ...
    expect(chunkErrorOf(setChunkSize('7fffffff')).code).toBe('CHUNK_SIZE_TOO_LARGE');
    // ... and when a caller allows it, the huge message is refused by its length ...
    const decoder = new ChunkDecoder({ maxChunkSize: 0x7fffffff, maxMessageSize: 1 << 20 });
    expect(decoder.push(setChunkSize('7fffffff'))).toHaveLength(1);
    expect(decoder.chunkSize).toBe(0x7fffffff);
    const e = chunkErrorOf(hex('06 000000 ffffff 09 01000000'), undefined, decoder);
    expect(e.code).toBe('MESSAGE_TOO_LARGE');
    // ... or, at the default message size, by the buffered-bytes limit.
    const greedy = new ChunkDecoder({ maxChunkSize: 0x7fffffff, maxBufferedBytes: 8 << 20 });
    greedy.push(setChunkSize('7fffffff'));
    const e2 = chunkErrorOf(hex('06 000000 ffffff 09 01000000 00'), undefined, greedy); // 16 MiB - 1
    expect(e2.code).toBe('BUFFER_LIMIT');
    expect(e2.details).toMatchObject({ csid: 6, length: 0xffffff, buffered: 0, limit: 8 << 20 });
    expect(greedy.bufferedBytes).toBe(0);
  });

  it('refuses the chunk stream after maxChunkStreams when 65,000 are opened', () => {
    const parts: Buffer[] = [];
    for (let csid = 3; csid < 65_003; csid++) {
      const h = Buffer.alloc(3);
      h[0] = 1; // fmt 0, 3-byte basic header
      h.writeUInt16LE(csid - 64 < 0 ? 0 : csid - 64, 1);
      const basic = csid < 64 ? Buffer.from([csid]) : csid < 320 ? Buffer.from([0, csid - 64]) : h;
      parts.push(basic, hex('000000 000001 08 01000000 aa')); // one 1-byte audio message each
    }
    const decoder = new ChunkDecoder();
    let received = 0;
    let error: unknown;
    try {
      decoder.pushTo(Buffer.concat(parts), () => received++);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ChunkError);
    expect((error as ChunkError).code).toBe('TOO_MANY_CHUNK_STREAMS');
    expect((error as ChunkError).details).toMatchObject({
      csid: 3 + DEFAULT_LIMITS.maxChunkStreams,
      limit: DEFAULT_LIMITS.maxChunkStreams,
    });
    expect(received).toBe(DEFAULT_LIMITS.maxChunkStreams);
    expect(decoder.chunkStreams).toBe(DEFAULT_LIMITS.maxChunkStreams);
  });

  it('refuses to buffer more than maxBufferedBytes for partial messages', () => {
    const decoder = new ChunkDecoder({ maxBufferedBytes: 1000 });
    expect(decoder.push(hex('03 000000 000258 09 01000000', '00'.repeat(128)))).toEqual([]); // 600 bytes
    expect(decoder.bufferedBytes).toBe(600);
    const e = chunkErrorOf(
      hex('04 000000 000258 09 01000000', '00'.repeat(128)),
      undefined,
      decoder,
    );
    expect(e.code).toBe('BUFFER_LIMIT');
    expect(e.details).toMatchObject({
      csid: 4,
      length: 600,
      buffered: 600,
      limit: 1000,
      offset: 12,
    });
  });

  it('refuses a fmt-1 header that changes the length of a message in progress', () => {
    const e = chunkErrorOf(
      hex(
        '03 000000 0000c8 14 00000000', // fmt 0, csid 3, length 200
        '00'.repeat(128), //               first chunk
        '43 000000 000064 14', //          fmt 1, csid 3, length 100: in the middle of the message
      ),
    );
    expect(e.code).toBe('LENGTH_MISMATCH');
    expect(e.details).toMatchObject({ csid: 3, length: 100, expected: 200, received: 128 });
  });

  it('accepts a fmt-0/1/2 header repeated on a continuation chunk when it keeps the length', () => {
    const out = new ChunkDecoder().push(
      hex(
        '03 000000 0000c8 14 00000000', // fmt 0, csid 3, length 200
        '11'.repeat(128),
        '83 000000', //                    fmt 2 instead of fmt 3 on the continuation
        '22'.repeat(72),
      ),
    );
    expect(out).toHaveLength(1);
    expect(Buffer.from(out[0].payload)).toEqual(
      Buffer.concat([Buffer.alloc(128, 0x11), Buffer.alloc(72, 0x22)]),
    );
  });

  it('stays unusable after an error: every later push throws the same error', () => {
    const decoder = new ChunkDecoder();
    const first = chunkErrorOf(hex('c5 aa'), undefined, decoder);
    expect(() => decoder.push(hex('03 000000 000001 14 00000000 aa'))).toThrow(first);
  });

  it('throws only ChunkErrors on garbage, never a RangeError', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 2000 }),
        fc.nat(2000),
        (garbage, cut) => {
          const decoder = new ChunkDecoder({
            maxMessageSize: 64 * 1024,
            maxBufferedBytes: 256 * 1024,
          });
          try {
            decoder.push(garbage.subarray(0, cut));
            decoder.push(garbage.subarray(cut));
          } catch (e) {
            expect(e).toBeInstanceOf(ChunkError);
          }
          expect(decoder.bufferedBytes).toBeLessThanOrEqual(256 * 1024);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('names the stream offset of a bad chunk that arrives after good ones', () => {
    const decoder = new ChunkDecoder();
    decoder.push(hex('03 000000 000001 14 00000000 aa')); // 13 good bytes
    const e = chunkErrorOf(hex('03 000000 000001 14 00000000 aa', 'c5'), undefined, decoder);
    expect(e.details).toMatchObject({ offset: 13, streamOffset: 26 });
  });
});

describe('bounded memory', () => {
  it('never holds more than maxBufferedBytes while a hostile peer opens many partial messages', () => {
    const limit = 256 * 1024;
    const decoder = new ChunkDecoder({ maxBufferedBytes: limit });
    const encoder = new ChunkEncoder();
    let error: unknown;
    let maxSeen = 0;
    try {
      for (let csid = 3; csid < 1000; csid++) {
        // Each message announces 5000 bytes and sends only its first 128-byte chunk.
        const whole = encoder.encode({
          csid,
          timestamp: 0,
          typeId: 9,
          streamId: 1,
          payload: new Uint8Array(5000),
        });
        const basicHeader = csid < 64 ? 1 : csid < 320 ? 2 : 3;
        const firstChunk = whole.subarray(0, basicHeader + 11 + 128);
        for (let p = 0; p < firstChunk.length; p += 7) {
          decoder.push(firstChunk.subarray(p, p + 7));
          maxSeen = Math.max(maxSeen, decoder.bufferedBytes);
        }
      }
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ChunkError);
    expect((error as ChunkError).code).toBe('BUFFER_LIMIT');
    expect(maxSeen).toBeLessThanOrEqual(limit);
    expect(maxSeen).toBeGreaterThan(limit - 5000);
  });
});

describe('callback failures', () => {
  it('stays unusable after onMessage throws, since the rest of that push was not read', () => {
    const decoder = new ChunkDecoder();
    const boom = new Error('consumer bug');
    const two = hex('03 000000 000001 14 00000000 aa', '03 000000 000001 14 00000000 bb');
    expect(() =>
      decoder.pushTo(two, () => {
        throw boom;
      }),
    ).toThrow(boom);
    expect(() => decoder.push(hex('03 000000 000001 14 00000000 cc'))).toThrow(boom);
  });
});
