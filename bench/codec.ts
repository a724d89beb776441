/**
 * Chunk codec benchmark: encode and decode a synthetic 60 s session shaped like a 20 Mbit/s
 * 1080p30 H.264 + 128 kbit/s AAC publish, at chunk sizes 128, 4096 and 65536.
 *
 * Build with `npm run build` and run with `npm run bench:codec`. Prints a table and writes
 * bench/results/codec.json.
 */
import { randomFillSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ChunkDecoder, ChunkEncoder } from '../src/protocol/chunk';
import { MessageTypeId, type RawMessage } from '../src/protocol/types';

const SECONDS = 60;
const FPS = 30;
const VIDEO_BITRATE = 20_000_000;
const KEYFRAME_INTERVAL_S = 2;
const KEYFRAME_BYTES = 300_000;
const AUDIO_FRAMES_PER_S = 48_000 / 1024; // AAC-LC at 48 kHz: ~46.9 frames/s
const AUDIO_FRAME_BYTES = 370;
const READ_SIZE = 64 * 1024;
const CHUNK_SIZES = [128, 4096, 65536];
const RUNS = 3;

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The synthetic session: video and audio messages interleaved by timestamp. */
function buildSession(): RawMessage[] {
  const random = rng(1);
  // Every payload gets its own random bytes (no cache-resident shared pool flattering the copies).
  const body = (n: number): Uint8Array => randomFillSync(Buffer.allocUnsafe(n));
  const gop = KEYFRAME_INTERVAL_S * FPS;
  const interBytes = (VIDEO_BITRATE / 8) * KEYFRAME_INTERVAL_S - KEYFRAME_BYTES;
  const interMean = Math.round(interBytes / (gop - 1));
  const video: RawMessage[] = [];
  for (let i = 0; i < SECONDS * FPS; i++) {
    const size = i % gop === 0 ? KEYFRAME_BYTES : Math.round(interMean * (0.8 + 0.4 * random()));
    video.push({
      csid: 6,
      timestamp: Math.round((i * 1000) / FPS),
      typeId: MessageTypeId.Video,
      streamId: 1,
      payload: body(size),
    });
  }
  const audio: RawMessage[] = [];
  for (let j = 0; j < SECONDS * AUDIO_FRAMES_PER_S; j++) {
    audio.push({
      csid: 4,
      timestamp: Math.round((j * 1000) / AUDIO_FRAMES_PER_S),
      typeId: MessageTypeId.Audio,
      streamId: 1,
      payload: body(AUDIO_FRAME_BYTES - 16 + ((random() * 32) | 0)),
    });
  }
  const all: RawMessage[] = [];
  let v = 0;
  let a = 0;
  while (v < video.length || a < audio.length) {
    if (a >= audio.length || (v < video.length && video[v].timestamp <= audio[a].timestamp)) {
      all.push(video[v++]);
    } else {
      all.push(audio[a++]);
    }
  }
  return all;
}

function setChunkSizeMessage(n: number): RawMessage {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(n);
  return { csid: 2, timestamp: 0, typeId: MessageTypeId.SetChunkSize, streamId: 0, payload };
}

/** Encodes every message with `encode` (one Buffer per message, as the pipeline does). */
function encodeRun(
  messages: readonly RawMessage[],
  chunkSize: number,
): { bytes: number; s: number } {
  const t0 = process.hrtime.bigint();
  const encoder = new ChunkEncoder({ chunkSize });
  let bytes = 0;
  for (let i = 0; i < messages.length; i++) bytes += encoder.encode(messages[i]).length;
  return { bytes, s: Number(process.hrtime.bigint() - t0) / 1e9 };
}

/** The whole session as one byte stream: Set Chunk Size at 128, then everything at `chunkSize`. */
function encodeStream(messages: readonly RawMessage[], chunkSize: number): Buffer {
  const encoder = new ChunkEncoder();
  const head = encoder.encode(setChunkSizeMessage(chunkSize));
  encoder.setChunkSize(chunkSize);
  return Buffer.concat([head, encoder.encodeMany(messages)]);
}

/** Decodes `stream` fed in socket-sized reads. */
function decodeRun(stream: Buffer): { messages: number; payload: number; s: number } {
  let messages = 0;
  let payload = 0;
  const onMessage = (m: RawMessage): void => {
    messages++;
    payload += m.payload.length;
  };
  const t0 = process.hrtime.bigint();
  const decoder = new ChunkDecoder();
  for (let p = 0; p < stream.length; p += READ_SIZE) {
    decoder.pushTo(stream.subarray(p, p + READ_SIZE), onMessage);
  }
  return { messages, payload, s: Number(process.hrtime.bigint() - t0) / 1e9 };
}

interface Row {
  chunkSize: number;
  streamBytes: number;
  encodeMBps: number;
  decodeMBps: number;
  encodeBestS: number;
  decodeBestS: number;
}

function main(): void {
  const messages = buildSession();
  const payloadBytes = messages.reduce((n, m) => n + m.payload.length, 0);
  const videoCount = messages.filter((m) => m.typeId === MessageTypeId.Video).length;
  console.log(
    `session: ${SECONDS} s, ${messages.length} messages (${videoCount} video, ${messages.length - videoCount} audio), ` +
      `${(payloadBytes / 1e6).toFixed(1)} MB of payload; decode fed in ${READ_SIZE / 1024} KiB reads; best of ${RUNS} after a warm-up`,
  );
  const rows: Row[] = [];
  for (const chunkSize of CHUNK_SIZES) {
    encodeRun(messages, chunkSize); // warm-up
    let encBest = Infinity;
    let encBytes = 0;
    for (let r = 0; r < RUNS; r++) {
      const { bytes, s } = encodeRun(messages, chunkSize);
      encBytes = bytes;
      encBest = Math.min(encBest, s);
    }
    const stream = encodeStream(messages, chunkSize);
    const check = decodeRun(stream); // warm-up, and a correctness check
    if (check.messages !== messages.length + 1 || check.payload !== payloadBytes + 4) {
      throw new Error(`decode mismatch at chunk size ${chunkSize}`);
    }
    let decBest = Infinity;
    for (let r = 0; r < RUNS; r++) decBest = Math.min(decBest, decodeRun(stream).s);
    rows.push({
      chunkSize,
      streamBytes: stream.length,
      encodeMBps: Math.round(encBytes / 1e6 / encBest),
      decodeMBps: Math.round(stream.length / 1e6 / decBest),
      encodeBestS: Number(encBest.toFixed(4)),
      decodeBestS: Number(decBest.toFixed(4)),
    });
  }
  console.log('');
  console.log('chunk size | stream MB | encode MB/s | decode MB/s');
  console.log('---------: | --------: | ----------: | ----------:');
  for (const r of rows) {
    console.log(
      `${String(r.chunkSize).padStart(10)} | ${(r.streamBytes / 1e6).toFixed(1).padStart(9)} | ` +
        `${String(r.encodeMBps).padStart(11)} | ${String(r.decodeMBps).padStart(11)}`,
    );
  }
  const dir = join(__dirname, '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    session: {
      seconds: SECONDS,
      messages: messages.length,
      video: videoCount,
      audio: messages.length - videoCount,
      payloadBytes,
    },
    readSize: READ_SIZE,
    runs: RUNS,
    units: 'MB/s (1e6 bytes): encode counts output bytes, decode counts input bytes',
    results: rows,
  };
  writeFileSync(join(dir, 'codec.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(`\nwrote ${join(dir, 'codec.json')}`);
}

main();
