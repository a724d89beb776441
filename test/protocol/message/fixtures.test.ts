import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isEcmaArray } from '../../../src/protocol/amf';
import {
  buildConnect,
  buildCreateStream,
  buildDeleteStream,
  buildFcPublish,
  buildFcSubscribe,
  buildFcUnpublish,
  buildOnMetaData,
  buildOnPlayStatus,
  buildOnStatus,
  buildPlay,
  buildPublish,
  buildReleaseStream,
  buildResult,
  buildRtmpSampleAccess,
  buildSetDataFrame,
  decodeMessage,
  defaultCsid,
  encodeMessage,
  readConnect,
  readCreateStreamResult,
  readMetaData,
  readPlay,
  readPublish,
  readReply,
  readStatus,
  type RtmpMessage,
} from '../../../src/protocol/message';
import type { RawMessage } from '../../../src/protocol/types';
import { dechunk } from './dechunk';

const SESSIONS = join(__dirname, '../../fixtures/sessions');
const HANDSHAKE = 1 + 1536 + 1536;

function session(name: string, dir: 'c2s' | 's2c'): RawMessage[] {
  return dechunk(readFileSync(join(SESSIONS, `${name}.${dir}.bin`)), HANDSHAKE);
}

function find(msgs: RtmpMessage[], pred: (m: RtmpMessage) => boolean): RtmpMessage {
  const m = msgs.find(pred);
  if (!m) throw new Error('message not in the fixture');
  return m;
}

const named = (name: string) => (m: RtmpMessage) =>
  (m.type === 'Command' || m.type === 'Data') && m.name === name;

describe('the connect command captured from rtmpdump', () => {
  /** The body, taken by hand from the first chunk after the handshake (chunk size 128). */
  function connectBody(): { header: Buffer; body: Buffer } {
    const c2s = readFileSync(join(SESSIONS, 'rtmpdump-nginx-play.c2s.bin'));
    const header = c2s.subarray(HANDSHAKE, HANDSHAKE + 12); // fmt 0, csid 3: 1 + 11 bytes
    const length = header.readUIntBE(4, 3);
    const first = c2s.subarray(HANDSHAKE + 12, HANDSHAKE + 12 + 128);
    expect(c2s[HANDSHAKE + 12 + 128]).toBe(0xc3); // fmt 3 on csid 3
    const rest = c2s.subarray(HANDSHAKE + 12 + 129, HANDSHAKE + 12 + 129 + (length - 128));
    return { header, body: Buffer.concat([first, rest]) };
  }

  it('has the header of an AMF0 command on chunk stream 3, message stream 0', () => {
    const { header } = connectBody();
    expect(header[0]).toBe(0x03); // fmt 0, csid 3
    expect(header[7]).toBe(20); // type id 20
    expect(header.readUInt32LE(8)).toBe(0); // message stream 0
  });

  it('decodes to connect, transaction 1, with the expected command object', () => {
    const { body } = connectBody();
    const m = decodeMessage({ csid: 3, timestamp: 0, typeId: 20, streamId: 0, payload: body });
    expect(m).toEqual({
      type: 'Command',
      amf: 0,
      name: 'connect',
      transactionId: 1,
      commandObject: {
        app: 'vod',
        flashVer: 'LNX 10,0,32,18',
        tcUrl: 'rtmp://127.0.0.1:19350/vod',
        fpad: false,
        capabilities: 15,
        audioCodecs: 3191,
        videoCodecs: 252,
        videoFunction: 1,
      },
      args: [],
      timestamp: 0,
      streamId: 0,
      csid: 3,
    });
  });

  it('is what buildConnect writes for the same parameters, byte for byte', () => {
    const { body } = connectBody();
    const built = encodeMessage(
      buildConnect({
        app: 'vod',
        flashVer: 'LNX 10,0,32,18',
        tcUrl: 'rtmp://127.0.0.1:19350/vod',
        fpad: false,
        capabilities: 15,
        audioCodecs: 3191,
        videoCodecs: 252,
        videoFunction: 1,
      }),
    );
    expect(Buffer.from(built.payload).toString('hex')).toBe(body.toString('hex'));
    expect(built).toMatchObject({ csid: 3, typeId: 20, streamId: 0, timestamp: 0 });
  });

  it('gives a typed error or a shorter value list when truncated at any offset', () => {
    const { body } = connectBody();
    // Offsets where a value ends: after "connect", after the transaction id, at the end.
    const boundaries = new Set([10, 19, body.length]);
    for (let cut = 0; cut < body.length; cut++) {
      const raw = {
        csid: 3,
        timestamp: 0,
        typeId: 20,
        streamId: 0,
        payload: body.subarray(0, cut),
      };
      let error: unknown;
      try {
        decodeMessage(raw);
      } catch (e) {
        error = e;
      }
      if (boundaries.has(cut) && cut > 10) {
        expect(error).toBeUndefined();
      } else {
        expect(error).toBeInstanceOf(Error);
        expect(error).not.toBeInstanceOf(RangeError);
        expect((error as { code?: string }).code).toMatch(/^(UNEXPECTED_END|BAD_COMMAND)$/);
      }
    }
  });
});

const NAMES = ['rtmpdump-nginx-play', 'ffmpeg-publish-nginx', 'rtmpdump-nms-live-play'] as const;
const INFO_NAMES: Record<string, string> = {
  Command: 'AMF0Cmd',
  Data: 'AMF0Data',
  WindowAckSize: 'WinAckSize',
  Acknowledgement: 'Ack',
};

describe.each(NAMES)('every message of the captured session %s', (name) => {
  const info = JSON.parse(readFileSync(join(SESSIONS, `${name}.info.json`), 'utf8')) as Record<
    'c2s' | 's2c',
    { counts: Record<string, number> }
  >;

  it.each(['c2s', 's2c'] as const)(
    'decodes (%s) into the types the independent decoder counted',
    (dir) => {
      const counts: Record<string, number> = {};
      for (const raw of session(name, dir)) {
        const m = decodeMessage(raw);
        const key = INFO_NAMES[m.type] ?? m.type;
        counts[key] = (counts[key] ?? 0) + 1;
      }
      expect(counts).toEqual(info[dir].counts);
    },
  );

  it.each(['c2s', 's2c'] as const)('re-encodes (%s) to the same type, body and stream', (dir) => {
    for (const raw of session(name, dir)) {
      const back = encodeMessage(decodeMessage(raw));
      expect(back.typeId).toBe(raw.typeId);
      expect(back.streamId).toBe(raw.streamId);
      expect(back.timestamp).toBe(raw.timestamp);
      expect(back.csid).toBe(raw.csid);
      expect(Buffer.from(back.payload).equals(Buffer.from(raw.payload))).toBe(true);
    }
  });

  it.each(['c2s', 's2c'] as const)(
    'keeps (%s) audio and video payloads as the same bytes, uncopied',
    (dir) => {
      for (const raw of session(name, dir)) {
        if (raw.typeId !== 8 && raw.typeId !== 9) continue;
        const m = decodeMessage(raw);
        expect(m.type === 'Audio' || m.type === 'Video').toBe(true);
        if (m.type === 'Audio' || m.type === 'Video') expect(m.payload).toBe(raw.payload);
      }
    },
  );
});

describe('defaults that match librtmp', () => {
  it('picks the chunk stream rtmpdump used for each of its messages', () => {
    for (const name of ['rtmpdump-nginx-play', 'rtmpdump-nms-live-play']) {
      for (const raw of session(name, 'c2s')) {
        const m = decodeMessage(raw);
        if (m.type === 'Audio' || m.type === 'Video') continue;
        expect([m.type, defaultCsid(m)]).toEqual([m.type, raw.csid]);
      }
    }
  });
});

describe('reading the captured commands and data', () => {
  const play = session('rtmpdump-nginx-play', 'c2s').map((r) => decodeMessage(r));
  const served = session('rtmpdump-nginx-play', 's2c').map((r) => decodeMessage(r));
  const published = session('ffmpeg-publish-nginx', 'c2s').map((r) => decodeMessage(r));
  const nms = session('rtmpdump-nms-live-play', 's2c').map((r) => decodeMessage(r));

  it('reads the connect _result reply and its information object', () => {
    const reply = readReply(
      find(served, (m) => named('_result')(m) && m.type === 'Command' && m.transactionId === 1),
    );
    expect(reply).toEqual({
      transactionId: 1,
      ok: true,
      properties: { fmsVer: 'FMS/3,0,1,123', capabilities: 31 },
      info: {
        level: 'status',
        code: 'NetConnection.Connect.Success',
        description: 'Connection succeeded.',
        objectEncoding: 0,
      },
      args: [expect.any(Object)],
    });
  });

  it('reads the stream id of the createStream _result', () => {
    const m = find(
      served,
      (x) => named('_result')(x) && x.type === 'Command' && x.transactionId === 2,
    );
    expect(readCreateStreamResult(m, 2)).toBe(1);
    expect(readCreateStreamResult(m, 3)).toBeUndefined();
  });

  it('reads onStatus commands and the onPlayStatus data message', () => {
    const codes = served.map((m) => readStatus(m)?.code).filter((c) => c !== undefined);
    expect(codes).toEqual([
      'NetStream.Play.Start',
      'NetStream.Play.Complete',
      'NetStream.Play.Stop',
    ]);
  });

  it('reads onMetaData as sent by nginx and @setDataFrame as sent by ffmpeg and node-media-server', () => {
    const fromNginx = readMetaData(find(served, named('onMetaData')));
    const fromFfmpeg = readMetaData(find(published, named('@setDataFrame')));
    const fromNms = readMetaData(find(nms, named('@setDataFrame')));
    expect(fromNginx).toMatchObject({ duration: 10.067, width: 640, height: 360, videocodecid: 7 });
    expect(fromFfmpeg).toMatchObject({ duration: 4, width: 640, audiocodecid: 10, filesize: 0 });
    expect(fromNms).toMatchObject({ duration: 60, encoder: 'Lavf59.27.100' });
    expect(isEcmaArray(fromNginx)).toBe(true);
  });

  it('reads the connect, play and publish requests as a server would', () => {
    expect(readConnect(find(play, named('connect')))).toMatchObject({
      app: 'vod',
      tcUrl: 'rtmp://127.0.0.1:19350/vod',
      transactionId: 1,
      fpad: false,
    });
    expect(readConnect(find(published, named('connect')))).toMatchObject({
      app: 'live',
      flashVer: 'FMLE/3.0 (compatible; Lavf59.27.100)',
      extra: { type: 'nonprivate' },
    });
    expect(readPlay(find(play, named('play')))).toEqual({
      name: 'small',
      start: 0,
      duration: -1,
      reset: true,
    });
    expect(readPublish(find(published, named('publish')))).toEqual({
      name: 'capture',
      type: 'live',
    });
  });
});

describe('builders reproduce the captured messages byte for byte', () => {
  function same(built: RtmpMessage, captured: RtmpMessage): void {
    const a = encodeMessage(built);
    const b = encodeMessage(captured);
    expect(Buffer.from(a.payload).toString('hex')).toBe(Buffer.from(b.payload).toString('hex'));
    expect([a.typeId, a.streamId, a.csid]).toEqual([b.typeId, b.streamId, b.csid]);
  }
  const play = session('rtmpdump-nginx-play', 'c2s').map((r) => decodeMessage(r));
  const served = session('rtmpdump-nginx-play', 's2c').map((r) => decodeMessage(r));
  const published = session('ffmpeg-publish-nginx', 'c2s').map((r) => decodeMessage(r));
  const nms = session('rtmpdump-nms-live-play', 'c2s').map((r) => decodeMessage(r));

  it('createStream, play and deleteStream from rtmpdump', () => {
    same(buildCreateStream({ transactionId: 2 }), find(play, named('createStream')));
    same(
      buildPlay('small', { start: 0 }, { transactionId: 3, streamId: 1 }),
      find(play, named('play')),
    );
    same(buildDeleteStream(1, { transactionId: 4 }), find(play, named('deleteStream')));
    same(buildFcSubscribe('capture', { transactionId: 3 }), find(nms, named('FCSubscribe')));
  });

  it('releaseStream, FCPublish, publish, FCUnpublish and @setDataFrame from ffmpeg', () => {
    same(
      buildReleaseStream('capture', { transactionId: 2 }),
      find(published, named('releaseStream')),
    );
    same(buildFcPublish('capture', { transactionId: 3 }), find(published, named('FCPublish')));
    same(
      buildPublish('capture', 'live', { transactionId: 5, streamId: 1 }),
      find(published, named('publish')),
    );
    same(buildFcUnpublish('capture', { transactionId: 6 }), find(published, named('FCUnpublish')));
    const meta = readMetaData(find(published, named('@setDataFrame')))!;
    same(
      buildSetDataFrame(meta, { streamId: 1, csid: 4 }),
      find(published, named('@setDataFrame')),
    );
  });

  it('_result, onStatus, |RtmpSampleAccess, onMetaData and onPlayStatus from nginx', () => {
    const connectResult = find(
      served,
      (m) => named('_result')(m) && m.type === 'Command' && m.transactionId === 1,
    );
    same(
      buildResult(
        1,
        { fmsVer: 'FMS/3,0,1,123', capabilities: 31 },
        {
          level: 'status',
          code: 'NetConnection.Connect.Success',
          description: 'Connection succeeded.',
          objectEncoding: 0,
        },
      ),
      connectResult,
    );
    same(
      buildResult(2, null, 1),
      find(served, (m) => named('_result')(m) && m.type === 'Command' && m.transactionId === 2),
    );
    same(
      buildOnStatus(
        { level: 'status', code: 'NetStream.Play.Start', description: 'Start video on demand' },
        { streamId: 1, csid: 5 },
      ),
      find(served, (m) => readStatus(m)?.code === 'NetStream.Play.Start'),
    );
    same(
      buildRtmpSampleAccess(true, true, { streamId: 1 }),
      find(served, named('|RtmpSampleAccess')),
    );
    const meta = readMetaData(find(served, named('onMetaData')))!;
    same(buildOnMetaData(meta, { streamId: 1 }), find(served, named('onMetaData')));
    same(
      buildOnPlayStatus(
        { code: 'NetStream.Play.Complete', level: 'status', duration: 0, bytes: 0 },
        { streamId: 1 },
      ),
      find(served, named('onPlayStatus')),
    );
  });
});
