/**
 * Lent media between the transport and its consumers: a sink lends only while nobody takes
 * messages as owned, and the FLV file sink copies a lent payload before its `write` returns, so
 * what reaches the file is right whatever happens to that memory afterwards.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { FlvFileSink } from '../../src/io/flvFile';
import { SubjectSink, type MediaMessage } from '../../src/io/media';
import { flvHeader, flvTag, parseFlv } from '../../src/protocol/flv';

function videoMessage(length: number, seed: number, timestamp: number): MediaMessage {
  const payload = new Uint8Array(length);
  for (let i = 0; i < length; i++) payload[i] = (i * 7 + seed) & 0xff;
  return { type: 'Video', timestamp, streamId: 1, csid: 6, payload };
}

/** The FLV a writer must produce for `messages` (header with both flags, then each tag). */
function expectedFlv(messages: MediaMessage[]): Buffer {
  return Buffer.concat([
    flvHeader({ audio: true, video: true }),
    ...messages.map((m) =>
      flvTag({ type: 9, timestamp: m.timestamp, data: (m as { payload: Uint8Array }).payload }),
    ),
  ]);
}

/** Writes each message from ONE scratch payload buffer, scribbled on right after each write. */
function writeLent(sink: FlvFileSink, messages: MediaMessage[]): void {
  const scratch = new Uint8Array(1 << 20);
  for (const m of messages) {
    const source = (m as { payload: Uint8Array }).payload;
    scratch.set(source);
    sink.write({ ...m, payload: scratch.subarray(0, source.length) } as MediaMessage);
    scratch.fill(0xee, 0, source.length);
  }
}

/** Calls `seen` with every chunk written to `stream`, then writes it as before. */
function spyOnWrites(stream: Writable, seen: (chunk: Buffer) => void): void {
  const write = stream.write.bind(stream);
  stream.write = ((chunk: Buffer, ...rest: never[]) => {
    seen(chunk);
    return write(chunk, ...rest);
  }) as typeof stream.write;
}

// Sizes around the 256 KiB block: tags that end just before, on, and across block boundaries.
const SIZES = [10, 1000, 262_000, 144, 300_000, 5, 262_144 - 15, 70_000, 600_000, 1];
const MESSAGES = SIZES.map((n, i) => videoMessage(n, i, i * 33));

describe('SubjectSink lending', () => {
  it('lends while nobody subscribes to media$, and stops when someone does', () => {
    const sink = new SubjectSink();
    const lent = sink.lentMedia$.subscribe(() => undefined);
    expect(sink.canLend()).toBe(true);
    const owned = sink.media$.subscribe(() => undefined);
    expect(sink.canLend()).toBe(false);
    owned.unsubscribe();
    expect(sink.canLend()).toBe(true);
    lent.unsubscribe();
  });

  it('gives a media$ subscriber that came in meanwhile a copy of a lent payload', () => {
    const sink = new SubjectSink();
    const kept: MediaMessage[] = [];
    const lentSeen: MediaMessage[] = [];
    sink.media$.subscribe((m) => kept.push(m));
    sink.lentMedia$.subscribe((m) => lentSeen.push(m));
    const scratch = Uint8Array.of(1, 2, 3);
    sink.lend({ type: 'Audio', timestamp: 0, streamId: 1, csid: 4, payload: scratch });
    scratch.fill(0);
    expect(kept).toHaveLength(1);
    expect(Array.from((kept[0] as { payload: Uint8Array }).payload)).toEqual([1, 2, 3]);
    expect(lentSeen).toEqual(kept);
  });

  it('delivers owned messages to both kinds of subscribers', () => {
    const sink = new SubjectSink();
    const seen: string[] = [];
    sink.media$.subscribe(() => seen.push('owned'));
    sink.lentMedia$.subscribe(() => seen.push('lent'));
    sink.next(videoMessage(4, 1, 0));
    expect(seen.sort()).toEqual(['lent', 'owned']);
  });
});

describe('FlvFileSink with lent payloads', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rtmp-actors-lent-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a file byte for byte although each payload is overwritten as soon as write returns', async () => {
    const file = join(dir, 'lent.flv');
    const sink = new FlvFileSink(file);
    writeLent(sink, MESSAGES);
    const result = await sink.close();
    const bytes = readFileSync(file);
    expect(bytes.equals(expectedFlv(MESSAGES))).toBe(true);
    expect(result.bytes).toBe(bytes.length);
    expect(result.videoTags).toBe(MESSAGES.length);
    expect(parseFlv(new Uint8Array(bytes)).tags.map((t) => t.data.length)).toEqual(SIZES);
  });

  it('gives a PassThrough blocks of its own: what its reader gets later is still right', async () => {
    const through = new PassThrough({ highWaterMark: 64 * 1024 * 1024 });
    const sink = new FlvFileSink(through);
    // Written in several turns of the event loop, with nothing read in between: a block reused
    // after its write callback would overwrite chunks the PassThrough still holds.
    for (let i = 0; i < MESSAGES.length; i += 3) {
      writeLent(sink, MESSAGES.slice(i, i + 3));
      await new Promise((r) => setImmediate(r));
    }
    await sink.close();
    through.end();
    const chunks: Buffer[] = [];
    for await (const c of through) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(expectedFlv(MESSAGES))).toBe(true);
  });

  it('writes what a turn of the event loop gathered in one write, not three writes a tag', async () => {
    const through = new PassThrough({ highWaterMark: 64 * 1024 * 1024 });
    const writes: number[] = [];
    spyOnWrites(through, (chunk) => writes.push(chunk.length));
    const sink = new FlvFileSink(through);
    const small = Array.from({ length: 50 }, (_, i) => videoMessage(200, i, i * 33));
    writeLent(sink, small);
    const gathered = 13 + 50 * (11 + 200 + 4);
    expect(writes).toEqual([]); // nothing yet: the block goes out at the end of this turn
    expect(sink.backlog()).toBe(gathered); // but it counts as queued for backpressure
    await Promise.resolve();
    expect(writes).toEqual([gathered]);
    await sink.close();
  });

  it('fills a block across turns while a slow socket holds its earlier part, and reuses it once written', async () => {
    const server = createServer();
    const accepted = new Promise<Socket>((r) => server.once('connection', r));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
    await new Promise((r) => client.once('connect', r));
    const peer = await accepted;
    try {
      await slowSocketRounds(client, peer);
    } finally {
      client.destroy();
      peer.destroy();
      server.close();
    }
  });
});

/** Two rounds of small turns into a sink on `client`, the first while `peer` does not read. */
async function slowSocketRounds(client: Socket, peer: Socket): Promise<void> {
  peer.pause(); // the reader stalls: writes pile up in the kernel and in the socket
  const received: Buffer[] = [];
  const blocks = new Set<ArrayBufferLike>();
  spyOnWrites(client, (chunk) => blocks.add(chunk.buffer));
  const sink = new FlvFileSink(client);
  // 150 turns of about 40 KiB each, as small socket reads give them: 6 MB in all.
  const turn = (round: number, i: number): MediaMessage[] => [
    videoMessage(40_000, i, round * 100_000 + i * 33),
    videoMessage(37, i + 1, round * 100_000 + i * 33 + 1),
  ];
  const all: MediaMessage[] = [];
  for (let i = 0; i < 150; i++) {
    const messages = turn(0, i);
    all.push(...messages);
    writeLent(sink, messages);
    await new Promise((r) => setImmediate(r));
  }
  const firstRound = blocks.size;
  // One block per 256 KiB written, not one per turn.
  expect(firstRound).toBeLessThanOrEqual(Math.ceil((13 + 150 * (2 * 15 + 40_037)) / 262_144) + 1);
  peer.on('data', (c: Buffer) => received.push(c));
  peer.resume();
  await new Promise((r) => (client.writableLength === 0 ? r(null) : client.once('drain', r)));
  await new Promise((r) => setImmediate(r));
  // A second round of the same size goes into the blocks the first one used.
  for (let i = 0; i < 150; i++) {
    const messages = turn(1, i);
    all.push(...messages);
    writeLent(sink, messages);
    await new Promise((r) => setImmediate(r));
  }
  expect(blocks.size).toBeLessThanOrEqual(firstRound + 1);
  await sink.close();
  const total = expectedFlv(all).length;
  await new Promise<void>((r) => {
    const check = (): void => {
      if (received.reduce((n, c) => n + c.length, 0) >= total) r();
      else peer.once('data', check);
    };
    check();
  });
  expect(Buffer.concat(received).equals(expectedFlv(all))).toBe(true);
}
