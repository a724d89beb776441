/** FlvFileSink's timeline (`startAtZero`) and its failures (a write that fails, a folder that is not there). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { FlvFileSink } from '../../src/io/flvFile';
import type { MediaMessage } from '../../src/io/media';
import { parseFlv } from '../../src/protocol/flv';

const video = (timestamp: number): MediaMessage => ({
  type: 'Video',
  timestamp,
  streamId: 1,
  payload: new Uint8Array([0x17, 1, 0, 0, 0]),
});
const audio = (timestamp: number): MediaMessage => ({
  type: 'Audio',
  timestamp,
  streamId: 1,
  payload: new Uint8Array([0xaf, 1, 0x21]),
});
const metadata = (timestamp: number): MediaMessage => ({
  type: 'Data',
  amf: 0,
  name: 'onMetaData',
  values: ['onMetaData', { duration: 0 }],
  timestamp,
  streamId: 1,
});

/** Writes `messages` through a sink into memory and returns each tag's [type, timestamp]. */
async function timeline(
  messages: Array<MediaMessage | 'gap'>,
  options: { startAtZero?: boolean } = {},
): Promise<Array<[number, number]>> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const sink = new FlvFileSink(out, options);
  for (const m of messages) {
    if (m === 'gap') sink.markGap();
    else sink.write(m);
  }
  await sink.close();
  return parseFlv(Buffer.concat(chunks)).tags.map((t) => [t.type, t.timestamp]);
}

describe('FlvFileSink startAtZero', () => {
  it('writes the first audio or video message at 0 and the rest at their distance from it', async () => {
    const messages = [metadata(0), video(123_456), audio(123_470), video(123_490)];
    expect(await timeline(messages, { startAtZero: true })).toEqual([
      [18, 0],
      [9, 0],
      [8, 14],
      [9, 34],
    ]);
  });

  it('keeps the server timestamps without it', async () => {
    const messages = [metadata(0), video(123_456), audio(123_470)];
    expect(await timeline(messages)).toEqual([
      [18, 0],
      [9, 123_456],
      [8, 123_470],
    ]);
  });

  it('writes a message older than the first one at 0, never below', async () => {
    expect(await timeline([video(5000), audio(4990), video(5040)], { startAtZero: true })).toEqual([
      [9, 0],
      [8, 0],
      [9, 40],
    ]);
  });

  it('counts across the 32-bit wrap', async () => {
    const first = 0xffff_fff0;
    expect(await timeline([video(first), video(0x10)], { startAtZero: true })).toEqual([
      [9, 0],
      [9, 0x20],
    ]);
  });

  it('after a gap (a reconnect), goes on one frame after the last tag, whatever the new timestamps', async () => {
    const messages = [video(9000), video(9040), 'gap' as const, video(100), video(140)];
    expect(await timeline(messages, { startAtZero: true })).toEqual([
      [9, 0],
      [9, 40],
      [9, 73],
      [9, 113],
    ]);
  });
});

describe('FlvFileSink failures', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rtmp-actors-sink-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports a file it cannot open through onError and close, and never as an unhandled error', async () => {
    const errors: Error[] = [];
    const sink = new FlvFileSink(join(dir, 'no-such-folder', 'x.flv'), {
      onError: (e) => errors.push(e),
    });
    sink.write(video(0));
    await expect(sink.close()).rejects.toMatchObject({ code: 'ENOENT' });
    expect(errors).toHaveLength(1);
    sink.write(video(40)); // ignored once failed
  });

  it('stops writing after a write fails and rejects close with that error', async () => {
    let writes = 0;
    const failing = new Writable({
      write(_chunk, _encoding, callback) {
        writes++;
        callback(new Error('disk on fire'));
      },
    });
    const errors: Error[] = [];
    const sink = new FlvFileSink(failing, { onError: (e) => errors.push(e) });
    sink.write(video(0));
    await new Promise((resolve) => setImmediate(resolve));
    sink.write(video(40));
    await new Promise((resolve) => setImmediate(resolve));
    await expect(sink.close()).rejects.toThrow(/disk on fire/);
    expect(errors.map((e) => e.message)).toEqual(['disk on fire']);
    expect(writes).toBe(1);
  });
});
