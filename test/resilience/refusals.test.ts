/**
 * Refusals: a closed port is transient (retried, then failed); a server that answers `connect`
 * with `_error` or a play with NetStream.Play.StreamNotFound has decided, so the session fails
 * at once with the server's reply and never tries again.
 */
import * as path from 'node:path';
import { type SessionEvent, type StreamOutcome } from '../../src/client';
import { startFaultServer, type FaultServer } from '../../src/testing/faultServers';
import { freePort, sleep, startNginxRtmp, stopAll, type NginxRtmp } from '../helpers';
import { connectionLog, trackSessions } from '../helpers/sessions';

jest.setTimeout(30_000);

const openSession = trackSessions();

const MEDIA_DIR = path.join(__dirname, '..', 'fixtures', 'media');
const RETRY = { maxAttempts: 3, baseMs: 100, maxMs: 400 };
const TIMEOUTS = { transport: 1000, handshake: 1000, connect: 1000 };

async function playOnce(
  url: string,
  name?: string,
): Promise<{
  outcome: StreamOutcome;
  log: ReturnType<typeof connectionLog>;
  events: SessionEvent[];
  elapsed: number;
}> {
  const log = connectionLog();
  const session = openSession({ url, retry: RETRY, timeouts: TIMEOUTS, inspect: log.inspect });
  const events: SessionEvent[] = [];
  session.events$.subscribe((e) => events.push(e));
  const started = Date.now();
  const outcome = await session.play(name, { start: -2 }).done;
  const elapsed = Date.now() - started;
  await session.close();
  return { outcome, log, events, elapsed };
}

describe('refusals', () => {
  let nginx: NginxRtmp;
  let fault: FaultServer | undefined;
  beforeAll(async () => {
    nginx = await startNginxRtmp({ mediaDir: MEDIA_DIR });
  });
  afterEach(async () => {
    await fault?.close();
    fault = undefined;
  });
  afterAll(async () => {
    await stopAll();
  });

  it('retries a closed port maxAttempts times with backoff, then fails with connection refused', async () => {
    const port = await freePort();
    const { outcome, log } = await playOnce(`rtmp://127.0.0.1:${port}/live/x`);
    expect(outcome.outcome).toBe('failed');
    const ctx = log.last()!.context;
    expect(ctx.attempts.map((a) => [a.reason, a.code])).toEqual([
      ['TRANSPORT_ERROR', 'REFUSED'],
      ['TRANSPORT_ERROR', 'REFUSED'],
      ['TRANSPORT_ERROR', 'REFUSED'],
    ]);
    expect(ctx.failure?.reason).toBe('RETRIES_EXHAUSTED');
    expect(log.names().filter((s) => s === 'retrying.waiting')).toHaveLength(2);
  });

  it('fails at once with the server’s _error reply when connect is rejected, and never connects again', async () => {
    fault = await startFaultServer('rejectConnect');
    const { outcome, log, elapsed } = await playOnce(fault.url('live', 'x'));
    await sleep(2 * RETRY.maxMs);
    // One connection, one attempt, no backoff.
    expect(fault.connections()).toBe(1);
    expect(log.names()).not.toContain('retrying.waiting');
    const ctx = log.last()!.context;
    expect(ctx.attempts).toEqual([
      expect.objectContaining({ reason: 'REJECTED', code: 'NetConnection.Connect.Rejected' }),
    ]);
    expect(ctx.failure).toMatchObject({
      reason: 'REJECTED',
      status: { level: 'error', code: 'NetConnection.Connect.Rejected' },
    });
    expect(elapsed).toBeLessThan(1000);
    // The public outcome carries the server's reply, so a caller can tell "refused" from
    // "could not connect" (the CLI maps them to exit codes 4 and 3).
    expect(outcome).toMatchObject({
      outcome: 'failed',
      status: { code: 'NetConnection.Connect.Rejected' },
    });
  });

  it('fails with NetStream.Play.StreamNotFound for a missing VOD file, without retrying', async () => {
    const before = (nginx.errorLog().match(/ connect: app=/g) ?? []).length;
    const { outcome, log, events, elapsed } = await playOnce(
      `rtmp://127.0.0.1:${nginx.port}/vod/missing-file.flv`,
    );
    await sleep(2 * RETRY.maxMs);
    expect(outcome).toMatchObject({
      outcome: 'failed',
      reason: 'REFUSED',
      status: { level: 'error', code: 'NetStream.Play.StreamNotFound' },
    });
    expect(elapsed).toBeLessThan(2000);
    const errors = events.filter((e) => e.type === 'stream.error');
    expect(errors).toEqual([
      expect.objectContaining({
        status: expect.objectContaining({ code: 'NetStream.Play.StreamNotFound' }),
      }),
    ]);
    // One connection to nginx, one play, and the connection itself never retried.
    const log2 = nginx.errorLog();
    expect((log2.match(/ connect: app=/g) ?? []).length - before).toBe(1);
    expect(log.names()).not.toContain('retrying.waiting');
  });

  it('treats nginx-rtmp closing the socket on an unknown application as transient: bounded retries, then failed', async () => {
    // nginx-rtmp answers `connect` to an application it lacks by closing the connection, with
    // no _error: the client cannot tell it from a crash, so it retries, but only maxAttempts times.
    const before = (nginx.errorLog().match(/application not found: 'nosuchapp'/g) ?? []).length;
    const { outcome, log } = await playOnce(`rtmp://127.0.0.1:${nginx.port}/nosuchapp/x`);
    await sleep(2 * RETRY.maxMs);
    expect(outcome.outcome).toBe('failed');
    const ctx = log.last()!.context;
    expect(ctx.attempts.map((a) => a.reason)).toEqual([
      'TRANSPORT_CLOSED',
      'TRANSPORT_CLOSED',
      'TRANSPORT_CLOSED',
    ]);
    const after = (nginx.errorLog().match(/application not found: 'nosuchapp'/g) ?? []).length;
    expect(after - before).toBe(RETRY.maxAttempts);
  });
});
