import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FlvFileSink } from '../../src/io/flvFile';
import type { MediaMessage } from '../../src/io/media';
import { FlvTagType, parseExVideoBody, parseFlv, parseVideoHeader } from '../../src/protocol/flv';
import { FIXTURE_NANO_OFFSET, writeMultitrackFlv } from '../helpers/multitrackFlv';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('multitrack FLV through our FLV writer and reader', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'flv-multitrack-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads back every ManyTracks tag of the generated file unchanged, ModEx included', () => {
    const file = path.join(dir, 'mt.flv');
    const written = writeMultitrackFlv(file, 2);
    const { tags } = parseFlv(new Uint8Array(readFileSync(file)));
    expect(tags.map((t) => [t.type, t.timestamp, hex(t.data)])).toEqual(
      written.map((t) => [t.type, t.timestamp, hex(t.data)]),
    );
    const videos = tags.filter((t) => t.type === FlvTagType.Video);
    expect(videos.every((t) => parseVideoHeader(t.data).multitrack === 'manyTracks')).toBe(true);
    const nanos = videos.filter((t) => parseExVideoBody(t.data).timestampOffsetNano !== undefined);
    expect(nanos.length).toBeGreaterThan(3);
    expect(parseExVideoBody(nanos[0].data).timestampOffsetNano).toBe(FIXTURE_NANO_OFFSET);
  });

  it('saves media messages of multitrack bodies byte for byte with FlvFileSink', async () => {
    const source = writeMultitrackFlv(path.join(dir, 'src.flv'), 2);
    const out = path.join(dir, 'saved.flv');
    const sink = new FlvFileSink(out);
    const media = source.filter((t) => t.type !== FlvTagType.ScriptData);
    for (const t of media) {
      const m: MediaMessage = {
        type: t.type === FlvTagType.Video ? 'Video' : 'Audio',
        timestamp: t.timestamp,
        streamId: 1,
        payload: t.data,
      };
      sink.write(m);
    }
    const result = await sink.close();
    expect(result.videoTags + result.audioTags).toBe(media.length);
    const { tags } = parseFlv(new Uint8Array(readFileSync(out)));
    expect(tags.map((t) => [t.type, t.timestamp, hex(t.data)])).toEqual(
      media.map((t) => [t.type, t.timestamp, hex(t.data)]),
    );
  });
});
