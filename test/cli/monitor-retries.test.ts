import { main } from '../../src/cli/index';
import { RtmpServer } from '../../src/server';
import { captureIo, jsonLines } from '../helpers/cliio';

describe('rtmp-actors monitor --retries', () => {
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

  it('gives up on a stream nobody publishes after one retry with --retries 1: two plays, then failed', async () => {
    const io = captureIo();
    const code = await main(
      ['monitor', `${base}/absent`, '--retries', '1', '--json', '--duration', '8'],
      io,
    );
    const lines = jsonLines(io.out());
    const events = lines.filter((l) => l.kind === 'event');
    // The first attempt is refused and retried (attempt 1 of 2), the second ends the stream.
    expect(
      events.some((l) => l.event === 'failure' && /attempt 1\/2 failed/.test(l.message ?? '')),
    ).toBe(true);
    const statuses = events.filter((l) => l.code === 'NetStream.Play.StreamNotFound');
    expect(statuses).toHaveLength(2);
    expect(events.some((l) => l.event === 'state' && l.state === 'failed')).toBe(true);
    const last = lines.filter((l) => l.kind === 'stream').at(-1);
    expect(last).toMatchObject({ state: 'failed', reason: 'NetStream.Play.StreamNotFound' });
    expect(code).toBe(5);
  }, 60_000);

  it('keeps watching a stream nobody publishes without --retries', async () => {
    const io = captureIo();
    await main(['monitor', `${base}/absent`, '--json', '--duration', '5'], io);
    const lines = jsonLines(io.out());
    expect(lines.some((l) => l.event === 'state' && l.state === 'failed')).toBe(false);
    expect(lines.filter((l) => l.kind === 'stream').at(-1)).toMatchObject({ state: 'retrying' });
  }, 60_000);

  it('refuses --retries below 0 with a usage error', async () => {
    const io = captureIo();
    const code = await main(['monitor', `${base}/absent`, '--retries', '-1'], io);
    expect(code).toBe(2);
    expect(io.err()).toContain('--retries needs a whole number of retries after the first attempt');
  });
});
