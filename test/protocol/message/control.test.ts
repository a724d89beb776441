import { decodeMessage, encodeMessage, type RtmpMessage } from '../../../src/protocol/message';
import { MessageError } from '../../../src/protocol/errors';
import { hex, thrown } from '../amf/hex';

interface Golden {
  name: string;
  typeId: number;
  body: Buffer;
  message: RtmpMessage;
}

const at = { timestamp: 0, streamId: 0, csid: 2 };

/** Protocol control messages (types 1-3, 5, 6) and every User Control event (type 4). */
const golden: Golden[] = [
  {
    name: 'Set Chunk Size 4096',
    typeId: 1,
    body: hex('00 00 10 00 // u32 chunk size 4096'),
    message: { ...at, type: 'SetChunkSize', chunkSize: 4096 },
  },
  {
    name: 'Set Chunk Size with the high bit set (kept: the chunk layer validates it)',
    typeId: 1,
    body: hex('80 00 00 80 // u32 0x80000080'),
    message: { ...at, type: 'SetChunkSize', chunkSize: 0x80000080 },
  },
  {
    name: 'Abort',
    typeId: 2,
    body: hex('00 00 00 05 // u32 chunk stream id 5'),
    message: { ...at, type: 'Abort', abortCsid: 5 },
  },
  {
    name: 'Acknowledgement',
    typeId: 3,
    body: hex('00 4c 4b 40 // u32 sequence number 5000000'),
    message: { ...at, type: 'Acknowledgement', sequenceNumber: 5_000_000 },
  },
  {
    name: 'Acknowledgement near 2^32',
    typeId: 3,
    body: hex('ff ff ff fe // u32 4294967294'),
    message: { ...at, type: 'Acknowledgement', sequenceNumber: 0xfffffffe },
  },
  {
    name: 'Window Acknowledgement Size',
    typeId: 5,
    body: hex('00 26 25 a0 // u32 2500000'),
    message: { ...at, type: 'WindowAckSize', windowSize: 2_500_000 },
  },
  {
    name: 'Set Peer Bandwidth, hard',
    typeId: 6,
    body: hex(`
      00 4c 4b 40                // u32 window 5000000
      00                         // limit type 0: hard
    `),
    message: { ...at, type: 'SetPeerBandwidth', windowSize: 5_000_000, limitType: 0 },
  },
  {
    name: 'Set Peer Bandwidth, soft',
    typeId: 6,
    body: hex('00 4c 4b 40 01 // window 5000000, limit type 1: soft'),
    message: { ...at, type: 'SetPeerBandwidth', windowSize: 5_000_000, limitType: 1 },
  },
  {
    name: 'Set Peer Bandwidth, dynamic',
    typeId: 6,
    body: hex('00 4c 4b 40 02 // window 5000000, limit type 2: dynamic'),
    message: { ...at, type: 'SetPeerBandwidth', windowSize: 5_000_000, limitType: 2 },
  },
  {
    name: 'User Control StreamBegin',
    typeId: 4,
    body: hex(`
      00 00                      // u16 event 0: StreamBegin
      00 00 00 01                // u32 stream id 1
    `),
    message: { ...at, type: 'UserControl', event: 'StreamBegin', streamId: 1 },
  },
  {
    name: 'User Control StreamEOF',
    typeId: 4,
    body: hex('00 01 // event 1: StreamEOF \n 00 00 00 01 // stream id 1'),
    message: { ...at, type: 'UserControl', event: 'StreamEOF', streamId: 1 },
  },
  {
    name: 'User Control StreamDry',
    typeId: 4,
    body: hex('00 02 // event 2: StreamDry \n 00 00 00 03 // stream id 3'),
    message: { ...at, type: 'UserControl', event: 'StreamDry', streamId: 3 },
  },
  {
    name: 'User Control SetBufferLength',
    typeId: 4,
    body: hex(`
      00 03                      // u16 event 3: SetBufferLength
      00 00 00 01                // u32 stream id 1
      02 25 51 00                // u32 buffer length 36000000 ms (rtmpdump's 10 hours)
    `),
    message: {
      ...at,
      type: 'UserControl',
      event: 'SetBufferLength',
      streamId: 1,
      bufferLength: 36_000_000,
    },
  },
  {
    name: 'User Control StreamIsRecorded',
    typeId: 4,
    body: hex('00 04 // event 4: StreamIsRecorded \n 00 00 00 01 // stream id 1'),
    message: { ...at, type: 'UserControl', event: 'StreamIsRecorded', streamId: 1 },
  },
  {
    name: 'User Control PingRequest',
    typeId: 4,
    body: hex(`
      00 06                      // u16 event 6: PingRequest
      12 34 56 78                // u32 server time
    `),
    message: { ...at, type: 'UserControl', event: 'PingRequest', time: 0x12345678 },
  },
  {
    name: 'User Control PingResponse',
    typeId: 4,
    body: hex('00 07 // event 7: PingResponse \n 12 34 56 78 // the time it echoes'),
    message: { ...at, type: 'UserControl', event: 'PingResponse', time: 0x12345678 },
  },
];

/** Events this codec does not name: kept as event type + data. */
const unknownEvents: Golden[] = [
  {
    name: 'User Control SWF verification request (26)',
    typeId: 4,
    body: hex('00 1a // event 26, no data'),
    message: { ...at, type: 'UserControl', event: 'Unknown', eventType: 26, data: hex('') },
  },
  {
    name: 'User Control BufferEmpty (31)',
    typeId: 4,
    body: hex('00 1f // event 31 \n 00 00 00 01 // data: stream id 1'),
    message: { ...at, type: 'UserControl', event: 'Unknown', eventType: 31, data: hex('00000001') },
  },
];

const all = [...golden, ...unknownEvents];

describe('control message golden tables', () => {
  it.each(all)('decodes $name', ({ typeId, body, message }) => {
    const m = decodeMessage({ csid: 2, timestamp: 0, typeId, streamId: 0, payload: body });
    expect(m).toEqual(message);
  });

  it.each(all)('encodes $name on chunk stream 2, message stream 0', ({ typeId, body, message }) => {
    const raw = encodeMessage(message);
    expect(Buffer.from(raw.payload).toString('hex')).toBe(body.toString('hex'));
    expect(raw).toMatchObject({ typeId, csid: 2, streamId: 0, timestamp: 0 });
  });

  it.each(all)('round-trips $name with nothing left over', ({ message }) => {
    const raw = encodeMessage(message);
    expect(decodeMessage(raw)).toEqual(message);
    expect(encodeMessage(decodeMessage(raw))).toEqual(raw);
  });

  it('copies header fields from the raw message', () => {
    const m = decodeMessage({
      csid: 9,
      timestamp: 1234,
      typeId: 3,
      streamId: 0,
      payload: hex('00 00 00 01'),
    });
    expect(m).toEqual({
      type: 'Acknowledgement',
      sequenceNumber: 1,
      csid: 9,
      timestamp: 1234,
      streamId: 0,
    });
  });

  it('keeps a csid given on the message when encoding', () => {
    const raw = encodeMessage({
      type: 'WindowAckSize',
      windowSize: 1,
      timestamp: 0,
      streamId: 0,
      csid: 7,
    });
    expect(raw.csid).toBe(7);
  });

  it('ignores bytes after a control body', () => {
    const m = decodeMessage({
      csid: 2,
      timestamp: 0,
      typeId: 1,
      streamId: 0,
      payload: hex('00 00 10 00 ff'),
    });
    expect(m).toMatchObject({ type: 'SetChunkSize', chunkSize: 4096 });
  });
});

describe('bad control messages', () => {
  function messageError(fn: () => unknown): MessageError {
    const e = thrown(fn);
    expect(e).toBeInstanceOf(MessageError);
    return e as MessageError;
  }

  it.each(golden)('gives TRUNCATED_BODY for $name cut at every offset', ({ typeId, body }) => {
    for (let cut = 0; cut < body.length; cut++) {
      const e = messageError(() =>
        decodeMessage({
          csid: 2,
          timestamp: 0,
          typeId,
          streamId: 0,
          payload: body.subarray(0, cut),
        }),
      );
      expect(e.code).toBe('TRUNCATED_BODY');
      expect(e.details).toMatchObject({ typeId, length: cut });
    }
  });

  it('gives TRUNCATED_BODY for a User Control body without its event type', () => {
    const e = messageError(() =>
      decodeMessage({ csid: 2, timestamp: 0, typeId: 4, streamId: 0, payload: hex('00') }),
    );
    expect(e.code).toBe('TRUNCATED_BODY');
  });

  it('rejects a Set Peer Bandwidth limit type above 2', () => {
    const e = messageError(() =>
      decodeMessage({
        csid: 2,
        timestamp: 0,
        typeId: 6,
        streamId: 0,
        payload: hex('00 00 00 01 03'),
      }),
    );
    expect(e.code).toBe('BAD_VALUE');
    expect(e.details).toMatchObject({ limitType: 3 });
  });

  it.each([-1, 2 ** 32, 1.5, Number.NaN])('refuses to encode a u32 field of %p', (v) => {
    const e = messageError(() =>
      encodeMessage({ type: 'SetChunkSize', chunkSize: v, timestamp: 0, streamId: 0 }),
    );
    expect(e.code).toBe('BAD_VALUE');
    expect(
      messageError(() =>
        encodeMessage({
          type: 'UserControl',
          event: 'SetBufferLength',
          streamId: 1,
          bufferLength: v,
          timestamp: 0,
        }),
      ).code,
    ).toBe('BAD_VALUE');
  });

  it('refuses to encode a Set Peer Bandwidth limit type above 2', () => {
    const e = messageError(() =>
      encodeMessage({
        type: 'SetPeerBandwidth',
        windowSize: 1,
        limitType: 3 as 0,
        timestamp: 0,
        streamId: 0,
      }),
    );
    expect(e.code).toBe('BAD_VALUE');
  });
});
