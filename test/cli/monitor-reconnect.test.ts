import * as path from 'node:path';
import { main } from '../../src/cli/index';
import { captureIo } from '../helpers/cliio';
import {
  sleep,
  startFfmpegPublisher,
  startNginxRtmp,
  stopAll,
  waitFor,
  type NginxRtmp,
  type PublisherHandle,
} from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

interface Line {
  kind: string;
  id?: string;
  event?: string;
  health?: string;
  reconnects?: number;
  videoBitrate?: number;
}

describe('rtmp-actors monitor when nginx-rtmp restarts', () => {
  let nginx: NginxRtmp;
  const publishers: PublisherHandle[] = [];
  const publish = (): void => {
    publishers.push(
      startFfmpegPublisher(`rtmp://127.0.0.1:${nginx.port}/live/watched`, { file: SMALL_FLV }),
    );
  };

  beforeAll(async () => {
    nginx = await startNginxRtmp();
    publish();
  });
  afterAll(async () => {
    await Promise.all(publishers.map((p) => p.stop()));
    await stopAll();
  });

  it('counts a reconnect, reports it as an event, and ends healthy with media flowing again', async () => {
    const io = captureIo();
    const url = `rtmp://127.0.0.1:${nginx.port}/live/watched`;
    const run = main(['monitor', url, '--json', '--duration', '16', '--stall', '2'], io);
    const lines = (): Line[] =>
      io
        .out()
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Line);
    const healthy = (): boolean =>
      lines().some((l) => l.kind === 'stream' && l.health === 'healthy');
    expect(await waitFor(healthy, 8000)).toBe(true);

    await nginx.kill('SIGKILL');
    await sleep(1500);
    await nginx.restart();
    publish();

    const code = await run;
    const all = lines();
    const events = all.filter((l) => l.kind === 'event').map((l) => l.event);
    expect(events).toContain('reconnect');
    const last = all
      .filter((l) => l.kind === 'stream' && l.id === `rtmp://127.0.0.1:${nginx.port}/live/wa***`)
      .at(-1);
    expect(last?.reconnects).toBeGreaterThanOrEqual(1);
    expect(last?.health).toBe('healthy');
    expect(last?.videoBitrate).toBeGreaterThan(0);
    expect(code).toBe(0);
  }, 40_000);
});
