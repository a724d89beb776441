/**
 * What a client session costs to make, in time and in JavaScript heap (issue 16: memory per
 * watched stream; a service that embeds the library may run a session per stream or per server):
 * `npm run build && node --expose-gc dist/bench/sessions.js [--count N]` makes N sessions (300 by
 * default) to a port where nothing listens, with one attempt each, and prints the mean time of a
 * `createSession` and the heap they hold, measured after a full GC while all of them are kept.
 * Nothing here is a test: it prints figures.
 */
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createSession, type Session } from '../src/client';

function countArg(): number {
  const i = process.argv.indexOf('--count');
  const n = i >= 0 ? Number(process.argv[i + 1]) : 300;
  if (!Number.isInteger(n) || n < 1)
    throw new Error('--count: a whole number of sessions, 1 or more');
  return n;
}

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function main(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  const count = countArg();
  const port = await closedPort();
  // One session first: the machines and modules it loads are not what one more session costs.
  const first = createSession({
    url: `rtmp://127.0.0.1:${port}/app/first`,
    retry: { maxAttempts: 1 },
  });
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const sessions: Session[] = [];
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    sessions.push(
      createSession({ url: `rtmp://127.0.0.1:${port}/app/s${i}`, retry: { maxAttempts: 1 } }),
    );
  }
  const elapsed = performance.now() - start;
  gc();
  const heapAfter = process.memoryUsage().heapUsed;
  process.stdout.write(
    `${count} sessions: createSession ${(elapsed / count).toFixed(3)} ms each, ` +
      `${((heapAfter - heapBefore) / count / 1024).toFixed(1)} KB of heap each (after a full GC, all kept)\n`,
  );
  await Promise.all([first, ...sessions].map((s) => s.close()));
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
