/**
 * The transport's opt-in read batching (`readBatchMs`), against nginx-rtmp with an ffmpeg
 * publisher: nginx writes each message on its own, so a plain transport reads about one message
 * per read; a batching one rests after each read that carried media and gets several per read,
 * and the same media. Two transports play the same stream over the same window.
 */
import * as path from 'node:path';
import { createActor, createMachine, type AnyActorRef } from 'xstate';
import type { TransportCommand, TransportEvent } from '../../machines/contract';
import { MediaRouter } from '../../src/io/media';
import { createTransportLogic, type TransportInput } from '../../src/io/transport';
import { MONITOR_MEDIA_TICK_MS, MONITOR_READ_BATCH_MS } from '../../src/monitor/monitor';
import { buildConnect, buildCreateStream, buildPlay } from '../../src/protocol/message';
import type { RtmpMessage } from '../../src/protocol/message/types';
import {
  sleep,
  startFfmpegPublisher,
  startNginxRtmp,
  stopAll,
  waitFor,
  type NginxRtmp,
} from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

interface Player {
  /** Socket reads, audio/video messages and MEDIA.TICK events since `reset()`. */
  reads: number;
  media: number;
  ticks: number;
  reset(): void;
  close(): void;
}

/** Drives one transport by hand (what the NetConnection machine does): connect, createStream, play. */
async function play(
  nginx: NginxRtmp,
  name: string,
  readBatchMs: number,
  mediaTickMs?: number,
): Promise<Player> {
  const router = new MediaRouter();
  const events: TransportEvent[] = [];
  const counts = { reads: 0, media: 0, ticks: 0 };
  const transport = createTransportLogic({
    router,
    onBytes: (bytesIn) => {
      if (bytesIn > 0) counts.reads++;
    },
  });
  const input: TransportInput = {
    target: { protocol: 'rtmp', host: '127.0.0.1', port: nginx.port },
    readBatchMs,
    ...(mediaTickMs !== undefined ? { mediaTickMs } : {}),
  };
  const parent = createMachine({
    invoke: { id: 'transport', src: 'transport', input },
    on: {
      '*': {
        actions: ({ event }) => {
          if (event.type === 'MEDIA.TICK') counts.ticks++;
          else events.push(event as TransportEvent);
        },
      },
    },
  }).provide({ actors: { transport } });
  const actor = createActor(parent).start();
  const child = actor.getSnapshot().children['transport'] as AnyActorRef;
  const send = (c: TransportCommand): void => child.send(c);
  const result = async (transactionId: number): Promise<RtmpMessage & { type: 'Command' }> => {
    let found: (RtmpMessage & { type: 'Command' }) | undefined;
    await waitFor(() => {
      for (const e of events) {
        if (e.type !== 'RTMP.MESSAGE') continue;
        const m = e.message;
        if (m.type === 'Command' && m.name === '_result' && m.transactionId === transactionId)
          found = m;
      }
      return found !== undefined;
    }, 10_000);
    if (!found) throw new Error(`no _result for transaction ${transactionId}`);
    return found;
  };

  send({ type: 'TRANSPORT.OPEN' });
  await waitFor(() => events.some((e) => e.type === 'TRANSPORT.CONNECTED'), 10_000);
  send({ type: 'TRANSPORT.HANDSHAKE_START', role: 'client', form: 'simple' });
  await waitFor(() => events.some((e) => e.type === 'HANDSHAKE.PEER_ECHO'), 10_000);
  const tcUrl = `rtmp://127.0.0.1:${nginx.port}/live`;
  send({ type: 'TRANSPORT.SEND', message: buildConnect({ app: 'live', tcUrl }) });
  await result(1);
  send({ type: 'TRANSPORT.SEND', message: buildCreateStream({ transactionId: 2 }) });
  const streamId = (await result(2)).args[0] as number;
  const sinkKey = `stream-${name}`;
  router.sink(sinkKey).lentMedia$.subscribe((m) => {
    if (m.type !== 'Data') counts.media++;
  });
  send({ type: 'TRANSPORT.ROUTE_MEDIA', streamId, sinkKey });
  send({ type: 'TRANSPORT.SEND', message: buildPlay(name, {}, { streamId, csid: 8 }) });
  return {
    get reads() {
      return counts.reads;
    },
    get media() {
      return counts.media;
    },
    get ticks() {
      return counts.ticks;
    },
    reset() {
      counts.reads = 0;
      counts.media = 0;
      counts.ticks = 0;
    },
    close() {
      actor.stop();
    },
  };
}

describe('read batching (readBatchMs)', () => {
  let nginx: NginxRtmp;
  beforeAll(async () => {
    nginx = await startNginxRtmp();
  });
  afterAll(async () => {
    await stopAll();
  });

  it('reads several media messages per read when batching, and receives as many as a plain transport', async () => {
    const publisher = startFfmpegPublisher(`rtmp://127.0.0.1:${nginx.port}/live/batch`, {
      file: SMALL_FLV,
    });
    const plain = await play(nginx, 'batch', 0);
    const batched = await play(nginx, 'batch', MONITOR_READ_BATCH_MS);
    // Both flowing (the publisher may take a moment to start).
    expect(await waitFor(() => plain.media > 30 && batched.media > 30, 20_000)).toBe(true);
    plain.reset();
    batched.reset();
    await sleep(3000);
    const plainMedia = plain.media;
    const batchedMedia = batched.media;
    const batchedReads = batched.reads;
    plain.close();
    batched.close();
    await publisher.stop();

    // small.flv is ~77 audio+video messages a second: over 3 s both see well over a hundred.
    expect(plainMedia).toBeGreaterThan(100);
    // A batching socket rests the monitor's 100 ms after each read with media: at most ~10 such
    // reads a second, for ~77 messages (a plain one reads about one message per read).
    expect(MONITOR_READ_BATCH_MS).toBe(100);
    expect(batchedMedia / batchedReads).toBeGreaterThanOrEqual(4);
    // Nothing is lost by resting: the same stream, the same window (give or take one rest).
    expect(Math.abs(batchedMedia - plainMedia)).toBeLessThanOrEqual(0.1 * plainMedia);
  });

  it("tells its machine media flows at most once per mediaTickMs (the monitor's), whatever the message rate", async () => {
    const publisher = startFfmpegPublisher(`rtmp://127.0.0.1:${nginx.port}/live/ticks`, {
      file: SMALL_FLV,
    });
    const player = await play(nginx, 'ticks', MONITOR_READ_BATCH_MS, MONITOR_MEDIA_TICK_MS);
    // The first media is told at once.
    expect(await waitFor(() => player.ticks > 0 && player.media > 30, 20_000)).toBe(true);
    player.reset();
    await sleep(3000);
    const { media, ticks } = player;
    player.close();
    await publisher.stop();

    expect(media).toBeGreaterThan(100);
    // Timers only ever fire late, never early: no more than one tick a period, plus the edges.
    expect(ticks).toBeGreaterThanOrEqual(1);
    expect(ticks).toBeLessThanOrEqual(3000 / MONITOR_MEDIA_TICK_MS + 2);
  });
});
