import { main } from '../../src/cli/index';
import { captureIo } from '../helpers/cliio';

interface StreamLine {
  kind: 'stream';
  at: number;
  id: string;
  health: string;
  state: string;
  videoBitrate: number;
  audioBitrate: number;
  fps: number;
  width?: number;
  height?: number;
  videoCodec?: string;
  audioCodec?: string;
}

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('rtmp-actors demo', () => {
  it('runs four healthy streams at about 30 fps for the given duration and exits 0', async () => {
    const io = captureIo();
    const code = await main(['demo', '--duration', '6', '--json'], io);
    const lines = jsonLines(io.out());
    expect(code).toBe(0);
    const streams = lines.filter(
      (l): l is StreamLine & Record<string, unknown> => l.kind === 'stream',
    );
    const lastAt = Math.max(...streams.map((s) => s.at));
    const last = streams.filter((s) => s.at === lastAt);
    expect(last.map((s) => s.id).sort()).toEqual(['cam1', 'cam2', 'cam3', 'cam4']);
    for (const s of last) {
      expect(s.health).toBe('healthy');
      expect(s.videoBitrate).toBeGreaterThan(100_000);
      expect(s.audioBitrate).toBeGreaterThan(0);
      expect(s.fps).toBeGreaterThan(25);
      expect(s.fps).toBeLessThan(35);
      expect(s).toMatchObject({ videoCodec: 'avc', audioCodec: 'aac', width: 640, height: 360 });
    }
    const summary = lines.find((l) => l.kind === 'summary');
    expect(summary).toMatchObject({ exitCode: 0, streams: 4, healthy: 4 });
    // One publishing connection and one playing connection.
    expect(summary?.serverConnections).toBe(2);
  }, 30_000);
});
