import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createSession } from '../../src/client';
import type { MediaMessage } from '../../src/io/media';
import { parseFlv, type FlvTag } from '../../src/protocol/flv';
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

  /** Plays small.flv from 0; `watch` subscribes whatever it likes before media flows. */
  async function playSmall(
    watch: (stream: ReturnType<ReturnType<typeof createSession>['play']>) => void,
  ): Promise<void> {
    const session = createSession({ url: `rtmp://127.0.0.1:${nginx.port}/vod/small.flv` });
    const stream = session.play(undefined, { start: 0, bufferMs: 36_000_000 });
    watch(stream);
    const outcome = await stream.done;
    await session.close();
    expect(outcome.outcome).not.toBe('failed');
  }

  const sourceMedia = (): FlvTag[] =>
    parseFlv(readFileSync(path.join(media, 'small.flv'))).tags.filter((t) => t.type !== 18);

  it('lends media to lentMedia$ alone: right bytes during the callback, memory reused across messages', async () => {
    const copies: Uint8Array[] = [];
    const buffers = new Set<ArrayBufferLike>();
    let lentMessages = 0;
    await playSmall((stream) =>
      stream.lentMedia$.subscribe((m: MediaMessage) => {
        if (m.type === 'Data') return;
        copies.push(Uint8Array.from(m.payload));
        buffers.add(m.payload.buffer);
        lentMessages++;
      }),
    );
    const source = sourceMedia();
    expect(copies).toHaveLength(source.length);
    copies.forEach((c, i) => expect(Buffer.from(c).equals(Buffer.from(source[i].data))).toBe(true));
    // Reassembly buffers and read buffers are reused: far fewer distinct memories than messages.
    expect(lentMessages).toBeGreaterThan(500);
    expect(buffers.size).toBeLessThan(lentMessages / 10);
  }, 30_000);

  it('keeps payloads owned as soon as someone subscribes to media$: all intact after the play', async () => {
    const kept: MediaMessage[] = [];
    const lentToo: MediaMessage[] = [];
    await playSmall((stream) => {
      stream.media$.subscribe((m) => kept.push(m));
      stream.lentMedia$.subscribe((m) => lentToo.push(m));
    });
    const payloads = kept
      .filter((m) => m.type !== 'Data')
      .map((m) => (m as { payload: Uint8Array }).payload);
    const source = sourceMedia();
    expect(payloads).toHaveLength(source.length);
    payloads.forEach((p, i) =>
      expect(Buffer.from(p).equals(Buffer.from(source[i].data))).toBe(true),
    );
    expect(lentToo).toEqual(kept);
  }, 30_000);
});
