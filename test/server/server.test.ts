import { connect } from 'node:net';
import * as path from 'node:path';
import { createSession, type Session, type StreamHandle } from '../../src/client';
import type { MediaMessage } from '../../src/io/media';
import { parseVideoHeader } from '../../src/protocol/flv';
import { buildCommand, buildConnect } from '../../src/protocol/message';
import type { RtmpMessage } from '../../src/protocol/message/types';
import { RtmpServer, formatServerEvent, type ServerEvent } from '../../src/server';
import { maskStreamName } from '../../src/server/log';
import { waitFor } from '../helpers';
import { RawClient } from '../helpers/rawClient';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

function isCodedVideo(m: MediaMessage): boolean {
  if (m.type !== 'Video') return false;
  const v = parseVideoHeader(m.payload);
  return v.packetType === 'codedFrames' || v.packetType === 'codedFramesX';
}

function isKeyframe(m: MediaMessage): boolean {
  return m.type === 'Video' && parseVideoHeader(m.payload).isKeyframe;
}

describe('the embedded RTMP server with our own client', () => {
  let server: RtmpServer;
  let base: string;
  const events: ServerEvent[] = [];
  const sessions: Session[] = [];
  const session = (url = base, many = true): Session => {
    const s = createSession({
      url,
      streamsPerConnection: many ? 'many' : 'auto',
      retry: { maxAttempts: 1 },
    });
    sessions.push(s);
    return s;
  };

  beforeEach(async () => {
    server = new RtmpServer({ port: 0 });
    events.length = 0;
    server.events$.subscribe((e) => events.push(e));
    const { port } = await server.listen();
    base = `rtmp://127.0.0.1:${port}/live`;
  });

  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((s) => s.close()));
    await server.close();
  });

  it('relays a published stream to a player that starts with metadata, sequence headers and a keyframe', async () => {
    const pub = session().publish('cam', SMALL_FLV, { loop: true });
    expect(
      await waitFor(
        () => server.stats().streams.some((s) => s.publishing && s.messages > 60),
        10_000,
      ),
    ).toBe(true);
    const received: MediaMessage[] = [];
    const play = session().play('cam');
    play.media$.subscribe((m) => received.push(m));
    expect(await waitFor(() => received.filter(isCodedVideo).length >= 45, 10_000)).toBe(true);

    const firstAv = received.filter((m) => m.type !== 'Data');
    const meta = received.findIndex((m) => m.type === 'Data' && m.name === 'onMetaData');
    expect(meta).toBeGreaterThanOrEqual(0);
    expect(meta).toBeLessThan(received.indexOf(firstAv[0]));
    const firstVideo = firstAv.find((m) => m.type === 'Video') as MediaMessage;
    expect(parseVideoHeader((firstVideo as { payload: Uint8Array }).payload).isSequenceHeader).toBe(
      true,
    );
    expect(isKeyframe(received.find(isCodedVideo) as MediaMessage)).toBe(true);
    expect(pub.sent.messages).toBeGreaterThan(0);
    expect(
      events.some((e) => e.type === 'play' && e.name === maskStreamName('cam') && !e.waiting),
    ).toBe(true);
  }, 30_000);

  it('refuses a second publisher of the same name with NetStream.Publish.BadName', async () => {
    session().publish('taken', SMALL_FLV, { loop: true });
    expect(
      await waitFor(
        () => server.stats().streams.some((s) => s.name === 'taken' && s.publishing),
        10_000,
      ),
    ).toBe(true);
    const second = session().publish('taken', SMALL_FLV, { loop: true });
    const outcome = await second.done;
    expect(outcome.outcome).toBe('failed');
    expect(outcome.status?.code).toBe('NetStream.Publish.BadName');
    expect(events.some((e) => e.type === 'badName' && e.name === maskStreamName('taken'))).toBe(
      true,
    );
    expect(server.stats().streams.filter((s) => s.name === 'taken')).toHaveLength(1);
  }, 20_000);

  it('answers a play of an unknown name with NetStream.Play.StreamNotFound', async () => {
    const outcome = await session().play('nobody-here').done;
    expect(outcome.outcome).toBe('failed');
    expect(outcome.status?.code).toBe('NetStream.Play.StreamNotFound');
    expect(
      events.some((e) => e.type === 'notFound' && e.name === maskStreamName('nobody-here')),
    ).toBe(true);
    expect(server.stats().streams).toHaveLength(0);
  }, 20_000);

  it('lets a player wait for a publisher that comes later when waitForPublisher is set', async () => {
    const waiting = new RtmpServer({ port: 0, waitForPublisher: true });
    const { port } = await waiting.listen();
    try {
      const url = `rtmp://127.0.0.1:${port}/live`;
      let video = 0;
      const play = session(url).play('later');
      play.media$.subscribe((m) => (video += isCodedVideo(m) ? 1 : 0));
      expect(
        await waitFor(
          () => waiting.stats().streams.some((s) => s.name === 'later' && s.players === 1),
          10_000,
        ),
      ).toBe(true);
      expect(video).toBe(0);
      session(url).publish('later', SMALL_FLV, { loop: true });
      expect(await waitFor(() => video >= 10, 10_000)).toBe(true);
    } finally {
      await Promise.all(sessions.splice(0).map((s) => s.close()));
      await waiting.close();
    }
  }, 30_000);

  it('serves 8 streams played over one connection, each on its own message stream id', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `s${i}`);
    const pubSession = session();
    for (const n of names) pubSession.publish(n, SMALL_FLV, { loop: true });
    expect(
      await waitFor(() => server.stats().streams.filter((s) => s.publishing).length === 8, 10_000),
    ).toBe(true);
    const playSession = session();
    const video = new Map<string, number>();
    const handles: StreamHandle[] = names.map((n) => {
      const h = playSession.play(n);
      h.media$.subscribe((m) => isCodedVideo(m) && video.set(n, (video.get(n) ?? 0) + 1));
      return h;
    });
    expect(await waitFor(() => names.every((n) => (video.get(n) ?? 0) >= 30), 15_000)).toBe(true);
    // One connection publishes all eight, one plays all eight.
    expect(server.stats().connections).toBe(2);
    expect(
      server
        .stats()
        .clients.map((c) => [c.publishing, c.playing])
        .sort(),
    ).toEqual([
      [0, 8],
      [8, 0],
    ]);
    expect(server.stats().streams.every((s) => s.players === 1)).toBe(true);
    const playEvents = events.filter(
      (e): e is Extract<ServerEvent, { type: 'play' }> => e.type === 'play',
    );
    expect(new Set(playEvents.map((e) => e.connection)).size).toBe(1);
    expect(new Set(playEvents.map((e) => e.streamId)).size).toBe(8);
    expect(handles.every((h) => h.state !== 'failed')).toBe(true);
  }, 40_000);

  it('fans one published stream out to 50 players on one connection that all receive video', async () => {
    session().publish('popular', SMALL_FLV, { loop: true });
    expect(
      await waitFor(
        () => server.stats().streams.some((s) => s.publishing && s.messages > 30),
        10_000,
      ),
    ).toBe(true);
    const many = createSession({ url: base, streamsPerConnection: 'many', maxStreams: 64 });
    sessions.push(many);
    const video = new Array<number>(50).fill(0);
    // A query makes each play a distinct stream for the client; the server ignores it.
    for (let i = 0; i < 50; i++) {
      many.play(`popular?viewer=${i}`).media$.subscribe((m) => {
        if (isCodedVideo(m)) video[i]++;
      });
    }
    expect(await waitFor(() => video.every((n) => n >= 10), 20_000)).toBe(true);
    const stats = server.stats();
    expect(stats.streams).toEqual([
      expect.objectContaining({ name: 'popular', publishing: true, players: 50 }),
    ]);
    expect(stats.connections).toBe(2);
  }, 45_000);

  it('logs connections, publishers and players with the stream keys masked', async () => {
    session().publish('secret-key-123', SMALL_FLV, { loop: true });
    expect(await waitFor(() => events.some((e) => e.type === 'publish'), 10_000)).toBe(true);
    const lines = events.map(formatServerEvent);
    expect(lines.some((l) => /connect app=live/.test(l))).toBe(true);
    expect(lines.some((l) => /publish live\/se\*\*\*/.test(l))).toBe(true);
    expect(lines.join('\n')).not.toContain('secret-key-123');
  }, 20_000);
});

/** A bare RTMP client on a socket, for what our session never sends (PingRequest, a window). */

describe('the embedded RTMP server at the protocol level', () => {
  let server: RtmpServer;
  let port: number;
  beforeEach(async () => {
    server = new RtmpServer({ port: 0, chunkSize: 4096 });
    ({ port } = await server.listen());
  });
  afterEach(async () => {
    await server.close();
  });

  async function connected(to = port): Promise<RawClient> {
    const c = new RawClient(to);
    expect(await waitFor(() => c.handshaken, 5000)).toBe(true);
    c.setChunkSize(4096);
    c.send(buildConnect({ app: 'live', tcUrl: `rtmp://127.0.0.1:${to}/live` }));
    expect(
      await waitFor(
        () => c.received.some((m) => m.type === 'Command' && m.name === '_result'),
        5000,
      ),
    ).toBe(true);
    return c;
  }

  it('answers connect with window, bandwidth, chunk size and Connect.Success', async () => {
    const c = await connected();
    try {
      const types = c.received.map((m) => m.type);
      expect(types).toEqual(
        expect.arrayContaining(['WindowAckSize', 'SetPeerBandwidth', 'SetChunkSize']),
      );
      const result = c.received.find((m) => m.type === 'Command' && m.name === '_result');
      expect(result).toMatchObject({
        transactionId: 1,
        args: [expect.objectContaining({ code: 'NetConnection.Connect.Success' })],
      });
    } finally {
      c.close();
    }
  });

  it('answers PingRequest with PingResponse carrying the same time', async () => {
    const c = await connected();
    try {
      c.send({
        type: 'UserControl',
        event: 'PingRequest',
        time: 123456,
        timestamp: 0,
        streamId: 0,
      });
      expect(
        await waitFor(
          () =>
            c.received.some(
              (m) => m.type === 'UserControl' && m.event === 'PingResponse' && m.time === 123456,
            ),
          5000,
        ),
      ).toBe(true);
    } finally {
      c.close();
    }
  });

  it('sends an Acknowledgement each time the client’s window of bytes has arrived', async () => {
    const c = await connected();
    try {
      c.send({ type: 'WindowAckSize', windowSize: 10_000, timestamp: 0, streamId: 0 });
      // Three rounds of ten unknown-command calls of ~1.2 kB each: a window or more per round.
      const filler = 'x'.repeat(1200);
      for (let round = 1; round <= 3; round++) {
        for (let i = 0; i < 10; i++)
          c.send(buildCommand('noSuchCall', null, [filler], { transactionId: 0 }));
        expect(
          await waitFor(
            () => c.received.filter((m) => m.type === 'Acknowledgement').length >= round,
            5000,
          ),
        ).toBe(true);
      }
      const acks = c.received.filter(
        (m): m is Extract<RtmpMessage, { type: 'Acknowledgement' }> => m.type === 'Acknowledgement',
      );
      expect(acks[0].sequenceNumber).toBeGreaterThanOrEqual(10_000);
      for (let i = 1; i < acks.length; i++) {
        expect(acks[i].sequenceNumber - acks[i - 1].sequenceNumber).toBeGreaterThanOrEqual(10_000);
      }
    } finally {
      c.close();
    }
  });

  it('gives each createStream on one connection its own message stream id', async () => {
    const c = await connected();
    try {
      for (let t = 2; t < 6; t++)
        c.send(buildCommand('createStream', null, [], { transactionId: t }));
      expect(
        await waitFor(
          () => c.received.filter((m) => m.type === 'Command' && m.name === '_result').length === 5,
          5000,
        ),
      ).toBe(true);
      const ids = c.received
        .filter(
          (m): m is Extract<RtmpMessage, { type: 'Command' }> =>
            m.type === 'Command' && m.name === '_result' && m.transactionId > 1,
        )
        .map((m) => m.args[0]);
      expect(new Set(ids).size).toBe(4);
      expect(ids.every((id) => typeof id === 'number' && id > 0)).toBe(true);
    } finally {
      c.close();
    }
  });

  it('closes a connection that sends bytes which are not RTMP, and keeps serving others', async () => {
    const bad = connect(port, '127.0.0.1');
    const closed = new Promise<void>((resolve) => bad.on('close', () => resolve()));
    bad.on('error', () => undefined);
    bad.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await closed;
    const c = await connected();
    c.close();
    expect(await waitFor(() => server.stats().connections === 0, 5000)).toBe(true);
  });

  /** A raw client that plays `name` and stops reading once video arrives. */
  async function stalledPlayer(to: number, name: string): Promise<RawClient> {
    const c = await connected(to);
    c.send(buildCommand('createStream', null, [], { transactionId: 2 }));
    expect(
      await waitFor(
        () => c.received.some((m) => m.type === 'Command' && m.transactionId === 2),
        5000,
      ),
    ).toBe(true);
    const reply = c.received.find((m) => m.type === 'Command' && m.transactionId === 2);
    const streamId = Number((reply as { args: unknown[] }).args[0]);
    c.send(buildCommand('play', null, [name], { streamId }));
    expect(await waitFor(() => c.received.some((m) => m.type === 'Video'), 5000)).toBe(true);
    c.stopReading();
    return c;
  }

  async function fastPublisher(to: number, name: string, until: () => boolean): Promise<Session> {
    const pub = createSession({ url: `rtmp://127.0.0.1:${to}/live`, streamsPerConnection: 'many' });
    pub.publish(name, SMALL_FLV, { loop: true, realtime: false });
    expect(await waitFor(until, 10_000)).toBe(true);
    return pub;
  }

  it('drops video for a player that stops reading, while another player of the stream keeps receiving', async () => {
    const slow = new RtmpServer({ port: 0, playerHighWaterMark: 256 * 1024 });
    const { port: p } = await slow.listen();
    let pub: Session | undefined;
    let healthy: Session | undefined;
    try {
      pub = await fastPublisher(p, 'fast', () => slow.stats().streams.some((x) => x.publishing));
      const stalled = await stalledPlayer(p, 'fast');
      healthy = createSession({ url: `rtmp://127.0.0.1:${p}/live`, streamsPerConnection: 'many' });
      let video = 0;
      healthy.play('fast').media$.subscribe((m) => (video += m.type === 'Video' ? 1 : 0));
      expect(await waitFor(() => slow.stats().dropped > 100, 15_000)).toBe(true);
      const before = video;
      expect(await waitFor(() => video > before + 100, 10_000)).toBe(true);
      expect(slow.stats().connections).toBe(3);
      stalled.close();
    } finally {
      await Promise.all([pub?.close(), healthy?.close()]);
      await slow.close();
    }
  }, 40_000);

  it('closes a connection whose queue passes maxQueuedBytes', async () => {
    const slow = new RtmpServer({
      port: 0,
      playerHighWaterMark: 64 * 1024 * 1024,
      maxQueuedBytes: 512 * 1024,
    });
    const events: ServerEvent[] = [];
    slow.events$.subscribe((e) => events.push(e));
    const { port: p } = await slow.listen();
    let pub: Session | undefined;
    try {
      pub = await fastPublisher(p, 'flood', () => slow.stats().streams.some((x) => x.publishing));
      const stalled = await stalledPlayer(p, 'flood');
      expect(
        await waitFor(
          () => events.some((e) => e.type === 'close' && /slow consumer/.test(e.reason)),
          15_000,
        ),
      ).toBe(true);
      expect(slow.stats().streams[0]).toMatchObject({
        name: 'flood',
        publishing: true,
        players: 0,
      });
      stalled.close();
    } finally {
      await pub?.close();
      await slow.close();
    }
  }, 40_000);
});
