import fc from 'fast-check';
import { ChunkDecoder, ChunkEncoder } from '../../../src/protocol/chunk';
import { MessageTypeId, type RawMessage } from '../../../src/protocol/types';
import { snapshot } from './helpers';

const ALL_TYPE_IDS = Object.values(MessageTypeId);
const CHUNK_SIZES = [1, 128, 4096, 65536];

function setChunkSize(n: number): RawMessage {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(n);
  return { csid: 2, timestamp: 0, typeId: MessageTypeId.SetChunkSize, streamId: 0, payload };
}

/**
 * Encodes: Set Chunk Size (sent at the default 128), then the messages at `chunkSize`.
 * Returns the bytes and the messages the decoder should give back.
 */
function encodeSession(
  messages: RawMessage[],
  chunkSize: number,
): { bytes: Buffer; expected: RawMessage[] } {
  const encoder = new ChunkEncoder();
  const head = setChunkSize(chunkSize);
  const parts = [encoder.encode(head)];
  encoder.setChunkSize(chunkSize);
  parts.push(encoder.encodeMany(messages));
  return { bytes: Buffer.concat(parts), expected: [head, ...messages] };
}

function decodeAt(bytes: Uint8Array, cuts: number[], maxChunkSize = 0x10000): object[] {
  const decoder = new ChunkDecoder({ maxChunkSize });
  const out: RawMessage[] = [];
  let from = 0;
  for (const cut of [
    ...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b),
    bytes.length,
  ]) {
    decoder.pushTo(bytes.subarray(from, cut), (m) => out.push(snapshot(m)));
    from = cut;
  }
  expect(decoder.bufferedBytes).toBe(0);
  expect(decoder.hasPartialHeader).toBe(false);
  return norm(out);
}

/** Messages with hex payloads: quick to compare, readable when they differ. */
const norm = (messages: RawMessage[]): object[] =>
  messages.map((m) => ({ ...m, payload: Buffer.from(m.payload).toString('hex') }));

/** A body a message of this type can carry without changing the decoder's framing. */
function bodyFor(typeId: number, length: number, chunkSize: number): Uint8Array {
  if (typeId === MessageTypeId.SetChunkSize) return setChunkSize(chunkSize).payload;
  if (typeId === MessageTypeId.Abort) return Uint8Array.from([0, 0, 0, 40]); // a csid with nothing pending
  return Uint8Array.from({ length }, (_, i) => (i * 31 + typeId) & 0xff);
}

describe('encode then decode', () => {
  const cases = CHUNK_SIZES.flatMap((size) => [
    [size, 'plain timestamps'] as const,
    [size, 'extended timestamps'] as const,
  ]);

  it.each(cases)(
    'round-trips every message type id at chunk size %i with %s',
    (chunkSize, kind) => {
      const base = kind === 'extended timestamps' ? 0xfffff0 : 1000;
      const messages: RawMessage[] = [];
      let t = base;
      for (const typeId of ALL_TYPE_IDS) {
        for (const length of [0, 1, 300, 5000]) {
          if ((typeId === 1 || typeId === 2) && length !== 1) continue;
          messages.push({
            csid: typeId === 8 ? 4 : typeId === 9 ? 6 : typeId <= 6 ? 2 : 3,
            timestamp: t,
            typeId,
            streamId: typeId <= 6 ? 0 : 1,
            payload: bodyFor(typeId, length, chunkSize),
          });
          t += kind === 'extended timestamps' ? 0x1000000 : 33;
        }
      }
      const { bytes, expected } = encodeSession(messages, chunkSize);
      expect(decodeAt(bytes, [])).toEqual(norm(expected));
      const cuts = Array.from({ length: 50 }, (_, i) =>
        Math.floor((bytes.length * (i + 0.5)) / 50),
      );
      expect(decodeAt(bytes, cuts)).toEqual(norm(expected));
    },
  );

  it('round-trips a timestamp that wraps past 2^32 (sent as fmt 0 because it goes backwards)', () => {
    const messages: RawMessage[] = [0xffffffe0, 0xfffffff0, 0x10, 0x30].map((timestamp) => ({
      csid: 4,
      timestamp,
      typeId: 8,
      streamId: 1,
      payload: Uint8Array.from([1, 2, 3]),
    }));
    const { bytes, expected } = encodeSession(messages, 128);
    expect(decodeAt(bytes, [])).toEqual(norm(expected));
  });
});

describe('property: any messages, any chunk size, any re-splitting', () => {
  const message = fc.record({
    csid: fc.oneof(
      fc.constantFrom(3, 4, 6, 63, 64, 319, 320, 65599),
      fc.integer({ min: 3, max: 65599 }),
    ),
    timestamp: fc.oneof(
      fc.integer({ min: 0, max: 0x10000 }),
      fc.integer({ min: 0xfffff0, max: 0x1000010 }),
      fc.integer({ min: 0, max: 0xffffffff }),
    ),
    typeId: fc.oneof(
      fc.constantFrom(3, 4, 5, 6, 8, 9, 15, 16, 17, 18, 19, 20, 22),
      fc.integer({ min: 3, max: 255 }),
    ),
    streamId: fc.oneof(fc.constantFrom(0, 1), fc.integer({ min: 0, max: 0xffffffff })),
    payload: fc.oneof(
      { weight: 3, arbitrary: fc.uint8Array({ maxLength: 300 }) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 20000 }) },
    ),
  });

  it('decodes exactly the messages that were encoded', () => {
    fc.assert(
      fc.property(
        fc.array(message, { maxLength: 12 }),
        fc.oneof(fc.constantFrom(1, 2, 128, 4096, 65536), fc.integer({ min: 1, max: 70000 })),
        fc.array(fc.nat(), { maxLength: 20 }),
        (messages, chunkSize, rawCuts) => {
          const { bytes, expected } = encodeSession(messages, chunkSize);
          const cuts = rawCuts.map((c) => c % (bytes.length + 1));
          expect(decodeAt(bytes, cuts, 0x7fffffff)).toEqual(norm(expected));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('decodes messages on one chunk stream whatever their order of timestamps, lengths and types', () => {
    const sameStream = fc.record({
      timestamp: fc.oneof(
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0xfffffe, max: 0x1000002 }),
      ),
      typeId: fc.constantFrom(8, 9),
      streamId: fc.constantFrom(1, 2),
      payload: fc.uint8Array({ maxLength: 400 }),
    });
    fc.assert(
      fc.property(
        fc.array(sameStream, { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (ms, rawCuts) => {
          const messages = ms.map((m) => ({ ...m, csid: 6 }));
          const { bytes, expected } = encodeSession(messages, 128);
          const cuts = rawCuts.map((c) => c % (bytes.length + 1));
          expect(decodeAt(bytes, cuts)).toEqual(norm(expected));
        },
      ),
      { numRuns: 300 },
    );
  });
});
