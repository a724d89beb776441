/**
 * decodeRtmp({ reusedInput: true }): the transport reads every plain-TCP socket into one shared
 * buffer (net.Socket `onread`) and overwrites it after each read. The handshake, the chunk
 * decoder and every emitted item must survive that.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Observable, from, lastValueFrom, toArray } from 'rxjs';
import {
  RtmpInboundDecoder,
  SHARED_LEND_POOL_BYTES,
  decodeRtmp,
  sharedLendPool,
  type InboundItem,
} from '../../src/pipeline/decode';
import { ChunkEncoder } from '../../src/protocol/chunk';
import { DEFAULT_LIMITS } from '../../src/protocol/limits';
import { MessageTypeId } from '../../src/protocol/types';
import { encodeRtmp } from '../../src/pipeline/encode';
import { HandshakeClient, HandshakeServer } from '../../src/protocol/handshake';
import type { RtmpMessage } from '../../src/protocol/message/types';

const HANDSHAKE = 3073;
const s2c = readFileSync(
  path.join(__dirname, '..', 'fixtures', 'sessions', 'rtmpdump-nginx-play.s2c.bin'),
);

/** Emits `bytes` in reads of `size` through one scratch buffer, scribbled on after each read. */
function throughScratch(bytes: Uint8Array, size: number): Observable<Uint8Array> {
  return new Observable<Uint8Array>((subscriber) => {
    const scratch = new Uint8Array(size);
    for (let p = 0; p < bytes.length; p += size) {
      const n = Math.min(size, bytes.length - p);
      scratch.set(bytes.subarray(p, p + n));
      subscriber.next(scratch.subarray(0, n));
      scratch.fill(0xee);
    }
    subscriber.complete();
  });
}

/** Items as comparable values (payloads and replies as hex). */
function summary(items: InboundItem[]): unknown[] {
  return items.map((i) =>
    i.kind === 'message'
      ? { ...i.message, payload: Buffer.from(i.message.payload).toString('hex') }
      : i.kind === 'reply'
        ? { reply: Buffer.from(i.bytes).toString('hex') }
        : i,
  );
}

function handshakePair(): { client: HandshakeClient; server: HandshakeServer } {
  return {
    client: new HandshakeClient({
      form: 'simple',
      clock: () => 0,
      random: (n) => new Uint8Array(n).fill(7),
    }),
    server: new HandshakeServer({ clock: () => 0, random: (n) => new Uint8Array(n).fill(9) }),
  };
}

describe('decodeRtmp with reusedInput', () => {
  it('emits the same messages from a reused read buffer as from fresh reads', async () => {
    const bytes = s2c.subarray(HANDSHAKE);
    const fresh = await lastValueFrom(from([bytes]).pipe(decodeRtmp(), toArray()));
    for (const size of [333, 4096, 65536]) {
      const reused = await lastValueFrom(
        throughScratch(bytes, size).pipe(decodeRtmp({ reusedInput: true }), toArray()),
      );
      expect(summary(reused)).toEqual(summary(fresh));
    }
  });

  it('runs the handshake and the messages after it intact when reads share one buffer', async () => {
    const messages: RtmpMessage[] = [
      { type: 'WindowAckSize', windowSize: 2_500_000, timestamp: 0, streamId: 0 },
      { type: 'SetPeerBandwidth', windowSize: 2_500_000, limitType: 2, timestamp: 0, streamId: 0 },
    ];
    const chunks = await lastValueFrom(
      from(messages.map((message) => ({ kind: 'message' as const, message }))).pipe(
        encodeRtmp(128),
        toArray(),
      ),
    );
    const serverBytes = (): Buffer => {
      const { client, server } = handshakePair();
      const s = server.push(client.start());
      return Buffer.concat([Buffer.from(s.send), ...chunks.map((c) => Buffer.from(c))]);
    };
    const fresh = handshakePair();
    fresh.client.start();
    const expected = await lastValueFrom(
      from([serverBytes()]).pipe(decodeRtmp({ handshake: fresh.client }), toArray()),
    );
    // Reads smaller than a handshake packet: the handshake must keep copies, not views.
    for (const size of [100, 1000, 1537]) {
      const { client } = handshakePair();
      client.start();
      const items = await lastValueFrom(
        throughScratch(serverBytes(), size).pipe(
          decodeRtmp({ handshake: client, reusedInput: true }),
          toArray(),
        ),
      );
      const kinds = items.map((i) => (i.kind === 'handshake' ? i.step : i.kind));
      expect(kinds).toContain('peerEcho');
      expect(summary(items.filter((i) => i.kind !== 'bytes'))).toEqual(
        summary(expected.filter((i) => i.kind !== 'bytes')),
      );
    }
  });

  it('keeps the lent reassembly buffers of all reused-input decoders in one shared pool, not one per decoder', () => {
    const pool = sharedLendPool();
    expect(pool.maxBytes).toBe(SHARED_LEND_POOL_BYTES);
    const before = pool.bytes;
    const bytes = new ChunkEncoder({ chunkSize: 128 }).encode({
      csid: 6,
      timestamp: 0,
      typeId: MessageTypeId.Video,
      streamId: 1,
      payload: new Uint8Array(3000).fill(7),
    });
    const lengths: number[] = [];
    const buffers = new Set<ArrayBufferLike>();
    // The transport passes its limits resolved: the default pool size is no wish of its own.
    const decoders = Array.from(
      { length: 10 },
      (_, i) =>
        new RtmpInboundDecoder(
          (item) => {
            if (item.kind !== 'message') return;
            lengths.push(item.message.payload.length);
            buffers.add(item.message.payload.buffer);
          },
          { reusedInput: true, lend: () => true, ...(i % 2 ? { limits: DEFAULT_LIMITS } : {}) },
        ),
    );
    for (const d of decoders) d.push(bytes);
    expect(lengths).toEqual(new Array(10).fill(3000));
    expect(buffers.size).toBe(1);
    // One 64 KiB buffer served all ten, one message after the other.
    expect(pool.bytes - before).toBeLessThanOrEqual(64 * 1024);
    // A decoder given its own maxLendPoolBytes keeps its own pool.
    const own = new RtmpInboundDecoder(() => undefined, {
      reusedInput: true,
      lend: () => true,
      limits: { maxLendPoolBytes: 1024 * 1024 },
    });
    const after = pool.bytes;
    own.push(bytes);
    expect(pool.bytes).toBe(after);
  });
});
