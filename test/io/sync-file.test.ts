/** SyncFileWriter: the synchronous regular-file output of `rtmp-actors play -o FILE`. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlvFileSink } from '../../src/io/flvFile';
import type { MediaMessage } from '../../src/io/media';
import { SyncFileWriter } from '../../src/io/syncFile';
import { parseFlv } from '../../src/protocol/flv';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtmp-actors-syncfile-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A video message whose payload is a view of `lent`, as the chunk decoder lends it. */
const lentVideo = (lent: Uint8Array, timestamp: number, size: number): MediaMessage => ({
  type: 'Video',
  timestamp,
  streamId: 1,
  payload: lent.subarray(0, size),
});

describe('SyncFileWriter', () => {
  it('has the bytes in the file when write returns, with nothing queued', () => {
    const file = join(dir, 'a.bin');
    const w = SyncFileWriter.open(file)!;
    expect(w).toBeDefined();
    w.write(Buffer.from('hello '));
    expect(readFileSync(file, 'utf8')).toBe('hello ');
    expect(w.writableLength).toBe(0);
    w.write(Buffer.alloc(300_000, 7));
    expect(statSync(file).size).toBe(6 + 300_000);
    expect(w.writableLength).toBe(0);
  });

  it('truncates a file that exists and closes it when ended', async () => {
    const file = join(dir, 'b.bin');
    writeFileSync(file, 'old content that is longer');
    const w = SyncFileWriter.open(file)!;
    w.write(Buffer.from('new'));
    await new Promise<void>((resolve) => w.end(resolve));
    expect(readFileSync(file, 'utf8')).toBe('new');
    expect(w.closed || w.writableFinished).toBe(true);
  });

  it('declines a FIFO without opening it (opening one waits for a reader)', () => {
    const fifo = join(dir, 'fifo');
    try {
      execFileSync('mkfifo', [fifo]);
    } catch {
      throw new Error('mkfifo (coreutils) is needed for this test');
    }
    expect(SyncFileWriter.open(fifo)).toBeUndefined();
  });

  it('throws the reason when the file cannot be created', () => {
    expect(() => SyncFileWriter.open(join(dir, 'no-such-folder', 'c.flv'))).toThrow(/ENOENT/);
  });
});

describe('FlvFileSink on a SyncFileWriter', () => {
  it('writes lent payloads whole although their bytes are reused after each call, with nothing queued', async () => {
    const file = join(dir, 'v.flv');
    const out = SyncFileWriter.open(file)!;
    const sink = new FlvFileSink(out);
    // One buffer reused for every message, as the decoder reuses its reassembly buffer; sizes
    // above and below the sink's 256 KiB block.
    const lent = new Uint8Array(600_000);
    const sizes = [5, 70_000, 300_000, 600_000, 17, 262_144];
    sizes.forEach((size, i) => {
      lent.fill(i + 1, 0, size);
      lent[0] = 0x17;
      sink.write(lentVideo(lent, i * 40, size));
      lent.fill(0xee); // the decoder reuses the buffer once the call returns
      expect(out.writableLength).toBe(0); // nothing waits in the stream: no backlog to pause for
    });
    const saved = await sink.close();
    const tags = parseFlv(new Uint8Array(readFileSync(file))).tags;
    expect(tags.map((t) => [t.type, t.timestamp, t.data.length])).toEqual(
      sizes.map((size, i) => [9, i * 40, size]),
    );
    tags.forEach((t, i) => {
      expect(t.data[0]).toBe(0x17);
      expect(t.data.subarray(1).every((b) => b === i + 1)).toBe(true);
    });
    expect(saved.bytes).toBe(statSync(file).size);
  });
});
