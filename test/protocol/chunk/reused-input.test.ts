/**
 * `reusedInput`: the caller reads every socket read into one fixed buffer and overwrites it after
 * each push (net.Socket `onread`). Nothing the decoder keeps or emits may be a view of it.
 */
import { ChunkDecoder } from '../../../src/protocol/chunk';
import type { RawMessage } from '../../../src/protocol/types';
import { HANDSHAKE_BYTES, SESSION_CASES, decodeSplit, digest, loadSession, rng } from './helpers';

/** Pushes `bytes` in reads of the given sizes through ONE scratch buffer, scribbled on after each. */
function decodeThroughScratch(
  bytes: Uint8Array,
  readSizes: () => number,
): { messages: RawMessage[]; scratch: Uint8Array } {
  const scratch = new Uint8Array(1 << 16);
  const decoder = new ChunkDecoder(undefined, { reusedInput: true });
  const messages: RawMessage[] = [];
  for (let p = 0; p < bytes.length;) {
    const n = Math.min(readSizes(), bytes.length - p, scratch.length);
    scratch.set(bytes.subarray(p, p + n));
    decoder.pushTo(scratch.subarray(0, n), (m) => messages.push(m));
    scratch.fill(0xee); // the next read lands here: anything still pointing at it is garbage now
    p += n;
  }
  return { messages, scratch };
}

const CASES = SESSION_CASES;

describe('ChunkDecoder with reusedInput', () => {
  it.each(CASES)(
    'keeps every message of %s %s intact when the read buffer is overwritten after each push',
    (name, dir) => {
      const bytes = loadSession(name)[dir].subarray(HANDSHAKE_BYTES);
      const reference = digest(decodeSplit(bytes).messages);
      for (const size of [1, 7, 100, 4096, 4097, 65536]) {
        expect(digest(decodeThroughScratch(bytes, () => size).messages)).toEqual(reference);
      }
      const random = rng(42);
      const split = decodeThroughScratch(bytes, () => 1 + Math.floor(random() * 9000));
      expect(digest(split.messages)).toEqual(reference);
    },
  );

  it('never hands out a payload that shares memory with the pushed bytes', () => {
    const bytes = loadSession('rtmpdump-nginx-play').s2c.subarray(HANDSHAKE_BYTES);
    // One read holding everything: the single-chunk messages would be views without reusedInput.
    const { messages, scratch } = decodeThroughScratch(bytes, () => bytes.length);
    expect(messages.length).toBeGreaterThan(100);
    for (const m of messages) expect(m.payload.buffer).not.toBe(scratch.buffer);
  });

  it('still hands out views of the pushed bytes by default (no copy for single-chunk messages)', () => {
    const bytes = new Uint8Array(loadSession('rtmpdump-nginx-play').s2c.subarray(HANDSHAKE_BYTES));
    const views = new ChunkDecoder().push(bytes).filter((m) => m.payload.buffer === bytes.buffer);
    expect(views.length).toBeGreaterThan(0);
  });
});
