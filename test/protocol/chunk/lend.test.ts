/**
 * `lend`: a consumer that does not keep payloads past its callback lets the decoder reassemble
 * into pooled buffers it reuses (no allocation per message). What it lends must be right during
 * the callback, what it does not lend must stay owned, and the pool and the buffered bytes stay
 * within their named limits.
 */
import { ChunkDecoder, ChunkEncoder, LendPool } from '../../../src/protocol/chunk';
import { ChunkError } from '../../../src/protocol/errors';
import { DEFAULT_LIMITS } from '../../../src/protocol/limits';
import { MessageTypeId, type RawMessage } from '../../../src/protocol/types';
import {
  HANDSHAKE_BYTES,
  SESSION_CASES,
  decodeSplit,
  digest,
  loadSession,
  rng,
  snapshot,
} from './helpers';

/** A video message of `length` bytes whose content depends on `seed`. */
function video(length: number, seed: number, csid = 6, timestamp = 0): RawMessage {
  const payload = new Uint8Array(length);
  for (let i = 0; i < length; i++) payload[i] = (i * 31 + seed) & 0xff;
  return { csid, timestamp, typeId: MessageTypeId.Video, streamId: 1, payload };
}

const lendAll = (): boolean => true;

/** Decodes with lending through one scratch read buffer; the callback copies what it saw. */
function decodeLent(
  bytes: Uint8Array,
  readSize: () => number,
  lend: (typeId: number, streamId: number) => boolean = lendAll,
  limits?: ConstructorParameters<typeof ChunkDecoder>[0],
): { seen: RawMessage[]; lent: RawMessage[]; decoder: ChunkDecoder } {
  const decoder = new ChunkDecoder(limits, { reusedInput: true, lend });
  const seen: RawMessage[] = [];
  const lent: RawMessage[] = [];
  const scratch = new Uint8Array(1 << 16);
  for (let p = 0; p < bytes.length;) {
    const n = Math.min(readSize(), bytes.length - p, scratch.length);
    scratch.set(bytes.subarray(p, p + n));
    decoder.pushTo(scratch.subarray(0, n), (m) => {
      seen.push(snapshot(m)); // a copy, made while the payload is valid
      if (m.lent) lent.push(m); // the message itself: its payload is garbage later
    });
    scratch.fill(0xee);
    p += n;
  }
  return { seen, lent, decoder };
}

const CASES = SESSION_CASES;

describe('ChunkDecoder lending payloads', () => {
  it.each(CASES)(
    'gives every message of %s %s the same bytes during the callback as without lending',
    (name, dir) => {
      const bytes = loadSession(name)[dir].subarray(HANDSHAKE_BYTES);
      const reference = digest(decodeSplit(bytes).messages);
      const media = (typeId: number): boolean =>
        typeId === MessageTypeId.Audio || typeId === MessageTypeId.Video;
      for (const size of [1, 100, 4097, 65536]) {
        expect(digest(decodeLent(bytes, () => size, media).seen)).toEqual(reference);
      }
      const random = rng(7);
      expect(digest(decodeLent(bytes, () => 1 + Math.floor(random() * 9000), media).seen)).toEqual(
        reference,
      );
    },
  );

  it('reassembles successive multi-chunk messages into one reused buffer', () => {
    const encoder = new ChunkEncoder({ chunkSize: 128 });
    const sources = [video(1000, 1), video(900, 2, 6, 33), video(1000, 3, 6, 66)];
    const bytes = Buffer.concat(sources.map((m) => encoder.encode(m)));
    const decoder = new ChunkDecoder(undefined, { lend: lendAll });
    const buffers: ArrayBufferLike[] = [];
    const copies: Uint8Array[] = [];
    decoder.pushTo(bytes, (m) => {
      expect(m.lent).toBe(true);
      buffers.push(m.payload.buffer);
      copies.push(Uint8Array.from(m.payload));
    });
    expect(copies).toEqual(sources.map((m) => m.payload));
    expect(new Set(buffers).size).toBe(1);
    // The next message overwrites the memory the first one was lent: that is the contract.
    expect(decoder.pooledBytes).toBe(64 * 1024);
  });

  it('hands out a view of the pushed bytes for a lent message that fits one chunk', () => {
    const encoder = new ChunkEncoder({ chunkSize: 128 });
    const bytes = new Uint8Array(encoder.encode(video(100, 9)));
    const decoder = new ChunkDecoder(undefined, { reusedInput: true, lend: lendAll });
    let payload: Uint8Array | undefined;
    decoder.pushTo(bytes, (m) => {
      expect(m.lent).toBe(true);
      payload = m.payload;
    });
    expect(payload?.buffer).toBe(bytes.buffer);
  });

  it('keeps what it may not lend owned: commands and refused streams get buffers of their own', () => {
    const encoder = new ChunkEncoder({ chunkSize: 128 });
    const command: RawMessage = {
      csid: 3,
      timestamp: 0,
      typeId: MessageTypeId.CommandAmf0,
      streamId: 0,
      payload: new Uint8Array(300).fill(5),
    };
    const other = { ...video(1000, 4), streamId: 2 };
    const bytes = Buffer.concat([command, video(1000, 1), other].map((m) => encoder.encode(m)));
    const onlyStream1Video = (typeId: number, streamId: number): boolean =>
      typeId === MessageTypeId.Video && streamId === 1;
    const decoder = new ChunkDecoder(undefined, { lend: onlyStream1Video });
    const kept: RawMessage[] = [];
    decoder.pushTo(bytes, (m) => kept.push(m));
    expect(kept.map((m) => m.lent === true)).toEqual([false, true, false]);
    // The owned ones are still intact after everything else was decoded.
    expect(Uint8Array.from(kept[0].payload)).toEqual(command.payload);
    expect(Uint8Array.from(kept[2].payload)).toEqual(other.payload);
  });

  it('never lends from push(): its messages outlive the call', () => {
    const encoder = new ChunkEncoder({ chunkSize: 128 });
    const sources = [video(1000, 1), video(1000, 2, 6, 33)];
    const decoder = new ChunkDecoder(undefined, { lend: lendAll });
    const out = decoder.push(Buffer.concat(sources.map((m) => encoder.encode(m))));
    expect(out.map((m) => m.lent)).toEqual([undefined, undefined]);
    expect(out.map((m) => Uint8Array.from(m.payload))).toEqual(sources.map((m) => m.payload));
  });

  it('keeps at most maxLendPoolBytes of reassembly buffers between messages', () => {
    // Four messages in flight at once (interleaved chunk streams) need four buffers; only as many
    // as fit the pool stay afterwards.
    const encoder = new ChunkEncoder({ chunkSize: 128 });
    const chunks = [4, 5, 6, 7].map((csid) => encoder.encode(video(70_000, csid, csid)));
    // Interleave: the first chunk (header + 128 bytes) of each message, then the rest of each.
    const firstLength = 12 + 128;
    const bytes = Buffer.concat([
      ...chunks.map((c) => c.subarray(0, firstLength)),
      ...chunks.map((c) => c.subarray(firstLength)),
    ]);
    const limit = 300 * 1024;
    const { seen, decoder } = decodeLent(bytes, () => 4096, lendAll, { maxLendPoolBytes: limit });
    expect(seen.map((m) => m.payload)).toEqual([4, 5, 6, 7].map((s) => video(70_000, s).payload));
    // Each took a 128 KiB buffer; two fit under 300 KiB.
    expect(decoder.pooledBytes).toBe(256 * 1024);
    expect(decoder.pooledBytes).toBeLessThanOrEqual(limit);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('counts the whole pooled buffer of a lent message against maxBufferedBytes', () => {
    const encoder = new ChunkEncoder({ chunkSize: 128 });
    const bytes = encoder.encode(video(70_000, 1));
    // 70 000 bytes fit 100 000 when owned; lent, the message holds a 128 KiB buffer.
    expect(() =>
      new ChunkDecoder({ maxBufferedBytes: 100_000 }).pushTo(bytes, () => undefined),
    ).not.toThrow();
    let error: unknown;
    try {
      new ChunkDecoder({ maxBufferedBytes: 100_000 }, { lend: lendAll }).pushTo(bytes, () => 0);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ChunkError);
    expect((error as ChunkError).code).toBe('BUFFER_LIMIT');
  });

  it('returns an aborted lent message buffer to the pool', () => {
    const encoder = new ChunkEncoder({ chunkSize: 128 });
    const partial = encoder.encode(video(1000, 1)).subarray(0, 12 + 128);
    const decoder = new ChunkDecoder(undefined, { lend: lendAll });
    decoder.pushTo(partial, () => undefined);
    expect(decoder.bufferedBytes).toBe(64 * 1024);
    const abort: RawMessage = {
      csid: 2,
      timestamp: 0,
      typeId: MessageTypeId.Abort,
      streamId: 0,
      payload: Uint8Array.of(0, 0, 0, 6),
    };
    decoder.pushTo(encoder.encode(abort), () => undefined);
    expect(decoder.bufferedBytes).toBe(0);
    expect(decoder.pooledBytes).toBe(64 * 1024);
    // And the chunk stream starts afresh with the next message, reusing that buffer.
    const next = video(800, 2);
    const got: Uint8Array[] = [];
    decoder.pushTo(new ChunkEncoder({ chunkSize: 128 }).encode(next), (m) =>
      got.push(Uint8Array.from(m.payload)),
    );
    expect(got).toEqual([next.payload]);
  });

  it('lets decoders share one pool: a buffer one gave back is the next one another reassembles into', () => {
    const pool = new LendPool(DEFAULT_LIMITS.maxLendPoolBytes);
    const a = new ChunkDecoder(undefined, { lend: lendAll, lendPool: pool });
    const b = new ChunkDecoder(undefined, { lend: lendAll, lendPool: pool });
    const first = video(1000, 1);
    const second = video(1200, 2);
    const buffers: ArrayBufferLike[] = [];
    const copies: Uint8Array[] = [];
    const onMessage = (m: RawMessage): void => {
      buffers.push(m.payload.buffer);
      copies.push(Uint8Array.from(m.payload));
    };
    a.pushTo(new ChunkEncoder({ chunkSize: 128 }).encode(first), onMessage);
    expect(pool.bytes).toBe(64 * 1024);
    b.pushTo(new ChunkEncoder({ chunkSize: 128 }).encode(second), onMessage);
    expect(copies).toEqual([first.payload, second.payload]);
    expect(new Set(buffers).size).toBe(1);
    expect(pool.bytes).toBe(64 * 1024);
    expect(a.pooledBytes).toBe(b.pooledBytes);
  });

  it('gives a shared pool buffer to one message at a time: two reassembled at once get two', () => {
    const pool = new LendPool(DEFAULT_LIMITS.maxLendPoolBytes);
    const a = new ChunkDecoder(undefined, { lend: lendAll, lendPool: pool });
    const b = new ChunkDecoder(undefined, { lend: lendAll, lendPool: pool });
    const bytesA = new ChunkEncoder({ chunkSize: 128 }).encode(video(1000, 3));
    const bytesB = new ChunkEncoder({ chunkSize: 128 }).encode(video(1000, 4));
    const seen: Array<{ buffer: ArrayBufferLike; copy: Uint8Array }> = [];
    const onMessage = (m: RawMessage): void => {
      seen.push({ buffer: m.payload.buffer, copy: Uint8Array.from(m.payload) });
    };
    // Both messages are half-read (split over reads) at the same time.
    a.pushTo(bytesA.subarray(0, 500), onMessage);
    b.pushTo(bytesB.subarray(0, 500), onMessage);
    expect(a.bufferedBytes + b.bufferedBytes).toBe(128 * 1024);
    a.pushTo(bytesA.subarray(500), onMessage);
    b.pushTo(bytesB.subarray(500), onMessage);
    expect(seen.map((s) => s.copy)).toEqual([video(1000, 3).payload, video(1000, 4).payload]);
    expect(seen[0].buffer).not.toBe(seen[1].buffer);
    expect(pool.bytes).toBe(128 * 1024);
  });

  it('has a named default for the pool', () => {
    expect(DEFAULT_LIMITS.maxLendPoolBytes).toBe(8 * 1024 * 1024);
  });
});
