import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChunkDecoder } from '../../../src/protocol/chunk';
import type { RawMessage } from '../../../src/protocol/types';
import {
  FIXTURES,
  HANDSHAKE_BYTES,
  SESSION_NAMES,
  countByType,
  decodeSplit,
  digest,
  loadSession,
  readFlvTags,
  rng,
  type Direction,
  type Session,
} from './helpers';

const DIRECTIONS: Direction[] = ['c2s', 's2c'];
const sessions = new Map<string, Session>(SESSION_NAMES.map((n) => [n, loadSession(n)]));
const chunkBytes = (s: Session, dir: Direction): Buffer => s[dir].subarray(HANDSHAKE_BYTES);
const reference = new Map<string, RawMessage[]>();
/** The messages of one direction decoded in a single push (the reference for the splits). */
function whole(name: string, dir: Direction): RawMessage[] {
  const key = `${name}.${dir}`;
  let m = reference.get(key);
  if (!m) {
    m = decodeSplit(chunkBytes(sessions.get(name) as Session, dir)).messages;
    reference.set(key, m);
  }
  return m;
}

const cases = SESSION_NAMES.flatMap((name) => DIRECTIONS.map((dir) => [name, dir] as const));

describe('captured sessions', () => {
  it.each(cases)('%s %s: message counts per type match the independent decoder', (name, dir) => {
    const s = sessions.get(name) as Session;
    const { messages, decoder } = decodeSplit(chunkBytes(s, dir));
    expect(countByType(messages)).toEqual(s.info[dir].counts);
    expect(decoder.bufferedBytes).toBe(0);
    expect(decoder.hasPartialHeader).toBe(false);
    expect(decoder.bytesReceived).toBe(s.info[dir].bytes - HANDSHAKE_BYTES);
  });

  it.each(cases)(
    '%s %s: Set Chunk Size values and positions match chunk_sizes_set',
    (name, dir) => {
      const s = sessions.get(name) as Session;
      const bytes = s[dir];
      const decoder = new ChunkDecoder();
      const seen: { at: number; size: number }[] = [];
      // Byte by byte, so we know where each Set Chunk Size ends: its 12-byte header + 4-byte body
      // start 16 bytes earlier, which is where the independent decoder saw it.
      for (let i = HANDSHAKE_BYTES; i < bytes.length; i++) {
        decoder.pushTo(bytes.subarray(i, i + 1), (m) => {
          if (m.typeId === 1) {
            const size = Buffer.from(m.payload).readUInt32BE(0);
            seen.push({ at: i + 1 - 16, size });
            expect(decoder.chunkSize).toBe(size);
          }
        });
      }
      expect(seen).toEqual(s.info[dir].chunk_sizes_set);
    },
  );

  it.each(cases)(
    '%s %s: replayed at the captured TCP segment boundaries gives the same messages',
    (name, dir) => {
      const s = sessions.get(name) as Session;
      const cuts = s.segments
        .filter((g) => g.dir === dir && g.off > HANDSHAKE_BYTES)
        .map((g) => g.off - HANDSHAKE_BYTES);
      expect(cuts.length).toBeGreaterThan(0);
      expect(digest(decodeSplit(chunkBytes(s, dir), cuts).messages)).toEqual(
        digest(whole(name, dir)),
      );
    },
  );

  it.each(cases)('%s %s: split at random offsets gives the same messages', (name, dir) => {
    const s = sessions.get(name) as Session;
    const bytes = chunkBytes(s, dir);
    for (const seed of [1, 2, 3]) {
      const random = rng(seed);
      const cuts = Array.from({ length: 300 }, () => Math.floor(random() * bytes.length)).sort(
        (a, b) => a - b,
      );
      expect(digest(decodeSplit(bytes, cuts).messages)).toEqual(digest(whole(name, dir)));
    }
  });

  it.each(cases)('%s %s: fed one byte at a time gives the same messages', (name, dir) => {
    const bytes = chunkBytes(sessions.get(name) as Session, dir);
    const decoder = new ChunkDecoder();
    const out: RawMessage[] = [];
    for (let i = 0; i < bytes.length; i++) {
      decoder.pushTo(bytes.subarray(i, i + 1), (m) =>
        out.push({ ...m, payload: Uint8Array.from(m.payload) }),
      );
    }
    expect(digest(out)).toEqual(digest(whole(name, dir)));
  });

  const small = cases.filter(
    ([name, dir]) => (sessions.get(name) as Session).info[dir].bytes < 10_000,
  );
  it.each(small)('%s %s: split in two at every offset gives the same messages', (name, dir) => {
    const bytes = chunkBytes(sessions.get(name) as Session, dir);
    const expected = digest(whole(name, dir));
    for (let cut = 0; cut <= bytes.length; cut++) {
      expect(digest(decodeSplit(bytes, [cut]).messages)).toEqual(expected);
    }
  });
});

describe('media against the source FLV', () => {
  const tags = readFlvTags(readFileSync(join(FIXTURES, 'media', 'small.flv'))).filter(
    (t) => t.type === 8 || t.type === 9,
  );

  function media(name: string, dir: Direction): RawMessage[] {
    return whole(name, dir).filter((m) => m.typeId === 8 || m.typeId === 9);
  }

  it('rtmpdump-nginx-play s2c: the audio and video messages equal the FLV tags byte for byte and in time', () => {
    const got = media('rtmpdump-nginx-play', 's2c');
    expect(tags).toHaveLength(773);
    expect(got).toHaveLength(tags.length);
    got.forEach((m, i) => {
      expect(m.typeId).toBe(tags[i].type);
      expect(m.timestamp).toBe(tags[i].timestamp);
      expect(Buffer.compare(Buffer.from(m.payload), Buffer.from(tags[i].data))).toBe(0);
    });
  });

  it('ffmpeg-publish-nginx c2s: the published media equal the FLV tags, then ffmpeg adds an AVC end of sequence', () => {
    const got = media('ffmpeg-publish-nginx', 'c2s');
    expect(got).toHaveLength(313);
    const published = got.slice(0, -1);
    published.forEach((m, i) => {
      expect(m.typeId).toBe(tags[i].type);
      expect(m.timestamp).toBe(tags[i].timestamp);
      expect(Buffer.compare(Buffer.from(m.payload), Buffer.from(tags[i].data))).toBe(0);
    });
    const last = got[got.length - 1];
    expect(last.typeId).toBe(9);
    // 0x17: keyframe + AVC; 0x02: AVC end of sequence; 00 00 00: composition time 0
    expect(Buffer.from(last.payload).toString('hex')).toBe('1702000000');
  });
});
