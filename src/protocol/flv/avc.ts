/**
 * Codec configuration records carried in sequence-header tags: the AVCDecoderConfigurationRecord
 * (ISO/IEC 14496-15 5.3.3) with its SPS (ITU-T H.264 7.3.2.1), the HEVCDecoderConfigurationRecord
 * (14496-15 8.3.3) with its SPS (H.265 7.3.2.2), and the AAC AudioSpecificConfig
 * (ISO/IEC 14496-3 1.6.2.1). Width and height take cropping into account.
 */
import { FlvError } from '../errors';

function fail(reason: string, details: Record<string, unknown> = {}): never {
  throw new FlvError('BAD_MEDIA_HEADER', `bad codec configuration: ${reason}`, {
    reason,
    ...details,
  });
}

// ---------------------------------------------------------------------------------------------
// Bits

/** Removes emulation-prevention bytes (00 00 03 → 00 00); returns the input when there are none. */
export function unescapeRbsp(nal: Uint8Array): Uint8Array {
  let first = -1;
  for (let i = 2; i < nal.length; i++) {
    if (nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0) {
      first = i;
      break;
    }
  }
  if (first < 0) return nal;
  const out = new Uint8Array(nal.length);
  out.set(nal.subarray(0, first), 0);
  let o = first;
  let zeros = 0;
  for (let i = first + 1; i < nal.length; i++) {
    const b = nal[i];
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out[o++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, o);
}

/** MSB-first bit reader with Exp-Golomb codes, over RBSP bytes (see {@link unescapeRbsp}). */
export class BitReader {
  private pos = 0;

  constructor(private readonly bytes: Uint8Array) {}

  /** Bits not read yet. */
  get bitsLeft(): number {
    return this.bytes.length * 8 - this.pos;
  }

  /** Reads one bit. */
  bit(): number {
    const pos = this.pos;
    if (pos >= this.bytes.length * 8) fail('truncated bitstream', { bit: pos });
    this.pos = pos + 1;
    return (this.bytes[pos >> 3] >> (7 - (pos & 7))) & 1;
  }

  /** Reads `n` (≤ 32) bits as an unsigned number. */
  bits(n: number): number {
    if (n > this.bitsLeft) fail('truncated bitstream', { bit: this.pos, want: n });
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }

  /** Skips `n` bits. */
  skip(n: number): void {
    if (n > this.bitsLeft) fail('truncated bitstream', { bit: this.pos, want: n });
    this.pos += n;
  }

  /** Reads ue(v), unsigned Exp-Golomb. */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (++zeros > 32) fail('Exp-Golomb code longer than 32 bits', { bit: this.pos });
    }
    return zeros === 0 ? 0 : 2 ** zeros - 1 + this.bits(zeros);
  }

  /** Reads se(v), signed Exp-Golomb. */
  se(): number {
    const k = this.ue();
    return k & 1 ? (k + 1) / 2 : k === 0 ? 0 : -(k / 2);
  }
}

// ---------------------------------------------------------------------------------------------
// AVC

/** What an H.264 sequence parameter set says. */
export interface AvcSps {
  profileIdc: number;
  /** constraint_set0..5 flags and reserved bits (the byte after profile_idc). */
  constraintFlags: number;
  levelIdc: number;
  spsId: number;
  /** 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4. */
  chromaFormatIdc: number;
  bitDepthLuma: number;
  bitDepthChroma: number;
  /** frame_mbs_only_flag: false means field/MBAFF coding (each map unit is two rows). */
  frameMbsOnly: boolean;
  /** Size in whole macroblocks, before cropping. */
  codedWidth: number;
  codedHeight: number;
  /** Display size, after the frame-cropping window. */
  width: number;
  height: number;
  /** Frame-cropping window, in luma samples. */
  crop: { left: number; right: number; top: number; bottom: number };
  /** Sample aspect ratio from the VUI, when present. */
  sarWidth?: number;
  sarHeight?: number;
  /** time_scale / (2 · num_units_in_tick) from the VUI timing info, when present. */
  frameRate?: number;
}

/** What an AVCDecoderConfigurationRecord says, with its first SPS parsed. */
export interface AvcDecoderConfig {
  configurationVersion: number;
  /** AVCProfileIndication (66 Baseline, 77 Main, 100 High, …). */
  profile: number;
  profileCompatibility: number;
  /** AVCLevelIndication (e.g. 31 for level 3.1). */
  level: number;
  /** lengthSizeMinusOne + 1: bytes of each NALU length prefix in coded frames. */
  nalLengthSize: number;
  spsCount: number;
  ppsCount: number;
  /** Views into the record. */
  sps: Uint8Array[];
  pps: Uint8Array[];
  width: number;
  height: number;
  /** The parsed first SPS. */
  spsInfo: AvcSps;
  /** RFC 6381 codec string, e.g. `avc1.64001f`. */
  codecString: string;
}

const AVC_HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

const SAR_TABLE: readonly (readonly [number, number])[] = [
  [0, 0],
  [1, 1],
  [12, 11],
  [10, 11],
  [16, 11],
  [40, 33],
  [24, 11],
  [20, 11],
  [32, 11],
  [80, 33],
  [18, 11],
  [15, 11],
  [64, 33],
  [160, 99],
  [4, 3],
  [3, 2],
  [2, 1],
];

function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) next = (last + r.se() + 256) % 256;
    if (next !== 0) last = next;
  }
}

/** Parses an H.264 SPS NAL unit (with its 1-byte NAL header, emulation prevention allowed). */
export function parseAvcSps(nal: Uint8Array): AvcSps {
  if (nal.length < 4) fail('SPS too short', { length: nal.length });
  if ((nal[0] & 0x1f) !== 7) fail('not an SPS NAL unit', { nalType: nal[0] & 0x1f });
  const r = new BitReader(unescapeRbsp(nal));
  r.skip(8); // NAL header
  const profileIdc = r.bits(8);
  const constraintFlags = r.bits(8);
  const levelIdc = r.bits(8);
  const spsId = r.ue();
  let chromaFormatIdc = 1;
  let separateColourPlane = false;
  let bitDepthLuma = 8;
  let bitDepthChroma = 8;
  if (AVC_HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = r.ue();
    if (chromaFormatIdc === 3) separateColourPlane = r.bit() === 1;
    bitDepthLuma = r.ue() + 8;
    bitDepthChroma = r.ue() + 8;
    r.skip(1); // qpprime_y_zero_transform_bypass_flag
    if (r.bit()) {
      // seq_scaling_matrix_present_flag
      const lists = chromaFormatIdc !== 3 ? 8 : 12;
      for (let i = 0; i < lists; i++) {
        if (r.bit()) skipScalingList(r, i < 6 ? 16 : 64);
      }
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) {
    r.ue(); // log2_max_pic_order_cnt_lsb_minus4
  } else if (pocType === 1) {
    r.skip(1); // delta_pic_order_always_zero_flag
    r.se(); // offset_for_non_ref_pic
    r.se(); // offset_for_top_to_bottom_field
    const n = r.ue();
    if (n > 255) fail('num_ref_frames_in_pic_order_cnt_cycle out of range', { value: n });
    for (let i = 0; i < n; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.skip(1); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ue() + 1;
  const heightMapUnits = r.ue() + 1;
  const frameMbsOnly = r.bit() === 1;
  if (!frameMbsOnly) r.skip(1); // mb_adaptive_frame_field_flag
  r.skip(1); // direct_8x8_inference_flag
  const codedWidth = widthMbs * 16;
  const codedHeight = (frameMbsOnly ? 1 : 2) * heightMapUnits * 16;
  const crop = { left: 0, right: 0, top: 0, bottom: 0 };
  if (r.bit()) {
    // frame_cropping_flag: offsets are in chroma units (H.264 7.4.2.1.1, CropUnitX/Y)
    const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
    const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
    const subHeightC = chromaArrayType === 1 ? 2 : 1;
    const unitX = chromaArrayType === 0 ? 1 : subWidthC;
    const unitY = (chromaArrayType === 0 ? 1 : subHeightC) * (frameMbsOnly ? 1 : 2);
    crop.left = r.ue() * unitX;
    crop.right = r.ue() * unitX;
    crop.top = r.ue() * unitY;
    crop.bottom = r.ue() * unitY;
  }
  const width = codedWidth - crop.left - crop.right;
  const height = codedHeight - crop.top - crop.bottom;
  if (width <= 0 || height <= 0) fail('cropping leaves no picture', { width, height });
  const sps: AvcSps = {
    profileIdc,
    constraintFlags,
    levelIdc,
    spsId,
    chromaFormatIdc,
    bitDepthLuma,
    bitDepthChroma,
    frameMbsOnly,
    codedWidth,
    codedHeight,
    width,
    height,
    crop,
  };
  if (r.bitsLeft > 0 && r.bit()) {
    try {
      parseAvcVui(r, sps);
    } catch (e) {
      // A truncated VUI does not make the picture size wrong: keep what was read.
      if (!(e instanceof FlvError)) throw e;
    }
  }
  return sps;
}

function parseAvcVui(r: BitReader, sps: AvcSps): void {
  if (r.bit()) {
    // aspect_ratio_info_present_flag
    const idc = r.bits(8);
    if (idc === 255) {
      sps.sarWidth = r.bits(16);
      sps.sarHeight = r.bits(16);
    } else if (idc > 0 && idc < SAR_TABLE.length) {
      [sps.sarWidth, sps.sarHeight] = SAR_TABLE[idc];
    }
  }
  if (r.bit()) r.skip(1); // overscan_info_present_flag → overscan_appropriate_flag
  if (r.bit()) {
    // video_signal_type_present_flag
    r.skip(4); // video_format, video_full_range_flag
    if (r.bit()) r.skip(24); // colour_description_present_flag → primaries, transfer, matrix
  }
  if (r.bit()) {
    // chroma_loc_info_present_flag
    r.ue();
    r.ue();
  }
  if (r.bit()) {
    // timing_info_present_flag
    const unitsInTick = r.bits(32);
    const timeScale = r.bits(32);
    if (unitsInTick > 0 && timeScale > 0) sps.frameRate = timeScale / (2 * unitsInTick);
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** Parses an AVCDecoderConfigurationRecord (the payload of an AVC sequence header). */
export function parseAvcDecoderConfig(record: Uint8Array): AvcDecoderConfig {
  if (record.length < 7) fail('AVC configuration record too short', { length: record.length });
  const configurationVersion = record[0];
  if (configurationVersion !== 1) {
    fail('unknown AVC configurationVersion', { configurationVersion });
  }
  const profile = record[1];
  const profileCompatibility = record[2];
  const level = record[3];
  const nalLengthSize = (record[4] & 0x03) + 1;
  let p = 5;
  const readSet = (count: number, what: string): Uint8Array[] => {
    const list: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      if (p + 2 > record.length) fail(`truncated ${what} length`, { offset: p });
      const len = (record[p] << 8) | record[p + 1];
      p += 2;
      if (p + len > record.length) fail(`truncated ${what}`, { offset: p, length: len });
      list.push(record.subarray(p, p + len));
      p += len;
    }
    return list;
  };
  const sps = readSet(record[p++] & 0x1f, 'SPS');
  if (p >= record.length) fail('truncated PPS count', { offset: p });
  const pps = readSet(record[p++], 'PPS');
  if (sps.length === 0) fail('AVC configuration record has no SPS');
  const spsInfo = parseAvcSps(sps[0]);
  return {
    configurationVersion,
    profile,
    profileCompatibility,
    level,
    nalLengthSize,
    spsCount: sps.length,
    ppsCount: pps.length,
    sps,
    pps,
    width: spsInfo.width,
    height: spsInfo.height,
    spsInfo,
    codecString: `avc1.${hex2(profile)}${hex2(profileCompatibility)}${hex2(level)}`,
  };
}

// ---------------------------------------------------------------------------------------------
// HEVC

/** What an H.265 sequence parameter set says. */
export interface HevcSps {
  maxSubLayers: number;
  profileSpace: number;
  tier: number;
  profileIdc: number;
  levelIdc: number;
  spsId: number;
  chromaFormatIdc: number;
  /** pic_width/height_in_luma_samples. */
  codedWidth: number;
  codedHeight: number;
  /** After the conformance window. */
  width: number;
  height: number;
  bitDepthLuma: number;
  bitDepthChroma: number;
}

/** One NAL unit array of an HEVCDecoderConfigurationRecord. */
export interface HevcNalArray {
  completeness: boolean;
  /** NAL unit type: 32 VPS, 33 SPS, 34 PPS, 39/40 SEI. */
  type: number;
  /** Views into the record. */
  nalus: Uint8Array[];
}

/** What an HEVCDecoderConfigurationRecord says, with its first SPS parsed. */
export interface HevcDecoderConfig {
  configurationVersion: number;
  profileSpace: number;
  tier: number;
  /** general_profile_idc (1 Main, 2 Main 10, …). */
  profile: number;
  profileCompatibility: number;
  /** general_level_idc (30 × level, e.g. 93 for 3.1). */
  level: number;
  chromaFormat: number;
  bitDepthLuma: number;
  bitDepthChroma: number;
  /** avgFrameRate / 256 (0 when unspecified). */
  frameRate: number;
  numTemporalLayers: number;
  nalLengthSize: number;
  arrays: HevcNalArray[];
  vpsCount: number;
  spsCount: number;
  ppsCount: number;
  width: number;
  height: number;
  spsInfo: HevcSps;
}

/** Parses an H.265 SPS NAL unit (with its 2-byte NAL header, emulation prevention allowed). */
export function parseHevcSps(nal: Uint8Array): HevcSps {
  if (nal.length < 4) fail('SPS too short', { length: nal.length });
  if (((nal[0] >> 1) & 0x3f) !== 33) fail('not an SPS NAL unit', { nalType: (nal[0] >> 1) & 0x3f });
  const r = new BitReader(unescapeRbsp(nal));
  r.skip(16); // NAL header
  r.skip(4); // sps_video_parameter_set_id
  const maxSubLayersMinus1 = r.bits(3);
  r.skip(1); // sps_temporal_id_nesting_flag
  // profile_tier_level(1, maxSubLayersMinus1)
  const profileSpace = r.bits(2);
  const tier = r.bit();
  const profileIdc = r.bits(5);
  r.skip(32); // general_profile_compatibility_flags
  r.skip(48); // progressive/interlaced/non-packed/frame-only + 43 constraint bits + 1
  const levelIdc = r.bits(8);
  const subProfile: boolean[] = [];
  const subLevel: boolean[] = [];
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    subProfile.push(r.bit() === 1);
    subLevel.push(r.bit() === 1);
  }
  if (maxSubLayersMinus1 > 0) r.skip(2 * (8 - maxSubLayersMinus1)); // reserved_zero_2bits
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    if (subProfile[i]) r.skip(88);
    if (subLevel[i]) r.skip(8);
  }
  const spsId = r.ue();
  const chromaFormatIdc = r.ue();
  let separateColourPlane = false;
  if (chromaFormatIdc === 3) separateColourPlane = r.bit() === 1;
  const codedWidth = r.ue();
  const codedHeight = r.ue();
  let width = codedWidth;
  let height = codedHeight;
  if (r.bit()) {
    // conformance_window_flag: offsets in chroma units (H.265 Table 6-1)
    const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
    const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
    const subHeightC = chromaArrayType === 1 ? 2 : 1;
    width -= subWidthC * (r.ue() + r.ue());
    height -= subHeightC * (r.ue() + r.ue());
  }
  if (width <= 0 || height <= 0) fail('conformance window leaves no picture', { width, height });
  const bitDepthLuma = r.ue() + 8;
  const bitDepthChroma = r.ue() + 8;
  return {
    maxSubLayers: maxSubLayersMinus1 + 1,
    profileSpace,
    tier,
    profileIdc,
    levelIdc,
    spsId,
    chromaFormatIdc,
    codedWidth,
    codedHeight,
    width,
    height,
    bitDepthLuma,
    bitDepthChroma,
  };
}

/** Parses an HEVCDecoderConfigurationRecord (the payload of an HEVC sequence start). */
export function parseHevcDecoderConfig(record: Uint8Array): HevcDecoderConfig {
  if (record.length < 23) fail('HEVC configuration record too short', { length: record.length });
  const configurationVersion = record[0];
  if (configurationVersion !== 1) {
    fail('unknown HEVC configurationVersion', { configurationVersion });
  }
  const arrays: HevcNalArray[] = [];
  const numArrays = record[22];
  let p = 23;
  for (let i = 0; i < numArrays; i++) {
    if (p + 3 > record.length) fail('truncated NAL array header', { offset: p });
    const completeness = (record[p] & 0x80) !== 0;
    const type = record[p] & 0x3f;
    const count = (record[p + 1] << 8) | record[p + 2];
    p += 3;
    const nalus: Uint8Array[] = [];
    for (let j = 0; j < count; j++) {
      if (p + 2 > record.length) fail('truncated NAL unit length', { offset: p });
      const len = (record[p] << 8) | record[p + 1];
      p += 2;
      if (p + len > record.length) fail('truncated NAL unit', { offset: p, length: len });
      nalus.push(record.subarray(p, p + len));
      p += len;
    }
    arrays.push({ completeness, type, nalus });
  }
  const count = (type: number): number =>
    arrays.reduce((n, a) => (a.type === type ? n + a.nalus.length : n), 0);
  const spsNal = arrays.find((a) => a.type === 33 && a.nalus.length > 0)?.nalus[0];
  if (!spsNal) fail('HEVC configuration record has no SPS');
  const spsInfo = parseHevcSps(spsNal);
  return {
    configurationVersion,
    profileSpace: record[1] >> 6,
    tier: (record[1] >> 5) & 1,
    profile: record[1] & 0x1f,
    profileCompatibility:
      ((record[2] << 24) | (record[3] << 16) | (record[4] << 8) | record[5]) >>> 0,
    level: record[12],
    chromaFormat: record[16] & 0x03,
    bitDepthLuma: (record[17] & 0x07) + 8,
    bitDepthChroma: (record[18] & 0x07) + 8,
    frameRate: ((record[19] << 8) | record[20]) / 256,
    numTemporalLayers: (record[21] >> 3) & 0x07,
    nalLengthSize: (record[21] & 0x03) + 1,
    arrays,
    vpsCount: count(32),
    spsCount: count(33),
    ppsCount: count(34),
    width: spsInfo.width,
    height: spsInfo.height,
    spsInfo,
  };
}

// ---------------------------------------------------------------------------------------------
// AAC

/** What an AAC AudioSpecificConfig says. */
export interface AacConfig {
  /** audioObjectType as signalled first (2 AAC-LC, 5 SBR, 29 PS, …). */
  objectType: number;
  /** The core object type: differs from `objectType` only for explicit SBR/PS signalling. */
  coreObjectType: number;
  samplingFrequencyIndex: number;
  /** Core sample rate in Hz (HE-AAC plays at `extensionSampleRate`). */
  sampleRate: number;
  /** SBR output sample rate, for explicit SBR/PS signalling. */
  extensionSampleRate?: number;
  channelConfiguration: number;
  /** Channel count from the configuration (0: defined by a program config element). */
  channels: number;
  /** RFC 6381 codec string, e.g. `mp4a.40.2`. */
  codecString: string;
}

const AAC_SAMPLE_RATES = [
  96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];
const AAC_CHANNELS = [0, 1, 2, 3, 4, 5, 6, 8, 0, 0, 0, 7, 8, 24, 8, 0];

function aacObjectType(r: BitReader): number {
  const t = r.bits(5);
  return t === 31 ? 32 + r.bits(6) : t;
}

function aacSampleRate(r: BitReader): [index: number, rate: number] {
  const index = r.bits(4);
  if (index === 15) return [index, r.bits(24)];
  const rate = AAC_SAMPLE_RATES[index];
  if (rate === undefined) fail('reserved AAC sampling frequency index', { index });
  return [index, rate];
}

/** Parses an AAC AudioSpecificConfig (the payload of an AAC sequence header). */
export function parseAacAudioSpecificConfig(asc: Uint8Array): AacConfig {
  if (asc.length < 2) fail('AudioSpecificConfig too short', { length: asc.length });
  const r = new BitReader(asc);
  const objectType = aacObjectType(r);
  const [samplingFrequencyIndex, sampleRate] = aacSampleRate(r);
  const channelConfiguration = r.bits(4);
  let coreObjectType = objectType;
  let extensionSampleRate: number | undefined;
  if (objectType === 5 || objectType === 29) {
    extensionSampleRate = aacSampleRate(r)[1];
    coreObjectType = aacObjectType(r);
  }
  const config: AacConfig = {
    objectType,
    coreObjectType,
    samplingFrequencyIndex,
    sampleRate,
    channelConfiguration,
    channels: AAC_CHANNELS[channelConfiguration],
    codecString: `mp4a.40.${objectType}`,
  };
  if (extensionSampleRate !== undefined) config.extensionSampleRate = extensionSampleRate;
  return config;
}
