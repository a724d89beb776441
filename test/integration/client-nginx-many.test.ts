/**
 * 200 live plays in one session from nginx-rtmp: 10 published names, 20 players each. nginx-rtmp
 * serves one stream per connection, so the session learns it and opens 200 connections.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createSession } from '../../src/client';
import {
  generateMedia,
  startFfmpegPublisher,
  startNginxRtmp,
  stopAll,
  waitFor,
  type NginxRtmp,
} from '../helpers';

const PUBLISHED = 10;
const PLAYERS_PER_NAME = 20;
const STREAMS = PUBLISHED * PLAYERS_PER_NAME;

describe('many live plays from nginx-rtmp in one process', () => {
  let nginx: NginxRtmp;
  let file: string;
  beforeAll(async () => {
    // A light stream (320x180, ~150 kbit/s): 200 copies of it are what the test reads.
    file = await generateMedia(mkdtempSync(path.join(tmpdir(), 'client-many-')), {
      seconds: 10,
      videoBitrate: '150k',
    });
    nginx = await startNginxRtmp();
  }, 60_000);
  afterAll(async () => {
    await stopAll();
  });

  it('plays 200 live streams over 200 connections, every one receiving audio and a keyframe', async () => {
    const base = `rtmp://127.0.0.1:${nginx.port}/live`;
    const names = Array.from({ length: PUBLISHED }, (_, i) => `many${i}`);
    const publisher = startFfmpegPublisher(`${base}/${names[0]}`, {
      file,
      extraArgs: names.slice(1).flatMap((n) => ['-f', 'flv', `${base}/${n}`, '-c', 'copy']),
    });
    const session = createSession({
      url: `${base}/${names[0]}`,
      maxConnections: STREAMS,
      maxStreams: STREAMS,
    });
    const audio = new Set<number>();
    const keyframe = new Set<number>();
    const handles = Array.from({ length: STREAMS }, (_, i) => {
      // nginx-rtmp ignores what follows '?' in a play name: 20 distinct plays of each name.
      const h = session.play(`${names[i % PUBLISHED]}?player=${i}`, { start: -1 });
      h.media$.subscribe((m) => {
        if (m.type === 'Audio') audio.add(i);
        else if (m.type === 'Video' && m.payload[0] >> 4 === 1 && m.payload[1] === 1)
          keyframe.add(i);
      });
      return h;
    });
    const all = await waitFor(
      () => audio.size === STREAMS && keyframe.size === STREAMS,
      30_000,
      100,
    );
    const summary = session.summary();
    const playingOnServer = await playingClients(nginx);
    const failed = handles.filter((h) => h.finished).length;
    await session.close();
    await publisher.stop();

    expect({ audio: audio.size, keyframe: keyframe.size, failed }).toEqual({
      audio: STREAMS,
      keyframe: STREAMS,
      failed: 0,
    });
    expect(all).toBe(true);
    const connections = new Set(Object.values(summary.streams).map((s) => s.connectionId));
    expect(connections.size).toBe(STREAMS);
    expect(Object.keys(summary.connections)).toHaveLength(STREAMS);
    expect(playingOnServer).toBe(STREAMS);
  }, 60_000);
});

async function playingClients(nginx: NginxRtmp): Promise<number> {
  const xml = await (await fetch(`http://127.0.0.1:${nginx.statPort}/stat`)).text();
  return (xml.match(/<client>.*?<\/client>/g) ?? []).filter((c) => !c.includes('<publishing/>'))
    .length;
}
