/**
 * How long the embedded server's event loop stalls when many actors stop at once (issue 14):
 *
 *   npm run build && npm run bench:server-stall [-- --connections N] [-- --streams N] [-- --idle-ms MS]
 *     [-- --case idle|streams] [-- --json FILE]
 *
 * - `idle`: N connections (default 1,024) from 64 loopback addresses (127.0.1.1 …, 16 or so each,
 *   under the per-address limit) finish the handshake and `connect`, send nothing, and time out
 *   together on a short idle timeout; the server stops them all within a moment.
 * - `streams`: one connection makes N NetStreams (default 1,000; the server's maxStreams raised to
 *   N), publishes on each, then closes its socket; the server ends them all at once.
 *
 * The server runs in this process; the attackers run in a child process (this script with
 * `--attacker`), so the loop measured is the server's alone. The figure is the largest event-loop
 * delay (perf_hooks.monitorEventLoopDelay, 10 ms resolution) and the largest gap between ticks of a
 * 5 ms interval, both over the window from the moment the stops begin to the moment the last
 * connection is gone. Run it with `node --cpu-prof dist/bench/serverStall.js` to see where the time
 * goes, and with `node --expose-gc` to see the heap each connection or NetStream holds.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { RtmpServer } from '../src/server';
import { startFaultClient, type FaultClient } from '../src/testing/faultClients';

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const ADDRESSES = 64;

/** The address of attacker group `i` (127.0.1.1, 127.0.1.2, …). */
function addressOf(i: number): string {
  return `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
}

// The attacker process ------------------------------------------------------------------------

async function attacker(): Promise<void> {
  const mode = argValue('--attacker');
  const port = Number(argValue('--port'));
  const n = Number(argValue('--n'));
  const clients: FaultClient[] = [];
  if (mode === 'idle') {
    for (let a = 0; a < ADDRESSES; a++) {
      const count = Math.floor(n / ADDRESSES) + (a < n % ADDRESSES ? 1 : 0);
      if (count === 0) continue;
      clients.push(
        startFaultClient('idleConnections', { port, localAddress: addressOf(a), count }),
      );
    }
    await Promise.all(clients.map((c) => c.scripted));
    const held = clients.reduce(
      (k, c) => k + c.connections().filter((x) => x.connected() && !x.closed()).length,
      0,
    );
    process.send?.({ type: 'ready', held });
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        const closed = clients.reduce((k, c) => k + c.closedByServer(), 0);
        if (closed >= held) {
          clearInterval(t);
          resolve();
        }
      }, 20);
    });
  } else {
    const c = startFaultClient('manyStreams', { port, localAddress: addressOf(0) });
    clients.push(c);
    await c.scripted;
    process.send?.({ type: 'ready', held: 1 });
    await new Promise<void>((resolve) => process.once('message', () => resolve()));
  }
  await Promise.all(clients.map((c) => c.close()));
  if (process.connected) {
    process.send?.({ type: 'done' });
    process.disconnect();
  }
}

// The server process --------------------------------------------------------------------------

interface Result {
  case: 'idle' | 'streams';
  actors: number;
  /** Largest event-loop delay over the window, ms. */
  maxLoopDelayMs: number;
  /** Largest gap between two ticks of a 5 ms interval over the window, ms. */
  maxTickGapMs: number;
  /** JS heap the server held per connection (idle) or per NetStream (streams), with --expose-gc. */
  heapPerActorBytes: number | undefined;
  /** From the attackers being ready (idle) or 200 ms before the client closes (streams) to the last connection gone, ms. */
  windowMs: number;
}

function waitUntil(test: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const t = setInterval(() => {
      if (test()) {
        clearInterval(t);
        resolve(true);
      } else if (Date.now() > end) {
        clearInterval(t);
        resolve(false);
      }
    }, 5);
  });
}

async function measure(kind: 'idle' | 'streams', n: number, idleMs: number): Promise<Result> {
  const server = new RtmpServer({
    port: 0,
    idleTimeoutMs: kind === 'idle' ? idleMs : 60_000,
    maxConnections: Math.max(1024, kind === 'idle' ? n : 1),
    limits: kind === 'streams' ? { maxStreams: n } : undefined,
  });
  const { port } = await server.listen();
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const child: ChildProcess = fork(
    __filename,
    ['--attacker', kind, '--port', String(port), '--n', String(n)],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const messages: Array<{ type: string; held?: number }> = [];
  child.on('message', (m) => messages.push(m as { type: string; held?: number }));
  const ready = await waitUntil(() => messages.some((m) => m.type === 'ready'), 120_000);
  if (!ready) throw new Error(`${kind}: the attackers did not get ready`);
  const held = messages.find((m) => m.type === 'ready')?.held ?? 0;
  if (kind === 'streams') {
    const streams = (): number =>
      server.stats().clients.reduce((k, c) => k + c.publishing + c.playing, 0);
    await waitUntil(() => streams() >= n, 60_000);
    if (streams() < n) throw new Error(`streams: only ${streams()} of ${n} publish`);
  } else if (held < n * 0.95) {
    throw new Error(
      `idle: only ${held} of ${n} connections were connected at once (raise --idle-ms)`,
    );
  }

  const peak = server.stats().connections;
  gc?.();
  const heapHeld = process.memoryUsage().heapUsed - heapBefore;
  // The window opens now (before the idle timers fire: they may all fire in one timers phase).
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  let last = performance.now();
  let maxGap = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 5);
  const started = performance.now();
  if (kind === 'streams') {
    await new Promise((r) => setTimeout(r, 200));
    child.send({ type: 'close' });
  }
  const gone = await waitUntil(() => server.stats().connections === 0, 120_000);
  const windowMs = performance.now() - started;
  // One more tick after the last stop, so a stall at the very end is counted.
  await new Promise((r) => setTimeout(r, 50));
  histogram.disable();
  clearInterval(ticker);
  if (!gone) throw new Error(`${kind}: ${server.stats().connections} connections never went`);
  await waitUntil(() => messages.some((m) => m.type === 'done'), 30_000);
  child.kill();
  await server.close();
  return {
    case: kind,
    actors: kind === 'idle' ? Math.min(held, peak) : n,
    maxLoopDelayMs: Math.round(histogram.max / 1e6),
    maxTickGapMs: Math.round(maxGap),
    windowMs: Math.round(windowMs),
    heapPerActorBytes: gc ? Math.round(heapHeld / (kind === 'idle' ? peak : n)) : undefined,
  };
}

async function main(): Promise<void> {
  const cases = (argValue('--case') ?? 'idle,streams').split(',') as Array<'idle' | 'streams'>;
  const connections = Number(argValue('--connections') ?? 1024);
  const streams = Number(argValue('--streams') ?? 1000);
  const idleMs = Number(argValue('--idle-ms') ?? 20_000);
  const results: Result[] = [];
  for (const kind of cases) {
    const r = await measure(kind, kind === 'idle' ? connections : streams, idleMs);
    results.push(r);
    const heap =
      r.heapPerActorBytes === undefined
        ? ''
        : `; ${(r.heapPerActorBytes / 1024).toFixed(1)} KiB of heap per ${kind === 'idle' ? 'connection' : 'NetStream'}`;
    console.log(
      kind === 'idle'
        ? `${r.actors} idle connections from ${ADDRESSES} addresses timing out together: largest event-loop delay ${r.maxLoopDelayMs} ms (largest 5 ms tick gap ${r.maxTickGapMs} ms), all gone in ${r.windowMs} ms${heap}`
        : `one connection with ${r.actors} publishing NetStreams closing: largest event-loop delay ${r.maxLoopDelayMs} ms (largest 5 ms tick gap ${r.maxTickGapMs} ms), gone in ${r.windowMs} ms${heap}`,
    );
  }
  const json = argValue('--json');
  if (json) writeFileSync(json, JSON.stringify(results, null, 2));
}

if (process.argv.includes('--attacker')) {
  attacker().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
