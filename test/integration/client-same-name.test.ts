/**
 * One session plays the same stream name twice: each play is a stream actor of its own (keys
 * `cam` and `cam#2`). The embedded server serves both over one connection; nginx-rtmp serves one
 * stream per connection, so the session learns that and moves the second play to a second one.
 */
import * as path from 'node:path';
import { createSession, type SessionEvent, type StreamHandle } from '../../src/client';
import type { MediaMessage } from '../../src/io/media';
import { RtmpServer } from '../../src/server/server';
import { TraceRedactor } from '../../src/trace/record';
import { startFfmpegPublisher, startNginxRtmp, stopAll, waitFor, type NginxRtmp } from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

/** Media types each handle received, by key. */
function collect(handles: StreamHandle[]): Map<string, MediaMessage[]> {
  const media = new Map<string, MediaMessage[]>(handles.map((h) => [h.key, []]));
  for (const h of handles) h.media$.subscribe((m) => media.get(h.key)!.push(m));
  return media;
}

function flowing(got: MediaMessage[]): boolean {
  return got.some((m) => m.type === 'Audio') && got.some((m) => m.type === 'Video');
}

describe('playing one name twice in one session from the embedded server', () => {
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

  it('plays one published name twice over one connection: both handles receive media, and each closes cleanly', async () => {
    const publisher = createSession({ url: `${base}/cam` });
    const published = publisher.publish('cam', SMALL_FLV, { loop: true });
    const isPublished = await waitFor(
      () => server.stats().streams.some((s) => s.name === 'cam' && s.publishing),
      10_000,
    );

    const player = createSession({ url: `${base}/cam` });
    const events: SessionEvent[] = [];
    player.events$.subscribe((e) => events.push(e));
    const first = player.play('cam', { start: -1 });
    const second = player.play('cam', { start: -1 });
    const media = collect([first, second]);
    const bothFlowing = await waitFor(
      () => flowing(media.get('cam')!) && flowing(media.get('cam#2')!),
      15_000,
    );
    const children = Object.keys(player.actor.getSnapshot().children).sort();
    const summary = player.summary();
    const onServer = server.stats().streams.find((s) => s.name === 'cam');

    // Stopping the first leaves the second playing.
    const firstOutcome = await first.stop();
    const before = media.get('cam#2')!.length;
    const secondStillFlowing = await waitFor(() => media.get('cam#2')!.length > before + 10, 5_000);
    const secondOutcome = await second.stop();
    await player.close();
    await published.stop();
    await publisher.close();

    expect(isPublished).toBe(true);
    expect([first.key, first.name, second.key, second.name]).toEqual([
      'cam',
      'cam',
      'cam#2',
      'cam',
    ]);
    expect(bothFlowing).toBe(true);
    expect(children).toEqual(['connection-0', 'stream-cam', 'stream-cam#2']);
    expect(Object.keys(summary.connections)).toEqual(['connection-0']);
    expect(summary.streams['cam#2']).toMatchObject({ name: 'cam', state: 'active' });
    expect(onServer?.players).toBe(2);
    expect(secondStillFlowing).toBe(true);
    expect(firstOutcome).toMatchObject({ key: 'cam', name: 'cam', outcome: 'stopped' });
    expect(secondOutcome).toMatchObject({ key: 'cam#2', name: 'cam', outcome: 'stopped' });
    // The session's events tell the two apart by key.
    const flowingKeys = events
      .filter((e) => e.type === 'stream.state' && e.state === 'flowing')
      .map((e) => (e as { key: string }).key);
    expect(new Set(flowingKeys)).toEqual(new Set(['cam', 'cam#2']));
    const stopped = events.filter((e) => e.type === 'session.stream' && e.state === 'stopped');
    expect(stopped.map((e) => (e as { key: string }).key)).toEqual(['cam', 'cam#2']);
  }, 40_000);

  it('masks a secret stream name played twice in events and trace actor ids, keeping the two apart by their #2', async () => {
    const secret = 'k3y5ecret';
    const url = `${base}/${secret}`;
    const publisher = createSession({ url });
    const published = publisher.publish(secret, SMALL_FLV, { loop: true });
    await waitFor(
      () => server.stats().streams.some((s) => s.name === secret && s.publishing),
      10_000,
    );
    const actorIds = new Set<string>();
    const player = createSession({
      url,
      inspect: (ev) => {
        const id = (ev.actorRef as { id?: string }).id;
        if (ev.type === '@xstate.actor' && id) actorIds.add(id);
      },
    });
    const lines: string[] = [];
    player.events$.subscribe((e) => lines.push(JSON.stringify(e)));
    const handles = [player.play(secret, { start: -1 }), player.play(secret, { start: -1 })];
    const media = collect(handles);
    const bothFlowing = await waitFor(
      () => handles.every((h) => flowing(media.get(h.key)!)),
      15_000,
    );
    await Promise.all(handles.map((h) => h.stop()));
    await player.close();
    await published.stop();
    await publisher.close();

    expect(bothFlowing).toBe(true);
    expect(handles.map((h) => h.key)).toEqual([secret, `${secret}#2`]);
    expect(lines.join('\n')).not.toContain(secret);
    expect(lines.some((l) => l.includes('"key":"***#2"'))).toBe(true);
    const redactor = new TraceRedactor(url);
    const streamIds = [...actorIds].filter((id) => id.startsWith('stream-'));
    expect(streamIds.map((id) => redactor.actorId(id)).sort()).toEqual([
      'stream-***',
      'stream-***#2',
    ]);
  }, 40_000);
});

describe('playing one name twice in one session from nginx-rtmp', () => {
  let nginx: NginxRtmp;
  let base: string;
  beforeAll(async () => {
    nginx = await startNginxRtmp();
    base = `rtmp://127.0.0.1:${nginx.port}/live`;
  });
  afterAll(async () => {
    await stopAll();
  });

  it('plays one live name twice on two connections, having learned that nginx-rtmp serves one stream per connection, and both receive media', async () => {
    const publisher = startFfmpegPublisher(`${base}/cam`, { file: SMALL_FLV });
    const session = createSession({ url: `${base}/cam`, streamsPerConnection: 'auto' });
    const sharing: string[] = [];
    session.events$.subscribe((e) => {
      if (e.type === 'session.sharing') sharing.push(`${e.sharing} ${e.because}`);
    });
    const first = session.play('cam', { start: -1 });
    const second = session.play('cam', { start: -1 });
    const media = collect([first, second]);
    const bothFlowing = await waitFor(
      () => flowing(media.get('cam')!) && flowing(media.get('cam#2')!),
      20_000,
    );
    const summary = session.summary();
    const outcomes = await Promise.all([first.stop(), second.stop()]);
    await session.close();
    await publisher.stop();

    expect(bothFlowing).toBe(true);
    expect(sharing).toContain('single STREAM_ID_IN_USE');
    expect(summary.streams.cam).toMatchObject({ name: 'cam', state: 'active' });
    expect(summary.streams['cam#2']).toMatchObject({ name: 'cam', state: 'active', moves: 1 });
    expect(summary.streams.cam.connectionId).not.toBe(summary.streams['cam#2'].connectionId);
    expect(outcomes.map((o) => `${o.key} ${o.outcome}`)).toEqual(['cam stopped', 'cam#2 stopped']);
  }, 40_000);
});
