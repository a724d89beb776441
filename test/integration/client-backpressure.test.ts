import * as path from 'node:path';
import { createSession, type Session } from '../../src/client';
import type { MediaMessage } from '../../src/io/media';
import { RtmpServer } from '../../src/server/server';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

function frameType(m: MediaMessage): number | undefined {
  return m.type === 'Video' ? (m.payload[0] >> 4) & 7 : undefined;
}

describe('live backpressure policy', () => {
  let server: RtmpServer;
  let url: string;
  const sessions: Session[] = [];
  beforeAll(async () => {
    server = new RtmpServer({ port: 0 });
    const { port } = await server.listen();
    url = `rtmp://127.0.0.1:${port}/live`;
  });
  afterAll(async () => {
    for (const s of sessions) await s.close();
    await server.close();
  });

  it('drops non-key video while the consumer is behind and resumes on a keyframe', async () => {
    const publisher = createSession({ url, streamsPerConnection: 'many' });
    sessions.push(publisher);
    publisher.publish('bp', SMALL_FLV, { loop: true });
    const player = createSession({
      url,
      backpressure: 'dropToKeyframe',
      highWaterMark: 1024,
      lowWaterMark: 512,
    });
    sessions.push(player);
    const stream = player.play('bp', { start: -1 });
    // A consumer that is far behind for the first 2.5 s, then catches up.
    let behind = true;
    const sink = player.router.sink('bp');
    sink.addBacklogSource(() => (behind ? 10 * 1024 * 1024 : 0));
    const videos: MediaMessage[] = [];
    let firstAfterCatchUp: MediaMessage | undefined;
    stream.media$.subscribe((m) => {
      if (m.type !== 'Video') return;
      videos.push(m);
      if (!behind && !firstAfterCatchUp) firstAfterCatchUp = m;
    });
    await new Promise((r) => setTimeout(r, 2500));
    const droppedWhileBehind = stream.dropped;
    const deliveredWhileBehind = videos.length;
    behind = false;
    await new Promise((r) => setTimeout(r, 3000));
    // Nothing but keyframes and sequence headers got through while the consumer was behind.
    expect(droppedWhileBehind).toBeGreaterThan(20);
    expect(videos.slice(0, deliveredWhileBehind).every((m) => frameType(m) === 1)).toBe(true);
    // Once caught up, inter frames flow again, starting from a keyframe.
    expect(videos.length).toBeGreaterThan(deliveredWhileBehind + 20);
    expect(frameType(firstAfterCatchUp!)).toBe(1);
    expect(videos.slice(deliveredWhileBehind).some((m) => frameType(m) === 2)).toBe(true);
    // The socket was never paused: the stream kept flowing.
    expect(stream.state).toBe('flowing');
  }, 20_000);
});
