import fc from 'fast-check';
import { ecmaArray } from '../../../src/protocol/amf';
import { AmfError, MessageError } from '../../../src/protocol/errors';
import {
  decodeMessage,
  defaultCsid,
  encodeMessage,
  type MessageOf,
  type RtmpMessage,
} from '../../../src/protocol/message';
import type { RawMessage } from '../../../src/protocol/types';
import { amfValue, canon } from '../amf/arbitraries';
import { ascii, hex, thrown } from '../amf/hex';

function raw(typeId: number, payload: Buffer, extra: Partial<RawMessage> = {}): RawMessage {
  return { csid: 3, timestamp: 0, typeId, streamId: 0, payload, ...extra };
}

function typedError(fn: () => unknown): MessageError | AmfError {
  const e = thrown(fn);
  if (!(e instanceof MessageError) && !(e instanceof AmfError)) throw e;
  return e;
}

const createStream = hex(`
  02 00 0c ${ascii('createStream')} // command name
  00 40 00 00 00 00 00 00 00        // transaction id 2
  05                                // command object: null
`);

describe('command messages', () => {
  it('decodes an AMF0 command (type 20): name, transaction id, command object, arguments', () => {
    const body = hex(`
      02 00 04 ${ascii('play')}       // name "play"
      00 40 08 00 00 00 00 00 00      // transaction id 3
      05                              // command object null
      02 00 05 ${ascii('small')}      // argument: stream name
      00 c0 00 00 00 00 00 00 00      // argument: start -2
    `);
    expect(decodeMessage(raw(20, body, { csid: 8, streamId: 1, timestamp: 7 }))).toEqual({
      type: 'Command',
      amf: 0,
      name: 'play',
      transactionId: 3,
      commandObject: null,
      args: ['small', -2],
      csid: 8,
      streamId: 1,
      timestamp: 7,
    });
  });

  it('encodes a command back to the same bytes', () => {
    const m = decodeMessage(raw(20, createStream));
    expect(Buffer.from(encodeMessage(m).payload).equals(createStream)).toBe(true);
  });

  it('gives a command without a command object a null one', () => {
    const body = hex(`02 00 01 ${ascii('x')} 00 00 00 00 00 00 00 00 00 // "x", transaction 0`);
    expect(decodeMessage(raw(20, body))).toMatchObject({ commandObject: null, args: [] });
  });

  it('decodes an AMF3 command (type 17): a 0 byte, then AMF0 values that may switch to AMF3', () => {
    const body = hex(`
      00                              // format byte of type 17
      02 00 04 ${ascii('test')}       // name "test"
      00 00 00 00 00 00 00 00 00      // transaction id 0
      05                              // command object null
      11 06 05 ${ascii('hi')}         // AMF3 switch, then AMF3 string "hi"
      11 04 7f                        // AMF3 switch, then AMF3 integer 127
    `);
    const m = decodeMessage(raw(17, body));
    expect(m).toMatchObject({ type: 'Command', amf: 3, name: 'test', args: ['hi', 127] });
  });

  it('also decodes an AMF3 command that lacks the leading 0 byte', () => {
    const m = decodeMessage(raw(17, createStream));
    expect(m).toMatchObject({ type: 'Command', amf: 3, name: 'createStream', transactionId: 2 });
  });

  it('encodes an AMF3 command as type 17 with the leading 0 byte', () => {
    const m = {
      ...(decodeMessage(raw(20, createStream)) as MessageOf<'Command'>),
      amf: 3 as const,
    };
    const out = encodeMessage(m);
    expect(out.typeId).toBe(17);
    expect(Buffer.from(out.payload).toString('hex')).toBe('00' + createStream.toString('hex'));
  });

  it.each([
    ['an empty body', ''],
    ['a name that is not a string', '00 3f f0 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00'],
    ['no transaction id', `02 00 01 ${ascii('x')}`],
    ['a transaction id that is not a number', `02 00 01 ${ascii('x')} 05`],
  ])('rejects a command with %s as BAD_COMMAND', (_what, body) => {
    const e = typedError(() => decodeMessage(raw(20, hex(body))));
    expect(e).toBeInstanceOf(MessageError);
    expect(e.code).toBe('BAD_COMMAND');
  });

  it('gives a typed error, never a RangeError, when a command is cut at any offset', () => {
    const full = encodeMessage({
      type: 'Command',
      amf: 0,
      name: 'onStatus',
      transactionId: 0,
      commandObject: null,
      args: [{ level: 'status', code: 'NetStream.Play.Start', when: new Date(0), list: [1, 'a'] }],
      timestamp: 0,
      streamId: 1,
    }).payload;
    let decoded = 0;
    for (let cut = 0; cut < full.length; cut++) {
      try {
        decodeMessage(raw(20, Buffer.from(full.subarray(0, cut))));
        decoded++;
      } catch (e) {
        expect(e instanceof MessageError || e instanceof AmfError).toBe(true);
      }
    }
    expect(decoded).toBe(2); // cut after the transaction id, or after the null command object
  });
});

describe('data messages', () => {
  const onMetaData = hex(`
    02 00 0a ${ascii('onMetaData')}   // name
    08 00 00 00 01                    // ECMA array, count 1
    00 08 ${ascii('duration')}        // key
    00 40 24 00 00 00 00 00 00        // 10
    00 00 09                          // end
  `);

  it('decodes an AMF0 data message (type 18): every value, the first one as its name', () => {
    const m = decodeMessage(raw(18, onMetaData, { csid: 5, streamId: 1 }));
    expect(m).toEqual({
      type: 'Data',
      amf: 0,
      name: 'onMetaData',
      values: ['onMetaData', { duration: 10 }],
      csid: 5,
      streamId: 1,
      timestamp: 0,
    });
    expect(Buffer.from(encodeMessage(m).payload).equals(onMetaData)).toBe(true);
  });

  it('decodes an AMF3 data message (type 15), skipping its leading 0 byte', () => {
    const m = decodeMessage(raw(15, Buffer.concat([hex('00'), onMetaData])));
    expect(m).toMatchObject({ type: 'Data', amf: 3, name: 'onMetaData' });
    const out = encodeMessage(m);
    expect(out.typeId).toBe(15);
    expect(Buffer.from(out.payload).toString('hex')).toBe('00' + onMetaData.toString('hex'));
  });

  it('names a data message whose first value is not a string ""', () => {
    const m = decodeMessage(raw(18, hex('05 01 01 // null, true')));
    expect(m).toMatchObject({ type: 'Data', name: '', values: [null, true] });
    expect(Buffer.from(encodeMessage(m).payload).toString('hex')).toBe('050101');
  });

  it('writes the name first when values leave it out', () => {
    const m: RtmpMessage = {
      type: 'Data',
      amf: 0,
      name: 'onMetaData',
      values: [ecmaArray({ duration: 10 })],
      timestamp: 0,
      streamId: 0,
    };
    expect(Buffer.from(encodeMessage(m).payload).equals(onMetaData)).toBe(true);
  });
});

describe('audio, video, shared object and unknown messages', () => {
  it.each([
    [8, 'Audio'],
    [9, 'Video'],
  ])('keeps the type %i payload as the same view', (typeId, type) => {
    const payload = hex('af 01 21 00 // AAC raw frame');
    const m = decodeMessage(raw(typeId, payload, { csid: 4, streamId: 1, timestamp: 99 }));
    expect(m).toEqual({ type, payload, csid: 4, streamId: 1, timestamp: 99 });
    expect((m as MessageOf<'Audio'>).payload).toBe(payload);
    expect(encodeMessage(m)).toEqual(raw(typeId, payload, { csid: 4, streamId: 1, timestamp: 99 }));
  });

  it.each([
    [19, 0],
    [16, 3],
  ])('keeps the shared-object (type %i) payload', (typeId, amf) => {
    const payload = hex('00 03 61 62 63');
    const m = decodeMessage(raw(typeId, payload));
    expect(m).toMatchObject({ type: 'SharedObject', amf, payload });
    expect(encodeMessage(m).typeId).toBe(typeId);
  });

  it.each([7, 10, 21, 23, 255])('decodes type %i as Unknown and encodes it back', (typeId) => {
    const payload = hex('01 02');
    const m = decodeMessage(raw(typeId, payload));
    expect(m).toEqual({ type: 'Unknown', typeId, payload, csid: 3, timestamp: 0, streamId: 0 });
    expect(encodeMessage(m)).toEqual(raw(typeId, payload));
  });
});

describe('aggregate messages', () => {
  const aggregate = hex(`
    09                                // tag type 9: video
    00 00 05                          // u24 data size 5
    00 03 e8 00                       // timestamp 1000 (u24 + extended byte)
    00 00 00                          // u24 stream id (0)
    17 01 00 00 00                    // body: AVC keyframe NALU header
    00 00 00 10                       // back pointer: 11 + 5
    08                                // tag type 8: audio
    00 00 02                          // u24 data size 2
    00 04 09 00                       // timestamp 1033
    00 00 00                          // u24 stream id
    af 01                             // body: AAC raw
    00 00 00 0d                       // back pointer: 11 + 2
  `);

  it('splits an aggregate into sub-messages with absolute timestamps', () => {
    const m = decodeMessage(raw(22, aggregate, { csid: 6, streamId: 1, timestamp: 1000 }));
    expect(m).toEqual({
      type: 'Aggregate',
      csid: 6,
      streamId: 1,
      timestamp: 1000,
      messages: [
        { type: 'Video', payload: hex('1701000000'), csid: 6, streamId: 1, timestamp: 1000 },
        { type: 'Audio', payload: hex('af01'), csid: 6, streamId: 1, timestamp: 1033 },
      ],
    });
    expect(Buffer.from(encodeMessage(m).payload).equals(aggregate)).toBe(true);
  });

  it("rebases sub-timestamps so the first gets the aggregate's timestamp", () => {
    const m = decodeMessage(raw(22, aggregate, { timestamp: 5000 })) as MessageOf<'Aggregate'>;
    expect(m.messages.map((s) => s.timestamp)).toEqual([5000, 5033]);
  });

  it('wraps rebased timestamps at 2^32', () => {
    const m = decodeMessage(
      raw(22, aggregate, { timestamp: 0xfffffff0 }),
    ) as MessageOf<'Aggregate'>;
    expect(m.messages.map((s) => s.timestamp)).toEqual([0xfffffff0, 0x11]);
  });

  it('reads the extended timestamp byte of a sub-tag', () => {
    const body = hex(`
      08 00 00 01                       // audio, 1 byte
      00 00 01 01                       // timestamp 0x01000001 (extended byte 01)
      00 00 00 af 00 00 00 0c           // stream id, body, back pointer
    `);
    const agg = decodeMessage(raw(22, body, { timestamp: 0x01000001 })) as MessageOf<'Aggregate'>;
    expect(agg.messages[0].timestamp).toBe(0x01000001);
    expect(Buffer.from(encodeMessage(agg).payload).equals(body)).toBe(true);
  });

  it('decodes sub-messages of every kind, such as data', () => {
    const data = encodeMessage({
      type: 'Data',
      amf: 0,
      name: 'onCuePoint',
      values: ['onCuePoint', 1],
      timestamp: 0,
      streamId: 0,
    }).payload;
    const body = Buffer.concat([
      hex('12'),
      Buffer.from([0, 0, data.length, 0, 0, 0, 0, 0, 0, 0]),
      Buffer.from(data),
    ]);
    const m = decodeMessage(raw(22, body)) as MessageOf<'Aggregate'>;
    expect(m.messages).toMatchObject([
      { type: 'Data', name: 'onCuePoint', values: ['onCuePoint', 1] },
    ]);
  });

  it('accepts an aggregate whose last back pointer is missing, and an empty one', () => {
    const m = decodeMessage(raw(22, aggregate.subarray(0, aggregate.length - 4)));
    expect((m as MessageOf<'Aggregate'>).messages).toHaveLength(2);
    expect(decodeMessage(raw(22, hex('')))).toMatchObject({ type: 'Aggregate', messages: [] });
  });

  it('rejects a tag header that does not fit, a body that overruns and a partial back pointer', () => {
    for (const cut of [1, 10, 12, 15, 17, 18, 19, 21, 30]) {
      const e = typedError(() => decodeMessage(raw(22, aggregate.subarray(0, cut))));
      expect(e.code).toBe('BAD_AGGREGATE');
    }
  });

  it('gives a typed error or the whole tags for a cut at every offset', () => {
    const whole = new Set([0, 16, 20, aggregate.length - 4]); // tag boundaries, or a missing back pointer
    for (let cut = 0; cut < aggregate.length; cut++) {
      let ok = true;
      try {
        decodeMessage(raw(22, aggregate.subarray(0, cut)));
      } catch (e) {
        ok = false;
        expect(e).toBeInstanceOf(MessageError);
      }
      expect([cut, ok]).toEqual([cut, whole.has(cut)]);
    }
  });

  it('rejects an aggregate inside an aggregate', () => {
    const nested = hex('16 00 00 00 00 00 00 00 00 00 00 00 00 00 0b // type 22, empty, pointer');
    expect(typedError(() => decodeMessage(raw(22, nested))).code).toBe('BAD_AGGREGATE');
    const e = typedError(() =>
      encodeMessage({
        type: 'Aggregate',
        messages: [{ type: 'Aggregate', messages: [], timestamp: 0, streamId: 0 }],
        timestamp: 0,
        streamId: 0,
      }),
    );
    expect(e.code).toBe('BAD_AGGREGATE');
  });
});

/** One of every message type, for round trips. */
const samples: RtmpMessage[] = [
  { type: 'SetChunkSize', chunkSize: 4096, timestamp: 0, streamId: 0 },
  { type: 'Abort', abortCsid: 4, timestamp: 0, streamId: 0 },
  { type: 'Acknowledgement', sequenceNumber: 123456, timestamp: 0, streamId: 0 },
  { type: 'UserControl', event: 'StreamBegin', streamId: 1, timestamp: 0 },
  { type: 'UserControl', event: 'PingRequest', time: 42, timestamp: 0, streamId: 0 },
  { type: 'WindowAckSize', windowSize: 2500000, timestamp: 0, streamId: 0 },
  { type: 'SetPeerBandwidth', windowSize: 2500000, limitType: 2, timestamp: 0, streamId: 0 },
  { type: 'Audio', payload: hex('af00 1210'), timestamp: 10, streamId: 1 },
  { type: 'Video', payload: hex('1700 000000'), timestamp: 20, streamId: 1 },
  {
    type: 'Data',
    amf: 0,
    name: 'onMetaData',
    values: ['onMetaData', ecmaArray({ w: 640 })],
    timestamp: 0,
    streamId: 1,
  },
  {
    type: 'Data',
    amf: 3,
    name: 'onTextData',
    values: ['onTextData', { text: 'hi' }],
    timestamp: 5,
    streamId: 1,
  },
  { type: 'SharedObject', amf: 0, payload: hex('0001 61'), timestamp: 0, streamId: 0 },
  { type: 'SharedObject', amf: 3, payload: hex('0001 61'), timestamp: 0, streamId: 0 },
  {
    type: 'Command',
    amf: 0,
    name: 'connect',
    transactionId: 1,
    commandObject: { app: 'live' },
    args: [],
    timestamp: 0,
    streamId: 0,
  },
  {
    type: 'Command',
    amf: 3,
    name: 'call',
    transactionId: 9,
    commandObject: null,
    args: [new Uint8Array([1, 2]), 'x'],
    timestamp: 0,
    streamId: 0,
  },
  {
    type: 'Aggregate',
    messages: [
      { type: 'Video', payload: hex('27 01 000000'), timestamp: 100, streamId: 1 },
      { type: 'Audio', payload: hex('af 01'), timestamp: 110, streamId: 1 },
    ],
    timestamp: 100,
    streamId: 1,
  },
  { type: 'Unknown', typeId: 30, payload: hex('ff'), timestamp: 0, streamId: 0 },
];

describe('every message type', () => {
  it.each(samples.map((m) => [m.type, m] as const))('round-trips %s', (_type, m) => {
    const encoded = encodeMessage(m);
    const back = decodeMessage(encoded);
    const expected =
      m.type === 'Aggregate'
        ? {
            ...m,
            csid: encoded.csid,
            messages: m.messages.map((s) => ({ ...s, csid: encoded.csid })),
          }
        : { ...m, csid: encoded.csid };
    expect(canon(back)).toEqual(canon(expected));
    expect(encodeMessage(back)).toEqual(encoded);
  });

  it.each([
    ['SetChunkSize', 2],
    ['UserControl', 2],
    ['Audio', 4],
    ['Video', 6],
    ['Data', 5],
    ['Aggregate', 6],
  ])('sends %s on chunk stream %i by default', (type, csid) => {
    const m = samples.find((s) => s.type === type)!;
    expect(defaultCsid(m)).toBe(csid);
    expect(encodeMessage(m).csid).toBe(csid);
  });

  it('sends commands on chunk stream 3 on stream 0, and 8 on a NetStream', () => {
    const cmd = samples.find((s) => s.type === 'Command')!;
    expect(encodeMessage(cmd).csid).toBe(3);
    expect(encodeMessage({ ...cmd, streamId: 1 }).csid).toBe(8);
  });

  it('sends User Control on message stream 0 even for an event about stream 1', () => {
    expect(encodeMessage(samples[3]).streamId).toBe(0);
  });

  it('round-trips arbitrary commands and data', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0 as const, 3 as const),
        fc.string(),
        fc.double({ noNaN: true }),
        amfValue,
        fc.array(amfValue, { maxLength: 4 }),
        (amf, name, transactionId, commandObject, args) => {
          const cmd: RtmpMessage = {
            type: 'Command',
            amf,
            name,
            transactionId,
            commandObject,
            args,
            timestamp: 1,
            streamId: 2,
          };
          expect(canon(decodeMessage(encodeMessage(cmd)))).toEqual(canon({ ...cmd, csid: 8 }));
          const data: RtmpMessage = {
            type: 'Data',
            amf,
            name,
            values: [name, ...args],
            timestamp: 1,
            streamId: 2,
          };
          expect(canon(decodeMessage(encodeMessage(data)))).toEqual(canon({ ...data, csid: 5 }));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never throws anything but a typed error on random bodies of every type id', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 30 }),
        fc.uint8Array({ maxLength: 48 }),
        (typeId, payload) => {
          try {
            decodeMessage(raw(typeId, Buffer.from(payload)));
          } catch (e) {
            if (!(e instanceof MessageError) && !(e instanceof AmfError)) throw e;
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('passes limits down to the AMF decoder', () => {
    const body = encodeMessage(samples[13]).payload;
    const e = typedError(() =>
      decodeMessage(raw(20, Buffer.from(body)), { maxAmfStringLength: 3 }),
    );
    expect(e.code).toBe('STRING_TOO_LONG');
  });
});
