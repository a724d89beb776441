/**
 * Servers that accept the connection and then say nothing (or almost nothing): every phase has
 * a timeout that holds for the whole phase, each attempt retries with exponential backoff, and
 * after `maxAttempts` the connection ends `failed`, listing every attempt and why it failed.
 */
import { type StreamOutcome } from '../../src/client';
import {
  FAULT_FIGURES,
  startFaultServer,
  type FaultBehaviour,
  type FaultServer,
} from '../../src/testing/faultServers';
import { sleep } from '../helpers';
import { connectionLog, trackSessions } from '../helpers/sessions';

jest.setTimeout(30_000);

const openSession = trackSessions();

const RETRY = { maxAttempts: 3, baseMs: 200, maxMs: 1000 };
const PHASE_MS = 1000;
const TIMEOUTS = { transport: PHASE_MS, handshake: PHASE_MS, connect: PHASE_MS };

/** Durations of each visit to `state` (entry to the next state). */
function visits(states: Array<{ at: number; state: string }>, state: string): number[] {
  const out: number[] = [];
  states.forEach((s, i) => {
    if (s.state === state && states[i + 1]) out.push(states[i + 1].at - s.at);
  });
  return out;
}

describe('silent servers', () => {
  let server: FaultServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function run(behaviour: FaultBehaviour): Promise<{
    outcome: StreamOutcome;
    log: ReturnType<typeof connectionLog>;
    elapsed: number;
  }> {
    server = await startFaultServer(behaviour);
    const log = connectionLog();
    const session = openSession({
      url: server.url('live', 'x'),
      retry: RETRY,
      timeouts: TIMEOUTS,
      inspect: log.inspect,
    });
    const started = Date.now();
    const outcome = await session.play('x', { start: -1 }).done;
    const elapsed = Date.now() - started;
    await session.close();
    return { outcome, log, elapsed };
  }

  function expectRetriedThenFailed(
    log: ReturnType<typeof connectionLog>,
    reason: string,
    outcome: StreamOutcome,
  ): void {
    expect(outcome.outcome).toBe('failed');
    const final = log.last();
    expect(final?.status).toBe('done');
    expect(final?.context.outcome).toBe('failed');
    expect(final?.context.failure?.reason).toBe('RETRIES_EXHAUSTED');
    expect(final?.context.attempts.map((a) => a.reason)).toEqual([reason, reason, reason]);
    // Exactly maxAttempts sockets, then no more.
    expect(log.states.filter((s) => s.state === 'session.opening')).toHaveLength(3);
    // Backoff between attempts: at least half the exponential ceiling (jitter is the upper half).
    const waits = visits(log.states, 'retrying.waiting');
    expect(waits).toHaveLength(2);
    expect(waits[0]).toBeGreaterThanOrEqual(RETRY.baseMs / 2 - 10);
    expect(waits[1]).toBeGreaterThanOrEqual(RETRY.baseMs - 10);
    for (const w of waits) expect(w).toBeLessThanOrEqual(RETRY.maxMs + 100);
  }

  it('gives up the handshake after the handshake timeout when the server accepts and never writes', async () => {
    const { outcome, log, elapsed } = await run('acceptAndSilence');
    expectRetriedThenFailed(log, 'HANDSHAKE_TIMEOUT', outcome);
    for (const d of visits(log.states, 'session.handshaking')) {
      expect(d).toBeGreaterThanOrEqual(PHASE_MS - 20);
      expect(d).toBeLessThan(PHASE_MS + 400);
    }
    expect(elapsed).toBeLessThan(3 * PHASE_MS + 2 * RETRY.maxMs + 1000);
    await sleep(RETRY.maxMs);
    expect(server!.connections()).toBe(3);
  });

  it('gives up connect after the connect timeout when the server completes the handshake and then says nothing', async () => {
    const { outcome, log } = await run('handshakeThenSilence');
    expectRetriedThenFailed(log, 'CONNECT_TIMEOUT', outcome);
    for (const d of visits(log.states, 'session.connecting')) {
      expect(d).toBeGreaterThanOrEqual(PHASE_MS - 20);
      expect(d).toBeLessThan(PHASE_MS + 400);
    }
    await sleep(RETRY.maxMs);
    expect(server!.connections()).toBe(3);
    // Each connection carried one `connect` and was never answered.
    expect(server!.clients().map((c) => c.handshakeCompleted())).toEqual([true, true, true]);
  });

  it('holds the handshake timeout for the whole phase against a server trickling one byte every 100 ms', async () => {
    const { outcome, log } = await run('tricklingHandshake');
    expectRetriedThenFailed(log, 'HANDSHAKE_TIMEOUT', outcome);
    // Bytes kept arriving, yet each handshake ended at the phase timeout, not later.
    for (const d of visits(log.states, 'session.handshaking')) {
      expect(d).toBeGreaterThanOrEqual(PHASE_MS - 20);
      expect(d).toBeLessThan(PHASE_MS + 400);
    }
    for (const c of server!.clients()) {
      expect(c.bytesSent()).toBeGreaterThanOrEqual(
        Math.floor(PHASE_MS / FAULT_FIGURES.trickleIntervalMs / 2),
      );
      expect(c.handshakeCompleted()).toBe(false);
    }
    await sleep(RETRY.maxMs);
    expect(server!.connections()).toBe(3);
  });
});
