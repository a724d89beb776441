/**
 * A minimal chunk-stream reader for tests only (the real one lives in src/protocol/chunk):
 * whole captures, fmt 0-3, 1-3 byte basic headers, extended timestamps, Set Chunk Size.
 */
import type { RawMessage } from '../../../src/protocol/types';

interface ChunkStream {
  timestamp: number;
  delta: number;
  length: number;
  typeId: number;
  streamId: number;
  extended: boolean;
  parts: Buffer[];
  got: number;
}

/** The messages of one direction of a capture, after a 1+1536+1536-byte handshake. */
export function dechunk(bytes: Buffer, start = 1 + 1536 + 1536): RawMessage[] {
  const out: RawMessage[] = [];
  const streams = new Map<number, ChunkStream>();
  let chunkSize = 128;
  let pos = start;
  while (pos < bytes.length) {
    const b0 = bytes[pos++];
    const fmt = b0 >> 6;
    let csid = b0 & 0x3f;
    if (csid === 0) csid = bytes[pos++] + 64;
    else if (csid === 1) {
      csid = bytes[pos] + bytes[pos + 1] * 256 + 64;
      pos += 2;
    }
    let st = streams.get(csid);
    const starting = !st || st.got === 0;
    if (fmt === 0) {
      const ts = bytes.readUIntBE(pos, 3);
      st = {
        timestamp: ts,
        delta: 0,
        length: bytes.readUIntBE(pos + 3, 3),
        typeId: bytes[pos + 6],
        streamId: bytes.readUInt32LE(pos + 7),
        extended: ts === 0xffffff,
        parts: [],
        got: 0,
      };
      pos += 11;
      if (st.extended) {
        st.timestamp = bytes.readUInt32BE(pos);
        pos += 4;
      }
      streams.set(csid, st);
    } else {
      if (!st) throw new Error(`fmt ${fmt} on new chunk stream ${csid} at ${pos}`);
      if (fmt === 1 || fmt === 2) {
        const delta = bytes.readUIntBE(pos, 3);
        if (fmt === 1) {
          st.length = bytes.readUIntBE(pos + 3, 3);
          st.typeId = bytes[pos + 6];
          pos += 7;
        } else pos += 3;
        st.extended = delta === 0xffffff;
        st.delta = delta;
        if (st.extended) {
          st.delta = bytes.readUInt32BE(pos);
          pos += 4;
        }
      } else if (st.extended) {
        pos += 4; // librtmp repeats the extended timestamp on fmt-3 chunks
      }
      if (starting) st.timestamp = (st.timestamp + st.delta) >>> 0;
    }
    const take = Math.min(chunkSize, st.length - st.got);
    st.parts.push(bytes.subarray(pos, pos + take));
    st.got += take;
    pos += take;
    if (st.got === st.length) {
      const payload = Buffer.concat(st.parts);
      out.push({
        csid,
        timestamp: st.timestamp,
        typeId: st.typeId,
        streamId: st.streamId,
        payload,
      });
      st.parts = [];
      st.got = 0;
      if (st.typeId === 1) chunkSize = payload.readUInt32BE(0);
    }
  }
  return out;
}
