import { ChunkDecoder, ChunkEncoder } from '../../../src/protocol/chunk';
import { ChunkError } from '../../../src/protocol/errors';
import type { RawMessage } from '../../../src/protocol/types';
import { hex } from './helpers';

const m = (over: Partial<RawMessage>): RawMessage => ({
  csid: 4,
  timestamp: 0,
  typeId: 8,
  streamId: 1,
  payload: Uint8Array.from([0xaa, 0xbb]),
  ...over,
});

/** The fmt of the first chunk of each encoded message. */
function fmts(messages: RawMessage[], encoder = new ChunkEncoder()): number[] {
  return messages.map((msg) => encoder.encode(msg)[0] >>> 6);
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ChunkError);
    return (e as ChunkError).code;
  }
  throw new Error('expected a ChunkError');
}

describe('ChunkEncoder header choice', () => {
  it('uses fmt 0 for the first message on each chunk stream', () => {
    expect(fmts([m({ csid: 4 }), m({ csid: 6 }), m({ csid: 4, timestamp: 10 })])).toEqual([
      0, 0, 2,
    ]);
  });

  it('uses fmt 0 when the message stream id changes', () => {
    expect(fmts([m({}), m({ streamId: 2, timestamp: 10 })])).toEqual([0, 0]);
  });

  it('uses fmt 0 when the timestamp goes backwards', () => {
    expect(fmts([m({ timestamp: 100 }), m({ timestamp: 50 })])).toEqual([0, 0]);
  });

  it('uses fmt 1 when only the stream id matches', () => {
    expect(
      fmts([
        m({}),
        m({ timestamp: 5, payload: new Uint8Array(3) }),
        m({ timestamp: 10, typeId: 9, payload: new Uint8Array(3) }),
      ]),
    ).toEqual([0, 1, 1]);
  });

  it('uses fmt 2 when length and type match, and fmt 3 when the delta repeats too', () => {
    expect(
      fmts([
        m({ timestamp: 0 }),
        m({ timestamp: 0 }), //  delta 0 = the fmt-0 timestamp 0
        m({ timestamp: 23 }), // delta 23
        m({ timestamp: 46 }), // delta 23 again
        m({ timestamp: 70 }), // delta 24
      ]),
    ).toEqual([0, 3, 2, 3, 2]);
  });

  it('writes continuation chunks as fmt 3 with the same basic header', () => {
    const out = new ChunkEncoder({ chunkSize: 2 }).encode(
      m({ csid: 320, payload: Uint8Array.from([1, 2, 3, 4, 5]) }),
    );
    expect(out).toEqual(
      hex(
        '01 00 01', //                  fmt 0, csid 320 (3-byte basic header)
        '000000 000005 08 01000000', // ts 0, length 5, audio, stream 1
        '01 02', //                     chunk 1
        'c1 00 01', //                  fmt 3, csid 320
        '03 04', //                     chunk 2
        'c1 00 01', //                  fmt 3, csid 320
        '05', //                        chunk 3
      ),
    );
  });

  it('writes a zero-length message as a lone header', () => {
    expect(
      new ChunkEncoder().encode(
        m({ csid: 3, typeId: 20, streamId: 0, payload: new Uint8Array(0) }),
      ),
    ).toEqual(
      hex('03 000000 000000 14 00000000'), // fmt 0, csid 3, ts 0, length 0, type 20, stream 0
    );
  });

  it('repeats an extended delta on fmt-3 continuation chunks of a fmt-2 message', () => {
    const encoder = new ChunkEncoder({ chunkSize: 1 });
    encoder.encode(m({ timestamp: 0 }));
    expect(encoder.encode(m({ timestamp: 0x1000000 }))).toEqual(
      hex(
        '84 ffffff', //   fmt 2, delta field 0xFFFFFF
        '01000000', //    extended delta
        'aa', //          chunk 1
        'c4 01000000', // fmt 3 + extended delta repeated
        'bb', //          chunk 2
      ),
    );
  });
});

describe('ChunkEncoder output', () => {
  const messages: RawMessage[] = [
    m({ csid: 2, typeId: 1, streamId: 0, payload: hex('00001000') }),
    m({ csid: 3, typeId: 20, streamId: 0, payload: new Uint8Array(300) }),
    m({ csid: 6, typeId: 9, timestamp: 40, payload: new Uint8Array(5000).fill(7) }),
    m({ csid: 6, typeId: 9, timestamp: 73, payload: new Uint8Array(5000).fill(8) }),
    m({ csid: 4, timestamp: 0x1234567 }),
  ];

  it('encodeMany gives the same bytes as encode called for each message', () => {
    const one = new ChunkEncoder({ chunkSize: 1000 });
    const many = new ChunkEncoder({ chunkSize: 1000 });
    expect(many.encodeMany(messages)).toEqual(Buffer.concat(messages.map((x) => one.encode(x))));
  });

  it('encodes each message as one buffer the decoder reads back whole', () => {
    const encoder = new ChunkEncoder({ chunkSize: 4096 });
    const decoder = new ChunkDecoder();
    decoder.push(encoder.encode(m({ csid: 2, typeId: 1, streamId: 0, payload: hex('00001000') })));
    for (const msg of messages.slice(1)) {
      const [out, ...rest] = decoder.push(encoder.encode(msg));
      expect(rest).toEqual([]);
      expect({ ...out, payload: Buffer.from(out.payload) }).toEqual({
        ...msg,
        payload: Buffer.from(msg.payload),
      });
    }
  });

  it('switches to a new chunk size for the messages after setChunkSize', () => {
    const encoder = new ChunkEncoder();
    expect(encoder.chunkSize).toBe(128);
    expect(encoder.encode(m({ csid: 3, payload: new Uint8Array(200) })).length).toBe(12 + 200 + 1);
    encoder.setChunkSize(4096);
    expect(encoder.chunkSize).toBe(4096);
    expect(encoder.encode(m({ csid: 5, payload: new Uint8Array(200) })).length).toBe(12 + 200);
  });
});

describe('ChunkEncoder validation', () => {
  it.each([0, -1, 1.5, 0x80000000, Number.NaN])('refuses chunk size %p', (n) => {
    expect(codeOf(() => new ChunkEncoder({ chunkSize: n }))).toBe('CHUNK_SIZE_INVALID');
    expect(codeOf(() => new ChunkEncoder().setChunkSize(n))).toBe('CHUNK_SIZE_INVALID');
  });

  it.each([0, 1, 65600, 2.5])('refuses chunk stream id %p', (csid) => {
    expect(codeOf(() => new ChunkEncoder().encode(m({ csid })))).toBe('BAD_CSID');
  });

  it('refuses timestamps, stream ids and type ids that do not fit their fields', () => {
    const e = new ChunkEncoder();
    expect(codeOf(() => e.encode(m({ timestamp: -1 })))).toBe('BAD_MESSAGE');
    expect(codeOf(() => e.encode(m({ timestamp: 2 ** 32 })))).toBe('BAD_MESSAGE');
    expect(codeOf(() => e.encode(m({ streamId: 2 ** 32 })))).toBe('BAD_MESSAGE');
    expect(codeOf(() => e.encode(m({ typeId: 256 })))).toBe('BAD_MESSAGE');
  });

  it('refuses a body longer than the 24-bit length field', () => {
    const encoder = new ChunkEncoder();
    expect(codeOf(() => encoder.encode(m({ payload: new Uint8Array(0x1000000) })))).toBe(
      'BAD_MESSAGE',
    );
    expect(encoder.encode(m({ payload: new Uint8Array(0xffffff) })).length).toBeGreaterThan(
      0xffffff,
    );
  });

  it('leaves its chunk-stream state untouched when it refuses a message', () => {
    const encoder = new ChunkEncoder();
    encoder.encode(m({ timestamp: 0 }));
    expect(codeOf(() => encoder.encode(m({ timestamp: -5 })))).toBe('BAD_MESSAGE');
    expect(encoder.encode(m({ timestamp: 0 }))[0] >>> 6).toBe(3);
  });
});
