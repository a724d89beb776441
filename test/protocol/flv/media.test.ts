import { FlvError } from '../../../src/protocol/errors';
import {
  emptyAudioInfo,
  emptyVideoInfo,
  parseAudioHeader,
  parseFlv,
  parseVideoHeader,
  type AudioInfo,
  type VideoInfo,
} from '../../../src/protocol/flv';
import { probePackets, SMALL_FLV_PATH, smallFlv } from './helpers';

/** The four bytes of a FourCC. */
const fcc = (s: string): number[] => [...Buffer.from(s, 'latin1')];
const u8 = (...parts: (number | number[])[]): Uint8Array => Uint8Array.from(parts.flat());

function flvError(fn: () => unknown): FlvError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FlvError) return e;
    throw e;
  }
  throw new Error('expected an FlvError');
}

function video(partial: Partial<VideoInfo>): VideoInfo {
  return { ...emptyVideoInfo(), ...partial };
}

function audio(partial: Partial<AudioInfo>): AudioInfo {
  return { ...emptyAudioInfo(), ...partial };
}

describe('classic video tag headers', () => {
  it('reads an AVC sequence header', () => {
    const body = u8(
      0x17, //             frame type 1 (key) | CodecID 7 (AVC)
      0x00, //             AVCPacketType 0: sequence header
      [0x00, 0x00, 0x00], // CompositionTime 0
      [0x01, 0x64, 0x00, 0x1e], // AVCDecoderConfigurationRecord …
    );
    expect(parseVideoHeader(body)).toEqual(
      video({
        frameType: 'key',
        codec: 'avc',
        codecId: 7,
        packetType: 'sequenceStart',
        compositionTime: 0,
        isSequenceHeader: true,
        isKeyframe: false,
        headerLength: 5,
      }),
    );
  });

  it('reads an AVC keyframe NALU with a positive composition time', () => {
    const body = u8(
      0x17, //             key | AVC
      0x01, //             AVCPacketType 1: NALU
      [0x00, 0x00, 0x43], // CompositionTime 67
      [0x00, 0x00, 0x00, 0x02, 0x09, 0x10], // length-prefixed NALU …
    );
    expect(parseVideoHeader(body)).toMatchObject({
      frameType: 'key',
      packetType: 'codedFrames',
      compositionTime: 67,
      isKeyframe: true,
      isSequenceHeader: false,
      headerLength: 5,
    });
  });

  it('reads a negative (signed 24-bit) composition time on an inter frame', () => {
    const body = u8(
      0x27, //             frame type 2 (inter) | AVC
      0x01, //             NALU
      [0xff, 0xff, 0xdf], // CompositionTime -33
    );
    expect(parseVideoHeader(body)).toMatchObject({
      frameType: 'inter',
      compositionTime: -33,
      isKeyframe: false,
    });
  });

  it('reads an AVC end of sequence', () => {
    const body = u8(0x17, 0x02, [0x00, 0x00, 0x00]); // key | AVC, AVCPacketType 2, CTS 0
    expect(parseVideoHeader(body)).toMatchObject({ packetType: 'sequenceEnd', isKeyframe: false });
  });

  it('reads CodecID 12 as HEVC with the AVC packet layout (unofficial extension)', () => {
    const body = u8(
      0x1c, //             key | CodecID 12
      0x00, //             sequence header
      [0x00, 0x00, 0x00], // CompositionTime 0
    );
    expect(parseVideoHeader(body)).toMatchObject({
      codec: 'hevc',
      codecId: 12,
      isSequenceHeader: true,
      headerLength: 5,
    });
  });

  it.each([
    [0x22, 'inter', 'h263', false], //          frame type 2 | CodecID 2 (Sorenson H.263)
    [0x32, 'disposableInter', 'h263', false], // frame type 3 | H.263
    [0x13, 'key', 'screen', true], //            frame type 1 | CodecID 3 (screen video)
    [0x14, 'key', 'vp6', true], //               CodecID 4 (On2 VP6)
    [0x25, 'inter', 'vp6a', false], //           CodecID 5 (VP6 with alpha)
    [0x16, 'key', 'screen2', true], //           CodecID 6 (screen video v2)
    [0x42, 'generatedKey', 'h263', true], //     frame type 4 (generated key frame)
  ])('reads byte 0x%s as a %s %s frame with a one-byte header', (b0, frameType, codec, key) => {
    expect(parseVideoHeader(u8(b0, 0x00, 0x00))).toEqual(
      video({
        frameType: frameType as VideoInfo['frameType'],
        codec,
        codecId: b0 & 0x0f,
        packetType: 'codedFrames',
        isKeyframe: key as boolean,
        headerLength: 1,
      }),
    );
  });

  it('reads a command frame: frame type 5 and one VideoCommand byte, no payload', () => {
    const body = u8(
      0x57, // frame type 5 (command) | AVC
      0x01, // VideoCommand 1: end of client-side seeking
    );
    expect(parseVideoHeader(body)).toEqual(
      video({ frameType: 'command', codec: 'avc', codecId: 7, command: 1, headerLength: 2 }),
    );
  });

  it.each([
    ['an empty body', []],
    ['a reserved frame type (0)', [0x07, 0x01, 0, 0, 0]],
    ['an unknown codec id (9)', [0x19, 0x00]],
    ['a truncated AVC header', [0x17, 0x01, 0x00]],
    ['an unknown AVCPacketType (3)', [0x17, 0x03, 0, 0, 0]],
    ['a command frame without its command byte', [0x57]],
  ])('rejects %s with BAD_MEDIA_HEADER', (_, bytes) => {
    const e = flvError(() => parseVideoHeader(u8(bytes as number[])));
    expect(e.code).toBe('BAD_MEDIA_HEADER');
    expect(typeof e.details.reason).toBe('string');
  });
});

describe('Enhanced RTMP video tag headers', () => {
  it('reads SequenceStart with FourCC hvc1', () => {
    const body = u8(
      0x90, //         IsExHeader | frame type 1 (key) | VideoPacketType 0 (SequenceStart)
      fcc('hvc1'), //  VideoFourCc
      0x01, //         HEVCDecoderConfigurationRecord …
    );
    expect(parseVideoHeader(body)).toEqual(
      video({
        enhanced: true,
        frameType: 'key',
        codec: 'hevc',
        fourCc: 'hvc1',
        packetType: 'sequenceStart',
        isSequenceHeader: true,
        headerLength: 5,
      }),
    );
  });

  it('reads CodedFrames with FourCC hvc1 and its composition time', () => {
    const body = u8(
      0x91, //             ExHeader | key | CodedFrames
      fcc('hvc1'),
      [0x00, 0x00, 0x21], // CompositionTimeOffset 33
      [0x00, 0x00, 0x00, 0x01], // NALUs …
    );
    expect(parseVideoHeader(body)).toMatchObject({
      codec: 'hevc',
      packetType: 'codedFrames',
      compositionTime: 33,
      isKeyframe: true,
      headerLength: 8,
    });
  });

  it('reads a negative composition time with FourCC avc1', () => {
    const body = u8(
      0xa1, //             ExHeader | frame type 2 (inter) | CodedFrames
      fcc('avc1'),
      [0xff, 0xff, 0xfe], // CompositionTimeOffset -2
    );
    expect(parseVideoHeader(body)).toMatchObject({
      frameType: 'inter',
      codec: 'avc',
      compositionTime: -2,
      isKeyframe: false,
      headerLength: 8,
    });
  });

  it('reads a composition time with FourCC vvc1', () => {
    const body = u8(0x91, fcc('vvc1'), [0x00, 0x00, 0x05]); // key | CodedFrames, vvc1, CTS 5
    expect(parseVideoHeader(body)).toMatchObject({
      codec: 'vvc',
      compositionTime: 5,
      headerLength: 8,
    });
  });

  it('implies a zero composition time for CodedFramesX', () => {
    const body = u8(
      0xa3, //     ExHeader | inter | VideoPacketType 3 (CodedFramesX)
      fcc('hvc1'),
      0x00, //     NALUs start right after the FourCC
    );
    expect(parseVideoHeader(body)).toMatchObject({
      packetType: 'codedFramesX',
      compositionTime: 0,
      headerLength: 5,
    });
  });

  it.each([
    ['av01', 'av1'],
    ['vp09', 'vp9'],
    ['vp08', 'vp8'],
  ])('reads CodedFrames with FourCC %s without a composition time', (fourCc, codec) => {
    const body = u8(0x91, fcc(fourCc), 0x12); // key | CodedFrames, FourCC, payload
    expect(parseVideoHeader(body)).toEqual(
      video({
        enhanced: true,
        frameType: 'key',
        codec,
        fourCc,
        packetType: 'codedFrames',
        isKeyframe: true,
        headerLength: 5,
      }),
    );
  });

  it('reads SequenceEnd', () => {
    const body = u8(0x92, fcc('av01')); // key | SequenceEnd (2), no payload
    expect(parseVideoHeader(body)).toMatchObject({
      packetType: 'sequenceEnd',
      isSequenceHeader: false,
      isKeyframe: false,
      headerLength: 5,
    });
  });

  it('reads Metadata and ignores its frame type, even a reserved one', () => {
    const body = u8(
      0x84, //        ExHeader | frame type 0 (ignored) | VideoPacketType 4 (Metadata)
      fcc('hvc1'),
      [0x02, 0x00, 0x09], // AMF0 "colorInfo" …
    );
    expect(parseVideoHeader(body)).toMatchObject({
      frameType: 'reserved',
      packetType: 'metadata',
      isKeyframe: false,
      isSequenceHeader: false,
      headerLength: 5,
    });
  });

  it('reads MPEG2TSSequenceStart as a sequence header', () => {
    const body = u8(0x95, fcc('av01'), 0x80); // key | VideoPacketType 5, AV1 video descriptor
    expect(parseVideoHeader(body)).toMatchObject({
      packetType: 'mpeg2tsSequenceStart',
      isSequenceHeader: true,
      headerLength: 5,
    });
  });

  it('reports an unknown FourCC as the codec name', () => {
    const body = u8(0x90, fcc('xyz1')); // key | SequenceStart, FourCC 'xyz1'
    expect(parseVideoHeader(body)).toMatchObject({ codec: 'xyz1', fourCc: 'xyz1' });
  });

  it('reads a command frame: no FourCC, one VideoCommand byte', () => {
    const body = u8(
      0xd1, // ExHeader | frame type 5 (command) | CodedFrames
      0x00, // VideoCommand 0: start of client-side seeking
    );
    expect(parseVideoHeader(body)).toEqual(
      video({
        enhanced: true,
        frameType: 'command',
        packetType: 'codedFrames',
        command: 0,
        headerLength: 2,
      }),
    );
  });

  it('skips a ModEx packet and reads its TimestampOffsetNano', () => {
    const body = u8(
      0x97, //             ExHeader | key | VideoPacketType 7 (ModEx)
      0x02, //             modExDataSize - 1 = 2 → 3 bytes
      [0x0f, 0x42, 0x3f], // modExData: TimestampOffsetNano 999999
      0x01, //             VideoPacketModExType 0 (TimestampOffsetNano) | VideoPacketType 1
      fcc('avc1'),
      [0x00, 0x00, 0x10], // CompositionTimeOffset 16
      0x00, //             NALUs …
    );
    expect(parseVideoHeader(body)).toMatchObject({
      packetType: 'codedFrames',
      codec: 'avc',
      timestampNanoOffset: 999999,
      compositionTime: 16,
      isKeyframe: true,
      headerLength: 13,
    });
  });

  it('skips a ModEx packet whose size needs the 16-bit escape', () => {
    const body = u8(
      0x97, //         ExHeader | key | ModEx
      0xff, //         modExDataSize - 1 = 255 → escape: a UI16 follows
      [0x01, 0x00], // modExDataSize - 1 = 256 → 257 bytes
      new Array<number>(257).fill(0xee), // modExData (an unknown modifier)
      0x10, //         VideoPacketModExType 1 (unknown, skipped) | SequenceStart
      fcc('hvc1'),
    );
    expect(parseVideoHeader(body)).toMatchObject({
      packetType: 'sequenceStart',
      codec: 'hevc',
      timestampNanoOffset: undefined,
      headerLength: 1 + 1 + 2 + 257 + 1 + 4,
    });
  });

  it('follows a chain of ModEx packets to the real packet type', () => {
    const body = u8(
      0x97, //             ExHeader | key | ModEx
      0x00, //             1 byte of data
      0xaa, //             modExData
      0x17, //             VideoPacketModExType 1 | VideoPacketType 7: another ModEx
      0x02, //             3 bytes of data
      [0x00, 0x01, 0x00], // TimestampOffsetNano 256
      0x03, //             TimestampOffsetNano | CodedFramesX
      fcc('avc1'),
    );
    expect(parseVideoHeader(body)).toMatchObject({
      packetType: 'codedFramesX',
      timestampNanoOffset: 256,
      compositionTime: 0,
      isKeyframe: true,
      headerLength: 13,
    });
  });

  it('reads a one-track multitrack body: shared FourCC, track id, payload to the end', () => {
    const body = u8(
      0x96, //             ExHeader | key | VideoPacketType 6 (Multitrack)
      0x01, //             AvMultitrackType 0 (OneTrack) | VideoPacketType 1 (CodedFrames)
      fcc('avc1'), //      FourCC shared by the tracks
      0x00, //             trackId 0
      [0x00, 0x00, 0x07], // CompositionTimeOffset 7
      [0xde, 0xad], //     payload
    );
    expect(parseVideoHeader(body)).toEqual(
      video({
        enhanced: true,
        frameType: 'key',
        codec: 'avc',
        fourCc: 'avc1',
        packetType: 'codedFrames',
        compositionTime: 7,
        isKeyframe: true,
        headerLength: 10,
        multitrack: 'oneTrack',
        tracks: [
          { trackId: 0, fourCc: 'avc1', codec: 'avc', compositionTime: 7, offset: 10, length: 2 },
        ],
      }),
    );
  });

  it('reads a many-tracks multitrack body: one FourCC, a size per track', () => {
    const body = u8(
      0xa6, //             ExHeader | inter | Multitrack
      0x11, //             AvMultitrackType 1 (ManyTracks) | CodedFrames
      fcc('hvc1'),
      0x00, //             trackId 0
      [0x00, 0x00, 0x05], // sizeOfVideoTrack 5
      [0x00, 0x00, 0x02], //   CompositionTimeOffset 2
      [0x01, 0x02], //         payload
      0x01, //             trackId 1
      [0x00, 0x00, 0x04], // sizeOfVideoTrack 4
      [0xff, 0xff, 0xff], //   CompositionTimeOffset -1
      [0x03], //               payload
    );
    const info = parseVideoHeader(body);
    expect(info).toMatchObject({
      packetType: 'codedFrames',
      multitrack: 'manyTracks',
      codec: 'hevc',
      compositionTime: 2,
      isKeyframe: false,
      headerLength: 13,
    });
    expect(info.tracks).toEqual([
      { trackId: 0, fourCc: 'hvc1', codec: 'hevc', compositionTime: 2, offset: 13, length: 2 },
      { trackId: 1, fourCc: 'hvc1', codec: 'hevc', compositionTime: -1, offset: 22, length: 1 },
    ]);
    expect([...body.subarray(13, 15)]).toEqual([0x01, 0x02]);
    expect([...body.subarray(22, 23)]).toEqual([0x03]);
  });

  it('reads a many-tracks-many-codecs multitrack body: a FourCC per track', () => {
    const body = u8(
      0x96, //             ExHeader | key | Multitrack
      0x20, //             AvMultitrackType 2 (ManyTracksManyCodecs) | SequenceStart
      fcc('avc1'), //      track FourCC
      0x00, //             trackId 0
      [0x00, 0x00, 0x02], // sizeOfVideoTrack 2
      [0x01, 0x64], //         AVCDecoderConfigurationRecord …
      fcc('av01'), //      track FourCC
      0x01, //             trackId 1
      [0x00, 0x00, 0x03], // sizeOfVideoTrack 3
      [0x81, 0x00, 0x0c], //   AV1CodecConfigurationRecord …
    );
    const info = parseVideoHeader(body);
    expect(info).toMatchObject({
      packetType: 'sequenceStart',
      isSequenceHeader: true,
      multitrack: 'manyTracksManyCodecs',
      codec: 'avc',
      fourCc: 'avc1',
      headerLength: 10,
    });
    expect(info.tracks).toEqual([
      {
        trackId: 0,
        fourCc: 'avc1',
        codec: 'avc',
        compositionTime: undefined,
        offset: 10,
        length: 2,
      },
      {
        trackId: 1,
        fourCc: 'av01',
        codec: 'av1',
        compositionTime: undefined,
        offset: 20,
        length: 3,
      },
    ]);
  });

  it.each([
    ['a truncated FourCC', [0x91, 0x61, 0x76]],
    ['a truncated composition time', [0x91, ...fcc('avc1'), 0x00]],
    ['a reserved packet type (8)', [0x98, ...fcc('avc1')]],
    ['a reserved frame type on coded frames', [0x81, ...fcc('avc1'), 0, 0, 0]],
    ['a multitrack inside a multitrack', [0x96, 0x06, ...fcc('avc1'), 0x00]],
    ['a reserved multitrack type (3)', [0x96, 0x31, ...fcc('avc1'), 0x00]],
    [
      'a track size past the end of the body',
      [0x96, 0x11, ...fcc('av01'), 0x00, 0x00, 0x00, 0x09, 0x00],
    ],
    ['a truncated ModEx packet', [0x97, 0x05, 0x00, 0x00]],
    ['a multitrack body without its track id', [0x96, 0x01, ...fcc('avc1')]],
  ])('rejects %s with BAD_MEDIA_HEADER', (_, bytes) => {
    expect(flvError(() => parseVideoHeader(u8(bytes))).code).toBe('BAD_MEDIA_HEADER');
  });

  it('reuses a result object and clears what the previous tag set', () => {
    const into = emptyVideoInfo();
    const multitrack = u8(0x96, 0x01, fcc('avc1'), 0x00, [0, 0, 7]);
    expect(parseVideoHeader(multitrack, into)).toBe(into);
    expect(into.tracks).toHaveLength(1);
    const classic = u8(0x27, 0x01, [0x00, 0x00, 0x00]);
    expect(parseVideoHeader(classic, into)).toEqual(parseVideoHeader(classic));
    const modEx = u8(0x97, 0x02, [0, 0, 9], 0x00, fcc('hvc1'));
    parseVideoHeader(modEx, into);
    expect(into.timestampNanoOffset).toBe(9);
    expect(parseVideoHeader(u8(0x90, fcc('av01')), into)).toEqual(
      parseVideoHeader(u8(0x90, fcc('av01'))),
    );
  });
});

describe('classic audio tag headers', () => {
  it('reads an AAC sequence header', () => {
    const body = u8(
      0xaf, //         SoundFormat 10 (AAC) | SoundRate 3 (44 kHz) | 16-bit | stereo
      0x00, //         AACPacketType 0: sequence header
      [0x11, 0x90], // AudioSpecificConfig …
    );
    expect(parseAudioHeader(body)).toEqual(
      audio({
        soundFormat: 10,
        codec: 'aac',
        rate: 44100,
        size: 16,
        channels: 2,
        aacPacketType: 0,
        packetType: 'sequenceStart',
        isSequenceHeader: true,
        headerLength: 2,
      }),
    );
  });

  it('reads raw AAC', () => {
    const body = u8(0xaf, 0x01, 0x21); // AAC 44 kHz 16-bit stereo, AACPacketType 1 (raw), frame …
    expect(parseAudioHeader(body)).toMatchObject({
      aacPacketType: 1,
      packetType: 'codedFrames',
      isSequenceHeader: false,
      headerLength: 2,
    });
  });

  it.each([
    // byte, codec, rate, size, channels
    [0x2f, 'mp3', 44100, 16, 2], //      SoundFormat 2 | 44 kHz | 16-bit | stereo
    [0x28, 'mp3', 22050, 8, 1], //       SoundFormat 2 | 22 kHz | 8-bit | mono
    [0x30, 'pcmLE', 5512, 8, 1], //      SoundFormat 3 | 5.5 kHz | 8-bit | mono
    [0x06, 'pcm', 11025, 16, 1], //      SoundFormat 0 | 11 kHz | 16-bit | mono
    [0x1d, 'adpcm', 44100, 8, 2], //     SoundFormat 1 | 44 kHz | 8-bit | stereo
    [0x42, 'nellymoser', 16000, 16, 1], // SoundFormat 4: Nellymoser 16 kHz mono
    [0x52, 'nellymoser', 8000, 16, 1], // SoundFormat 5: Nellymoser 8 kHz mono
    [0x6e, 'nellymoser', 44100, 16, 1], // SoundFormat 6
    [0x72, 'g711a', 5512, 16, 1], //     SoundFormat 7: G.711 A-law
    [0x82, 'g711u', 5512, 16, 1], //     SoundFormat 8: G.711 mu-law
    [0xb2, 'speex', 16000, 16, 1], //    SoundFormat 11: Speex is always 16 kHz
    [0xe2, 'mp3', 8000, 16, 1], //       SoundFormat 14: MP3 8 kHz
    [0xf2, 'native', 5512, 16, 1], //    SoundFormat 15: device-specific
  ])('reads byte 0x%s as %s at %i Hz, %i-bit, %i channel(s)', (b0, codec, rate, size, channels) => {
    expect(parseAudioHeader(u8(b0, 0xff))).toEqual(
      audio({ soundFormat: b0 >> 4, codec, rate, size, channels, headerLength: 1 }),
    );
  });

  it('reads an empty audio message as the legacy silence signal', () => {
    expect(parseAudioHeader(new Uint8Array(0))).toEqual(audio({ isSilence: true }));
  });

  it.each([
    ['a reserved sound format (12)', [0xc2, 0x00]],
    ['a reserved sound format (13)', [0xd2, 0x00]],
    ['AAC without its packet type', [0xaf]],
    ['an unknown AACPacketType (2)', [0xaf, 0x02]],
  ])('rejects %s with BAD_MEDIA_HEADER', (_, bytes) => {
    expect(flvError(() => parseAudioHeader(u8(bytes))).code).toBe('BAD_MEDIA_HEADER');
  });
});

describe('Enhanced RTMP audio tag headers', () => {
  it.each([
    ['Opus', 'opus'],
    ['fLaC', 'flac'],
    ['ac-3', 'ac3'],
    ['ec-3', 'eac3'],
    ['.mp3', 'mp3'],
    ['mp4a', 'aac'],
  ])('reads SequenceStart with FourCC %s', (fourCc, codec) => {
    const body = u8(
      0x90, //       SoundFormat 9 (ExHeader) | AudioPacketType 0 (SequenceStart)
      fcc(fourCc), // AudioFourCc
      0x01, //       codec configuration …
    );
    expect(parseAudioHeader(body)).toEqual(
      audio({
        enhanced: true,
        soundFormat: 9,
        codec,
        fourCc,
        packetType: 'sequenceStart',
        isSequenceHeader: true,
        headerLength: 5,
      }),
    );
  });

  it('reads CodedFrames and SequenceEnd', () => {
    const coded = u8(0x91, fcc('Opus'), 0xfc); // ExHeader | CodedFrames, Opus, packet …
    expect(parseAudioHeader(coded)).toMatchObject({ packetType: 'codedFrames', headerLength: 5 });
    const end = u8(0x92, fcc('fLaC')); // ExHeader | SequenceEnd, no payload
    expect(parseAudioHeader(end)).toMatchObject({
      packetType: 'sequenceEnd',
      isSequenceHeader: false,
    });
  });

  it('reads MultichannelConfig and its channel count', () => {
    const body = u8(
      0x94, //         ExHeader | AudioPacketType 4 (MultichannelConfig)
      fcc('Opus'),
      0x01, //         AudioChannelOrder 1 (Native)
      0x06, //         channelCount 6
      [0x00, 0x00, 0x00, 0x3f], // AudioChannelMask: 5.1
    );
    expect(parseAudioHeader(body)).toMatchObject({
      packetType: 'multichannelConfig',
      channels: 6,
      headerLength: 5,
    });
  });

  it('skips a ModEx packet and reads its TimestampOffsetNano', () => {
    const body = u8(
      0x97, //             ExHeader | AudioPacketType 7 (ModEx)
      0x02, //             modExDataSize - 1 = 2
      [0x00, 0x01, 0xf4], // TimestampOffsetNano 500
      0x01, //             AudioPacketModExType 0 | CodedFrames
      fcc('Opus'),
    );
    expect(parseAudioHeader(body)).toMatchObject({
      packetType: 'codedFrames',
      codec: 'opus',
      timestampNanoOffset: 500,
      headerLength: 10,
    });
  });

  it('reads a one-track multitrack body', () => {
    const body = u8(
      0x95, //     ExHeader | AudioPacketType 5 (Multitrack)
      0x01, //     AvMultitrackType 0 (OneTrack) | CodedFrames
      fcc('mp4a'),
      0x02, //     trackId 2
      0x21, //     raw AAC …
    );
    expect(parseAudioHeader(body)).toEqual(
      audio({
        enhanced: true,
        soundFormat: 9,
        codec: 'aac',
        fourCc: 'mp4a',
        packetType: 'codedFrames',
        headerLength: 7,
        multitrack: 'oneTrack',
        tracks: [{ trackId: 2, fourCc: 'mp4a', codec: 'aac', offset: 7, length: 1 }],
      }),
    );
  });

  it('reads a many-tracks multitrack body', () => {
    const body = u8(
      0x95, //             ExHeader | Multitrack
      0x10, //             AvMultitrackType 1 (ManyTracks) | SequenceStart
      fcc('Opus'),
      0x00, //             trackId 0
      [0x00, 0x00, 0x02], // sizeOfAudioTrack 2
      [0x4f, 0x70], //         Opus ID header …
      0x01, //             trackId 1
      [0x00, 0x00, 0x01], // sizeOfAudioTrack 1
      [0x4f], //               Opus ID header …
    );
    const info = parseAudioHeader(body);
    expect(info).toMatchObject({
      multitrack: 'manyTracks',
      isSequenceHeader: true,
      headerLength: 10,
    });
    expect(info.tracks).toEqual([
      { trackId: 0, fourCc: 'Opus', codec: 'opus', offset: 10, length: 2 },
      { trackId: 1, fourCc: 'Opus', codec: 'opus', offset: 16, length: 1 },
    ]);
  });

  it('reads a many-tracks-many-codecs multitrack body', () => {
    const body = u8(
      0x95, //             ExHeader | Multitrack
      0x21, //             AvMultitrackType 2 (ManyTracksManyCodecs) | CodedFrames
      fcc('Opus'),
      0x00, //             trackId 0
      [0x00, 0x00, 0x01], // sizeOfAudioTrack 1
      [0xfc], //               Opus packet
      fcc('mp4a'),
      0x01, //             trackId 1
      [0x00, 0x00, 0x02], // sizeOfAudioTrack 2
      [0x21, 0x10], //         raw AAC
    );
    const info = parseAudioHeader(body);
    expect(info).toMatchObject({
      multitrack: 'manyTracksManyCodecs',
      codec: 'opus',
      headerLength: 10,
    });
    expect(info.tracks).toEqual([
      { trackId: 0, fourCc: 'Opus', codec: 'opus', offset: 10, length: 1 },
      { trackId: 1, fourCc: 'mp4a', codec: 'aac', offset: 19, length: 2 },
    ]);
  });

  it('reports an unknown FourCC as the codec name', () => {
    expect(parseAudioHeader(u8(0x91, fcc('alac')))).toMatchObject({
      codec: 'alac',
      fourCc: 'alac',
    });
  });

  it.each([
    ['a reserved packet type (3)', [0x93, ...fcc('Opus')]],
    ['a reserved packet type (6)', [0x96, ...fcc('Opus')]],
    ['a truncated FourCC', [0x91, 0x4f, 0x70]],
    ['a multitrack inside a multitrack', [0x95, 0x05, ...fcc('Opus'), 0x00]],
    ['a reserved multitrack type (3)', [0x95, 0x31, ...fcc('Opus'), 0x00]],
    ['a track size past the end', [0x95, 0x11, ...fcc('Opus'), 0x00, 0x00, 0x00, 0x05, 0xfc]],
    ['a ModEx escape without its 16-bit size', [0x97, 0xff, 0x01]],
  ])('rejects %s with BAD_MEDIA_HEADER', (_, bytes) => {
    expect(flvError(() => parseAudioHeader(u8(bytes))).code).toBe('BAD_MEDIA_HEADER');
  });

  it('reuses a result object and clears what the previous tag set', () => {
    const into = emptyAudioInfo();
    parseAudioHeader(u8(0x95, 0x01, fcc('mp4a'), 0x02, 0x21), into);
    expect(into.tracks).toHaveLength(1);
    const classic = u8(0xaf, 0x01, 0x21);
    expect(parseAudioHeader(classic, into)).toBe(into);
    expect(into).toEqual(parseAudioHeader(classic));
    parseAudioHeader(new Uint8Array(0), into);
    expect(into).toEqual(parseAudioHeader(new Uint8Array(0)));
  });
});

describe('media headers of small.flv', () => {
  const { tags } = parseFlv(smallFlv());
  const videoTags = tags.filter((t) => t.type === 9);
  const audioTags = tags.filter((t) => t.type === 8);

  it('starts with an AVC sequence header and an AAC sequence header, and ends video with end of sequence', () => {
    expect(parseVideoHeader(videoTags[0].data)).toMatchObject({
      codec: 'avc',
      isSequenceHeader: true,
    });
    expect(parseAudioHeader(audioTags[0].data)).toMatchObject({
      codec: 'aac',
      isSequenceHeader: true,
    });
    expect(parseVideoHeader(videoTags[videoTags.length - 1].data).packetType).toBe('sequenceEnd');
    const headers = videoTags.map((t) => parseVideoHeader(t.data));
    expect(headers.filter((h) => h.isSequenceHeader)).toHaveLength(1);
    expect(
      audioTags.map((t) => parseAudioHeader(t.data)).filter((h) => h.isSequenceHeader),
    ).toHaveLength(1);
  });

  it('marks the same video packets as keyframes as ffprobe: one every 2 s', () => {
    const probeKeys = probePackets(SMALL_FLV_PATH)
      .filter((p) => p.codec_type === 'video' && p.flags.startsWith('K'))
      .map((p) => p.dts);
    const info = emptyVideoInfo();
    const ourKeys = videoTags
      .filter((t) => parseVideoHeader(t.data, info).isKeyframe)
      .map((t) => t.timestamp);
    expect(ourKeys).toEqual(probeKeys);
    expect(ourKeys).toEqual([0, 2000, 4000, 6000, 8000]); // video ends at 10.0 s
  });

  it('reads every audio tag as AAC, 16-bit stereo', () => {
    const info = emptyAudioInfo();
    for (const t of audioTags) {
      parseAudioHeader(t.data, info);
      if (info.codec !== 'aac' || info.channels !== 2 || info.size !== 16)
        throw new Error('not AAC');
    }
    expect(audioTags.length).toBeGreaterThan(400);
  });
});
