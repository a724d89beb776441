import { ecmaArray } from '../../../src/protocol/amf/amf0';
import { decodeMessage, encodeMessage } from '../../../src/protocol/message';
import {
  clientCapabilityProperties,
  fourCcFlags,
  readCapabilities,
  resolveReconnectUrl,
  serverCapabilityProperties,
} from '../../../src/protocol/message/capabilities';
import {
  buildConnect,
  buildResult,
  CapsEx,
  FourCcInfo,
} from '../../../src/protocol/message/commands';

describe('Enhanced RTMP v2 capabilities', () => {
  it('uses the spec values for CapsEx and FourCcInfo', () => {
    expect(CapsEx).toEqual({ Reconnect: 1, Multitrack: 2, ModEx: 4, TimestampNanoOffset: 8 });
    expect(FourCcInfo).toEqual({ CanDecode: 1, CanEncode: 2, CanForward: 4 });
  });

  it('advertises Reconnect, Multitrack and ModEx and forwards every codec (it never decodes) in the client connect', () => {
    const p = clientCapabilityProperties();
    expect(p.capsEx).toBe(CapsEx.Reconnect | CapsEx.Multitrack | CapsEx.ModEx);
    expect(p.fourCcList).toEqual(['*']);
    expect(p.videoFourCcInfoMap['*']).toBe(FourCcInfo.CanForward);
    expect(p.videoFourCcInfoMap.hvc1).toBe(FourCcInfo.CanForward);
    expect(p.audioFourCcInfoMap.Opus).toBe(FourCcInfo.CanForward);
    expect(Object.values(p.videoFourCcInfoMap).every((v) => (v & FourCcInfo.CanDecode) === 0)).toBe(
      true,
    );
  });

  it('reads the capabilities back from a connect that went over the wire', () => {
    const msg = decodeMessage(
      encodeMessage(buildConnect({ app: 'live', ...clientCapabilityProperties() })),
    );
    if (msg.type !== 'Command') throw new Error('not a command');
    const caps = readCapabilities(msg.commandObject);
    expect(caps).toMatchObject({
      enhanced: true,
      reconnect: true,
      multitrack: true,
      modEx: true,
      timestampNanoOffset: false,
      capsEx: 7,
    });
    expect(caps.fourCcList).toEqual(['*']);
    expect(fourCcFlags(caps.videoFourCcInfoMap, 'av01')).toBe(FourCcInfo.CanForward);
  });

  it('reads a server _result: properties first, the information object as a fallback, ECMA arrays too', () => {
    const result = buildResult(
      1,
      { fmsVer: 'FMS/3,5,7,7009', ...serverCapabilityProperties() },
      { level: 'status', code: 'NetConnection.Connect.Success' },
    );
    expect(readCapabilities(result.commandObject, result.args[0])).toMatchObject({
      reconnect: true,
      videoFourCcInfoMap: { '*': FourCcInfo.CanForward },
      audioFourCcInfoMap: { '*': FourCcInfo.CanForward },
    });
    const fromInfo = readCapabilities(
      { fmsVer: 'x' },
      { capsEx: 3, videoFourCcInfoMap: ecmaArray({ hvc1: 1 }) },
    );
    expect(fromInfo).toMatchObject({ multitrack: true, videoFourCcInfoMap: { hvc1: 1 } });
  });

  it('reads a legacy server as not enhanced, and wrong types as absent', () => {
    expect(readCapabilities({ fmsVer: 'FMS/3,0,1,123', capabilities: 31 })).toMatchObject({
      enhanced: false,
      capsEx: 0,
      reconnect: false,
    });
    expect(readCapabilities(null, 'x', { capsEx: 'all' })).toMatchObject({ capsEx: 0 });
  });

  it('lets the "*" entry override a specific codec, as the spec says', () => {
    expect(fourCcFlags({ '*': FourCcInfo.CanForward, vp09: 3 }, 'vp09')).toBe(
      FourCcInfo.CanForward,
    );
    expect(fourCcFlags({ vp09: 3 }, 'vp09')).toBe(3);
    expect(fourCcFlags({ vp09: 3 }, 'av01')).toBe(0);
  });

  it.each([
    ['rtmp://foo.example:1935/realtimeapp', 'rtmp://foo.example:1935/realtimeapp'],
    ['//192.0.2.0/realtimeapp', 'rtmp://192.0.2.0/realtimeapp'],
    ['/realtimeapp', 'rtmp://127.0.0.1:1935/realtimeapp'],
    ['', 'rtmp://127.0.0.1:1935/live'],
  ])('resolves the ReconnectRequest tcUrl %j against the current one', (ref, want) => {
    expect(resolveReconnectUrl(ref, 'rtmp://127.0.0.1:1935/live')).toBe(want);
  });
});
