import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlvError } from '../../../src/protocol/errors';
import {
  BitReader,
  parseAacAudioSpecificConfig,
  parseAudioHeader,
  parseAvcDecoderConfig,
  parseAvcSps,
  parseFlv,
  parseHevcDecoderConfig,
  parseVideoHeader,
  unescapeRbsp,
} from '../../../src/protocol/flv';
import { ffmpeg, findBoxPayload, probeSize, smallFlv } from './helpers';

function flvError(fn: () => unknown): FlvError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FlvError) return e;
    throw e;
  }
  throw new Error('expected an FlvError');
}

/** MSB-first bit writer with Exp-Golomb codes, to build bitstreams for the tests. */
class BitWriter {
  private bits: number[] = [];
  u(n: number, v: number): this {
    for (let i = n - 1; i >= 0; i--) this.bits.push(Math.floor(v / 2 ** i) % 2);
    return this;
  }
  ue(v: number): this {
    const len = Math.floor(Math.log2(v + 1));
    return this.u(len, 0).u(len + 1, v + 1);
  }
  se(v: number): this {
    return this.ue(v > 0 ? 2 * v - 1 : -2 * v);
  }
  /** rbsp_trailing_bits, then the bytes. */
  bytes(trailing = true): Uint8Array {
    if (trailing) this.bits.push(1);
    while (this.bits.length % 8) this.bits.push(0);
    const out = new Uint8Array(this.bits.length / 8);
    for (let i = 0; i < this.bits.length; i++) out[i >> 3] |= this.bits[i] << (7 - (i & 7));
    return out;
  }
}

/** Inserts emulation-prevention bytes, as an encoder does. */
function escapeRbsp(rbsp: Uint8Array): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (const b of rbsp) {
    if (zeros >= 2 && b <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return Uint8Array.from(out);
}

describe('bit reading', () => {
  it('removes emulation-prevention bytes and leaves other bytes alone', () => {
    const nal = Uint8Array.from(
      [
        [0x00, 0x00, 0x03, 0x01], // 00 00 03 01 → 00 00 01
        [0x00, 0x00, 0x03, 0x00], // 00 00 03 00 → 00 00 00
        [0x00, 0x03], //             zeros carry on: 00 00 03 → 00 00
      ].flat(),
    );
    expect([...unescapeRbsp(nal)]).toEqual([0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00]);
    const clean = Uint8Array.from([0x67, 0x00, 0x03, 0x00, 0x04]);
    expect(unescapeRbsp(clean)).toBe(clean);
  });

  it('reads unsigned and signed Exp-Golomb codes', () => {
    const bytes = new BitWriter()
      .ue(0)
      .ue(1)
      .ue(2)
      .ue(3)
      .ue(254)
      .se(1)
      .se(-1)
      .se(2)
      .se(-2)
      .se(0)
      .bytes();
    const r = new BitReader(bytes);
    expect([r.ue(), r.ue(), r.ue(), r.ue(), r.ue()]).toEqual([0, 1, 2, 3, 254]);
    expect([r.se(), r.se(), r.se(), r.se(), r.se()]).toEqual([1, -1, 2, -2, 0]);
  });

  it('reads fixed-width fields up to 32 bits', () => {
    const r = new BitReader(Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 0xa5]));
    expect(r.bits(32)).toBe(0xdeadbeef);
    expect(r.bits(3)).toBe(0b101);
    expect(r.bitsLeft).toBe(5);
  });

  it('fails with BAD_MEDIA_HEADER when reading past the end', () => {
    const r = new BitReader(Uint8Array.from([0x00]));
    expect(flvError(() => r.ue()).code).toBe('BAD_MEDIA_HEADER');
    expect(flvError(() => new BitReader(new Uint8Array(1)).bits(9)).code).toBe('BAD_MEDIA_HEADER');
  });
});

describe('AVC decoder configuration', () => {
  it('says 640x360 High profile at 30 fps for the sequence header of small.flv', () => {
    const tag = parseFlv(smallFlv()).tags.find((t) => t.type === 9);
    if (!tag) throw new Error('no video tag');
    const info = parseVideoHeader(tag.data);
    const config = parseAvcDecoderConfig(tag.data.subarray(info.headerLength));
    expect(config).toMatchObject({
      configurationVersion: 1,
      profile: 100,
      nalLengthSize: 4,
      spsCount: 1,
      ppsCount: 1,
      width: 640,
      height: 360,
    });
    expect(config.codecString).toBe(
      `avc1.64${config.profileCompatibility.toString(16).padStart(2, '0')}${config.level.toString(16)}`,
    );
    expect(config.spsInfo).toMatchObject({
      profileIdc: 100,
      chromaFormatIdc: 1,
      bitDepthLuma: 8,
      frameMbsOnly: true,
      codedWidth: 640,
      codedHeight: 368,
      crop: { left: 0, right: 0, top: 0, bottom: 8 },
      frameRate: 30,
    });
    expect(config.sps[0][0] & 0x1f).toBe(7); // an SPS NAL unit
    expect(config.pps[0][0] & 0x1f).toBe(8); // a PPS NAL unit
  });

  it('applies cropping and emulation prevention in a constructed SPS', () => {
    const widthMbsMinus1 = 2 ** 24; // a 25-bit Exp-Golomb prefix of zeros → 00 00 0x in the NAL
    const rbsp = new BitWriter()
      .u(8, 0x67) //  NAL header: nal_ref_idc 3, type 7 (SPS)
      .u(8, 66) //    profile_idc: Baseline (no chroma_format_idc)
      .u(8, 0xc0) //  constraint_set0/1
      .u(8, 30) //    level_idc 3.0
      .ue(0) //       seq_parameter_set_id
      .ue(0) //       log2_max_frame_num_minus4
      .ue(2) //       pic_order_cnt_type 2
      .ue(1) //       max_num_ref_frames
      .u(1, 0) //     gaps_in_frame_num_value_allowed_flag
      .ue(widthMbsMinus1) // pic_width_in_mbs_minus1
      .ue(22) //      pic_height_in_map_units_minus1 → 368
      .u(1, 1) //     frame_mbs_only_flag
      .u(1, 1) //     direct_8x8_inference_flag
      .u(1, 1) //     frame_cropping_flag
      .ue(0) //       frame_crop_left_offset
      .ue(((widthMbsMinus1 + 1) * 16 - 640) / 2) // frame_crop_right_offset (2-pixel units)
      .ue(0) //       frame_crop_top_offset
      .ue(4) //       frame_crop_bottom_offset → 8 rows
      .u(1, 0) //     vui_parameters_present_flag
      .bytes();
    const nal = escapeRbsp(rbsp);
    expect(nal.length).toBeGreaterThan(rbsp.length); // the test really has emulation prevention
    const sps = parseAvcSps(nal);
    expect(sps).toMatchObject({ profileIdc: 66, levelIdc: 30, width: 640, height: 360 });
    expect(sps.frameRate).toBeUndefined();
  });

  it('reads a picture order count type 1 cycle', () => {
    const nal = new BitWriter()
      .u(8, 0x67) // NAL header: SPS
      .u(8, 77) //   profile_idc: Main
      .u(8, 0) //    constraint flags
      .u(8, 31) //   level_idc 3.1
      .ue(0) //      seq_parameter_set_id
      .ue(0) //      log2_max_frame_num_minus4
      .ue(1) //      pic_order_cnt_type 1
      .u(1, 0) //    delta_pic_order_always_zero_flag
      .se(-3) //     offset_for_non_ref_pic
      .se(5) //      offset_for_top_to_bottom_field
      .ue(2) //      num_ref_frames_in_pic_order_cnt_cycle
      .se(7) //      offset_for_ref_frame[0]
      .se(-7) //     offset_for_ref_frame[1]
      .ue(4) //      max_num_ref_frames
      .u(1, 0) //    gaps_in_frame_num_value_allowed_flag
      .ue(19) //     pic_width_in_mbs_minus1 → 320
      .ue(14) //     pic_height_in_map_units_minus1 → 240
      .u(1, 1) //    frame_mbs_only_flag
      .u(1, 1) //    direct_8x8_inference_flag
      .u(1, 0) //    frame_cropping_flag
      .u(1, 0) //    vui_parameters_present_flag
      .bytes();
    expect(parseAvcSps(nal)).toMatchObject({ width: 320, height: 240, crop: { bottom: 0 } });
  });

  it('rejects a record without an SPS, a truncated record and a non-SPS NAL unit', () => {
    const noSps = Uint8Array.from(
      [
        0x01, //             configurationVersion
        [0x64, 0x00, 0x1f], // AVCProfileIndication, profile_compatibility, AVCLevelIndication
        0xff, //             lengthSizeMinusOne 3
        0xe0, //             numOfSequenceParameterSets 0
        0x00, //             numOfPictureParameterSets 0
      ].flat(),
    );
    const truncated = Uint8Array.from(
      [
        [0x01, 0x64, 0x00, 0x1f, 0xff], // version, profile, compatibility, level, length size
        0xe1, //                         one SPS
        [0x00, 0x20], //                 sequenceParameterSetLength 32 …
        0x67, //                         … but only one byte follows
      ].flat(),
    );
    expect(flvError(() => parseAvcDecoderConfig(noSps)).details.reason).toMatch(/no SPS/);
    expect(flvError(() => parseAvcDecoderConfig(truncated)).code).toBe('BAD_MEDIA_HEADER');
    expect(flvError(() => parseAvcSps(Uint8Array.from([0x68, 0xee, 0x3c, 0x80]))).code).toBe(
      'BAD_MEDIA_HEADER',
    );
  });
});

describe('codec configuration of files made by ffmpeg', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flv-avc-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Encodes two frames of testsrc2 and returns the file path. */
  function encode(name: string, size: string, rate: number, args: string[]): string {
    const path = join(dir, name);
    ffmpeg([
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=${size}:rate=${rate}`,
      '-frames:v',
      '2',
      ...args,
      path,
    ]);
    return path;
  }

  it('reads a cropped 350x202 H.264 picture with a 4:3 sample aspect ratio', () => {
    const path = encode('crop.mp4', '350x202', 25, ['-c:v', 'libx264', '-vf', 'setsar=4/3']);
    const config = parseAvcDecoderConfig(findBoxPayload(readFileSync(path), 'avcC'));
    expect({ width: config.width, height: config.height }).toEqual(probeSize(path));
    expect(config.spsInfo).toMatchObject({
      width: 350,
      height: 202,
      crop: { left: 0, right: 2, top: 0, bottom: 6 },
      sarWidth: 4,
      sarHeight: 3,
      frameRate: 25,
    });
  });

  it('reads an interlaced H.264 picture (frame_mbs_only_flag 0)', () => {
    const path = encode('interlaced.mp4', '320x240', 30, [
      '-c:v',
      'libx264',
      '-flags',
      '+ildct+ilme',
    ]);
    const config = parseAvcDecoderConfig(findBoxPayload(readFileSync(path), 'avcC'));
    expect(config.spsInfo.frameMbsOnly).toBe(false);
    expect({ width: config.width, height: config.height }).toEqual(probeSize(path));
  });

  it('reads a 4:4:4 H.264 picture with scaling matrices', () => {
    const path = encode('444.mp4', '350x202', 30, [
      '-c:v',
      'libx264',
      '-pix_fmt',
      'yuv444p',
      '-x264opts',
      'cqm=jvt',
    ]);
    const config = parseAvcDecoderConfig(findBoxPayload(readFileSync(path), 'avcC'));
    expect(config.profile).toBe(244);
    expect(config.spsInfo).toMatchObject({ chromaFormatIdc: 3, crop: { right: 2, bottom: 6 } });
    expect({ width: config.width, height: config.height }).toEqual(probeSize(path));
  });

  it('reads a Baseline H.264 picture', () => {
    const path = encode('baseline.mp4', '176x144', 15, [
      '-c:v',
      'libx264',
      '-profile:v',
      'baseline',
    ]);
    const config = parseAvcDecoderConfig(findBoxPayload(readFileSync(path), 'avcC'));
    expect(config).toMatchObject({ profile: 66, width: 176, height: 144 });
    expect(config.spsInfo.frameRate).toBe(15);
  });

  it('reads a cropped 350x202 HEVC picture from its HEVCDecoderConfigurationRecord', () => {
    const path = encode('hevc.mp4', '350x202', 30, [
      '-c:v',
      'libx265',
      '-x265-params',
      'log-level=none',
    ]);
    const config = parseHevcDecoderConfig(findBoxPayload(readFileSync(path), 'hvcC'));
    expect(config).toMatchObject({
      configurationVersion: 1,
      profile: 1, // Main
      chromaFormat: 1,
      bitDepthLuma: 8,
      nalLengthSize: 4,
      vpsCount: 1,
      spsCount: 1,
      ppsCount: 1,
      width: 350,
      height: 202,
    });
    expect({ width: config.width, height: config.height }).toEqual(probeSize(path));
    expect(config.spsInfo.codedHeight).toBeGreaterThan(202);
    expect(config.spsInfo.profileIdc).toBe(config.profile);
    expect(config.spsInfo.levelIdc).toBe(config.level);
  });

  it('reads a 10-bit HEVC picture', () => {
    const path = encode('hevc10.mp4', '640x360', 30, [
      '-c:v',
      'libx265',
      '-pix_fmt',
      'yuv420p10le',
      '-x265-params',
      'log-level=none',
    ]);
    const config = parseHevcDecoderConfig(findBoxPayload(readFileSync(path), 'hvcC'));
    expect(config).toMatchObject({ profile: 2, bitDepthLuma: 10, width: 640, height: 360 });
    expect(config.spsInfo.bitDepthLuma).toBe(10);
  });

  it('rejects an HEVC record without an SPS', () => {
    const record = new Uint8Array(23);
    record[0] = 1; // configurationVersion; numOfArrays (byte 22) = 0
    expect(flvError(() => parseHevcDecoderConfig(record)).details.reason).toMatch(/no SPS/);
    expect(flvError(() => parseHevcDecoderConfig(record.subarray(0, 10))).code).toBe(
      'BAD_MEDIA_HEADER',
    );
  });
});

describe('AAC AudioSpecificConfig', () => {
  it('says AAC-LC 48000 Hz stereo for the sequence header of small.flv', () => {
    const tag = parseFlv(smallFlv()).tags.find((t) => t.type === 8);
    if (!tag) throw new Error('no audio tag');
    const info = parseAudioHeader(tag.data);
    expect(parseAacAudioSpecificConfig(tag.data.subarray(info.headerLength))).toMatchObject({
      objectType: 2,
      sampleRate: 48000,
      channels: 2,
      codecString: 'mp4a.40.2',
    });
  });

  it('reads AAC-LC 44100 Hz stereo', () => {
    // 00010 (AAC-LC) 0100 (44100) 0010 (stereo) 000 (GASpecificConfig)
    expect(parseAacAudioSpecificConfig(Uint8Array.from([0x12, 0x10]))).toEqual({
      objectType: 2,
      coreObjectType: 2,
      samplingFrequencyIndex: 4,
      sampleRate: 44100,
      channelConfiguration: 2,
      channels: 2,
      codecString: 'mp4a.40.2',
    });
  });

  it('reads explicit HE-AAC (SBR) signalling', () => {
    // 00101 (SBR) 0110 (24000) 0010 (stereo) 0011 (extension 48000) 00010 (AAC-LC)
    expect(parseAacAudioSpecificConfig(Uint8Array.from([0x2b, 0x11, 0x88]))).toMatchObject({
      objectType: 5,
      coreObjectType: 2,
      sampleRate: 24000,
      extensionSampleRate: 48000,
      channels: 2,
      codecString: 'mp4a.40.5',
    });
  });

  it('reads an escaped object type, an explicit sample rate and 7.1 channels', () => {
    const asc = new BitWriter()
      .u(5, 31) //    audioObjectType escape …
      .u(6, 10) //    … 32 + 10 = 42 (USAC)
      .u(4, 15) //    samplingFrequencyIndex 15: explicit rate follows
      .u(24, 44056) // samplingFrequency 44056 Hz
      .u(4, 7) //     channelConfiguration 7: 8 channels
      .bytes(false);
    expect(parseAacAudioSpecificConfig(asc)).toMatchObject({
      objectType: 42,
      samplingFrequencyIndex: 15,
      sampleRate: 44056,
      channelConfiguration: 7,
      channels: 8,
    });
  });

  it('rejects a reserved sampling frequency index and a too-short config', () => {
    // 00010 1101 (index 13, reserved) 0010
    expect(flvError(() => parseAacAudioSpecificConfig(Uint8Array.from([0x16, 0x90]))).code).toBe(
      'BAD_MEDIA_HEADER',
    );
    expect(flvError(() => parseAacAudioSpecificConfig(Uint8Array.from([0x12]))).code).toBe(
      'BAD_MEDIA_HEADER',
    );
  });
});
