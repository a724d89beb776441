import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createSession } from '../../src/client';
import { parseFlv } from '../../src/protocol/flv';
import { ffprobeJson, startNginxRtmp, stopAll, type NginxRtmp } from '../helpers';

const media = path.join(__dirname, '..', 'fixtures', 'media');

describe('playing a VOD file from nginx-rtmp', () => {
  let nginx: NginxRtmp;
  beforeAll(async () => {
    nginx = await startNginxRtmp({ mediaDir: media });
  });
  afterAll(async () => {
    await stopAll();
  });

  it('saves an FLV with the source tags, bodies and timestamps, that ffprobe reads', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vod-'));
    const out = path.join(dir, 'out.flv');
    const session = createSession({ url: `rtmp://127.0.0.1:${nginx.port}/vod/small.flv` });
    const events: string[] = [];
    session.events$.subscribe((e) => events.push(`${e.type} ${'state' in e ? e.state : ''}`));
    const stream = session.play(undefined, { start: 0, bufferMs: 36_000_000 });
    const result = await stream.saveFlv(out);
    const outcome = await stream.done;
    await session.close();
    expect(outcome.outcome).not.toBe('failed');
    const source = parseFlv(readFileSync(path.join(media, 'small.flv'))).tags.filter(
      (t) => t.type !== 18,
    );
    const saved = parseFlv(readFileSync(out)).tags.filter((t) => t.type !== 18);
    expect(result.audioTags + result.videoTags).toBe(source.length);
    expect(saved).toHaveLength(source.length);
    saved.forEach((t, i) => {
      expect(t.type).toBe(source[i].type);
      expect(t.timestamp).toBe(source[i].timestamp);
      expect(Buffer.from(t.data).equals(Buffer.from(source[i].data))).toBe(true);
    });
    const probe = await ffprobeJson(out);
    expect(probe.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
  }, 30_000);
});
