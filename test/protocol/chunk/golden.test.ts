import { ChunkDecoder, ChunkEncoder } from '../../../src/protocol/chunk';
import type { RawMessage } from '../../../src/protocol/types';
import { hex, snapshot } from './helpers';

/** Decodes `bytes` in one push and copies the messages. */
function decode(bytes: Uint8Array, decoder = new ChunkDecoder()): RawMessage[] {
  return decoder.push(bytes).map(snapshot);
}

/** Encodes the messages in order with a fresh encoder, one buffer per message, joined. */
function encode(messages: RawMessage[], chunkSize = 128): Buffer {
  const encoder = new ChunkEncoder({ chunkSize });
  return Buffer.concat(messages.map((m) => encoder.encode(m)));
}

function msg(
  csid: number,
  timestamp: number,
  typeId: number,
  streamId: number,
  payload: Uint8Array,
): RawMessage {
  return { csid, timestamp, typeId, streamId, payload: Uint8Array.from(payload) };
}

const bytes = (n: number, seed = 1): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
};

describe('chunk headers (RTMP spec 5.3.1)', () => {
  it('reads and writes a fmt-0 chunk: 11-byte header, stream id little-endian', () => {
    const wire = hex(
      '03', //          basic header: fmt 0, csid 3
      '00 00 0a', //    timestamp 10
      '00 00 04', //    message length 4
      '14', //          type id 20 (AMF0 command)
      '01 00 00 00', // message stream id 1, little-endian
      'de ad be ef', // payload
    );
    const expected = [msg(3, 10, 20, 1, hex('deadbeef'))];
    expect(decode(wire)).toEqual(expected);
    expect(encode(expected)).toEqual(wire);
  });

  it('reads and writes a fmt-1 chunk: delta, length and type, stream id kept', () => {
    const wire = hex(
      '04', //          fmt 0, csid 4
      '00 03 e8', //    timestamp 1000
      '00 00 02', //    length 2
      '08', //          type 8 (audio)
      '01 00 00 00', // stream id 1
      'aa bb', //       payload
      '44', //          fmt 1, csid 4
      '00 00 14', //    timestamp delta 20
      '00 00 03', //    length 3
      '09', //          type 9 (video)
      'cc dd ee', //    payload
    );
    const expected = [msg(4, 1000, 8, 1, hex('aabb')), msg(4, 1020, 9, 1, hex('ccddee'))];
    expect(decode(wire)).toEqual(expected);
    expect(encode(expected)).toEqual(wire);
  });

  it('reads and writes fmt-2 (delta only) and then fmt-3 when the delta repeats', () => {
    const wire = hex(
      '04 0003e8 000002 08 01000000 aabb', // fmt 0, csid 4, ts 1000, len 2, audio, stream 1
      '84', //       fmt 2, csid 4
      '00 00 14', // timestamp delta 20
      'cc dd', //    payload
      'c4', //       fmt 3, csid 4: a new message, same length/type, delta 20 again
      'ee ff', //    payload
    );
    const expected = [
      msg(4, 1000, 8, 1, hex('aabb')),
      msg(4, 1020, 8, 1, hex('ccdd')),
      msg(4, 1040, 8, 1, hex('eeff')),
    ];
    expect(decode(wire)).toEqual(expected);
    expect(encode(expected)).toEqual(wire);
  });

  it('splits a message longer than the chunk size into fmt-3 continuation chunks', () => {
    const body = bytes(200);
    const wire = Buffer.concat([
      hex('03 000000 0000c8 14 00000000'), // fmt 0, csid 3, ts 0, length 200, type 20, stream 0
      body.subarray(0, 128), //               first 128 bytes (default chunk size)
      hex('c3'), //                           fmt 3, csid 3: continuation
      body.subarray(128), //                  last 72 bytes
    ]);
    const expected = [msg(3, 0, 20, 0, body)];
    expect(decode(wire)).toEqual(expected);
    expect(encode(expected)).toEqual(wire);
  });

  it('reads a fmt-3 chunk after a fmt-0 message as a new message one fmt-0 timestamp later (spec, librtmp, FFmpeg)', () => {
    const wire = hex(
      '04 000064 000001 08 01000000 aa', // fmt 0, csid 4, ts 100, length 1, audio, stream 1
      'c4 bb', //                           fmt 3, csid 4: new message, delta = 100
    );
    expect(decode(wire)).toEqual([msg(4, 100, 8, 1, hex('aa')), msg(4, 200, 8, 1, hex('bb'))]);
  });

  it('writes fmt 2, not fmt 3, after a fmt-0 message with a non-zero timestamp (nginx-rtmp reads that delta as 0)', () => {
    const messages = [msg(4, 100, 8, 1, hex('aa')), msg(4, 200, 8, 1, hex('bb'))];
    expect(encode(messages)).toEqual(
      hex(
        '04 000064 000001 08 01000000 aa', // fmt 0, ts 100
        '84 000064 bb', //                    fmt 2, delta 100
      ),
    );
  });

  it('writes fmt 3 after a fmt-0 message at timestamp 0 when the next is identical in shape and time', () => {
    const messages = [msg(3, 0, 20, 0, hex('aa')), msg(3, 0, 20, 0, hex('bb'))];
    const wire = hex(
      '03 000000 000001 14 00000000 aa', // fmt 0, csid 3, ts 0
      'c3 bb', //                           fmt 3: same length, type, delta 0
    );
    expect(encode(messages)).toEqual(wire);
    expect(decode(wire)).toEqual(messages);
  });

  it('adds timestamp deltas modulo 2^32', () => {
    const wire = hex(
      '04 ffffff 000001 08 01000000', // fmt 0, ts field 0xFFFFFF: extended follows
      'ff ff ff f0', //                 extended timestamp 0xFFFFFFF0
      'aa', //                          payload
      '84 000020', //                   fmt 2, delta 0x20
      'bb', //                          payload
    );
    expect(decode(wire)).toEqual([
      msg(4, 0xfffffff0, 8, 1, hex('aa')),
      msg(4, 0x10, 8, 1, hex('bb')),
    ]);
  });
});

describe('basic header sizes', () => {
  const table: [csid: number, header: string][] = [
    [2, '02'], //          1 byte: csid in the low 6 bits
    [63, '3f'], //         1 byte: largest 1-byte csid
    [64, '00 00'], //      2 bytes: 0, then csid - 64 = 0
    [319, '00 ff'], //     2 bytes: csid - 64 = 255
    [320, '01 00 01'], //  3 bytes: 1, then (csid - 64) little-endian = 0x0100
    [65599, '01 ff ff'], // 3 bytes: csid - 64 = 0xFFFF
  ];
  it.each(table)('reads and writes csid %i as basic header %s', (csid, header) => {
    const wire = Buffer.concat([
      hex(header),
      hex('000005 000001 12 00000000'), // ts 5, length 1, type 18 (AMF0 data), stream 0
      hex('7f'), //                        payload
    ]);
    const expected = [msg(csid, 5, 18, 0, hex('7f'))];
    expect(encode(expected)).toEqual(wire);
    expect(decode(wire)).toEqual(expected);
  });

  it.each(table)('carries csid %i on continuation chunks too', (csid, header) => {
    const body = bytes(3);
    const h = hex(header);
    const cont = Buffer.from(h);
    cont[0] |= 0xc0; // fmt 3
    const wire = Buffer.concat([
      h,
      hex('000000 000003 09 01000000'), // ts 0, length 3, video, stream 1
      body.subarray(0, 2), //              chunk size 2
      cont,
      body.subarray(2),
    ]);
    const expected = [msg(csid, 0, 9, 1, body)];
    expect(encode(expected, 2)).toEqual(wire);
    const decoder = new ChunkDecoder();
    decode(hex('02 000000 000004 01 00000000 00000002'), decoder); // Set Chunk Size 2
    expect(decode(wire, decoder)).toEqual(expected);
  });
});

describe('extended timestamps', () => {
  const body = bytes(200);
  const repeated = Buffer.concat([
    hex('06 ffffff 0000c8 09 01000000'), // fmt 0, csid 6, ts 0xFFFFFF, length 200, video, stream 1
    hex('01 00 00 00'), //                  extended timestamp 0x01000000
    body.subarray(0, 128),
    hex('c6'), //                           fmt 3 continuation
    hex('01 00 00 00'), //                  extended timestamp repeated (librtmp, FFmpeg)
    body.subarray(128),
  ]);
  const notRepeated = Buffer.concat([
    hex('06 ffffff 0000c8 09 01000000'),
    hex('01 00 00 00'),
    body.subarray(0, 128),
    hex('c6'), // fmt 3 continuation, no extended field
    body.subarray(128),
  ]);
  const expected = [msg(6, 0x01000000, 9, 1, body)];

  it('accepts the extended timestamp repeated on fmt-3 continuation chunks', () => {
    expect(decode(repeated)).toEqual(expected);
  });

  it('accepts fmt-3 continuation chunks without the extended timestamp', () => {
    expect(decode(notRepeated)).toEqual(expected);
  });

  it('writes the extended timestamp and repeats it on every continuation chunk', () => {
    expect(encode(expected)).toEqual(repeated);
  });

  it('waits for 4 bytes before deciding whether a fmt-3 chunk repeats the extended timestamp', () => {
    const decoder = new ChunkDecoder();
    const head = hex('04 000000 000001 08 01000000 aa', '44 ffffff 000001 08 01000000 bb');
    expect(decode(head, decoder)).toHaveLength(2);
    expect(decode(hex('c4 cc'), decoder)).toEqual([]); // fmt 3 + 1 byte: undecidable yet
    expect(decoder.hasPartialHeader).toBe(true);
    expect(decode(hex('03 000000 000001 14 00000000 dd'), decoder)).toEqual([
      msg(4, 0x02000000, 8, 1, hex('cc')),
      msg(3, 0, 20, 0, hex('dd')),
    ]);
  });

  it('uses the extended field for a timestamp of exactly 0xFFFFFF', () => {
    const wire = hex(
      '03 ffffff 000001 14 00000000', // fmt 0, ts field 0xFFFFFF
      '00 ff ff ff', //                 extended timestamp 0x00FFFFFF
      '01', //                          payload
    );
    const m = [msg(3, 0xffffff, 20, 0, hex('01'))];
    expect(encode(m)).toEqual(wire);
    expect(decode(wire)).toEqual(m);
  });

  it('reads an extended delta on fmt 1 and reuses it for a fmt-3 chunk that starts a new message', () => {
    const withField = hex(
      '04 000000 000001 08 01000000 aa', // fmt 0, ts 0
      '44 ffffff 000001 08', //            fmt 1, delta field 0xFFFFFF, length 1, audio
      '01 00 00 00', //                    extended delta 0x01000000
      'bb',
      'c4', //                             fmt 3: new message, same delta
      '01 00 00 00', //                    extended delta repeated
      'cc',
    );
    const withoutField = hex(
      '04 000000 000001 08 01000000 aa',
      '44 ffffff 000001 08 01000000 bb',
      'c4 cc', //                          fmt 3: new message, no extended field
      '03 000000 000001 14 00000000 dd', // next chunk (the peek needs 4 bytes to decide)
    );
    const m = [
      msg(4, 0, 8, 1, hex('aa')),
      msg(4, 0x01000000, 8, 1, hex('bb')),
      msg(4, 0x02000000, 8, 1, hex('cc')),
    ];
    expect(decode(withField)).toEqual(m);
    expect(decode(withoutField)).toEqual([...m, msg(3, 0, 20, 0, hex('dd'))]);
    expect(encode([m[0], { ...m[1], typeId: 8 }, m[2]])).toEqual(
      hex(
        '04 000000 000001 08 01000000 aa', // fmt 0
        '84 ffffff 01000000 bb', //           fmt 2 (same length/type), extended delta
        'c4 01000000 cc', //                  fmt 3, extended delta repeated
      ),
    );
  });
});

describe('protocol control messages applied inside the decoder', () => {
  it('applies Set Chunk Size to the bytes after it in the same push', () => {
    const body = bytes(200);
    const wire = Buffer.concat([
      hex('02 000000 000004 01 00000000'), // fmt 0, csid 2, ts 0, length 4, Set Chunk Size, stream 0
      hex('00 00 01 00'), //                  chunk size 256
      hex('03 000000 0000c8 14 00000000'), // fmt 0, csid 3, length 200: one chunk at size 256
      body,
    ]);
    const decoder = new ChunkDecoder();
    expect(decode(wire, decoder)).toEqual([
      msg(2, 0, 1, 0, hex('00000100')),
      msg(3, 0, 20, 0, body),
    ]);
    expect(decoder.chunkSize).toBe(256);
  });

  it('applies Set Chunk Size that arrives between two chunks of another message', () => {
    const body = bytes(300);
    const wire = Buffer.concat([
      hex('06 000000 00012c 09 01000000'), // fmt 0, csid 6, length 300, video
      body.subarray(0, 128), //               first chunk at 128
      hex('02 000000 000004 01 00000000 00000200'), // Set Chunk Size 512
      hex('c6'), //                           continuation: now up to 512 bytes
      body.subarray(128), //                  the remaining 172 bytes
    ]);
    const out = decode(wire);
    expect(out.map((m) => m.typeId)).toEqual([1, 9]);
    expect(out[1].payload).toEqual(Uint8Array.from(body));
  });

  it('drops the partial message of the chunk stream named by Abort', () => {
    const body = bytes(200);
    const other = bytes(200, 9);
    const decoder = new ChunkDecoder();
    const first = decode(
      Buffer.concat([
        hex('03 000000 0000c8 14 00000000'), // fmt 0, csid 3, length 200
        body.subarray(0, 128), //               first chunk only
      ]),
      decoder,
    );
    expect(first).toEqual([]);
    expect(decoder.bufferedBytes).toBe(200);
    const after = decode(
      hex(
        '02 000000 000004 02 00000000', // fmt 0, csid 2, Abort, stream 0
        '00 00 00 03', //                  abort chunk stream 3
      ),
      decoder,
    );
    expect(after).toEqual([msg(2, 0, 2, 0, hex('00000003'))]);
    expect(decoder.bufferedBytes).toBe(0);
    // A fmt-3 chunk on csid 3 now starts a NEW message with the same header (delta 0).
    const rest = decode(
      Buffer.concat([hex('c3'), other.subarray(0, 128), hex('c3'), other.subarray(128)]),
      decoder,
    );
    expect(rest).toEqual([msg(3, 0, 20, 0, other)]);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('starts afresh on a chunk stream after Abort', () => {
    const body = bytes(200);
    const wire = Buffer.concat([
      hex('03 000000 0000c8 14 00000000'), // fmt 0, csid 3, length 200
      body.subarray(0, 128), //               first chunk
      hex('02 000000 000004 02 00000000 00000003'), // Abort csid 3
      hex('03 000000 000002 14 00000000 abcd'), // fmt 0, csid 3: a new 2-byte message
    ]);
    const decoder = new ChunkDecoder();
    expect(decode(wire, decoder)).toEqual([
      msg(2, 0, 2, 0, hex('00000003')),
      msg(3, 0, 20, 0, hex('abcd')),
    ]);
    expect(decoder.bufferedBytes).toBe(0);
  });
});

describe('zero-copy and partial reads', () => {
  it('returns a message that lies in one chunk of one push as a view of the pushed bytes', () => {
    const wire = hex('03 000000 000004 14 00000000 01020304');
    const [m] = new ChunkDecoder().push(wire);
    expect(m.payload.buffer).toBe(wire.buffer);
    expect(m.payload.byteOffset).toBe(wire.byteOffset + 12);
  });

  it('keeps the bytes of a chunk header cut by the end of a push and joins them with the next', () => {
    const wire = hex('03 000000 000004 14 00000000 01020304'); // fmt 0, csid 3, 4-byte body
    for (let cut = 1; cut < 12; cut++) {
      const decoder = new ChunkDecoder();
      expect(decoder.push(wire.subarray(0, cut))).toEqual([]);
      expect(decoder.hasPartialHeader).toBe(true);
      expect(decode(wire.subarray(cut), decoder)).toEqual([msg(3, 0, 20, 0, hex('01020304'))]);
      expect(decoder.hasPartialHeader).toBe(false);
    }
  });

  it('counts every byte pushed', () => {
    const decoder = new ChunkDecoder();
    decoder.push(hex('03 000000'));
    decoder.push(hex('000004 14 00000000 0102'));
    expect(decoder.bytesReceived).toBe(14);
  });

  it('returns a zero-length message with an empty payload', () => {
    expect(decode(hex('03 000007 000000 12 01000000'))).toEqual([
      msg(3, 7, 18, 1, new Uint8Array(0)),
    ]);
  });
});
