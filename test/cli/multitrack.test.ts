/**
 * Enhanced RTMP multitrack end to end, all ours: `publish` sends a ManyTracks FLV, `serve`
 * relays it, `play -o` saves it, a `media$` player sees the track ids, and the monitor reports
 * two video and two audio tracks.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createMonitor, type StreamSnapshot } from '../../src';
import { createSession, type Session } from '../../src/client';
import { main } from '../../src/cli/index';
import type { MediaMessage } from '../../src/io/media';
import { FlvTagType, parseExVideoBody, parseFlv } from '../../src/protocol/flv';
import { captureIo } from '../helpers/cliio';
import { waitFor } from '../helpers';
import { FIXTURE_NANO_OFFSET, writeMultitrackFlv } from '../helpers/multitrackFlv';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('multitrack: our publish → our serve → our play', () => {
  let dir: string;
  const sessions: Session[] = [];
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'cli-multitrack-'));
  });
  afterAll(async () => {
    await Promise.all(sessions.splice(0).map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('relays every multitrack tag unchanged to a saving player, and the monitor sees two tracks of each medium', async () => {
    const source = path.join(dir, 'multitrack.flv');
    const sent = writeMultitrackFlv(source, 4).filter((t) => t.type !== FlvTagType.ScriptData);

    const serveIo = captureIo();
    const serving = main(['serve', '--port', '0', '--wait'], serveIo);
    const port = (): number | undefined => {
      const m = /listening on rtmp:\/\/127\.0\.0\.1:(\d+)\//.exec(serveIo.out());
      return m ? Number(m[1]) : undefined;
    };
    try {
      expect(await waitFor(() => port() !== undefined, 10_000)).toBe(true);
      const url = `rtmp://127.0.0.1:${port()}/live/mt`;

      // The players are in place before the publisher starts, so each gets every tag.
      const out = path.join(dir, 'out.flv');
      const playIo = captureIo();
      const playing = main(['play', url, '--live', '--idle', '3', '-o', out], playIo);
      const viewer = createSession({ url: `rtmp://127.0.0.1:${port()}/live` });
      sessions.push(viewer);
      const seen: MediaMessage[] = [];
      viewer.play('mt').media$.subscribe((m) => seen.push(m));
      const monitor = createMonitor({ targets: [{ id: 'mt', url }], tickMs: 200 });
      let latest: StreamSnapshot | undefined;
      let mostTracks: StreamSnapshot['tracks'];
      monitor.snapshots$.subscribe((snaps) => {
        latest = snaps.find((s) => s.id === 'mt');
        if ((latest?.tracks?.length ?? 0) >= (mostTracks?.length ?? 0)) mostTracks = latest?.tracks;
      });
      try {
        expect(
          await waitFor(() => (serveIo.out().match(/ play live\//g) ?? []).length >= 3, 15_000),
        ).toBe(true);

        const pubIo = captureIo();
        const publishing = main(['publish', source, url], pubIo);
        // A player that comes in late (after the second keyframe, at 2 s, replaced the GOP
        // cache) gets the multitrack sequence headers first.
        expect(
          await waitFor(() => seen.some((m) => m.type === 'Video' && m.timestamp > 2500), 15_000),
        ).toBe(true);
        const late = createSession({ url: `rtmp://127.0.0.1:${port()}/live` });
        sessions.push(late);
        const lateSeen: MediaMessage[] = [];
        late.play('mt').media$.subscribe((m) => lateSeen.push(m));
        expect(await publishing).toBe(0);
        expect(await playing).toBe(0);
        const firstOf = (type: 'Video' | 'Audio'): MediaMessage | undefined =>
          lateSeen.find((m) => m.type === type);
        for (const type of ['Video', 'Audio'] as const) {
          const first = firstOf(type);
          const config = sent.find((t) => t.type === (type === 'Video' ? 9 : 8));
          expect(first?.type === type && hex(first.payload)).toBe(config && hex(config.data));
          expect(first?.type === type && first.tracks?.map((t) => t.trackId)).toEqual([0, 1]);
        }

        // The saved file: the same audio and video tag bodies, in the same order.
        const saved = parseFlv(new Uint8Array(readFileSync(out))).tags.filter(
          (t) => t.type !== FlvTagType.ScriptData,
        );
        expect(saved.length).toBe(sent.length);
        expect(saved.map((t) => [t.type, hex(t.data)])).toEqual(
          sent.map((t) => [t.type, hex(t.data)]),
        );
        const nanos = saved
          .filter((t) => t.type === FlvTagType.Video)
          .map((t) => parseExVideoBody(t.data).timestampOffsetNano)
          .filter((n) => n !== undefined);
        expect(nanos.length).toBeGreaterThan(5);
        expect(new Set(nanos)).toEqual(new Set([FIXTURE_NANO_OFFSET]));

        // media$: one message per tag, listing both tracks with their FourCC.
        expect(
          await waitFor(() => seen.filter((m) => m.type !== 'Data').length >= sent.length, 10_000),
        ).toBe(true);
        const video = seen.find((m) => m.type === 'Video');
        expect(video?.type === 'Video' && video.tracks?.map((t) => [t.trackId, t.fourCc])).toEqual([
          [0, 'avc1'],
          [1, 'avc1'],
        ]);
        expect(video?.type === 'Video' && video.trackId).toBe(0);

        // The monitor: two video and two audio tracks, each with its codec and a bitrate.
        expect(mostTracks?.map((t) => [t.media, t.track, t.fourCc])).toEqual([
          ['audio', '0', 'mp4a'],
          ['audio', '1', 'mp4a'],
          ['video', '0', 'avc1'],
          ['video', '1', 'avc1'],
        ]);
        expect(mostTracks?.every((t) => t.bytesReceived > 0)).toBe(true);
        const text = await monitor.registry.metrics();
        expect(text).toMatch(
          /rtmp_stream_track_received_bytes_total\{id="mt",media="video",track="1"\} [1-9]/,
        );
      } finally {
        await monitor.close();
      }
    } finally {
      serveIo.interrupt();
      expect(await serving).toBe(0);
    }
  }, 90_000);
});
