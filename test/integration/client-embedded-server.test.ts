/**
 * The embedded server serves many streams per connection: one session publishes eight streams
 * over one connection, another plays all eight over one connection.
 */
import * as path from 'node:path';
import { createSession } from '../../src/client';
import type { MediaMessage } from '../../src/io/media';
import { RtmpServer } from '../../src/server/server';
import { waitFor } from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

describe('many streams over one connection to the embedded server', () => {
  let server: RtmpServer;
  let base: string;
  beforeAll(async () => {
    server = new RtmpServer({ port: 0 });
    const { port } = await server.listen();
    base = `rtmp://127.0.0.1:${port}/live`;
  });
  afterAll(async () => {
    await server.close();
  });

  it.each(['auto', 'many'] as const)(
    'publishes eight streams over one connection and plays all eight over one other connection (streamsPerConnection %s)',
    async (mode) => {
      const names = Array.from({ length: 8 }, (_, i) => `${mode}-${i}`);
      const publisher = createSession({ url: `${base}/x`, streamsPerConnection: mode });
      const published = names.map((n) => publisher.publish(n, SMALL_FLV, { loop: true }));
      const allPublished = await waitFor(
        () => names.every((n) => server.stats().streams.some((s) => s.name === n && s.publishing)),
        10_000,
      );

      const player = createSession({ url: `${base}/x`, streamsPerConnection: mode });
      const media = new Map<string, MediaMessage[]>(names.map((n) => [n, []]));
      const handles = names.map((n) => {
        const h = player.play(n, { start: -1 });
        h.media$.subscribe((m) => media.get(n)!.push(m));
        return h;
      });
      const allFlowing = await waitFor(
        () =>
          names.every((n) => {
            const got = media.get(n)!;
            return got.some((m) => m.type === 'Audio') && got.some((m) => m.type === 'Video');
          }),
        15_000,
      );
      const stats = server.stats();
      const playerSummary = player.summary();
      const publisherSummary = publisher.summary();
      // The two sessions run one shared machine; each one's transports count its own bytes.
      const sharedMachine = player.actor.logic === publisher.actor.logic;
      const playerBytes = { ...player.bytes };
      const publisherBytes = { ...publisher.bytes };

      const outcomes = await Promise.all(handles.map((h) => h.stop()));
      await player.close();
      const publishOutcomes = await Promise.all(published.map((p) => p.stop()));
      await publisher.close();

      expect(allPublished).toBe(true);
      expect(allFlowing).toBe(true);
      expect(sharedMachine).toBe(true);
      expect(playerBytes.in).toBeGreaterThan(10 * playerBytes.out);
      expect(publisherBytes.out).toBeGreaterThan(10 * publisherBytes.in);
      // One socket each: the publishing session and the playing session.
      expect(stats.connections).toBe(2);
      expect(Object.keys(playerSummary.connections)).toHaveLength(1);
      expect(Object.keys(publisherSummary.connections)).toHaveLength(1);
      expect(names.every((n) => stats.streams.find((s) => s.name === n)?.players === 1)).toBe(true);
      // Each player saw its own stream's sequence headers first, then media.
      for (const n of names) {
        const video = media.get(n)!.filter((m) => m.type === 'Video');
        expect(video[0].type === 'Video' && video[0].payload[1]).toBe(0);
      }
      expect(outcomes.every((o) => o.outcome === 'stopped')).toBe(true);
      expect(publishOutcomes.every((o) => o.outcome === 'stopped')).toBe(true);
      expect(published.every((p) => p.sent.messages > 0)).toBe(true);
    },
    40_000,
  );
});
