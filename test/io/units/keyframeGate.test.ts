import {
  isKeyframePayload,
  isSequenceHeader,
  isVideoKeyframe,
  KeyframeGate,
} from '../../../src/io/keyframeGate';
import type { MediaMessage } from '../../../src/io/media';

const video = (...bytes: number[]): MediaMessage => ({
  type: 'Video',
  payload: Uint8Array.from(bytes),
  streamId: 1,
  timestamp: 0,
});
const KEY = video(0x17, 0x01);
const INTER = video(0x27, 0x01);
const AVC_HEADER = video(0x17, 0x00);
const ENHANCED_START = video(0x90, 0x00);
const AUDIO: MediaMessage = {
  type: 'Audio',
  payload: Uint8Array.of(0xaf, 1),
  streamId: 1,
  timestamp: 0,
};
const DATA: MediaMessage = {
  type: 'Data',
  amf: 0,
  name: 'onMetaData',
  values: [],
  streamId: 1,
  timestamp: 0,
};

describe('the keyframe gate', () => {
  it('tells keyframes, sequence headers and inter frames apart', () => {
    expect(isKeyframePayload(KEY.type === 'Video' ? KEY.payload : new Uint8Array())).toBe(true);
    expect(isVideoKeyframe(KEY)).toBe(true);
    expect(isVideoKeyframe(AVC_HEADER)).toBe(false);
    expect(isSequenceHeader(AVC_HEADER)).toBe(true);
    expect(isSequenceHeader(ENHANCED_START)).toBe(true);
    expect(isSequenceHeader(INTER)).toBe(false);
    expect(isSequenceHeader({ ...AUDIO, payload: Uint8Array.of(0xaf, 0) })).toBe(true);
  });

  it('lets everything through while open', () => {
    const g = new KeyframeGate();
    expect([INTER, KEY, AUDIO].map((m) => g.admit(m))).toEqual([true, true, true]);
  });

  it('once closed, holds back inter frames until a keyframe, which opens it', () => {
    const g = new KeyframeGate();
    g.close();
    expect(g.admit(INTER)).toBe(false);
    expect(g.waiting).toBe(true);
    expect(g.admit(KEY)).toBe(true);
    expect(g.waiting).toBe(false);
    expect(g.admit(INTER)).toBe(true);
  });

  it('lets audio, data and sequence headers through while closed, without opening', () => {
    const g = new KeyframeGate({ closed: true });
    expect([AUDIO, DATA, AVC_HEADER, ENHANCED_START].map((m) => g.admit(m))).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(g.waiting).toBe(true);
  });

  it('holds back a keyframe too when the caller says it may not reopen yet', () => {
    const g = new KeyframeGate({ closed: true });
    expect(g.admit(KEY, false)).toBe(false);
    expect(g.waiting).toBe(true);
    expect(g.admit(KEY, true)).toBe(true);
  });

  it('opens without a keyframe when told', () => {
    const g = new KeyframeGate({ closed: true });
    g.open();
    expect(g.admit(INTER)).toBe(true);
  });
});
