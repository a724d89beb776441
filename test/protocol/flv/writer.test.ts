import { FlvError } from '../../../src/protocol/errors';
import { FlvWriter, flvHeader, flvTag, flvTagParts, parseFlv } from '../../../src/protocol/flv';
import { smallFlv } from './helpers';

function flvError(fn: () => unknown): FlvError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FlvError) return e;
    throw e;
  }
  throw new Error('expected an FlvError');
}

const BODY = Uint8Array.from([0xaf, 0x01, 0x21]);

/** Timestamps of the tags a writer produced. */
function timestamps(chunks: Buffer[]): number[] {
  return parseFlv(Buffer.concat([flvHeader({ audio: true }), ...chunks])).tags.map(
    (t) => t.timestamp,
  );
}

describe('flvHeader', () => {
  it('writes the 9-byte header and PreviousTagSize0 for audio and video', () => {
    expect([...flvHeader({ audio: true, video: true })]).toEqual(
      [
        [0x46, 0x4c, 0x56], //       'FLV'
        0x01, //                     version 1
        0x05, //                     TypeFlagsAudio (0x04) | TypeFlagsVideo (0x01)
        [0x00, 0x00, 0x00, 0x09], // DataOffset 9
        [0x00, 0x00, 0x00, 0x00], // PreviousTagSize0
      ].flat(),
    );
  });

  it('sets only the flags asked for', () => {
    expect(flvHeader({ audio: true })[4]).toBe(0x04);
    expect(flvHeader({ video: true })[4]).toBe(0x01);
    expect(flvHeader({})[4]).toBe(0x00);
  });
});

describe('flvTag', () => {
  it('writes header, body and PreviousTagSize, with timestamp bits 24-31 in the extended byte', () => {
    const bytes = flvTag({ type: 8, timestamp: 0x12345678, data: BODY });
    expect([...bytes]).toEqual(
      [
        0x08, //                     tag type 8: audio
        [0x00, 0x00, 0x03], //       DataSize 3
        [0x34, 0x56, 0x78], //       Timestamp bits 0-23
        0x12, //                     TimestampExtended
        [0x00, 0x00, 0x00], //       StreamID 0 (default)
        [0xaf, 0x01, 0x21], //       data
        [0x00, 0x00, 0x00, 0x0e], // PreviousTagSize 11 + 3
      ].flat(),
    );
  });

  it('writes a script tag with an explicit stream id and an empty body', () => {
    expect([
      ...flvTag({ type: 18, timestamp: 0, streamId: 0x010203, data: new Uint8Array(0) }),
    ]).toEqual(
      [
        0x12, //                     tag type 18: script data
        [0x00, 0x00, 0x00], //       DataSize 0
        [0x00, 0x00, 0x00], //       Timestamp 0
        0x00, //                     TimestampExtended
        [0x01, 0x02, 0x03], //       StreamID 0x010203
        [0x00, 0x00, 0x00, 0x0b], // PreviousTagSize 11
      ].flat(),
    );
  });

  it('rejects timestamps that are not u32 integers', () => {
    for (const timestamp of [-1, 1.5, 2 ** 32, Number.NaN]) {
      const e = flvError(() => flvTag({ type: 9, timestamp, data: BODY }));
      expect(e.code).toBe('BAD_TIMESTAMP');
    }
    expect(flvTag({ type: 9, timestamp: 2 ** 32 - 1, data: BODY })[7]).toBe(0xff);
  });

  it('rejects unknown tag types, stream ids above u24 and bodies above 16 MiB - 1', () => {
    expect(flvError(() => flvTag({ type: 7 as 8, timestamp: 0, data: BODY })).code).toBe(
      'BAD_TAG_TYPE',
    );
    expect(
      flvError(() => flvTag({ type: 8, timestamp: 0, streamId: 2 ** 24, data: BODY })).code,
    ).toBe('BAD_HEADER');
    const e = flvError(() => flvTag({ type: 9, timestamp: 0, data: new Uint8Array(2 ** 24) }));
    expect(e.code).toBe('TAG_TOO_LARGE');
    expect(e.details).toEqual({ size: 2 ** 24, limit: 0xffffff });
  });
});

describe('FLV write -> read round trip', () => {
  it('rewrites small.flv byte for byte from its parsed tags', () => {
    const file = smallFlv();
    const { header, tags } = parseFlv(file);
    const out = Buffer.concat([
      flvHeader({ audio: header.hasAudio, video: header.hasVideo }),
      ...tags.map((t) => flvTag(t)),
    ]);
    expect(out.length).toBe(file.length);
    expect(Buffer.compare(out, file)).toBe(0);
  });

  it('rewrites small.flv byte for byte through FlvWriter', () => {
    const file = smallFlv();
    const { tags } = parseFlv(file);
    const writer = new FlvWriter({ audio: true, video: true });
    const out = Buffer.concat([writer.header(), ...tags.map((t) => writer.write(t))]);
    expect(Buffer.compare(out, file)).toBe(0);
    expect(writer.bytesWritten).toBe(file.length);
    expect(writer.tagsWritten).toBe(tags.length);
    expect(writer.lastTimestamp).toBe(tags[tags.length - 1].timestamp);
  });

  it('moves only the step-back tag of small.flv (its end-of-sequence at 9967 after audio at 10051) with monotonic', () => {
    const { tags } = parseFlv(smallFlv());
    const writer = new FlvWriter({ monotonic: true });
    const out = parseFlv(
      Buffer.concat([writer.header(), ...tags.map((t) => writer.write(t))]),
    ).tags;
    const moved = out.flatMap((t, i) =>
      t.timestamp !== tags[i].timestamp ? [[i, tags[i].timestamp, t.timestamp]] : [],
    );
    expect(moved).toEqual([[773, 9967, 10051]]);
  });
});

describe('FlvWriter timeline', () => {
  it('has no last timestamp before the first tag', () => {
    const w = new FlvWriter();
    expect(w.lastTimestamp).toBeUndefined();
    w.rebase(); // nothing to anchor on yet: a no-op
    w.write({ type: 8, timestamp: 500, data: BODY });
    expect(w.lastTimestamp).toBe(500);
  });

  it('writes timestamps as given, even backwards, without monotonic', () => {
    const w = new FlvWriter();
    const out = [100, 50, 200].map((timestamp) => w.write({ type: 8, timestamp, data: BODY }));
    expect(timestamps(out)).toEqual([100, 50, 200]);
  });

  it('clamps a timestamp lower than the last written to the last written with monotonic', () => {
    const w = new FlvWriter({ monotonic: true });
    const out = [100, 50, 200, 199].map((timestamp) => w.write({ type: 9, timestamp, data: BODY }));
    expect(timestamps(out)).toEqual([100, 100, 200, 200]);
    expect(w.lastTimestamp).toBe(200);
  });

  it('places the first tag after rebase at the last timestamp and keeps the spacing of later ones', () => {
    const w = new FlvWriter({ monotonic: true });
    const out = [0, 40, 80].map((timestamp) => w.write({ type: 9, timestamp, data: BODY }));
    w.rebase(); // reconnect: the source restarts at 0
    out.push(...[0, 33, 66].map((timestamp) => w.write({ type: 9, timestamp, data: BODY })));
    w.rebase(20); // and again, with a 20 ms gap, the new source starting at 5000
    out.push(...[5000, 5040].map((timestamp) => w.write({ type: 9, timestamp, data: BODY })));
    expect(timestamps(out)).toEqual([0, 40, 80, 80, 113, 146, 166, 206]);
  });

  it('treats the 32-bit wrap as moving forward, not as a step back', () => {
    const w = new FlvWriter({ monotonic: true });
    const out = [2 ** 32 - 10, 5, 3].map((timestamp) =>
      w.write({ type: 8, timestamp, data: BODY }),
    );
    expect(timestamps(out)).toEqual([2 ** 32 - 10, 5, 5]);
  });

  it('wraps rebased timestamps modulo 2^32', () => {
    const w = new FlvWriter();
    w.write({ type: 8, timestamp: 2 ** 32 - 1, data: BODY });
    w.rebase(1);
    const out = [
      w.write({ type: 8, timestamp: 0, data: BODY }),
      w.write({ type: 8, timestamp: 7, data: BODY }),
    ];
    expect(timestamps(out)).toEqual([0, 7]);
  });

  it('rejects bad timestamps and bad rebase gaps', () => {
    const w = new FlvWriter();
    expect(flvError(() => w.write({ type: 8, timestamp: -5, data: BODY })).code).toBe(
      'BAD_TIMESTAMP',
    );
    expect(flvError(() => w.rebase(-1)).code).toBe('BAD_TIMESTAMP');
    expect(w.tagsWritten).toBe(0);
  });

  it('writes the header flags given to the constructor', () => {
    expect(new FlvWriter({ audio: true, video: false }).header()[4]).toBe(0x04);
    expect(new FlvWriter().header()[4]).toBe(0x05);
  });
});

describe('flvTagParts', () => {
  it('gives header, the same data object and trailer that concatenate to flvTag', () => {
    const data = Buffer.from([0x17, 0x01, 0x00, 0x00, 0x43, 0xaa, 0xbb]);
    const tag = { type: 9 as const, timestamp: 0x01234567, streamId: 0, data };
    const [header, payload, trailer] = flvTagParts(tag);
    expect(payload).toBe(data); // not copied
    expect(Buffer.concat([header, payload, trailer]).equals(flvTag(tag))).toBe(true);
  });
});
