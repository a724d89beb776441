/**
 * The RSS below which no Node.js monitor of N live streams can go on this machine (issue 16,
 * goal 1 asks for at most 300 KB per stream at 200 streams: 60 MB in all).
 *
 *   npm run build && npm run bench:rss-floor [-- --streams 200] [-- --seconds 15]
 *
 * Three processes of this node, each measured after `--seconds` (VmRSS and RssAnon from
 * /proc/PID/status), all with NODE_EXTRA_CA_CERTS cleared (node would parse that CA bundle):
 *
 * - `node` alone, idle: what the runtime holds before any script does anything.
 * - `sockets`: a bare script holding N TCP connections from a sender process on loopback, each
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
import { readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'rtmp-actors');

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const ENV = { ...process.env, NODE_EXTRA_CA_CERTS: '' };

interface Memory {
  rssMB: number;
  anonMB: number;
}

function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number =>
    Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]);
  return { rssMB: kb('VmRSS') / 1024, anonMB: kb('RssAnon') / 1024 };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs this file in `role` as a child, reads its memory after `seconds`, then stops it. */
async function measureChild(args: string[], seconds: number): Promise<Memory> {
  const child = spawn(process.execPath, args, { env: ENV, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await sleep(seconds * 1000);
  if (child.exitCode !== null)
    throw new Error(`${args.join(' ')} exited early (${child.exitCode})`);
  const m = memoryOf(child.pid!);
  child.kill('SIGTERM');
  await exited;
  return m;
}

/** Role `receiver PORT N`: N connections read into one shared buffer, bytes counted. */
function receiver(port: number, n: number): void {
  const shared = Buffer.alloc(1 << 20);
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    connect({
      port,
      host: '127.0.0.1',
      onread: {
        buffer: shared,
        callback: (k: number) => {
          bytes += k;
          return true;
        },
      },
    }).on('error', (e) => {
      process.stderr.write(`receiver: ${e.message}\n`);
      process.exit(1);
    });
  }
  process.on('SIGTERM', () => {
    process.stderr.write(`    (received ${(bytes / 1e6).toFixed(1)} MB)\n`);
    process.exit(0);
  });
}

async function main(): Promise<void> {
  if (process.argv[2] === 'receiver')
    return receiver(Number(process.argv[3]), Number(process.argv[4]));
  if (process.argv[2] === 'idle') {
    setInterval(() => undefined, 1 << 30);
    return;
  }
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

  const node = await measureChild([__filename, 'idle'], seconds);
  const bare = await measureChild([__filename, 'receiver', String(port), String(streams)], seconds);
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

  const row = (name: string, m: Memory): string =>
    `${name.padEnd(40)} ${m.rssMB.toFixed(1).padStart(8)} ${m.anonMB.toFixed(1).padStart(9)}`;
  const socketsAdd = bare.rssMB - node.rssMB;
  const floor = monitor.rssMB + socketsAdd;
  const goal = (300 * streams) / 1024;
  process.stdout.write(
    [
      `RSS floor, node ${process.version}, after ${seconds} s each`,
      '',
      `${'process'.padEnd(40)} ${'RSS MB'.padStart(8)} ${'anon MB'.padStart(9)}`,
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
