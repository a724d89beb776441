import fc from 'fast-check';
import { FlvError } from '../../../src/protocol/errors';
import {
  parseAudioHeader,
  parseExAudioBody,
  parseExVideoBody,
  parseVideoHeader,
  writeExAudioBody,
  writeExVideoBody,
  type ExAudioBody,
  type ExTrack,
  type ExVideoBody,
} from '../../../src/protocol/flv';

/** The four bytes of a FourCC. */
const fcc = (s: string): number[] => [...Buffer.from(s, 'latin1')];
const u8 = (...parts: (number | number[])[]): Uint8Array => Uint8Array.from(parts.flat());
const bytes = (...v: number[]): Uint8Array => Uint8Array.from(v);

function flvError(fn: () => unknown): FlvError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FlvError) return e;
    throw e;
  }
  throw new Error('expected an FlvError');
}

/** Plain arrays instead of Uint8Array views, so toEqual compares contents only. */
function plain<T>(x: T): unknown {
  return JSON.parse(
    JSON.stringify(x, (_k, v: unknown) => (v instanceof Uint8Array ? [...v] : v)),
  ) as unknown;
}

// Golden bodies: each built field by field from the layouts of enhanced-rtmp v2 ("Enhanced
// Video", "Enhanced Audio"), with the value the parser must return. Every row is tested four
// ways: parse, write, write(parse), and parse fed every truncation (a typed error, never a throw
// of anything else).
const VIDEO_GOLDEN: ReadonlyArray<readonly [string, Uint8Array, ExVideoBody]> = [
  [
    'a plain avc1 CodedFrames body with a negative composition time',
    u8(
      0xa1, //                 IsExHeader 1 | VideoFrameType 2 (inter) | VideoPacketType 1 (CodedFrames)
      fcc('avc1'), //          VideoFourCc
      [0xff, 0xff, 0xdf], //   CompositionTimeOffset SI24 = -33
      [0x00, 0x00, 0x00, 0x02, 0x09, 0xf0], // NALUs
    ),
    {
      frameType: 'inter',
      packetType: 'codedFrames',
      tracks: [
        {
          trackId: 0,
          fourCc: 'avc1',
          compositionTime: -33,
          payload: bytes(0, 0, 0, 2, 0x09, 0xf0),
        },
      ],
    },
  ],
  [
    'a OneTrack hvc1 SequenceStart on track 3',
    u8(
      0x96, //                 IsExHeader | key (1) | VideoPacketType 6 (Multitrack)
      0x00, //                 AvMultitrackType 0 (OneTrack) | VideoPacketType 0 (SequenceStart)
      fcc('hvc1'), //          FourCC of the track
      0x03, //                 videoTrackId 3
      [0x01, 0x01, 0x60], //   HEVCDecoderConfigurationRecord (to the end of the body)
    ),
    {
      frameType: 'key',
      packetType: 'sequenceStart',
      multitrack: 'oneTrack',
      tracks: [{ trackId: 3, fourCc: 'hvc1', payload: bytes(0x01, 0x01, 0x60) }],
    },
  ],
  [
    'a ManyTracks avc1 CodedFrames body: two tracks, each size counting its composition time',
    u8(
      0x96, //                 IsExHeader | key | Multitrack
      0x11, //                 AvMultitrackType 1 (ManyTracks) | CodedFrames
      fcc('avc1'), //          FourCC shared by every track
      0x00, //                 videoTrackId 0
      [0x00, 0x00, 0x05], //   sizeOfVideoTrack 5 = SI24 + 2 bytes of NALU
      [0x00, 0x00, 0x42], //     CompositionTimeOffset 66
      [0x65, 0x88], //           NALU
      0x01, //                 videoTrackId 1
      [0x00, 0x00, 0x04], //   sizeOfVideoTrack 4
      [0xff, 0xff, 0xff], //     CompositionTimeOffset -1
      [0x65], //                 NALU
    ),
    {
      frameType: 'key',
      packetType: 'codedFrames',
      multitrack: 'manyTracks',
      tracks: [
        { trackId: 0, fourCc: 'avc1', compositionTime: 66, payload: bytes(0x65, 0x88) },
        { trackId: 1, fourCc: 'avc1', compositionTime: -1, payload: bytes(0x65) },
      ],
    },
  ],
  [
    'a ManyTracksManyCodecs CodedFramesX body: avc1 (no composition time on the wire) and av01',
    u8(
      0xa6, //                 IsExHeader | inter | Multitrack
      0x23, //                 AvMultitrackType 2 (ManyTracksManyCodecs) | CodedFramesX (3)
      fcc('avc1'), //          track FourCC
      0x00, //                 videoTrackId 0
      [0x00, 0x00, 0x01], //   sizeOfVideoTrack 1
      [0x41], //                 NALU (composition time implied 0)
      fcc('av01'), //          track FourCC
      0x02, //                 videoTrackId 2
      [0x00, 0x00, 0x02], //   sizeOfVideoTrack 2
      [0x12, 0x00], //           OBU
    ),
    {
      frameType: 'inter',
      packetType: 'codedFramesX',
      multitrack: 'manyTracksManyCodecs',
      tracks: [
        { trackId: 0, fourCc: 'avc1', compositionTime: 0, payload: bytes(0x41) },
        { trackId: 2, fourCc: 'av01', payload: bytes(0x12, 0x00) },
      ],
    },
  ],
  [
    'a ModEx TimestampOffsetNano ahead of a ManyTracks body',
    u8(
      0x97, //                 IsExHeader | key | VideoPacketType 7 (ModEx)
      0x02, //                 modExDataSize - 1 = 2 → 3 bytes
      [0x07, 0xa1, 0x20], //   modExData: TimestampOffsetNano UI24 = 500000 ns
      0x06, //                 VideoPacketModExType 0 (TimestampOffsetNano) | Multitrack (6)
      0x10, //                 ManyTracks | SequenceStart
      fcc('vp09'),
      0x00, //                 videoTrackId 0
      [0x00, 0x00, 0x01], //   sizeOfVideoTrack 1
      [0x01], //                 VPCodecConfigurationRecord
      0x01, //                 videoTrackId 1
      [0x00, 0x00, 0x00], //   sizeOfVideoTrack 0 (an empty track)
    ),
    {
      frameType: 'key',
      packetType: 'sequenceStart',
      timestampOffsetNano: 500000,
      multitrack: 'manyTracks',
      tracks: [
        { trackId: 0, fourCc: 'vp09', payload: bytes(0x01) },
        { trackId: 1, fourCc: 'vp09', payload: bytes() },
      ],
    },
  ],
  [
    'a ModEx chain: TimestampOffsetNano then an unknown modifier (type 5, kept)',
    u8(
      0x97, //                 IsExHeader | key | ModEx
      0x02, //                 3 bytes
      [0x00, 0x00, 0x01], //   TimestampOffsetNano 1 ns
      0x07, //                 ModExType 0 | next packet type 7: another ModEx
      0x01, //                 2 bytes
      [0xbe, 0xef], //         modExData of the unknown modifier
      0x53, //                 ModExType 5 | CodedFramesX
      fcc('hvc1'),
      [0x26, 0x01], //         NALU
    ),
    {
      frameType: 'key',
      packetType: 'codedFramesX',
      timestampOffsetNano: 1,
      modEx: [{ type: 5, data: bytes(0xbe, 0xef) }],
      tracks: [{ trackId: 0, fourCc: 'hvc1', compositionTime: 0, payload: bytes(0x26, 0x01) }],
    },
  ],
  [
    'a command frame: no FourCC, one VideoCommand byte',
    u8(
      0xd1, //                 IsExHeader | frame type 5 (command) | CodedFrames
      0x01, //                 VideoCommand 1 (end of client-side seeking)
    ),
    { frameType: 'command', packetType: 'codedFrames', command: 1, tracks: [] },
  ],
];

const AUDIO_GOLDEN: ReadonlyArray<readonly [string, Uint8Array, ExAudioBody]> = [
  [
    'a plain Opus CodedFrames body',
    u8(
      0x91, //                 SoundFormat 9 (ExHeader) | AudioPacketType 1 (CodedFrames)
      fcc('Opus'), //          AudioFourCc
      [0xfc, 0xff], //         Opus packet
    ),
    {
      packetType: 'codedFrames',
      tracks: [{ trackId: 0, fourCc: 'Opus', payload: bytes(0xfc, 0xff) }],
    },
  ],
  [
    'a OneTrack mp4a body on track 1',
    u8(
      0x95, //                 ExHeader | AudioPacketType 5 (Multitrack)
      0x01, //                 AvMultitrackType 0 (OneTrack) | CodedFrames
      fcc('mp4a'),
      0x01, //                 audioTrackId 1
      [0x21, 0x10], //         raw AAC to the end
    ),
    {
      packetType: 'codedFrames',
      multitrack: 'oneTrack',
      tracks: [{ trackId: 1, fourCc: 'mp4a', payload: bytes(0x21, 0x10) }],
    },
  ],
  [
    'a ManyTracks mp4a SequenceStart with two AudioSpecificConfigs',
    u8(
      0x95, //                 ExHeader | Multitrack
      0x10, //                 ManyTracks | SequenceStart
      fcc('mp4a'),
      0x00, //                 audioTrackId 0
      [0x00, 0x00, 0x02], //   sizeOfAudioTrack 2
      [0x11, 0x90], //           AudioSpecificConfig
      0x01, //                 audioTrackId 1
      [0x00, 0x00, 0x02], //   sizeOfAudioTrack 2
      [0x12, 0x10], //           AudioSpecificConfig
    ),
    {
      packetType: 'sequenceStart',
      multitrack: 'manyTracks',
      tracks: [
        { trackId: 0, fourCc: 'mp4a', payload: bytes(0x11, 0x90) },
        { trackId: 1, fourCc: 'mp4a', payload: bytes(0x12, 0x10) },
      ],
    },
  ],
  [
    'a ManyTracksManyCodecs body behind a TimestampOffsetNano',
    u8(
      0x97, //                 ExHeader | AudioPacketType 7 (ModEx)
      0x02, //                 3 bytes
      [0x0f, 0x42, 0x3f], //   TimestampOffsetNano 999999 ns (the spec's ceiling)
      0x05, //                 AudioPacketModExType 0 | Multitrack
      0x21, //                 ManyTracksManyCodecs | CodedFrames
      fcc('Opus'),
      0x00, //                 audioTrackId 0
      [0x00, 0x00, 0x01], //   sizeOfAudioTrack 1
      [0xfc],
      fcc('fLaC'),
      0x01, //                 audioTrackId 1
      [0x00, 0x00, 0x02], //   sizeOfAudioTrack 2
      [0xff, 0xf8], //           FLAC frame header
    ),
    {
      packetType: 'codedFrames',
      timestampOffsetNano: 999999,
      multitrack: 'manyTracksManyCodecs',
      tracks: [
        { trackId: 0, fourCc: 'Opus', payload: bytes(0xfc) },
        { trackId: 1, fourCc: 'fLaC', payload: bytes(0xff, 0xf8) },
      ],
    },
  ],
];

describe('Enhanced RTMP video bodies (golden bytes from the spec layouts)', () => {
  it.each(VIDEO_GOLDEN)('parses %s', (_, wire, value) => {
    expect(plain(parseExVideoBody(wire))).toEqual(plain(value));
  });

  it.each(VIDEO_GOLDEN)('writes %s byte for byte', (_, wire, value) => {
    expect(Buffer.from(writeExVideoBody(value)).toString('hex')).toBe(
      Buffer.from(wire).toString('hex'),
    );
  });

  it.each(VIDEO_GOLDEN)('refuses every truncation of %s with a typed error', (_, wire) => {
    // A truncated multitrack body may still be a valid shorter one (OneTrack payloads run to
    // the end): it must then parse; otherwise it must fail with BAD_MEDIA_HEADER.
    for (let n = 0; n < wire.length; n++) {
      try {
        parseExVideoBody(wire.subarray(0, n));
      } catch (e) {
        expect(e).toBeInstanceOf(FlvError);
        expect((e as FlvError).code).toBe('BAD_MEDIA_HEADER');
      }
    }
  });

  it('agrees with the hot-path header parser on every golden body', () => {
    for (const [, wire, value] of VIDEO_GOLDEN) {
      const info = parseVideoHeader(wire);
      expect(info.timestampNanoOffset).toBe(value.timestampOffsetNano);
      expect(info.multitrack).toBe(value.multitrack);
      if (value.multitrack) {
        expect(info.tracks?.map((t) => [t.trackId, t.fourCc, t.compositionTime])).toEqual(
          value.tracks.map((t) => [t.trackId, t.fourCc, t.compositionTime]),
        );
      }
    }
  });
});

describe('Enhanced RTMP audio bodies (golden bytes from the spec layouts)', () => {
  it.each(AUDIO_GOLDEN)('parses %s', (_, wire, value) => {
    expect(plain(parseExAudioBody(wire))).toEqual(plain(value));
  });

  it.each(AUDIO_GOLDEN)('writes %s byte for byte', (_, wire, value) => {
    expect(Buffer.from(writeExAudioBody(value)).toString('hex')).toBe(
      Buffer.from(wire).toString('hex'),
    );
  });

  it('surfaces TimestampOffsetNano in the hot-path header parser too', () => {
    expect(parseAudioHeader(AUDIO_GOLDEN[3][1]).timestampNanoOffset).toBe(999999);
  });
});

describe('malformed Enhanced bodies', () => {
  it.each([
    ['a classic AVC body', u8(0x17, 0x01, 0, 0, 0), 'IsExHeader'],
    [
      'a TimestampOffsetNano of 2 bytes',
      u8(0x97, 0x01, [0x00, 0x01], 0x01, fcc('av01')),
      '3 bytes',
    ],
    [
      'a sizeOfVideoTrack past the end',
      u8(0x96, 0x11, fcc('av01'), 0x00, [0, 0, 9], 0x00),
      'track body',
    ],
    ['a reserved AvMultitrackType (3)', u8(0x96, 0x31, fcc('av01'), 0x00), 'multitrack type 3'],
    ['a Multitrack inside a Multitrack', u8(0x96, 0x16, fcc('av01'), 0x00), 'inside a multitrack'],
  ])('refuses %s with BAD_MEDIA_HEADER and the reason', (_, wire, reason) => {
    const e = flvError(() => parseExVideoBody(wire));
    expect(e.code).toBe('BAD_MEDIA_HEADER');
    expect(e.layer).toBe('flv');
    expect(String(e.details.reason)).toContain(reason);
  });

  it('refuses a classic AAC body as an Enhanced audio body', () => {
    expect(flvError(() => parseExAudioBody(u8(0xaf, 0x01, 0x21))).details.reason).toMatch(
      /SoundFormat/,
    );
  });
});

describe('writing bodies that cannot be written', () => {
  const avc = (ct: number | undefined, trackId = 0): ExTrack => ({
    trackId,
    fourCc: 'avc1',
    compositionTime: ct,
    payload: bytes(1),
  });
  it.each<[string, ExVideoBody, string]>([
    [
      'two tracks without multitrack',
      { frameType: 'key', packetType: 'codedFrames', tracks: [avc(0), avc(0, 1)] },
      'exactly one track',
    ],
    [
      'OneTrack with two tracks',
      {
        frameType: 'key',
        packetType: 'codedFrames',
        multitrack: 'oneTrack',
        tracks: [avc(0), avc(0, 1)],
      },
      'OneTrack',
    ],
    [
      'ManyTracks with two FourCCs',
      {
        frameType: 'key',
        packetType: 'sequenceStart',
        multitrack: 'manyTracks',
        tracks: [
          { trackId: 0, fourCc: 'avc1', payload: bytes() },
          { trackId: 1, fourCc: 'hvc1', payload: bytes() },
        ],
      },
      'share one FourCC',
    ],
    [
      'a composition time past SI24',
      { frameType: 'key', packetType: 'codedFrames', tracks: [avc(0x800000)] },
      'compositionTime',
    ],
    [
      'avc1 CodedFrames without its composition time',
      { frameType: 'key', packetType: 'codedFrames', tracks: [avc(undefined)] },
      'compositionTime',
    ],
    [
      'CodedFramesX with a non-zero composition time',
      { frameType: 'key', packetType: 'codedFramesX', tracks: [avc(5)] },
      'implies composition time 0',
    ],
    [
      'a trackId past UI8',
      {
        frameType: 'key',
        packetType: 'codedFrames',
        multitrack: 'manyTracks',
        tracks: [avc(0, 256)],
      },
      'trackId',
    ],
    [
      'a TimestampOffsetNano of 1 ms',
      {
        frameType: 'key',
        packetType: 'codedFrames',
        timestampOffsetNano: 1_000_000,
        tracks: [avc(0)],
      },
      'timestampOffsetNano',
    ],
    [
      'a three-letter FourCC',
      {
        frameType: 'key',
        packetType: 'sequenceStart',
        tracks: [{ trackId: 0, fourCc: 'av1', payload: bytes() }],
      },
      'FourCC',
    ],
  ])('refuses %s with BAD_MEDIA_BODY', (_, body, reason) => {
    const e = flvError(() => writeExVideoBody(body));
    expect(e.code).toBe('BAD_MEDIA_BODY');
    expect(String(e.details.reason)).toContain(reason);
  });

  it('refuses a ManyTracks track larger than UI24 and names the limit', () => {
    const e = flvError(() =>
      writeExAudioBody({
        packetType: 'codedFrames',
        multitrack: 'manyTracks',
        tracks: [{ trackId: 0, fourCc: 'Opus', payload: new Uint8Array(0x1000000) }],
      }),
    );
    expect(e.details).toMatchObject({ size: 0x1000000, limit: 0xffffff });
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const payloadArb = fc.uint8Array({ maxLength: 12 });
const modExArb = fc.array(
  fc.record({
    type: fc.integer({ min: 1, max: 15 }),
    data: fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 8 }),
      // The UI16 escape: 256 bytes and more.
      fc.integer({ min: 255, max: 300 }).map((n) => new Uint8Array(n).fill(n & 0xff)),
    ),
  }),
  { maxLength: 2 },
);
const VIDEO_FOURCCS = ['avc1', 'hvc1', 'vvc1', 'av01', 'vp09', 'vp08', 'xyz1'];
const AUDIO_FOURCCS = ['mp4a', 'Opus', 'fLaC', 'ac-3', 'ec-3', '.mp3'];

function common<T extends { tracks: ExTrack[] }>(
  base: T,
  mt: 'none' | 'oneTrack' | 'manyTracks' | 'manyTracksManyCodecs',
  nano: number | undefined,
  modEx: { type: number; data: Uint8Array }[],
): T {
  const out: T & { timestampOffsetNano?: number; modEx?: typeof modEx; multitrack?: string } = {
    ...base,
  };
  if (nano !== undefined) out.timestampOffsetNano = nano;
  if (modEx.length > 0) out.modEx = modEx;
  if (mt !== 'none') out.multitrack = mt;
  return out;
}

const videoArb: fc.Arbitrary<ExVideoBody> = fc
  .record({
    frameType: fc.constantFrom('key', 'inter', 'disposableInter', 'generatedKey' as const),
    packetType: fc.constantFrom(
      'sequenceStart',
      'codedFrames',
      'sequenceEnd',
      'codedFramesX',
      'metadata',
      'mpeg2tsSequenceStart' as const,
    ),
    mt: fc.constantFrom('none', 'oneTrack', 'manyTracks', 'manyTracksManyCodecs' as const),
    fourCcs: fc.array(fc.constantFrom(...VIDEO_FOURCCS), { minLength: 1, maxLength: 4 }),
    ids: fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }),
    cts: fc.array(fc.integer({ min: -0x800000, max: 0x7fffff }), { minLength: 4, maxLength: 4 }),
    payloads: fc.array(payloadArb, { minLength: 4, maxLength: 4 }),
    nano: fc.option(fc.integer({ min: 0, max: 999_999 }), { nil: undefined }),
    modEx: modExArb,
  })
  .map((r) => {
    const count = r.mt === 'none' || r.mt === 'oneTrack' ? 1 : r.fourCcs.length;
    const tracks: ExTrack[] = [];
    for (let i = 0; i < count; i++) {
      const fourCc = r.mt === 'manyTracksManyCodecs' ? r.fourCcs[i] : r.fourCcs[0];
      const t: ExTrack = {
        trackId: r.mt === 'none' ? 0 : r.ids[i],
        fourCc,
        payload: r.payloads[i],
      };
      if (['avc1', 'hvc1', 'vvc1'].includes(fourCc)) {
        if (r.packetType === 'codedFrames') t.compositionTime = r.cts[i];
        if (r.packetType === 'codedFramesX') t.compositionTime = 0;
      }
      tracks.push(t);
    }
    const frameType = r.packetType === 'metadata' && r.ids[0] % 5 === 0 ? 'reserved' : r.frameType;
    return common<ExVideoBody>(
      { frameType, packetType: r.packetType, tracks },
      r.mt,
      r.nano,
      r.modEx,
    );
  });

const audioArb: fc.Arbitrary<ExAudioBody> = fc
  .record({
    packetType: fc.constantFrom(
      'sequenceStart',
      'codedFrames',
      'sequenceEnd',
      'multichannelConfig' as const,
    ),
    mt: fc.constantFrom('none', 'oneTrack', 'manyTracks', 'manyTracksManyCodecs' as const),
    fourCcs: fc.array(fc.constantFrom(...AUDIO_FOURCCS), { minLength: 1, maxLength: 4 }),
    ids: fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }),
    payloads: fc.array(payloadArb, { minLength: 4, maxLength: 4 }),
    nano: fc.option(fc.integer({ min: 0, max: 999_999 }), { nil: undefined }),
    modEx: modExArb,
  })
  .map((r) => {
    const count = r.mt === 'none' || r.mt === 'oneTrack' ? 1 : r.fourCcs.length;
    const tracks: ExTrack[] = [];
    for (let i = 0; i < count; i++) {
      tracks.push({
        trackId: r.mt === 'none' ? 0 : r.ids[i],
        fourCc: r.mt === 'manyTracksManyCodecs' ? r.fourCcs[i] : r.fourCcs[0],
        payload: r.payloads[i],
      });
    }
    return common<ExAudioBody>({ packetType: r.packetType, tracks }, r.mt, r.nano, r.modEx);
  });

describe('round trips (properties)', () => {
  it('parses every video body it writes back to the same value, and rewrites the same bytes', () => {
    fc.assert(
      fc.property(videoArb, (x) => {
        const wire = writeExVideoBody(x);
        const back = parseExVideoBody(wire);
        expect(plain(back)).toEqual(plain(x));
        expect(Buffer.from(writeExVideoBody(back)).equals(Buffer.from(wire))).toBe(true);
        // The hot-path parser reads the same tracks, composition times and nanoseconds.
        const info = parseVideoHeader(wire);
        expect(info.timestampNanoOffset).toBe(x.timestampOffsetNano);
        const tracks = info.tracks ?? [
          { trackId: 0, fourCc: info.fourCc, compositionTime: info.compositionTime },
        ];
        expect(tracks.map((t) => [t.trackId, t.fourCc, t.compositionTime])).toEqual(
          x.tracks.map((t) => [t.trackId, t.fourCc, t.compositionTime]),
        );
      }),
      { numRuns: 500 },
    );
  });

  it('parses every audio body it writes back to the same value, and rewrites the same bytes', () => {
    fc.assert(
      fc.property(audioArb, (x) => {
        const wire = writeExAudioBody(x);
        const back = parseExAudioBody(wire);
        expect(plain(back)).toEqual(plain(x));
        expect(Buffer.from(writeExAudioBody(back)).equals(Buffer.from(wire))).toBe(true);
        expect(parseAudioHeader(wire).timestampNanoOffset).toBe(x.timestampOffsetNano);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws anything but an FlvError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
        for (const parse of [parseExVideoBody, parseExAudioBody]) {
          try {
            parse(b);
          } catch (e) {
            if (!(e instanceof FlvError) || e.code !== 'BAD_MEDIA_HEADER') throw e;
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});
