import { isEcmaArray } from '../../../src/protocol/amf';
import {
  buildCloseStream,
  buildCommand,
  buildConnect,
  buildCreateStream,
  buildError,
  buildFcSubscribe,
  buildGetStreamLength,
  buildOnBwDone,
  buildOnMetaData,
  buildOnStatus,
  buildPause,
  buildPlay,
  buildPlay2,
  buildPublish,
  buildResult,
  buildSeek,
  buildSetDataFrame,
  CapsEx,
  decodeMessage,
  encodeMessage,
  FourCcInfo,
  readConnect,
  readCreateStreamResult,
  readMetaData,
  readPlay,
  readPublish,
  readReply,
  readStatus,
  StatusCode,
  type MessageOf,
  type RtmpMessage,
} from '../../../src/protocol/message';
import { ascii, hex } from '../amf/hex';

/** Encodes then decodes, as the peer would see the message. */
function wire(m: RtmpMessage): RtmpMessage {
  return decodeMessage(encodeMessage(m));
}

describe('connect', () => {
  it('writes transaction 1 and only the properties given, in librtmp order', () => {
    const m = buildConnect({ tcUrl: 'rtmp://h/app', app: 'app', flashVer: 'FMLE/3.0' });
    expect(m).toMatchObject({ type: 'Command', name: 'connect', transactionId: 1, streamId: 0 });
    expect(Object.keys(m.commandObject as object)).toEqual(['app', 'flashVer', 'tcUrl']);
    expect(Buffer.from(encodeMessage(m).payload).toString('hex')).toBe(
      hex(`
        02 00 07 ${ascii('connect')}  // name
        00 3f f0 00 00 00 00 00 00    // transaction id 1
        03                            // command object
        00 03 ${ascii('app')} 02 00 03 ${ascii('app')}
        00 08 ${ascii('flashVer')} 02 00 08 ${ascii('FMLE/3.0')}
        00 05 ${ascii('tcUrl')} 02 00 0c ${ascii('rtmp://h/app')}
        00 00 09                      // end
      `).toString('hex'),
    );
  });

  it('carries the Enhanced RTMP fields, extra properties and arguments, and reads them back', () => {
    const m = buildConnect(
      {
        app: 'live',
        objectEncoding: 0,
        fourCcList: ['av01', 'hvc1'],
        videoFourCcInfoMap: { hvc1: FourCcInfo.CanDecode | FourCcInfo.CanForward },
        audioFourCcInfoMap: { '*': FourCcInfo.CanForward },
        capsEx: CapsEx.Reconnect | CapsEx.Multitrack,
        extra: { type: 'nonprivate' },
        args: ['user', 42],
      },
      { transactionId: 7 },
    );
    const read = readConnect(wire(m));
    expect(read).toEqual({
      app: 'live',
      transactionId: 7,
      objectEncoding: 0,
      fourCcList: ['av01', 'hvc1'],
      videoFourCcInfoMap: { hvc1: 5 },
      audioFourCcInfoMap: { '*': 4 },
      capsEx: 3,
      extra: { type: 'nonprivate' },
      args: ['user', 42],
      commandObject: expect.objectContaining({ app: 'live', capsEx: 3 }),
    });
  });

  it('reads nothing from other commands or a connect without an app', () => {
    expect(readConnect(buildCreateStream({ transactionId: 2 }))).toBeUndefined();
    expect(
      readConnect(buildCommand('connect', { tcUrl: 'x' }, [], { transactionId: 1 })),
    ).toBeUndefined();
  });
});

describe('_result and _error', () => {
  it('reads a _result with its properties and information', () => {
    const m = wire(
      buildResult(
        1,
        { fmsVer: 'FMS/3,5,7,7009' },
        { level: 'status', code: StatusCode.ConnectSuccess },
      ),
    );
    expect(readReply(m)).toEqual({
      transactionId: 1,
      ok: true,
      properties: { fmsVer: 'FMS/3,5,7,7009' },
      info: { level: 'status', code: 'NetConnection.Connect.Success' },
      args: [{ level: 'status', code: 'NetConnection.Connect.Success' }],
    });
  });

  it('reads an _error as not ok', () => {
    const m = wire(
      buildError(1, null, { level: 'error', code: StatusCode.ConnectRejected, description: 'no' }),
    );
    expect(readReply(m)).toMatchObject({
      ok: false,
      info: { code: 'NetConnection.Connect.Rejected' },
    });
  });

  it('reads a reply without arguments with a null info', () => {
    expect(readReply(buildCommand('_result', null, [], { transactionId: 3 }))).toMatchObject({
      info: null,
    });
  });

  it('reads nothing from other messages', () => {
    expect(readReply(buildOnBwDone())).toBeUndefined();
    expect(readReply(buildOnMetaData({}))).toBeUndefined();
  });

  it('reads the stream id of a createStream result only when the transaction matches', () => {
    const m = wire(buildResult(4, null, 1));
    expect(readCreateStreamResult(m, 4)).toBe(1);
    expect(readCreateStreamResult(m, 5)).toBeUndefined();
    expect(readCreateStreamResult(wire(buildError(4, null, 1)), 4)).toBeUndefined();
  });
});

describe('onStatus', () => {
  const info = { level: 'error', code: StatusCode.PlayStreamNotFound, description: 'nope' };

  it('builds onStatus with transaction 0 and a null command object on a stream', () => {
    const m = buildOnStatus(info, { streamId: 1 });
    expect(m).toMatchObject({
      name: 'onStatus',
      transactionId: 0,
      commandObject: null,
      streamId: 1,
    });
    expect(readStatus(wire(m))).toEqual(info);
  });

  it('reads the information object from the command object when there are no arguments', () => {
    expect(readStatus(buildCommand('onStatus', info, []))).toEqual(info);
  });

  it('reads onStatus sent as a data message', () => {
    const m = decodeMessage(
      encodeMessage({
        type: 'Data',
        amf: 0,
        name: 'onStatus',
        values: ['onStatus', info],
        timestamp: 0,
        streamId: 1,
      }),
    );
    expect(readStatus(m)).toEqual(info);
  });

  it('reads nothing when the information object lacks level or code', () => {
    expect(readStatus(buildCommand('onStatus', null, [{ code: 'x' }]))).toBeUndefined();
    expect(readStatus(buildCommand('onStatus', null, ['text']))).toBeUndefined();
    expect(readStatus(buildCommand('onStatus', null, [[1]]))).toBeUndefined();
  });
});

describe('NetStream commands', () => {
  it('play sends start -2 by default, and duration and reset only when given', () => {
    expect(buildPlay('s').args).toEqual(['s', -2]);
    expect(buildPlay('s', { start: -1, duration: 10 }).args).toEqual(['s', -1, 10]);
    expect(buildPlay('s', { reset: false }).args).toEqual(['s', -2, -1, false]);
    expect(buildPlay('s', {}, { streamId: 1, transactionId: 5 })).toMatchObject({
      streamId: 1,
      transactionId: 5,
    });
  });

  it('readPlay fills the defaults and rejects a play without a name', () => {
    expect(readPlay(buildPlay('s', { duration: 0, reset: false }))).toEqual({
      name: 's',
      start: -2,
      duration: 0,
      reset: false,
    });
    expect(readPlay(buildCommand('play', null, [1]))).toBeUndefined();
    expect(readPlay(buildPublish('s'))).toBeUndefined();
  });

  it('publish defaults to live, and readPublish reads record and append', () => {
    expect(buildPublish('s').args).toEqual(['s', 'live']);
    expect(readPublish(wire(buildPublish('s', 'record')))).toEqual({ name: 's', type: 'record' });
    expect(readPublish(wire(buildPublish('s', 'append')))).toEqual({ name: 's', type: 'append' });
    expect(readPublish(buildCommand('publish', null, ['s']))).toEqual({ name: 's', type: 'live' });
    expect(readPublish(buildCommand('publish', null, []))).toBeUndefined();
  });

  it.each([
    ['pause', buildPause(true, 1500, { streamId: 1 }), [true, 1500]],
    ['seek', buildSeek(3000, { streamId: 1 }), [3000]],
    ['closeStream', buildCloseStream({ streamId: 1 }), []],
    ['FCSubscribe', buildFcSubscribe('s'), ['s']],
    ['getStreamLength', buildGetStreamLength('s', { transactionId: 3 }), ['s']],
    [
      'play2',
      buildPlay2({ streamName: 's2', oldStreamName: 's1', transition: 'switch' }),
      [{ streamName: 's2', oldStreamName: 's1', transition: 'switch' }],
    ],
    ['onBWDone', buildOnBwDone(), []],
  ])('%s survives the wire with its arguments', (name, m, args) => {
    const back = wire(m);
    expect(back).toMatchObject({ type: 'Command', name, commandObject: null, args });
  });

  it('builds AMF3 (type 17) commands on request', () => {
    expect(encodeMessage(buildCreateStream({ transactionId: 2, amf: 3 })).typeId).toBe(17);
  });
});

describe('metadata', () => {
  const meta = { duration: 10, width: 640, stereo: true };

  it('builds onMetaData with the data as an ECMA array, leaving the argument untouched', () => {
    const m = buildOnMetaData(meta, { streamId: 1 });
    expect(m).toMatchObject({
      type: 'Data',
      name: 'onMetaData',
      values: ['onMetaData', meta],
      streamId: 1,
    });
    expect(isEcmaArray(m.values[1])).toBe(true);
    expect(isEcmaArray(meta)).toBe(false);
    expect(encodeMessage(m).payload[13]).toBe(0x08); // after 02 00 0a "onMetaData": the ECMA marker
  });

  it('reads metadata from onMetaData and from @setDataFrame', () => {
    expect(readMetaData(wire(buildOnMetaData(meta)))).toEqual(meta);
    expect(readMetaData(wire(buildSetDataFrame(meta)))).toEqual(meta);
  });

  it('reads metadata sent as a plain object too', () => {
    const m: RtmpMessage = {
      type: 'Data',
      amf: 0,
      name: 'onMetaData',
      values: ['onMetaData', { a: 1 }],
      timestamp: 0,
      streamId: 0,
    };
    expect(readMetaData(wire(m))).toEqual({ a: 1 });
  });

  it('reads nothing from other data, a non-object value or a command', () => {
    const data = (values: MessageOf<'Data'>['values']): RtmpMessage => ({
      type: 'Data',
      amf: 0,
      name: String(values[0]),
      values,
      timestamp: 0,
      streamId: 0,
    });
    expect(readMetaData(data(['onMetaData', [1, 2]]))).toBeUndefined();
    expect(readMetaData(data(['onMetaData', 'x']))).toBeUndefined();
    expect(readMetaData(data(['@setDataFrame', 'onCuePoint', {}]))).toBeUndefined();
    expect(readMetaData(data(['onCuePoint', {}]))).toBeUndefined();
    expect(readMetaData(buildCommand('onMetaData', {}, []))).toBeUndefined();
  });
});
