/** FlvFileSink across a seek (`markSeek`): forward to the new position, never back. */
import { PassThrough } from 'node:stream';
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
  messages: Array<MediaMessage | 'seek' | 'gap'>,
): Promise<Array<[number, number]>> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const sink = new FlvFileSink(out);
  for (const m of messages) {
    if (m === 'seek') sink.markSeek();
    else if (m === 'gap') sink.markGap();
    else sink.write(m);
  }
  await sink.close();
  return parseFlv(Buffer.concat(chunks)).tags.map((t) => [t.type, t.timestamp]);
}

describe('FlvFileSink across a seek', () => {
  it('jumps forward to the new position with the server timestamps', async () => {
    const messages = [
      video(1000),
      video(1040),
      'seek' as const,
      video(5301),
      audio(5290),
      video(5341),
    ];
    expect(await timeline(messages)).toEqual([
      [9, 1000],
      [9, 1040],
      [9, 5301],
      [8, 5290],
      [9, 5341],
    ]);
  });

  it('after a seek back, goes on one frame after the last tag, keeping the spacing', async () => {
    const messages = [
      video(9000),
      video(9040),
      'seek' as const,
      video(1461),
      audio(1470),
      video(1501),
    ];
    expect(await timeline(messages)).toEqual([
      [9, 9000],
      [9, 9040],
      [9, 9073],
      [8, 9082],
      [9, 9113],
    ]);
  });

  it('judges the first audio or video tag after the seek; metadata before it goes at the time of the last tag', async () => {
    const messages = [
      video(3000),
      'seek' as const,
      metadata(0),
      video(2000),
      video(2040),
      audio(2030),
    ];
    expect(await timeline(messages)).toEqual([
      [9, 3000],
      [18, 3000],
      [9, 3033],
      [9, 3073],
      [8, 3063],
    ]);
  });

  it('keeps the first timestamps of a file that starts with a seek', async () => {
    expect(await timeline(['seek', video(5000), video(5040)])).toEqual([
      [9, 5000],
      [9, 5040],
    ]);
  });

  it('after a reconnect and then a seek forward, stays on the rebased timeline', async () => {
    const messages = [
      video(9000),
      'gap' as const,
      video(100), // rebased to 9033
      'seek' as const,
      video(4000), // ahead of 100 on the server's timeline: 9033 + 3900
    ];
    expect(await timeline(messages)).toEqual([
      [9, 9000],
      [9, 9033],
      [9, 12_933],
    ]);
  });
});
