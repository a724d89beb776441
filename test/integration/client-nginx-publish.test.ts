/**
 * We publish small.flv to nginx-rtmp live; the reference tools read it back: rtmpdump (librtmp)
 * into an FLV file, and ffprobe straight from the server.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { filter, firstValueFrom } from 'rxjs';
import { createSession } from '../../src/client';
import { decodeAmf0Values } from '../../src/protocol/amf';
import { parseFlv } from '../../src/protocol/flv';
import { ffprobeJson, runRtmpdump, startNginxRtmp, stopAll, type NginxRtmp } from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

describe('publishing to nginx-rtmp live', () => {
  let nginx: NginxRtmp;
  beforeAll(async () => {
    nginx = await startNginxRtmp();
  });
  afterAll(async () => {
    await stopAll();
  });

  it('publishes a file that rtmpdump records as FLV and ffprobe reads as H.264 + AAC', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'client-publish-'));
    const url = `rtmp://127.0.0.1:${nginx.port}/live/pub`;
    const session = createSession({ url });
    const handle = session.publish(undefined, SMALL_FLV, { loop: true });
    const status = await firstValueFrom(
      handle.status$.pipe(
        filter(
          (e) => e.type === 'session.stream' && e.state !== 'waiting' && e.state !== 'starting',
        ),
      ),
    );
    expect(status).toMatchObject({ state: 'active' });

    const out = path.join(dir, 'rtmpdump.flv');
    const [dump, probe] = await Promise.all([
      runRtmpdump(['-r', url, '--live', '-o', out], { stopAfterMs: 4500 }),
      ffprobeJson(url, { timeoutMs: 15_000 }),
    ]);
    const sentWhileRead = { ...handle.sent };
    const outcome = await handle.stop();
    await session.close();

    expect(probe.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
    expect(dump.stoppedEarly).toBe(true);
    const flv = parseFlv(readFileSync(out));
    const script = flv.tags.filter((t) => t.type === 18).map((t) => decodeAmf0Values(t.data));
    const meta = script.find((v) => v[0] === 'onMetaData')?.[1] as
      Record<string, unknown> | undefined;
    // nginx-rtmp passes on the metadata our @setDataFrame carried.
    expect(meta).toMatchObject({ width: 640, height: 360 });
    const video = flv.tags.filter((t) => t.type === 9);
    const audio = flv.tags.filter((t) => t.type === 8);
    expect(video.length).toBeGreaterThan(30);
    expect(audio.length).toBeGreaterThan(30);
    // The AVC and AAC sequence headers reached the player before any frame.
    expect(video[0].data[1]).toBe(0);
    expect(audio[0].data[1]).toBe(0);
    expect(sentWhileRead.messages).toBeGreaterThan(100);
    expect(outcome).toMatchObject({ outcome: 'stopped' });
  }, 40_000);

  it('ends the publish by itself when a file source ends, after sending every tag', async () => {
    const url = `rtmp://127.0.0.1:${nginx.port}/live/once`;
    const session = createSession({ url });
    const handle = session.publish(undefined, SMALL_FLV, { realtime: false });
    const outcome = await handle.done;
    await session.close();
    const tags = parseFlv(readFileSync(SMALL_FLV)).tags;
    expect(outcome).toMatchObject({ outcome: 'stopped' });
    expect(handle.sent.messages).toBe(tags.length);
  }, 30_000);
});
