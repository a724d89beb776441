import type { Command, CliIo } from './index';
import { ExitCode } from './exitCodes';
import type { ParsedArgs } from './args';
import {
  LiveTable,
  eventJson,
  overallExitCode,
  renderTable,
  snapshotJson,
} from '../monitor/render';
import {
  createMetrics,
  startMetricsServer,
  type MetricsServer,
  type StreamMetrics,
} from '../monitor/metrics';
import type { StreamEvent, StreamSnapshot } from '../monitor/stats';
import { UrlMonitor } from '../monitor/session';
import { TRACE_OPTIONS, inspectTarget, openTracing } from '../trace/session';

/** How the live view is shown: a table redrawn in place, a table now and then, or JSON lines. */
export interface DashboardOptions {
  io: CliIo;
  json: boolean;
  /** Stop by itself after this long (ms). */
  durationMs?: number;
  snapshots: () => StreamSnapshot[];
  /** Lines above the table (TTY and plain-table modes). */
  header?: () => string[];
  /** Lines under the table. */
  footer?: () => string[];
  metrics?: StreamMetrics;
  /** Plain (non-TTY, non-JSON) output: one table every this many ms. Default 5000. */
  tableEveryMs?: number;
  /** Redraw / JSON period (ms). Default 1000. */
  tickMs?: number;
}

export interface Dashboard {
  /** Call for every stream event: printed at once as JSON or a line, or kept for the TTY view. */
  event(e: StreamEvent): void;
  /** Runs until the duration passes or the user interrupts; resolves with the last snapshots. */
  run(): Promise<{ final: StreamSnapshot[]; interrupted: boolean }>;
}

function clockTime(at: number): string {
  return new Date(at).toISOString().slice(11, 19);
}

/** One human line for a stream event. */
export function describeEvent(e: StreamEvent): string {
  const detail =
    e.event === 'stall'
      ? `stalled${e.lastMediaAgeMs !== undefined ? ` (no media for ${(e.lastMediaAgeMs / 1000).toFixed(1)} s)` : ''}`
      : e.event === 'reconnect'
        ? 'playing again'
        : e.event === 'status'
          ? (e.code ?? '')
          : `state ${e.state ?? ''}`;
  return `${clockTime(e.at)} ${e.stream}: ${detail}`;
}

/** The live view shared by `monitor` and `demo`. */
export function createDashboard(options: DashboardOptions): Dashboard {
  const { io, json } = options;
  const tty = !json && io.stdout.isTTY === true;
  const table = new LiveTable(io.stdout);
  const recent: string[] = [];
  const write = (text: string): void => {
    io.stdout.write(text);
  };
  // A terminal that reports no width (0, as some pseudo-terminals do) gets the whole table.
  const columns = (): number | undefined => {
    const c = (io.stdout as { columns?: number }).columns;
    return c && c > 0 ? c : undefined;
  };

  const drawTable = (snaps: StreamSnapshot[]): void => {
    const lines = [
      ...(options.header?.() ?? []),
      renderTable(snaps, { width: tty ? columns() : undefined, color: tty }),
      ...(options.footer?.() ?? []),
    ];
    if (tty && recent.length > 0) lines.push('', ...recent);
    if (tty) table.draw(lines.join('\n'));
    else write(`${lines.join('\n')}\n\n`);
  };

  return {
    event(e) {
      if (json) {
        write(`${eventJson(e)}\n`);
      } else if (e.event !== 'state' && e.code !== 'NetStream.Play.Reset') {
        const line = describeEvent(e);
        if (tty) {
          recent.push(line);
          if (recent.length > 5) recent.shift();
        } else {
          write(`${line}\n`);
        }
      }
    },
    async run() {
      const tickMs = options.tickMs ?? 1000;
      const tableEvery = Math.max(1, Math.round((options.tableEveryMs ?? 5000) / tickMs));
      let ticks = 0;
      const tick = (): void => {
        ticks++;
        const snaps = options.snapshots();
        options.metrics?.update(snaps);
        if (json) {
          const at = Date.now();
          write(snaps.map((s) => `${snapshotJson(s, at)}\n`).join(''));
        } else if (tty || ticks % tableEvery === 0) {
          drawTable(snaps);
        }
      };
      const interval = setInterval(tick, tickMs);
      let timer: NodeJS.Timeout | undefined;
      const timeUp = new Promise<'done'>((resolve) => {
        if (options.durationMs !== undefined)
          timer = setTimeout(() => resolve('done'), options.durationMs);
      });
      const why = await Promise.race([timeUp, io.interrupted.then(() => 'interrupted' as const)]);
      clearInterval(interval);
      clearTimeout(timer);
      const final = options.snapshots();
      options.metrics?.update(final);
      if (!json) drawTable(final);
      return { final, interrupted: why === 'interrupted' };
    },
  };
}

/** overallExitCode, made specific: every stream refused as unknown is 5, not 3. */
export function exitCodeOf(
  snapshots: readonly StreamSnapshot[],
  lastCodes: readonly (string | undefined)[],
): number {
  const code = overallExitCode(snapshots);
  if (
    code === ExitCode.ConnectionFailed &&
    lastCodes.length > 0 &&
    lastCodes.every((c) => c === 'NetStream.Play.StreamNotFound')
  ) {
    return ExitCode.StreamNotFound;
  }
  return code;
}

/** `host:port`, `:port` or `port` → where the metrics endpoint listens (host 127.0.0.1 by default). */
export function parseHostPort(text: string): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new Error(`expected host:port, got "${text}"`);
  return { host: m[1] || '127.0.0.1', port };
}

/** A summary line: how many streams are healthy. */
export function summaryLine(snaps: readonly StreamSnapshot[], code: number): string {
  const healthy = snaps.filter((s) => s.health === 'healthy').length;
  return `${healthy}/${snaps.length} streams healthy (exit code ${code})`;
}

async function run(args: ParsedArgs, io: CliIo): Promise<number> {
  const target = inspectTarget(args);
  const urls = target.positionals;
  const json = args.options.json === true;
  if (urls.length === 0) {
    io.stderr.write('rtmp-actors monitor: give at least one rtmp:// URL\n');
    return ExitCode.Usage;
  }
  const duration = args.options.duration as number | undefined;
  const stall = args.options.stall as number;
  if ((duration !== undefined && duration <= 0) || !(stall > 0)) {
    io.stderr.write(
      'rtmp-actors monitor: --duration and --stall need a positive number of seconds\n',
    );
    return ExitCode.Usage;
  }
  let metricsAt: { host: string; port: number } | undefined;
  if (typeof args.options.metrics === 'string') {
    try {
      metricsAt = parseHostPort(args.options.metrics);
    } catch (e) {
      io.stderr.write(`rtmp-actors monitor: --metrics: ${(e as Error).message}\n`);
      return ExitCode.Usage;
    }
  }

  let dashboard: Dashboard | undefined;
  const early: StreamEvent[] = [];
  let monitor: UrlMonitor;
  const tracing = await openTracing('monitor', urls, args, target.inspect, io);
  try {
    monitor = new UrlMonitor(urls, {
      ...(tracing.inspect ? { session: { inspect: tracing.inspect } } : {}),
      stallMs: stall * 1000,
      onEvent: (e) => (dashboard ? dashboard.event(e) : early.push(e)),
      onDuplicate: (t) =>
        io.stderr.write(`rtmp-actors monitor: ${t.safeUrl} is listed twice; watching it once\n`),
    });
  } catch (e) {
    await tracing.close();
    io.stderr.write(`rtmp-actors monitor: ${(e as Error).message}\n`);
    return ExitCode.Usage;
  }

  let metricsServer: MetricsServer | undefined;
  const metrics = metricsAt ? createMetrics() : undefined;
  try {
    if (metricsAt && metrics) {
      metricsServer = await startMetricsServer({ ...metricsAt, registry: metrics.registry });
      io.stderr.write(`metrics on http://${metricsAt.host}:${metricsServer.port}/metrics\n`);
    }
    dashboard = createDashboard({
      io,
      json,
      durationMs: duration !== undefined ? duration * 1000 : undefined,
      snapshots: () => monitor.snapshots(),
      metrics,
      header: () => [
        `rtmp-actors monitor: ${monitor.targets.length} stream(s) over ${monitor.connectionsUp()} connection(s) up`,
      ],
    });
    for (const e of early.splice(0)) dashboard.event(e);
    const { final } = await dashboard.run();
    const code = exitCodeOf(final, monitor.lastStatusCodes());
    if (json)
      io.stdout.write(
        `${JSON.stringify({ kind: 'summary', at: Date.now(), exitCode: code, streams: final.length, healthy: final.filter((s) => s.health === 'healthy').length })}\n`,
      );
    else io.stderr.write(`${summaryLine(final, code)}\n`);
    return code;
  } catch (e) {
    io.stderr.write(`rtmp-actors monitor: ${(e as Error).message}\n`);
    return ExitCode.Failure;
  } finally {
    await monitor.close();
    await metricsServer?.close();
    await tracing.close();
  }
}

export const monitorCommand: Command = {
  spec: {
    name: 'monitor',
    summary: 'watch live streams: bitrate, fps, GOP, codecs, stalls, as a live table or JSON lines',
    usage: 'rtmp-actors monitor <url...> [--duration s] [--json] [--metrics host:port] [--stall s]',
    description:
      'Plays every URL and shows per-stream statistics once a second: a table redrawn in place on a\n' +
      'terminal, a table every 5 s otherwise, or JSON lines (one per stream per second, one per event)\n' +
      'with --json. URLs on the same host and application share one session, and its connections\n' +
      'where the server allows several streams per connection. A stream that ends is played again.\n' +
      'Exit code: 0 all healthy, 3 none could connect, 5 none exists, 7 some unhealthy.',
    options: [
      {
        name: 'duration',
        type: 'number',
        valueName: 's',
        description: 'stop after this many seconds',
      },
      { name: 'json', type: 'boolean', description: 'JSON lines instead of a table' },
      {
        name: 'metrics',
        type: 'string',
        valueName: 'host:port',
        description: 'serve Prometheus metrics on http://host:port/metrics',
      },
      {
        name: 'stall',
        type: 'number',
        valueName: 's',
        description: 'no media for this long is a stall',
        default: 5,
      },
      ...TRACE_OPTIONS,
    ],
    examples: [
      'rtmp-actors monitor rtmp://127.0.0.1/live/cam1 rtmp://127.0.0.1/live/cam2',
      'rtmp-actors monitor rtmp://127.0.0.1/live/cam1 --json --duration 30 --metrics :9464',
    ],
  },
  run,
};
