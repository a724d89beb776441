import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { from, lastValueFrom, toArray } from 'rxjs';
import { decodeRtmp, type InboundItem } from '../../src/pipeline/decode';
import { encodeRtmp } from '../../src/pipeline/encode';
import { HandshakeClient, HandshakeServer } from '../../src/protocol/handshake';
import { decodeMessage } from '../../src/protocol/message';
import type { RtmpMessage } from '../../src/protocol/message/types';

const fixture = (name: string): Buffer =>
  readFileSync(path.join(__dirname, '..', 'fixtures', 'sessions', name));
const HANDSHAKE = 3073;

function segmentsOf(name: string, dir: string, data: Buffer): Buffer[] {
  const segs = JSON.parse(
    readFileSync(
      path.join(__dirname, '..', 'fixtures', 'sessions', `${name}.segments.json`),
      'utf8',
    ),
  ).segments as Array<{ dir: string; off: number; len: number }>;
  return segs.filter((s) => s.dir === dir).map((s) => data.subarray(s.off, s.off + s.len));
}

async function decodeAll(reads: Uint8Array[]): Promise<InboundItem[]> {
  return lastValueFrom(from(reads).pipe(decodeRtmp(), toArray()));
}

describe('decodeRtmp', () => {
  const s2c = fixture('rtmpdump-nginx-play.s2c.bin');

  it('emits once per message, never per chunk, for a real nginx-rtmp play session', async () => {
    const items = await decodeAll([s2c.subarray(HANDSHAKE)]);
    // info.json: 787 messages in 1 + 1 + 1 + 4 + 4 + 3 + 302 + 471 = 787, carried in far more chunks.
    expect(items.every((i) => i.kind === 'message')).toBe(true);
    expect(items).toHaveLength(787);
  });

  it('gives the same messages whether the bytes arrive in captured TCP segments or one read', async () => {
    const segments = segmentsOf('rtmpdump-nginx-play', 's2c', s2c);
    expect(segments.length).toBeGreaterThan(10);
    const whole = await decodeAll([s2c.subarray(HANDSHAKE)]);
    // Drop the handshake bytes from the segment list.
    let skip = HANDSHAKE;
    const reads: Uint8Array[] = [];
    for (const seg of segments) {
      if (skip >= seg.length) {
        skip -= seg.length;
        continue;
      }
      reads.push(seg.subarray(skip));
      skip = 0;
    }
    const split = await decodeAll(reads);
    expect(split.length).toBe(whole.length);
    for (let i = 0; i < whole.length; i++) {
      const a = whole[i];
      const b = split[i];
      if (a.kind !== 'message' || b.kind !== 'message') throw new Error('expected messages');
      expect(b.message.typeId).toBe(a.message.typeId);
      expect(b.message.timestamp).toBe(a.message.timestamp);
      expect(Buffer.from(b.message.payload).equals(Buffer.from(a.message.payload))).toBe(true);
    }
  });

  it('applies Set Chunk Size itself to the bytes that follow it in the same read', async () => {
    // nginx sends Set Chunk Size 4096 and then 4096-byte chunks; one read holds both.
    const items = await decodeAll([s2c.subarray(HANDSHAKE)]);
    const first = items.findIndex((i) => i.kind === 'message' && i.message.typeId === 1);
    expect(first).toBeGreaterThanOrEqual(0);
    const big = items.find((i) => i.kind === 'message' && i.message.payload.byteLength > 4096);
    expect(big).toBeDefined();
  });

  it('runs the handshake first and hands the bytes after it to the chunk decoder', async () => {
    const client = new HandshakeClient({
      form: 'simple',
      clock: () => 0,
      random: (n) => new Uint8Array(n).fill(7),
    });
    const server = new HandshakeServer({
      clock: () => 0,
      random: (n) => new Uint8Array(n).fill(9),
    });
    const c0c1 = client.start();
    const s = server.push(c0c1);
    const messages: RtmpMessage[] = [
      { type: 'WindowAckSize', windowSize: 2_500_000, timestamp: 0, streamId: 0 },
      {
        type: 'Command',
        amf: 0,
        name: '_result',
        transactionId: 1,
        commandObject: null,
        args: [{ level: 'status', code: 'NetConnection.Connect.Success' }],
        timestamp: 0,
        streamId: 0,
      },
    ];
    const chunks = await lastValueFrom(
      from(messages.map((message) => ({ kind: 'message' as const, message }))).pipe(
        encodeRtmp(128),
        toArray(),
      ),
    );
    const serverBytes = Buffer.concat([Buffer.from(s.send), ...chunks.map((c) => Buffer.from(c))]);
    const items = await lastValueFrom(
      from([serverBytes]).pipe(decodeRtmp({ handshake: client }), toArray()),
    );
    const kinds = items.map((i) => (i.kind === 'handshake' ? i.step : i.kind));
    expect(kinds).toContain('peerHello');
    expect(kinds).toContain('peerEcho');
    expect(kinds).toContain('reply'); // C2
    expect(kinds.indexOf('peerEcho')).toBeLessThan(kinds.indexOf('message'));
    const decoded = items.flatMap((i) => (i.kind === 'message' ? [decodeMessage(i.message)] : []));
    expect(decoded.map((m) => m.type)).toEqual(['WindowAckSize', 'Command']);
  });
});
