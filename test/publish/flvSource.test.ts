import * as path from 'node:path';
import { firstValueFrom, take, toArray } from 'rxjs';
import type { MediaMessage } from '../../src/io/media';
import { flvFileSource } from '../../src/publish/flvSource';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

describe('flvFileSource, looped', () => {
  it('never sends a timestamp of a type behind an earlier one of that type across the loop (the file ends with audio past its last video)', async () => {
    // small.flv: 302 video and 471 audio tags; two passes and a bit.
    const messages: MediaMessage[] = await firstValueFrom(
      flvFileSource(SMALL_FLV, { loop: true, realtime: false }).pipe(take(1700), toArray()),
    );
    for (const type of ['Audio', 'Video'] as const) {
      const ts = messages.filter((m) => m.type === type).map((m) => m.timestamp);
      expect(ts.length).toBeGreaterThan(type === 'Video' ? 500 : 800);
      for (let i = 1; i < ts.length; i++) expect(ts[i]).toBeGreaterThanOrEqual(ts[i - 1]);
    }
  });
});
