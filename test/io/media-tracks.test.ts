import { withTracks, type MediaMessage } from '../../src/io/media';
import { writeExAudioBody, writeExVideoBody } from '../../src/protocol/flv';

const bytes = (...v: number[]): Uint8Array => Uint8Array.from(v);
const video = (payload: Uint8Array): MediaMessage => ({
  type: 'Video',
  timestamp: 40,
  streamId: 1,
  payload,
});

describe('media$ track fields', () => {
  it('gives a classic AVC message trackId 0 and one track without a FourCC', () => {
    const m = withTracks(video(bytes(0x27, 0x01, 0xff, 0xff, 0xfe, 0x00, 0x01)));
    expect(m).toMatchObject({
      trackId: 0,
      tracks: [
        { trackId: 0, codec: 'avc', fourCc: undefined, compositionTime: -2, offset: 5, length: 2 },
      ],
    });
  });

  it('lists every track of a ManyTracksManyCodecs message, with its codec and where its payload lies', () => {
    const payload = writeExVideoBody({
      frameType: 'key',
      packetType: 'codedFrames',
      multitrack: 'manyTracksManyCodecs',
      tracks: [
        { trackId: 1, fourCc: 'hvc1', compositionTime: -40, payload: bytes(0xaa, 0xbb) },
        { trackId: 2, fourCc: 'av01', payload: bytes(0xcc) },
      ],
    });
    const m = withTracks(video(payload));
    expect(m.type === 'Video' && m.payload).toBe(payload); // the same bytes, not a copy
    expect(m).toMatchObject({ trackId: 1 });
    const tracks = m.type === 'Data' ? [] : (m.tracks ?? []);
    expect(tracks.map((t) => [t.trackId, t.codec, t.fourCc, t.compositionTime])).toEqual([
      [1, 'hevc', 'hvc1', -40],
      [2, 'av1', 'av01', undefined],
    ]);
    expect(tracks.map((t) => [...payload.subarray(t.offset, t.offset + t.length)])).toEqual([
      [0xaa, 0xbb],
      [0xcc],
    ]);
  });

  it('gives a OneTrack audio message its trackId', () => {
    const payload = writeExAudioBody({
      packetType: 'codedFrames',
      multitrack: 'oneTrack',
      tracks: [{ trackId: 7, fourCc: 'Opus', payload: bytes(0xfc) }],
    });
    const m = withTracks({ type: 'Audio', timestamp: 0, streamId: 1, payload });
    expect(m).toMatchObject({
      trackId: 7,
      tracks: [{ trackId: 7, codec: 'opus', fourCc: 'Opus' }],
    });
  });

  it('delivers a message whose header cannot be parsed as it came, with trackId 0 and no tracks', () => {
    const m = withTracks(video(bytes(0x96, 0x31, 0x61)));
    expect(m).toMatchObject({ trackId: 0 });
    expect(m.type !== 'Data' && m.tracks).toBeUndefined();
  });

  it('leaves data messages alone', () => {
    const m: MediaMessage = {
      type: 'Data',
      amf: 0,
      name: 'onMetaData',
      values: [],
      timestamp: 0,
      streamId: 1,
    };
    expect(withTracks(m)).toEqual({
      type: 'Data',
      amf: 0,
      name: 'onMetaData',
      values: [],
      timestamp: 0,
      streamId: 1,
    });
  });
});
