/** Test helpers for the handshake layer: deterministic randomness, fixtures, byte splitting. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const STREAM_BYTES = 1 << 14;
const streams = new Map<number, Uint8Array>();

/** The first 16 KiB that mulberry32 yields for `seed`, generated once per seed. */
function seededStream(seed: number): Uint8Array {
  let stream = streams.get(seed);
  if (stream === undefined) {
    stream = new Uint8Array(STREAM_BYTES);
    let state = seed >>> 0;
    for (let i = 0; i < STREAM_BYTES; i++) {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      stream[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
    }
    streams.set(seed, stream);
  }
  return stream;
}

/**
 * A seeded byte source: the same seed always yields the same bytes (a mulberry32 stream, cached
 * per seed because the split-at-every-offset tests create thousands of sources).
 */
export function seededRandom(seed: number): (n: number) => Uint8Array {
  const stream = seededStream(seed);
  let at = 0;
  return (n) => {
    if (at + n > stream.length) throw new Error(`seededRandom(${seed}) exhausted`);
    const out = stream.slice(at, at + n);
    at += n;
    return out;
  };
}

/** A random source that hands out exactly the given byte strings, in order. */
export function scriptedRandom(...chunks: Uint8Array[]): (n: number) => Uint8Array {
  const queue = [...chunks];
  return (n) => {
    const next = queue.shift();
    if (next === undefined || next.length !== n) {
      throw new Error(`scriptedRandom: asked for ${n} bytes, next scripted is ${next?.length}`);
    }
    return next;
  };
}

const SESSIONS = join(__dirname, '..', '..', 'fixtures', 'sessions');

/** The raw bytes of a captured session direction, e.g. `fixture('ffmpeg-publish-nginx', 'c2s')`. */
export function fixture(name: string, dir: 'c2s' | 's2c'): Uint8Array {
  return new Uint8Array(readFileSync(join(SESSIONS, `${name}.${dir}.bin`)));
}

/** The `handshake` section of a session's info.json. */
export function fixtureInfo(name: string): Record<string, unknown> {
  const info = JSON.parse(readFileSync(join(SESSIONS, `${name}.info.json`), 'utf8')) as {
    handshake: Record<string, unknown>;
  };
  return info.handshake;
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Splits `bytes` at the given (ascending) cut points. */
export function splitAt(bytes: Uint8Array, ...cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let from = 0;
  for (const cut of cuts) {
    out.push(bytes.subarray(from, cut));
    from = cut;
  }
  out.push(bytes.subarray(from));
  return out;
}

/** Parses a hex string, ignoring whitespace. */
export function hex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

/** Hex of bytes, for readable assertion failures. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}
