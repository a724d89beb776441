/** Shared helpers for the FLV tests (not a test file). */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const SMALL_FLV_PATH = join(__dirname, '..', '..', 'fixtures', 'media', 'small.flv');

let cached: Uint8Array | undefined;
/** small.flv, read once. */
export function smallFlv(): Uint8Array {
  cached ??= new Uint8Array(readFileSync(SMALL_FLV_PATH));
  return cached;
}

/** One packet as `ffprobe -show_packets -of json` lists it. */
export interface ProbePacket {
  codec_type: 'video' | 'audio';
  pts: number;
  dts: number;
  size: string;
  pos: string;
  flags: string;
}

/** ffprobe's packet list for a file. */
export function probePackets(path: string): ProbePacket[] {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_packets', '-of', 'json', path], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`ffprobe failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { packets: ProbePacket[] }).packets;
}

/** Runs ffmpeg with the given arguments; throws with its stderr on failure. */
export function ffmpeg(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed: ${r.stderr}`);
}

/** Width and height of the first video stream, according to ffprobe. */
export function probeSize(path: string): { width: number; height: number } {
  const r = spawnSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=width,height',
      '-of',
      'json',
      path,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`ffprobe failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { streams: { width: number; height: number }[] }).streams[0];
}

/**
 * The payload of the first ISO-BMFF box of a type found anywhere in the file (a plain byte
 * search for the four-character type, then the 32-bit size just before it).
 */
export function findBoxPayload(file: Uint8Array, type: string): Uint8Array {
  const t = Buffer.from(type, 'latin1');
  const at = Buffer.from(file.buffer, file.byteOffset, file.length).indexOf(t);
  if (at < 4) throw new Error(`no ${type} box`);
  const size = Buffer.from(file.buffer, file.byteOffset, file.length).readUInt32BE(at - 4);
  return file.subarray(at + 4, at - 4 + size);
}

/** Deterministic PRNG (mulberry32) for random split offsets. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Concatenates byte arrays. */
export function cat(...parts: ArrayLike<number>[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
