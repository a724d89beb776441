/**
 * RTMP timestamps are 32-bit milliseconds and wrap after about 49.7 days. A server built from our
 * own codecs (HandshakeServer, ChunkDecoder, ChunkEncoder for the commands) plays a stream whose
 * timestamps start 3 s before 2^32 and cross it. Its media chunks are written by hand, the way
 * nginx-rtmp writes them: a fmt-0 chunk with an extended timestamp (repeated on the fmt-3
 * continuation chunks, chunk size 128), then only deltas taken mod 2^32 — video as fmt-3 new
 * messages repeating the 40 ms delta, audio as fmt-2 deltas of 23/24 ms — so the client's decoder
 * itself must wrap (our ChunkEncoder would switch to a fmt-0 absolute timestamp there).
 * Through the real client (socket, transport actor, pipeline, machines), neither media$ nor the
 * saved FLV may jump: every step between consecutive messages, taken mod 2^32, stays one frame.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type SessionEvent } from '../../src/client';
import type { MediaMessage } from '../../src/io/media';
import { ChunkDecoder, ChunkEncoder } from '../../src/protocol/chunk';
import { parseFlv } from '../../src/protocol/flv';
import { HandshakeServer } from '../../src/protocol/handshake';
import {
  buildOnStatus,
  buildResult,
  decodeMessage,
  encodeMessage,
  readConnect,
  readPlay,
  StatusCode,
  type RtmpMessage,
} from '../../src/protocol/message';
import { trackSessions } from '../helpers/sessions';

jest.setTimeout(30_000);

const openSession = trackSessions();

const WRAP = 2 ** 32;
/** The first media timestamp: 3 s before the wrap. */
const FIRST_TS = WRAP - 3000;
/** 6 s of media: 25 fps video (40 ms) and audio every 23 ms (AAC at 44.1 kHz is ~23.2 ms). */
const MEDIA_MS = 6000;
const VIDEO_STEP = 40;
/** Audio alternates 23 and 24 ms, so each audio message needs a fmt-2 delta. */
const AUDIO_STEP = 24;
const VIDEO_CSID = 20;
const AUDIO_CSID = 21;
const CHUNK_SIZE = 128;

/**
 * Writes one message's chunks with the smallest header the chunk stream's previous message allows,
 * deltas taken mod 2^32 as nginx-rtmp does (it subtracts uint32 timestamps).
 */
class DeltaChunkWriter {
  private readonly last = new Map<
    number,
    { ts: number; delta: number; length: number; typeId: number }
  >();
  /** The fmt of the first chunk of each message written, in order. */
  readonly fmts: number[] = [];

  write(csid: number, typeId: number, streamId: number, ts: number, body: Buffer): Buffer {
    const prev = this.last.get(csid);
    let fmt: number;
    let field: number;
    if (!prev) {
      fmt = 0;
      field = ts;
    } else {
      field = (ts - prev.ts + WRAP) % WRAP;
      if (prev.length !== body.length || prev.typeId !== typeId) fmt = 1;
      else if (field !== prev.delta) fmt = 2;
      else fmt = 3;
    }
    const ext = field >= 0xffffff;
    const header: number[] = [(fmt << 6) | csid];
    const put24 = (v: number): void => {
      header.push((v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
    };
    if (fmt <= 2) put24(ext ? 0xffffff : field);
    if (fmt <= 1) {
      put24(body.length);
      header.push(typeId);
    }
    if (fmt === 0)
      header.push(
        streamId & 0xff,
        (streamId >>> 8) & 0xff,
        (streamId >>> 16) & 0xff,
        streamId >>> 24,
      );
    const extBytes = ext
      ? [field >>> 24, (field >>> 16) & 0xff, (field >>> 8) & 0xff, field & 0xff]
      : [];
    const parts: Buffer[] = [Buffer.from([...header, ...extBytes])];
    for (let off = 0; off < body.length; off += CHUNK_SIZE) {
      if (off > 0) parts.push(Buffer.from([(3 << 6) | csid, ...extBytes]));
      parts.push(body.subarray(off, off + CHUNK_SIZE));
    }
    this.fmts.push(fmt);
    // After a fmt-0 chunk, a fmt-3 new message would be ambiguous: force a delta header next.
    this.last.set(csid, { ts, delta: fmt === 0 ? -1 : field, length: body.length, typeId });
    return Buffer.concat(parts);
  }
}

/** The media the server sends, in timestamp order (timestamps already wrapped to u32). */
function schedule(): Array<Extract<RtmpMessage, { type: 'Audio' | 'Video' }>> {
  const out: Array<{ type: 'Audio' | 'Video'; t: number }> = [];
  for (let t = 0; t < MEDIA_MS; t += VIDEO_STEP) out.push({ type: 'Video', t });
  for (let t = 0, i = 0; t < MEDIA_MS; t += i++ % 2 ? AUDIO_STEP : AUDIO_STEP - 1) {
    out.push({ type: 'Audio', t });
  }
  out.sort((a, b) => a.t - b.t || (a.type === 'Video' ? -1 : 1));
  // 300-byte bodies: with chunk size 128 each message has fmt-3 continuation chunks.
  const video = Buffer.alloc(300, 0x27);
  video[0] = 0x17; // AVC keyframe, NALU
  video[1] = 0x01;
  const audio = Buffer.alloc(300, 0x55);
  audio[0] = 0xaf; // AAC
  audio[1] = 0x01;
  return out.map(({ type, t }) => ({
    type,
    payload: type === 'Video' ? video : audio,
    timestamp: (FIRST_TS + t) % WRAP,
    streamId: 1,
  }));
}

/** A one-client RTMP server that answers connect, createStream and play, then sends `media`. */
async function startWrapServer(
  media: Array<Extract<RtmpMessage, { type: 'Audio' | 'Video' }>>,
): Promise<{ port: number; close(): Promise<void>; sent(): number; fmts: number[] }> {
  let sent = 0;
  const fmts: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    let handshake: HandshakeServer | undefined = new HandshakeServer();
    const decoder = new ChunkDecoder();
    const encoder = new ChunkEncoder(); // chunk size 128 throughout
    const send = (msgs: RtmpMessage[]): void => {
      if (!socket.destroyed) socket.write(encoder.encodeMany(msgs.map(encodeMessage)));
    };
    const play = async (): Promise<void> => {
      send([
        buildOnStatus(
          { level: 'status', code: StatusCode.PlayStart, description: 'wrap' },
          { streamId: 1 },
        ),
      ]);
      // In batches of 20 messages, 10 ms apart: about 0.2 s for the 6 s of media.
      const writer = new DeltaChunkWriter();
      for (let i = 0; i < media.length && !socket.destroyed; i += 20) {
        const batch = media
          .slice(i, i + 20)
          .map((m) =>
            writer.write(
              m.type === 'Video' ? VIDEO_CSID : AUDIO_CSID,
              m.type === 'Video' ? 9 : 8,
              m.streamId,
              m.timestamp,
              Buffer.from(m.payload),
            ),
          );
        socket.write(Buffer.concat(batch));
        sent += batch.length;
        await new Promise((r) => setTimeout(r, 10));
      }
      fmts.push(...writer.fmts);
      send([
        buildOnStatus(
          { level: 'status', code: StatusCode.PlayStop, description: 'end' },
          { streamId: 1 },
        ),
      ]);
    };
    socket.on('data', (d: Buffer) => {
      let rest: Uint8Array = d;
      if (handshake) {
        const progress = handshake.push(d);
        if (progress.send.byteLength) socket.write(progress.send);
        if (progress.kind !== 'completed') return;
        handshake = undefined;
        rest = progress.remaining;
      }
      if (rest.byteLength === 0) return;
      decoder.pushTo(rest, (raw) => {
        const msg = decodeMessage(raw);
        const connect = readConnect(msg);
        if (connect) {
          send([
            buildResult(
              connect.transactionId,
              { fmsVer: 'FMS/3,0,1,123', capabilities: 31 },
              { level: 'status', code: StatusCode.ConnectSuccess, description: 'ok' },
            ),
          ]);
        } else if (msg.type === 'Command' && msg.name === 'createStream') {
          send([buildResult(msg.transactionId, null, 1)]);
        } else if (readPlay(msg)) {
          void play();
        }
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    sent: () => sent,
    fmts,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Steps between consecutive timestamps of one type, mod 2^32. */
function steps(timestamps: number[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < timestamps.length; i++)
    out.push((timestamps[i] - timestamps[i - 1] + WRAP) % WRAP);
  return out;
}

describe('timestamps across the 2^32 ms wrap', () => {
  it('keeps media$ and the saved FLV free of jumps when the stream crosses 2^32 ms', async () => {
    const media = schedule();
    const server = await startWrapServer(media);
    const session = openSession({ url: `rtmp://127.0.0.1:${server.port}/live/wrap` });
    const events: SessionEvent[] = [];
    session.events$.subscribe((e) => events.push(e));
    const stream = session.play('wrap', { start: -1 });
    const got: MediaMessage[] = [];
    stream.media$.subscribe((m) => got.push(m));
    const dir = mkdtempSync(path.join(tmpdir(), 'rtmp-actors-wrap-'));
    const out = path.join(dir, 'wrap.flv');
    const saved = await stream.saveFlv(out);
    const outcome = await stream.done;
    await session.close();
    await server.close();

    // The wire carried what this test is about: extended fmt-0 first, then deltas across 2^32.
    const wrapAt = (type: 'Audio' | 'Video'): number =>
      media.findIndex((m) => m.type === type && m.timestamp < 3000);
    expect(server.fmts.filter((f) => f === 0)).toHaveLength(2);
    expect(server.fmts[wrapAt('Video')]).toBe(3);
    expect(server.fmts[wrapAt('Audio')]).toBe(2);
    expect(server.sent()).toBe(media.length);

    expect(outcome.outcome).not.toBe('failed');
    expect(events.filter((e) => e.type === 'stream.stall' || e.type === 'stream.error')).toEqual(
      [],
    );
    // Everything the server sent arrived, with the server's own timestamps (u32, wrapped).
    expect(got.length).toBe(media.length);
    expect(got.map((m) => m.timestamp)).toEqual(media.map((m) => m.timestamp));
    for (const type of ['Audio', 'Video'] as const) {
      const ts = got.filter((m) => m.type === type).map((m) => m.timestamp);
      expect(ts.every((t) => Number.isInteger(t) && t >= 0 && t < WRAP)).toBe(true);
      expect(ts.some((t) => t >= FIRST_TS) && ts.some((t) => t < 3000)).toBe(true);
      expect(Math.max(...steps(ts))).toBeLessThanOrEqual(
        type === 'Video' ? VIDEO_STEP : AUDIO_STEP,
      );
    }

    // The FLV: whole, every message in it, and no jump in its timeline (steps mod 2^32).
    const flv = parseFlv(readFileSync(out), { previousTagSize: 'strict' });
    const tags = flv.tags.filter((t) => t.type !== 18);
    expect(saved.audioTags + saved.videoTags).toBe(media.length);
    expect(tags).toHaveLength(media.length);
    for (const type of [8, 9]) {
      const ts = tags.filter((t) => t.type === type).map((t) => t.timestamp);
      expect(Math.max(...steps(ts))).toBeLessThanOrEqual(type === 9 ? VIDEO_STEP : AUDIO_STEP);
    }
    const interleaved = steps(tags.map((t) => t.timestamp));
    expect(interleaved.every((s) => s <= VIDEO_STEP || s >= WRAP - VIDEO_STEP)).toBe(true);
  });
});
