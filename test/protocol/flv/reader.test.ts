import { FlvError } from '../../../src/protocol/errors';
import { FlvReader, parseFlv, type FlvTag } from '../../../src/protocol/flv';
import { parseAudioHeader, parseVideoHeader } from '../../../src/protocol/flv';
import { cat, prng, probePackets, SMALL_FLV_PATH, smallFlv } from './helpers';

/** The FLV file header of an audio+video file, then PreviousTagSize0. */
const FILE_HEADER = [
  [0x46, 0x4c, 0x56], //       'FLV'
  0x01, //                     version 1
  0x05, //                     flags: audio (0x04) | video (0x01)
  [0x00, 0x00, 0x00, 0x09], // DataOffset 9
  [0x00, 0x00, 0x00, 0x00], // PreviousTagSize0
].flat();

/** A video tag with a 32-bit timestamp that needs the extended byte. */
const VIDEO_TAG = [
  0x09, //                     tag type 9: video
  [0x00, 0x00, 0x02], //       DataSize 2
  [0x34, 0x56, 0x78], //       Timestamp bits 0-23
  0x12, //                     TimestampExtended: bits 24-31 → 0x12345678
  [0x00, 0x00, 0x00], //       StreamID 0
  [0x27, 0x02], //             data (inter frame | AVC, …)
  [0x00, 0x00, 0x00, 0x0d], // PreviousTagSize 11 + 2
].flat();

/** A script-data tag with an empty body at timestamp 5. */
const EMPTY_SCRIPT_TAG = [
  0x12, //                     tag type 18: script data
  [0x00, 0x00, 0x00], //       DataSize 0
  [0x00, 0x00, 0x05], //       Timestamp 5
  0x00, //                     TimestampExtended
  [0x00, 0x00, 0x07], //       StreamID 7
  [0x00, 0x00, 0x00, 0x0b], // PreviousTagSize 11
].flat();

function flvError(fn: () => unknown): FlvError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FlvError) return e;
    throw e;
  }
  throw new Error('expected an FlvError');
}

/** Feeds `pieces` to a fresh reader and returns every tag. */
function feed(pieces: Uint8Array[]): FlvTag[] {
  const reader = new FlvReader();
  const tags: FlvTag[] = [];
  for (const piece of pieces) tags.push(...reader.push(piece).tags);
  reader.end();
  return tags;
}

function expectSameTags(actual: FlvTag[], expected: FlvTag[]): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (a.type !== e.type || a.timestamp !== e.timestamp || a.streamId !== e.streamId) {
      throw new Error(`tag ${i} header differs`);
    }
    if (Buffer.compare(Buffer.from(a.data), Buffer.from(e.data)) !== 0) {
      throw new Error(`tag ${i} body differs`);
    }
  }
}

describe('FLV reader on small.flv', () => {
  const file = smallFlv();
  const whole = parseFlv(file);

  it('reads the file header: version 1, audio and video, 9-byte header', () => {
    expect(whole.header).toEqual({ version: 1, hasAudio: true, hasVideo: true, headerSize: 9 });
  });

  it('reads one onMetaData script tag followed by 773 audio and video tags', () => {
    expect(whole.tags[0].type).toBe(18);
    expect(Buffer.from(whole.tags[0].data.subarray(3, 13)).toString('latin1')).toBe('onMetaData');
    expect(whole.tags.filter((t) => t.type === 8 || t.type === 9)).toHaveLength(773);
    expect(whole.tags).toHaveLength(774);
    expect(whole.tags.every((t) => t.streamId === 0)).toBe(true);
  });

  it('lists the same media packets as ffprobe: order, timestamps, sizes and file offsets', () => {
    const packets = probePackets(SMALL_FLV_PATH);
    // ffprobe leaves out codec configuration and end-of-sequence tags; so do we here.
    let offset = 13;
    const ours: { type: string; dts: number; pts: number; size: number; pos: number }[] = [];
    for (const tag of whole.tags) {
      const pos = offset;
      offset += 11 + tag.data.length + 4;
      if (tag.type === 9) {
        const v = parseVideoHeader(tag.data);
        if (v.packetType !== 'codedFrames') continue;
        const pts = tag.timestamp + (v.compositionTime ?? 0);
        ours.push({
          type: 'video',
          dts: tag.timestamp,
          pts,
          size: tag.data.length - v.headerLength,
          pos,
        });
      } else if (tag.type === 8) {
        const a = parseAudioHeader(tag.data);
        if (a.isSequenceHeader) continue;
        const size = tag.data.length - a.headerLength;
        ours.push({ type: 'audio', dts: tag.timestamp, pts: tag.timestamp, size, pos });
      }
    }
    expect(offset).toBe(file.length);
    expect(packets).toHaveLength(770);
    expect(ours).toEqual(
      packets.map((p) => ({
        type: p.codec_type,
        dts: p.dts,
        pts: p.pts,
        size: Number(p.size),
        pos: Number(p.pos),
      })),
    );
  });

  it('hands out tag bodies as views into the pushed bytes, not copies', () => {
    expect(whole.tags[5].data.buffer).toBe(file.buffer);
  });

  it('gives the same tags when the input is split in two at every offset of the first 5 KB', () => {
    // The first tags whose end lies past 5 KB: splitting the whole file would only re-test the copy.
    let end = 13;
    let count = 0;
    while (end <= 5 * 1024) end += 11 + whole.tags[count++].data.length + 4;
    end += 11 + whole.tags[count++].data.length + 4;
    const prefix = file.subarray(0, end);
    const expected = whole.tags.slice(0, count);
    for (let split = 0; split <= 5 * 1024; split++) {
      expectSameTags(feed([prefix.subarray(0, split), prefix.subarray(split)]), expected);
    }
  });

  it('gives the same tags when the first 32 KB arrive one byte at a time', () => {
    const reader = new FlvReader();
    const tags: FlvTag[] = [];
    const n = 32 * 1024;
    for (let i = 0; i < n; i++) tags.push(...reader.push(file.subarray(i, i + 1)).tags);
    expectSameTags(tags, whole.tags.slice(0, tags.length));
    expect(tags.length).toBeGreaterThan(3);
    expect(reader.bytesConsumed + reader.buffered).toBe(n);
  });

  it('gives the same tags when the whole file arrives in random-sized pieces', () => {
    for (const seed of [1, 2, 3, 42, 1234]) {
      const rnd = prng(seed);
      const pieces: Uint8Array[] = [];
      for (let o = 0; o < file.length;) {
        const n = 1 + Math.floor(rnd() * (rnd() < 0.5 ? 64 : 65536));
        pieces.push(file.subarray(o, o + n));
        o += n;
      }
      expectSameTags(feed(pieces), whole.tags);
    }
  });

  it('reports the header only in the push that completes it', () => {
    const reader = new FlvReader();
    expect(reader.push(file.subarray(0, 10)).header).toBeUndefined();
    const r = reader.push(file.subarray(10, 400));
    expect(r.header).toEqual(whole.header);
    expect(reader.push(file.subarray(400, 500)).header).toBeUndefined();
    expect(reader.header).toEqual(whole.header);
  });
});

describe('FLV reader on golden bytes', () => {
  it('reads TimestampExtended as bits 24-31 of the timestamp', () => {
    const { tags } = parseFlv(Uint8Array.from([...FILE_HEADER, ...VIDEO_TAG]));
    expect(tags).toHaveLength(1);
    expect(tags[0].type).toBe(9);
    expect(tags[0].timestamp).toBe(0x12345678);
    expect(Array.from(tags[0].data)).toEqual([0x27, 0x02]);
  });

  it('reads a timestamp with the top bit set as an unsigned number', () => {
    const tag = [...VIDEO_TAG];
    tag[7] = 0xff; // TimestampExtended 0xff → 0xff345678
    const { tags } = parseFlv(Uint8Array.from([...FILE_HEADER, ...tag]));
    expect(tags[0].timestamp).toBe(0xff345678);
  });

  it('reads an empty tag body and the 24-bit stream id', () => {
    const { tags } = parseFlv(Uint8Array.from([...FILE_HEADER, ...EMPTY_SCRIPT_TAG]));
    expect(tags).toEqual([{ type: 18, timestamp: 5, streamId: 7, data: new Uint8Array(0) }]);
  });

  it('skips extra header bytes when DataOffset is larger than 9', () => {
    const header = [
      [0x46, 0x4c, 0x56, 0x01, 0x01], // 'FLV', version 1, video only
      [0x00, 0x00, 0x00, 0x0c], //       DataOffset 12
      [0xaa, 0xbb, 0xcc], //             3 bytes of header extension
      [0x00, 0x00, 0x00, 0x00], //       PreviousTagSize0
    ].flat();
    const { header: h, tags } = parseFlv(Uint8Array.from([...header, ...VIDEO_TAG]));
    expect(h).toEqual({ version: 1, hasAudio: false, hasVideo: true, headerSize: 12 });
    expect(tags).toHaveLength(1);
  });

  it('reads a headerless tag stream when header is false', () => {
    const reader = new FlvReader({ header: false });
    const r = reader.push(Uint8Array.from([...VIDEO_TAG, ...EMPTY_SCRIPT_TAG]));
    reader.end();
    expect(r.header).toBeUndefined();
    expect(r.tags.map((t) => t.timestamp)).toEqual([0x12345678, 5]);
  });

  it('reads a file with a header and no tags', () => {
    expect(parseFlv(Uint8Array.from(FILE_HEADER)).tags).toEqual([]);
  });
});

describe('FLV reader on bad input', () => {
  it('rejects a bad signature as soon as the first wrong byte arrives', () => {
    const reader = new FlvReader();
    reader.push(Uint8Array.from([0x46])); // 'F'
    const e = flvError(() => reader.push(Uint8Array.from([0x4c, 0x58]))); // 'L', 'X'
    expect(e.code).toBe('BAD_SIGNATURE');
    expect(e.details).toMatchObject({ offset: 2 });
    expect(flvError(() => parseFlv(Buffer.from('RIFF....WAVE'))).code).toBe('BAD_SIGNATURE');
  });

  it('rejects a DataOffset below 9', () => {
    const bytes = Uint8Array.from(FILE_HEADER);
    bytes[8] = 0x08; // DataOffset 8
    const e = flvError(() => parseFlv(bytes));
    expect(e.code).toBe('BAD_HEADER');
    expect(e.details).toMatchObject({ headerSize: 8 });
  });

  it('throws BAD_HEADER from end() when the file header is incomplete', () => {
    expect(flvError(() => parseFlv(Uint8Array.from(FILE_HEADER.slice(0, 11)))).code).toBe(
      'BAD_HEADER',
    );
    expect(flvError(() => parseFlv(new Uint8Array(0))).code).toBe('BAD_HEADER');
  });

  it('rejects a non-zero PreviousTagSize0', () => {
    const bytes = Uint8Array.from([...FILE_HEADER, ...VIDEO_TAG]);
    bytes[12] = 0x01;
    const e = flvError(() => parseFlv(bytes));
    expect(e.code).toBe('BAD_PREVIOUS_TAG_SIZE');
    expect(e.details).toMatchObject({ offset: 9, expected: 0, actual: 1 });
  });

  it('throws TRUNCATED_TAG from end() when a tag body is cut short', () => {
    const bytes = Uint8Array.from([...FILE_HEADER, ...VIDEO_TAG]);
    const reader = new FlvReader();
    expect(reader.push(bytes.subarray(0, bytes.length - 6)).tags).toEqual([]);
    const e = flvError(() => reader.end());
    expect(e.code).toBe('TRUNCATED_TAG');
    expect(e.details).toMatchObject({ offset: 13, buffered: VIDEO_TAG.length - 6, needed: 17 });
  });

  it('throws TRUNCATED_TAG when only the last back pointer is missing', () => {
    const file = smallFlv();
    const e = flvError(() => parseFlv(file.subarray(0, file.length - 4)));
    expect(e.code).toBe('TRUNCATED_TAG');
  });

  it('throws TRUNCATED_TAG when the input ends inside a tag header', () => {
    const e = flvError(() => parseFlv(Uint8Array.from([...FILE_HEADER, ...VIDEO_TAG.slice(0, 5)])));
    expect(e.code).toBe('TRUNCATED_TAG');
    expect(e.details).toMatchObject({ buffered: 5, needed: 11 });
  });

  it('rejects a tag above maxTagSize from its header, before the body arrives', () => {
    const reader = new FlvReader({ maxTagSize: 1 });
    const e = flvError(() =>
      reader.push(Uint8Array.from([...FILE_HEADER, ...VIDEO_TAG.slice(0, 11)])),
    );
    expect(e.code).toBe('TAG_TOO_LARGE');
    expect(e.details).toEqual({ offset: 13, size: 2, limit: 1 });
  });

  it('accepts the largest tag the 24-bit size can express by default', () => {
    const size = 0xffffff;
    const tag = new Uint8Array(11 + size + 4);
    tag.set([0x08, 0xff, 0xff, 0xff], 0); // audio, DataSize 0xffffff
    tag.set([0x01, 0x00, 0x00, 0x0a], 11 + size); // PreviousTagSize 0x100000a
    const { tags } = parseFlv(cat(FILE_HEADER, tag));
    expect(tags[0].data.length).toBe(size);
  });

  it('rejects a PreviousTagSize that does not match the tag', () => {
    const bytes = Uint8Array.from([...FILE_HEADER, ...VIDEO_TAG]);
    bytes[bytes.length - 1] = 0x0c; // 12 instead of 13
    const e = flvError(() => parseFlv(bytes));
    expect(e.code).toBe('BAD_PREVIOUS_TAG_SIZE');
    expect(e.details).toEqual({ offset: 26, expected: 13, actual: 12 });
  });

  it('accepts a zero PreviousTagSize with allowZero, but no other wrong value', () => {
    const zero = Uint8Array.from([...FILE_HEADER, ...VIDEO_TAG]);
    zero[zero.length - 1] = 0x00;
    expect(flvError(() => parseFlv(zero)).code).toBe('BAD_PREVIOUS_TAG_SIZE');
    expect(parseFlv(zero, { previousTagSize: 'allowZero' }).tags).toHaveLength(1);
    const wrong = Uint8Array.from([...FILE_HEADER, ...VIDEO_TAG]);
    wrong[wrong.length - 1] = 0x0c;
    const e = flvError(() => parseFlv(wrong, { previousTagSize: 'allowZero' }));
    expect(e.code).toBe('BAD_PREVIOUS_TAG_SIZE');
  });

  it('ignores PreviousTagSize values entirely with ignore', () => {
    const bytes = Uint8Array.from([...FILE_HEADER, ...VIDEO_TAG]);
    bytes[12] = 0x99; // PreviousTagSize0
    bytes[bytes.length - 1] = 0x77;
    expect(parseFlv(bytes, { previousTagSize: 'ignore' }).tags[0].timestamp).toBe(0x12345678);
  });

  it('rejects a tag type other than 8, 9 or 18', () => {
    const bytes = Uint8Array.from([...FILE_HEADER, ...VIDEO_TAG]);
    bytes[13] = 0x0a; // tag type 10
    const e = flvError(() => parseFlv(bytes));
    expect(e.code).toBe('BAD_TAG_TYPE');
    expect(e.details).toEqual({ offset: 13, type: 10 });
  });

  it('stays failed after an error: later pushes and end() rethrow it', () => {
    const reader = new FlvReader();
    const first = flvError(() => reader.push(Buffer.from('XYZ')));
    expect(flvError(() => reader.push(Uint8Array.from(FILE_HEADER)))).toBe(first);
    expect(flvError(() => reader.end())).toBe(first);
  });

  it('is an FlvError with layer "flv" and a message', () => {
    const e = flvError(() => parseFlv(Buffer.from('XYZ')));
    expect(e).toBeInstanceOf(Error);
    expect(e.layer).toBe('flv');
    expect(e.name).toBe('FlvError');
    expect(e.message).toMatch(/signature/);
  });
});
