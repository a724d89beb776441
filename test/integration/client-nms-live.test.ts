/**
 * Live play from node-media-server (ffmpeg publishing): NMS sends every media message on message
 * stream 0, not on the id createStream returned; the transport routes it to the only stream.
 */
import * as path from 'node:path';
import { createSession } from '../../src/client';
import type { MediaMessage } from '../../src/io/media';
import {
  startFfmpegPublisher,
  startNodeMediaServer,
  stopAll,
  waitFor,
  type NodeMediaServerHandle,
} from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

describe('playing live from node-media-server', () => {
  let nms: NodeMediaServerHandle;
  beforeAll(async () => {
    nms = await startNodeMediaServer();
  });
  afterAll(async () => {
    await stopAll();
  });

  it('delivers the audio and video that arrive on message stream 0 to the stream that createStream opened', async () => {
    const url = `rtmp://127.0.0.1:${nms.port}/live/a`;
    const publisher = startFfmpegPublisher(url, { file: SMALL_FLV });
    const session = createSession({ url });
    const stream = session.play(undefined, { start: -1 });
    const media: MediaMessage[] = [];
    stream.media$.subscribe((m) => media.push(m));
    const flowing = await waitFor(
      () =>
        media.filter((m) => m.type === 'Video').length > 30 &&
        media.some((m) => m.type === 'Audio'),
      15_000,
    );
    const createdId = stream.actor?.getSnapshot().context.streamId;
    const state = stream.state;
    const outcome = await stream.stop();
    await session.close();
    await publisher.stop();

    expect(flowing).toBe(true);
    expect(createdId).toBeGreaterThan(0);
    const mediaIds = new Set(media.filter((m) => m.type !== 'Data').map((m) => m.streamId));
    expect([...mediaIds]).toEqual([0]);
    // The machine saw the media too (ticks routed the same way): the stream is flowing.
    expect(state).toBe('flowing');
    expect(outcome).toMatchObject({ outcome: 'stopped' });
  }, 40_000);
});
