/** Shared helpers for the chunk-layer tests: fixtures, splitting, a minimal FLV tag reader. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChunkDecoder } from '../../../src/protocol/chunk';
import type { RtmpLimits } from '../../../src/protocol/limits';
import type { RawMessage } from '../../../src/protocol/types';

export const FIXTURES = join(__dirname, '..', '..', 'fixtures');
/** C0+C1+C2 (client side) or S0+S1+S2 (server side). */
export const HANDSHAKE_BYTES = 1 + 1536 + 1536;

export type Direction = 'c2s' | 's2c';

export interface Segment {
  dir: Direction;
  off: number;
  len: number;
  t: number;
}

export interface DirectionInfo {
  bytes: number;
  counts: Record<string, number>;
  chunk_sizes_set: { at: number; size: number }[];
}

export interface Session {
  name: string;
  c2s: Buffer;
  s2c: Buffer;
  segments: Segment[];
  info: { c2s: DirectionInfo; s2c: DirectionInfo };
}

export const SESSION_NAMES = [
  'rtmpdump-nginx-play',
  'ffmpeg-publish-nginx',
  'rtmpdump-nms-live-play',
] as const;

/** Every captured session, both directions: `it.each(SESSION_CASES)("… %s %s", (name, dir) => …)`. */
export const SESSION_CASES: Array<[string, Direction]> = SESSION_NAMES.flatMap((name) => [
  [name, 's2c'] as [string, Direction],
  [name, 'c2s'] as [string, Direction],
]);

/** Reads the captured byte streams, segments and the independent decoder's findings. */
export function loadSession(name: string): Session {
  const dir = join(FIXTURES, 'sessions');
  const read = (suffix: string): Buffer => readFileSync(join(dir, `${name}.${suffix}`));
  return {
    name,
    c2s: read('c2s.bin'),
    s2c: read('s2c.bin'),
    segments: (JSON.parse(read('segments.json').toString('utf8')) as { segments: Segment[] })
      .segments,
    info: JSON.parse(read('info.json').toString('utf8')) as Session['info'],
  };
}

/** info.json's names for message type ids. */
export const INFO_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'SetChunkSize',
  3: 'Ack',
  4: 'UserControl',
  5: 'WinAckSize',
  6: 'SetPeerBandwidth',
  8: 'Audio',
  9: 'Video',
  18: 'AMF0Data',
  20: 'AMF0Cmd',
};

/** Message counts by info.json type name. */
export function countByType(messages: readonly RawMessage[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const m of messages) {
    const name = INFO_TYPE_NAMES[m.typeId] ?? `type${m.typeId}`;
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

/** Copies a message so it survives later pushes (payloads may be views). */
export function snapshot(m: RawMessage): RawMessage {
  return { ...m, payload: Uint8Array.from(m.payload) };
}

/** Feeds `bytes` to a fresh decoder cut at the given offsets; returns copies of all messages. */
export function decodeSplit(
  bytes: Uint8Array,
  cuts: readonly number[] = [],
  limits?: Partial<RtmpLimits>,
): { messages: RawMessage[]; decoder: ChunkDecoder } {
  const decoder = new ChunkDecoder(limits);
  const messages: RawMessage[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut < from) continue;
    for (const m of decoder.push(bytes.subarray(from, cut))) messages.push(snapshot(m));
    from = cut;
  }
  return { messages, decoder };
}

/** Stable summary of messages for deep equality (hex payloads are slow on MBs: hash instead). */
export function digest(messages: readonly RawMessage[]): string[] {
  return messages.map((m) => {
    let h = 0x811c9dc5;
    for (let i = 0; i < m.payload.length; i++) h = Math.imul(h ^ m.payload[i], 16777619);
    return `${m.csid}/${m.timestamp}/${m.typeId}/${m.streamId}/${m.payload.length}/${(h >>> 0).toString(16)}`;
  });
}

export interface FlvTag {
  type: number;
  timestamp: number;
  data: Uint8Array;
}

/** Minimal FLV reader for tests: 9-byte header + PreviousTagSize0, then tag, data, PreviousTagSize. */
export function readFlvTags(file: Uint8Array): FlvTag[] {
  const tags: FlvTag[] = [];
  let p = 13;
  while (p + 11 <= file.length) {
    const type = file[p] & 0x1f;
    const size = (file[p + 1] << 16) | (file[p + 2] << 8) | file[p + 3];
    const timestamp =
      ((file[p + 7] << 24) | (file[p + 4] << 16) | (file[p + 5] << 8) | file[p + 6]) >>> 0;
    tags.push({ type, timestamp, data: file.subarray(p + 11, p + 11 + size) });
    p += 11 + size + 4;
  }
  return tags;
}

/** Deterministic PRNG (mulberry32) for reproducible random splits. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Parses a hex table ("02 00 00 ...", comments after // ignored) into bytes. */
export function hex(...lines: string[]): Buffer {
  return Buffer.from(
    lines
      .map((l) => l.replace(/\/\/.*$/, ''))
      .join('')
      .replace(/\s+/g, ''),
    'hex',
  );
}
