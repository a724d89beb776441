/**
 * A VOD play must end even when the server's end-of-stream messages never arrive: nginx-rtmp
 * drops messages, end ones included, when its send queue overflows under a burst.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createSession, DEFAULT_VOD_IDLE_MS, type StreamOutcome } from '../../src/client';
import type { MediaMessage } from '../../src/io/media';
import { parseFlv } from '../../src/protocol/flv';
import { ChunkDecoder, ChunkEncoder } from '../../src/protocol/chunk';
import {
  decodeMessage,
  encodeMessage,
  readStatus,
  type RtmpMessage,
} from '../../src/protocol/message';
import { generateMedia, startNginxRtmp, stopAll, type NginxRtmp } from '../helpers';

/** S0 + S1 + S2: passed through as they are. */
const HANDSHAKE_BYTES = 1 + 1536 + 1536;

type Verdict = 'pass' | 'drop' | 'silence';

/**
 * A man in the middle between our client and nginx. Client-to-server bytes pass unchanged;
 * server-to-client messages are decoded and encoded again, one by one, so the test can drop
 * some (`drop`) or let the server go silent from one on (`silence`) while the socket stays open.
 */
async function startFilteringProxy(
  upstreamPort: number,
  verdict: (m: RtmpMessage) => Verdict,
): Promise<{ port: number; dropped: string[]; close(): Promise<void> }> {
  const dropped: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(upstreamPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.pipe(upstream);
    const decoder = new ChunkDecoder();
    const encoder = new ChunkEncoder({ chunkSize: 128 });
    let handshakeLeft = HANDSHAKE_BYTES;
    let silent = false;
    upstream.on('data', (bytes: Buffer) => {
      let rest: Buffer = bytes;
      if (handshakeLeft > 0) {
        const n = Math.min(handshakeLeft, rest.byteLength);
        client.write(rest.subarray(0, n));
        handshakeLeft -= n;
        rest = rest.subarray(n);
      }
      decoder.pushTo(rest, (raw) => {
        const message = decodeMessage(raw);
        const v = silent ? 'silence' : verdict(message);
        if (v === 'silence') silent = true;
        if (v !== 'pass') {
          dropped.push(label(message));
          return;
        }
        client.write(encoder.encode(encodeMessage(message)));
        if (message.type === 'SetChunkSize') encoder.setChunkSize(message.chunkSize);
      });
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    dropped,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function label(m: RtmpMessage): string {
  if (m.type === 'UserControl') return `UserControl ${m.event}`;
  const status = readStatus(m);
  if (status) return status.code;
  return m.type;
}

function isEndOfStream(m: RtmpMessage): boolean {
  if (m.type === 'UserControl') return m.event === 'StreamEOF';
  const status = readStatus(m);
  return status !== undefined && /NetStream\.Play\.(Stop|Complete)/.test(status.code);
}

/** Fails instead of hanging: the outcome, or 'still playing' after `ms`. */
async function within(
  done: Promise<StreamOutcome>,
  ms: number,
): Promise<StreamOutcome | 'still playing'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'still playing'>((resolve) => {
    timer = setTimeout(() => resolve('still playing'), ms);
  });
  try {
    return await Promise.race([done, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('the end of a VOD play from nginx-rtmp', () => {
  let nginx: NginxRtmp;
  let file: string;
  let mediaTags: number;
  let lastTimestamp: number;

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'client-vod-end-'));
    file = await generateMedia(dir, { seconds: 20 });
    const tags = parseFlv(readFileSync(file)).tags.filter((t) => t.type !== 18);
    mediaTags = tags.length;
    lastTimestamp = Math.max(...tags.map((t) => t.timestamp));
    nginx = await startNginxRtmp({ mediaDir: dir });
  }, 60_000);

  afterAll(async () => {
    await stopAll();
  });

  const TEN_HOURS = 36_000_000;

  it('ends a 20 s file played with a ten-hour buffer, every tag received', async () => {
    const session = createSession({
      url: `rtmp://127.0.0.1:${nginx.port}/vod/${path.basename(file)}`,
    });
    const stream = session.play(undefined, { start: 0, bufferMs: TEN_HOURS });
    const media: MediaMessage[] = [];
    stream.media$.subscribe((m) => media.push(m));
    const outcome = await within(stream.done, 20_000);
    await session.close();
    expect(outcome).toMatchObject({ outcome: 'ended' });
    expect(media.filter((m) => m.type !== 'Data')).toHaveLength(mediaTags);
  }, 30_000);

  it('ends a play whose end-of-stream messages were dropped, once the whole file arrived', async () => {
    const proxy = await startFilteringProxy(nginx.port, (m) =>
      isEndOfStream(m) ? 'drop' : 'pass',
    );
    try {
      const session = createSession({
        url: `rtmp://127.0.0.1:${proxy.port}/vod/${path.basename(file)}`,
      });
      const stream = session.play(undefined, { start: 0, bufferMs: TEN_HOURS });
      const media: MediaMessage[] = [];
      stream.media$.subscribe((m) => media.push(m));
      const outcome = await within(stream.done, 15_000);
      await session.close();
      expect(proxy.dropped).toContain('UserControl StreamEOF');
      expect(outcome).toMatchObject({ outcome: 'ended', reason: 'DURATION_REACHED' });
      const received = media.filter((m) => m.type !== 'Data');
      expect(received).toHaveLength(mediaTags);
      expect(Math.max(...received.map((m) => m.timestamp))).toBe(lastTimestamp);
    } finally {
      await proxy.close();
    }
  }, 30_000);

  it('ends a play after endOnIdleMs when the server goes silent halfway and keeps the socket open', async () => {
    const proxy = await startFilteringProxy(nginx.port, (m) =>
      (m.type === 'Audio' || m.type === 'Video') && m.timestamp > 8000 ? 'silence' : 'pass',
    );
    try {
      const session = createSession({
        url: `rtmp://127.0.0.1:${proxy.port}/vod/${path.basename(file)}`,
      });
      const stream = session.play(undefined, { start: 0, bufferMs: TEN_HOURS, endOnIdleMs: 1500 });
      const media: MediaMessage[] = [];
      stream.media$.subscribe((m) => media.push(m));
      const outcome = await within(stream.done, 15_000);
      await session.close();
      expect(outcome).toMatchObject({ outcome: 'ended', reason: 'IDLE_TIMEOUT' });
      const timestamps = media.filter((m) => m.type !== 'Data').map((m) => m.timestamp);
      expect(timestamps.length).toBeGreaterThan(0);
      expect(Math.max(...timestamps)).toBeLessThanOrEqual(8000);
    } finally {
      await proxy.close();
    }
  }, 30_000);

  it('ends a silent recorded play by default, without any option, after reading stalled', async () => {
    const proxy = await startFilteringProxy(nginx.port, (m) =>
      (m.type === 'Audio' || m.type === 'Video') && m.timestamp > 4000 ? 'silence' : 'pass',
    );
    try {
      const session = createSession({
        url: `rtmp://127.0.0.1:${proxy.port}/vod/${path.basename(file)}`,
      });
      const stream = session.play(undefined, { start: 0, bufferMs: TEN_HOURS });
      const events: string[] = [];
      stream.status$.subscribe((e) => {
        if (e.type === 'stream.stall' || e.type === 'stream.ended') events.push(e.type);
      });
      // The default silent end (DEFAULT_VOD_IDLE_MS, 10 s) plus set-up: a hang guard, not a pace.
      const outcome = await within(stream.done, DEFAULT_VOD_IDLE_MS + 15_000);
      await session.close();
      expect(outcome).toMatchObject({ outcome: 'ended', reason: 'IDLE_TIMEOUT' });
      // The stall (5 s) shows before the end (10 s): the default leaves time to recover.
      expect(events).toEqual(['stream.stall', 'stream.ended']);
    } finally {
      await proxy.close();
    }
  }, 45_000);
});
