import { describeMessage } from '../../src/cli/dump';
import { writeExAudioBody, writeExVideoBody } from '../../src/protocol/flv';

function describe2(typeId: 8 | 9, payload: Uint8Array): Record<string, unknown> {
  const type = typeId === 9 ? 'Video' : 'Audio';
  return describeMessage(
    { csid: 6, timestamp: 40, typeId, streamId: 1, payload },
    { type, timestamp: 40, streamId: 1, payload },
  );
}

describe('rtmp-actors dump on Enhanced RTMP multitrack media', () => {
  it('lists the tracks of a video message with their codec and signed composition time, and the ModEx nanoseconds', () => {
    const payload = writeExVideoBody({
      frameType: 'inter',
      packetType: 'codedFrames',
      timestampOffsetNano: 250_000,
      multitrack: 'manyTracksManyCodecs',
      tracks: [
        { trackId: 0, fourCc: 'avc1', compositionTime: -20, payload: Uint8Array.of(1, 2) },
        { trackId: 4, fourCc: 'av01', payload: Uint8Array.of(3) },
      ],
    });
    expect(describe2(9, payload)).toMatchObject({
      type: 'Video',
      codec: 'avc1',
      multitrack: 'manyTracksManyCodecs',
      timestampOffsetNano: 250_000,
      tracks: [
        { trackId: 0, codec: 'avc1', compositionTime: -20, length: 2 },
        { trackId: 4, codec: 'av01', compositionTime: undefined, length: 1 },
      ],
    });
  });

  it('lists the tracks of an audio message', () => {
    const payload = writeExAudioBody({
      packetType: 'sequenceStart',
      multitrack: 'manyTracks',
      tracks: [
        { trackId: 0, fourCc: 'mp4a', payload: Uint8Array.of(0x11, 0x90) },
        { trackId: 1, fourCc: 'mp4a', payload: Uint8Array.of(0x12, 0x10) },
      ],
    });
    expect(describe2(8, payload)).toMatchObject({
      multitrack: 'manyTracks',
      sequenceHeader: true,
      tracks: [
        { trackId: 0, codec: 'mp4a', length: 2 },
        { trackId: 1, codec: 'mp4a', length: 2 },
      ],
    });
  });
});
