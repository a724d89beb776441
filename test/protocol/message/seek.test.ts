import {
  buildPause,
  buildSeek,
  decodeMessage,
  encodeMessage,
  readStatus,
  buildOnStatus,
  StatusCode,
} from '../../../src/protocol/message';
import { ascii, hex } from '../amf/hex';

/** The AMF0 payload of `seek(5000)`: the command, transaction 0, null, the position. */
const SEEK_5000 = hex(`
  02 00 04 ${ascii('seek')}        // name "seek"
  00 00 00 00 00 00 00 00 00       // transaction id 0
  05                               // command object: null
  00 40 b3 88 00 00 00 00 00       // milliseconds 5000
`);

/** The AMF0 payload of `pause(true, 1500)`: the command, transaction 0, null, flag, position. */
const PAUSE_1500 = hex(`
  02 00 05 ${ascii('pause')}       // name "pause"
  00 00 00 00 00 00 00 00 00       // transaction id 0
  05                               // command object: null
  01 01                            // pause flag true
  00 40 97 70 00 00 00 00 00       // milliseconds 1500
`);

/** `pause(false, 0)`: resume from the start. */
const UNPAUSE_0 = hex(`
  02 00 05 ${ascii('pause')}       // name "pause"
  00 00 00 00 00 00 00 00 00       // transaction id 0
  05                               // command object: null
  01 00                            // pause flag false
  00 00 00 00 00 00 00 00 00       // milliseconds 0
`);

const payloadHex = (m: Parameters<typeof encodeMessage>[0]) =>
  Buffer.from(encodeMessage(m).payload).toString('hex');

describe('seek and pause on the wire', () => {
  it.each([
    ['seek(5000)', buildSeek(5000, { streamId: 1 }), SEEK_5000],
    ['pause(true, 1500)', buildPause(true, 1500, { streamId: 1 }), PAUSE_1500],
    ['pause(false, 0)', buildPause(false, 0, { streamId: 1 }), UNPAUSE_0],
  ])('encodes %s as an AMF0 command (type 20) on the NetStream, byte for byte', (_n, m, golden) => {
    const raw = encodeMessage(m);
    expect(raw.typeId).toBe(20);
    expect(raw.streamId).toBe(1);
    expect(payloadHex(m)).toBe(golden.toString('hex'));
  });

  it.each([
    ['seek', SEEK_5000, [5000]],
    ['pause', PAUSE_1500, [true, 1500]],
    ['pause', UNPAUSE_0, [false, 0]],
  ])('decodes the %s bytes back to the command with nothing left over', (name, golden, args) => {
    const raw = { csid: 8, timestamp: 0, typeId: 20, streamId: 1, payload: golden };
    const m = decodeMessage(raw);
    expect(m).toEqual({
      type: 'Command',
      amf: 0,
      name,
      transactionId: 0,
      commandObject: null,
      args,
      timestamp: 0,
      streamId: 1,
      csid: 8,
    });
    expect(Buffer.from(encodeMessage(m).payload).equals(golden)).toBe(true);
  });

  it('reads the seek statuses a server answers with', () => {
    for (const code of [StatusCode.SeekNotify, StatusCode.SeekFailed, StatusCode.SeekInvalidTime]) {
      const m = decodeMessage(
        encodeMessage(buildOnStatus({ level: 'status', code }, { streamId: 1 })),
      );
      expect(readStatus(m)?.code).toBe(code);
    }
    expect(StatusCode.SeekInvalidTime).toBe('NetStream.Seek.InvalidTime');
  });
});
