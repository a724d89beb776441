import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { Command, CliIo } from './types';
import { ExitCode } from './exitCodes';
import type { ParsedArgs } from './args';
import { createDashboard, exitCodeOf, summaryLine } from './monitor';
import { createSession, type PublishHandle, type Session } from '../client';
import { formatBytes } from '../monitor/render';
import { StreamMonitor } from '../monitor/session';
import { RtmpServer } from '../server/server';
import { serverEventJson } from '../server/log';
import { TRACE_OPTIONS, inspectTarget, openTracing } from '../trace/session';

const STREAMS = ['cam1', 'cam2', 'cam3', 'cam4'];
const APP = 'demo';

/** The package root: the first folder up from here with a package.json (works from src/ and dist/src/). */
function packageRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  return process.cwd();
}

/** The bundled sample: test/fixtures/media/small.flv in the package (10 s of h264 + aac). */
export function bundledSample(): string {
  return path.join(packageRoot(), 'test', 'fixtures', 'media', 'small.flv');
}

async function run(args: ParsedArgs, io: CliIo): Promise<number> {
  const target = inspectTarget(args);
  const json = args.options.json === true;
  const duration = args.options.duration as number | undefined;
  if (duration !== undefined && !(duration > 0)) {
    io.stderr.write('rtmp-actors demo: --duration needs a positive number of seconds\n');
    return ExitCode.Usage;
  }
  const file =
    typeof args.options.file === 'string' ? path.resolve(args.options.file) : bundledSample();
  if (!existsSync(file)) {
    io.stderr.write(`rtmp-actors demo: sample ${file} not found (give one with --file)\n`);
    return ExitCode.Failure;
  }

  // The trace and the inspector see the server's actors too; the port is not known yet, and the
  // URL only tells the redactor which names to mask.
  const tracing = await openTracing('demo', `rtmp://127.0.0.1/${APP}`, args, target.inspect, io);
  // Players wait for their publisher, so the order in which the two sessions come up does not matter.
  const server = new RtmpServer({ port: 0, waitForPublisher: true, inspect: tracing.inspect });
  if (json)
    server.events$.subscribe((e) =>
      io.stdout.write(`${JSON.stringify(serverEventJson(e, Date.now()))}\n`),
    );
  let port: number;
  try {
    ({ port } = await server.listen());
  } catch (e) {
    io.stderr.write(
      `rtmp-actors demo: cannot start the embedded server: ${(e as Error).message}\n`,
    );
    await server.close();
    await tracing.close();
    return ExitCode.Failure;
  }
  const base = `rtmp://127.0.0.1:${port}/${APP}`;
  let publisher: Session | undefined;
  let player: Session | undefined;
  let monitor: StreamMonitor | undefined;
  try {
    // One session, four publish() calls, all over one connection.
    publisher = createSession({
      url: base,
      streamsPerConnection: 'many',
      inspect: tracing.inspect,
    });
    const published: PublishHandle[] = STREAMS.map((name) =>
      (publisher as Session).publish(name, file, { loop: true, realtime: true }),
    );
    // Another session plays all four over one connection and keeps statistics on each.
    player = createSession({
      url: base,
      streamsPerConnection: 'many',
      timeouts: { stall: 3000 },
      inspect: tracing.inspect,
    });
    const started = Date.now();
    const dashboard = createDashboard({
      io,
      json,
      durationMs: duration !== undefined ? duration * 1000 : undefined,
      snapshots: () => monitor?.snapshots() ?? [],
      header: () => [
        `rtmp-actors demo: embedded server ${base} (${((Date.now() - started) / 1000).toFixed(0)} s${duration !== undefined ? ` of ${duration}` : ', Ctrl-C stops'})`,
        `  publishing ${path.basename(file)} looped as ${STREAMS.join(', ')} over one connection; playing all four over another`,
        '',
      ],
      footer: () => {
        const s = server.stats();
        const sent = published.reduce((n, p) => n + p.sent.bytes, 0);
        return [
          '',
          `server: ${s.connections} connections, ${s.streams.filter((x) => x.publishing).length} streams published, ` +
            `${s.streams.reduce((n, x) => n + x.players, 0)} players; in ${formatBytes(s.bytesIn)}, out ${formatBytes(s.bytesOut)}; ` +
            `publisher sent ${formatBytes(sent)}, player received ${formatBytes(player?.bytes.in ?? 0)}`,
        ];
      },
    });
    monitor = new StreamMonitor(player, { stallMs: 3000, onEvent: (e) => dashboard.event(e) });
    for (const name of STREAMS) monitor.watch(name, { id: name });
    const { final } = await dashboard.run();
    const code = exitCodeOf(final, monitor.lastStatusCodes());
    if (json) {
      const s = server.stats();
      io.stdout.write(
        `${JSON.stringify({ kind: 'summary', at: Date.now(), exitCode: code, streams: final.length, healthy: final.filter((x) => x.health === 'healthy').length, serverConnections: s.connections })}\n`,
      );
    } else {
      io.stderr.write(`${summaryLine(final, code)}\n`);
    }
    return code;
  } finally {
    monitor?.stop();
    await Promise.all([player?.close(), publisher?.close()]);
    await server.close();
    await tracing.close();
  }
}

export const demoCommand: Command = {
  spec: {
    name: 'demo',
    summary: 'serve, publish and monitor four live streams on this machine (what `npm start` runs)',
    usage: 'rtmp-actors demo [--duration s] [--json] [--file sample.flv]',
    description:
      'Starts the embedded RTMP server on a free loopback port, publishes the bundled sample (looped,\n' +
      'in real time) as four streams over ONE connection, plays all four over ONE other connection,\n' +
      'and shows the live statistics table (JSON lines with --json). Ctrl-C or --duration stops it.',
    options: [
      {
        name: 'duration',
        type: 'number',
        valueName: 's',
        description: 'stop after this many seconds',
      },
      { name: 'json', type: 'boolean', description: 'JSON lines instead of a table' },
      ...TRACE_OPTIONS,
      {
        name: 'file',
        type: 'string',
        valueName: 'flv',
        description: 'publish this FLV instead of the bundled sample',
      },
    ],
    examples: ['npm start', 'rtmp-actors demo --duration 10 --json'],
  },
  run,
};
