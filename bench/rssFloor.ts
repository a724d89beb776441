/**
 * The RSS below which no Node.js monitor of N live streams can go on this machine (issue 16,
 * goal 1 asks for at most 300 KB per stream at 200 streams: 58.6 MB in all).
 *
 *   npm run build && npm run bench:rss-floor [-- --streams 200] [-- --seconds 15]
 *
 * Three processes of this node, each measured after `--seconds` (RSS from /proc/PID/stat, as the
 * bench reads it), all with NODE_EXTRA_CA_CERTS cleared (node would parse that CA bundle):
 *
 * - `node, idle`: a bare node with node:net loaded, doing nothing: what the runtime holds.
 * - `sockets`: a bare script holding N TCP connections from this process on loopback, each
 *   receiving ~1 Mbit/s (4,200 bytes 30 times a second, as a 1 Mbit/s 30 fps stream arrives),
 *   read into one shared buffer (`onread`, as our transport reads) and thrown away: no RTMP, no
 *   statistics, nothing kept per stream but the socket.
 * - `monitor, no stream`: `rtmp-actors monitor` as the bench runs it (`--json`, no `--metrics`),
 *   watching one URL where nothing listens, so nothing plays: our modules loaded, before any
 *   stream's state.
 *
 * The floor for N streams is then `monitor, no stream` plus what the N sockets alone add.
 */
import { spawn } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { sleep } from '../test/helpers';
import { procCpu } from './lib/proc';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'rtmp-actors');

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const ENV = { ...process.env, NODE_EXTRA_CA_CERTS: '' };

/**
 * Runs node with `args` as a child, reads its RSS (MB) after `seconds`, runs `whileRunning`, then
 * stops it.
 */
async function measureChild(
  args: string[],
  seconds: number,
  whileRunning: () => void = () => undefined,
): Promise<number> {
  const child = spawn(process.execPath, args, { env: ENV, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await sleep(seconds * 1000);
  if (child.exitCode !== null)
    throw new Error(`${args.join(' ')} exited early (${child.exitCode})`);
  const rssMB = procCpu(child.pid!)?.rssMB;
  try {
    whileRunning();
  } finally {
    child.kill('SIGTERM');
  }
  await exited;
  if (rssMB === undefined) throw new Error(`${args.join(' ')}: no /proc entry`);
  return rssMB;
}

/**
 * A bare node with node:net loaded, doing nothing (this file's own imports would load the test
 * helpers), so that the receiver's difference from it is its sockets alone.
 */
const IDLE_SCRIPT = "require('node:net'); setInterval(() => undefined, 1 << 30);";
/**
 * A bare script holding N connections to PORT (its arguments), read into one shared buffer as
 * our transport reads (`onread`) and thrown away.
 */
const RECEIVER_SCRIPT = `
const [port, n] = process.argv.slice(1).map(Number);
const shared = Buffer.alloc(1 << 20);
for (let i = 0; i < n; i++) {
  require('node:net')
    .connect({ port, host: '127.0.0.1', onread: { buffer: shared, callback: () => true } })
    .on('error', (e) => {
      process.stderr.write('receiver: ' + e.message + '\\n');
      process.exit(1);
    });
}`;

async function main(): Promise<void> {
  const streams = Number(argValue('--streams') ?? 200);
  const seconds = Number(argValue('--seconds') ?? 15);

  // The sender: 4,200 bytes every 33 ms to each connection (~1 Mbit/s, 30 writes a second).
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    const block = Buffer.alloc(4200, 1);
    const t = setInterval(() => s.write(block), 33);
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => {
      clearInterval(t);
      sockets.delete(s);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;

  const node = await measureChild(['-e', IDLE_SCRIPT], seconds);
  const bare = await measureChild(
    ['-e', RECEIVER_SCRIPT, String(port), String(streams)],
    seconds,
    () => {
      // What the sender could not hand to the kernel: a receiver that reads keeps it near zero.
      let unsent = 0;
      for (const s of sockets) unsent += s.writableLength;
      if (sockets.size !== streams || unsent > streams * 64 * 1024) {
        throw new Error(`the receiver holds ${sockets.size} connections, ${unsent} bytes unsent`);
      }
    },
  );
  server.close();
  for (const s of sockets) s.destroy();
  const monitor = await measureChild(
    [
      CLI,
      'monitor',
      'rtmp://127.0.0.1:9/live/nothing-listens',
      '--json',
      '--duration',
      String(seconds + 30),
    ],
    seconds,
  );

  const row = (name: string, rssMB: number): string =>
    `${name.padEnd(40)} ${rssMB.toFixed(1).padStart(8)}`;
  const socketsAdd = bare - node;
  const floor = monitor + socketsAdd;
  const goal = (300 * streams) / 1024;
  process.stdout.write(
    [
      `RSS floor, node ${process.version}, after ${seconds} s each`,
      '',
      `${'process'.padEnd(40)} ${'RSS MB'.padStart(8)}`,
      row('node, idle', node),
      row(`sockets: ${streams} connections at ~1 Mbit/s`, bare),
      row('monitor, no stream', monitor),
      '',
      `${streams} sockets add ${socketsAdd.toFixed(1)} MB (${((socketsAdd * 1024) / streams).toFixed(0)} KB each) to a bare node;`,
      `floor for a monitor of ${streams} streams: ${floor.toFixed(1)} MB (${((floor * 1024) / streams).toFixed(0)} KB per stream), ` +
        `before any stream's RTMP state;`,
      `issue 16 goal 1 asks for ${goal.toFixed(1)} MB, which leaves ${(((goal - floor) * 1024) / streams).toFixed(0)} KB per stream ` +
        `for its protocol state, actors, statistics and the heap's room to collect it`,
    ].join('\n') + '\n',
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`rss-floor: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
