import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { main } from '../../src/cli/index';
import { parseFlv } from '../../src/protocol/flv';
import { captureIo } from '../helpers/cliio';

const sessions = path.join(__dirname, '..', 'fixtures', 'sessions');
type Line = Record<string, unknown> & { type?: string; name?: string };

async function dump(file: string, ...args: string[]): Promise<{ code: number; lines: Line[] }> {
  const io = captureIo();
  const code = await main(['dump', file, ...args], io);
  const lines = io
    .out()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);
  return { code, lines };
}

function statusCode(l: Line): string | undefined {
  const args = l.args as Array<{ code?: string }> | undefined;
  return args?.[0]?.code;
}

describe('rtmp-actors dump', () => {
  it('decodes the nginx-rtmp side of an rtmpdump play in the order of the seed notes', async () => {
    const { code, lines } = await dump(path.join(sessions, 'rtmpdump-nginx-play.s2c.bin'));
    expect(code).toBe(0);
    expect(lines[0]).toMatchObject({ handshake: 'S0+S1+S2', version: 3, form: 'simple' });
    const steps = lines.slice(1).map((l) => {
      if (l.type === 'CommandAmf0') return `${l.name}${statusCode(l) ? ' ' + statusCode(l) : ''}`;
      if (l.type === 'UserControl') return `UserControl ${l.event}`;
      if (l.type === 'DataAmf0') return String(l.name);
      return String(l.type);
    });
    const firstMedia = steps.findIndex((s) => s === 'Video' || s === 'Audio');
    // handshake; Window Ack Size, Set Peer Bandwidth, (Set Chunk Size), _result Connect.Success;
    // createStream's _result; StreamBegin, Play.Start, onMetaData, then media.
    expect(steps.slice(0, firstMedia)).toEqual([
      'WindowAckSize',
      'SetPeerBandwidth',
      'SetChunkSize',
      '_result NetConnection.Connect.Success',
      '_result',
      'UserControl StreamBegin',
      'onStatus NetStream.Play.Start',
      'UserControl StreamIsRecorded',
      '|RtmpSampleAccess',
      'onMetaData',
    ]);
    expect(lines.find((l) => l.name === '_result' && l.transactionId === 2)?.args).toEqual([1]);
    expect(steps.filter((s) => s === 'Video')).toHaveLength(302);
    expect(steps.filter((s) => s === 'Audio')).toHaveLength(471);
    expect(steps.slice(-3)).toEqual([
      'onPlayStatus',
      'onStatus NetStream.Play.Stop',
      'UserControl StreamEOF',
    ]);
  });

  it('reports the timestamps, lengths and codecs of the media the file holds', async () => {
    const { lines } = await dump(path.join(sessions, 'rtmpdump-nginx-play.s2c.bin'));
    const media = lines.filter((l) => l.type === 'Video' || l.type === 'Audio');
    const flv = parseFlv(
      readFileSync(path.join(__dirname, '..', 'fixtures', 'media', 'small.flv')),
    );
    const tags = flv.tags.filter((t) => t.type === 8 || t.type === 9);
    expect(media).toHaveLength(tags.length);
    media.forEach((m, i) => {
      expect(m.timestamp).toBe(tags[i].timestamp);
      expect(m.length).toBe(tags[i].data.byteLength);
      expect(m.typeId).toBe(tags[i].type);
    });
    expect(media[0]).toMatchObject({
      type: 'Video',
      codec: 'avc',
      frameType: 'key',
      packetType: 'sequenceStart',
    });
    expect(media.find((m) => m.type === 'Audio')).toMatchObject({
      codec: 'aac',
      sequenceHeader: true,
    });
  });

  it("decodes ffmpeg's publish and recognises its digest handshake", async () => {
    const { code, lines } = await dump(
      path.join(sessions, 'ffmpeg-publish-nginx.c2s.bin'),
      '--from',
      'client',
    );
    expect(code).toBe(0);
    expect(lines[0]).toMatchObject({ form: 'digest', digestOffset: 494 });
    const commands = lines.filter((l) => l.type === 'CommandAmf0').map((l) => l.name);
    expect(commands).toEqual([
      'connect',
      'releaseStream',
      'FCPublish',
      'createStream',
      'publish',
      'FCUnpublish',
      'deleteStream',
    ]);
    expect(lines.find((l) => l.name === '@setDataFrame')?.values).toEqual(
      expect.arrayContaining(['@setDataFrame', 'onMetaData']),
    );
    expect(lines.filter((l) => l.type === 'Video' || l.type === 'Audio')).toHaveLength(313);
  });

  it('follows node-media-server through its 65535-byte chunks', async () => {
    const { code, lines } = await dump(path.join(sessions, 'rtmpdump-nms-live-play.s2c.bin'));
    expect(code).toBe(0);
    expect(lines.find((l) => l.type === 'SetChunkSize')).toMatchObject({ chunkSize: 65535 });
    const media = lines.filter((l) => l.type === 'Video' || l.type === 'Audio');
    expect(media).toHaveLength(312);
    // node-media-server's quirk: media on message stream 0, not the id createStream returned.
    expect(media.every((m) => m.streamId === 0)).toBe(true);
  });

  it('ends a truncated stream with an error line naming the offset, and exits 6', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dump-'));
    const file = path.join(dir, 'cut.bin');
    writeFileSync(
      file,
      readFileSync(path.join(sessions, 'rtmpdump-nginx-play.s2c.bin')).subarray(0, 5000),
    );
    const { code, lines } = await dump(file);
    expect(code).toBe(6);
    expect(lines.at(-1)).toMatchObject({ error: 'the stream ends inside a message', offset: 5000 });
  });

  it('ends garbage after the handshake with a typed chunk error, and exits 6', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dump-'));
    const file = path.join(dir, 'garbage.bin');
    const head = readFileSync(path.join(sessions, 'rtmpdump-nginx-play.s2c.bin')).subarray(0, 3073);
    // fmt 1 on chunk stream 10, never opened by a fmt-0 chunk.
    writeFileSync(file, Buffer.concat([head, Buffer.from([0x4a, 0, 0, 0, 0, 0, 4, 20])]));
    const { code, lines } = await dump(file);
    expect(code).toBe(6);
    expect(String(lines.at(-1)?.error)).toContain('UNKNOWN_CHUNK_STREAM');
    expect(lines.at(-1)?.offset).toBe(3073);
  });

  it('refuses a file that does not start with RTMP version 3', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dump-'));
    const file = path.join(dir, 'http.bin');
    writeFileSync(file, Buffer.alloc(4000, 0x47));
    const { code, lines } = await dump(file);
    expect(code).toBe(6);
    expect(lines.at(-1)).toMatchObject({ error: 'bad RTMP version 71 (expected 3)', offset: 0 });
  });
});
