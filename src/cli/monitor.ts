import type { Command, CliIo } from './types';
import { ExitCode } from './exitCodes';
import type { ParsedArgs } from './args';
import { retriesOption } from './common';
import { hostname } from 'node:os';
import { collectDefaultMetrics } from 'prom-client';
import {
  LiveTable,
  eventJson,
  overallExitCode,
  renderTable,
  snapshotJson,
  snapshotObject,
  targetsEventJson,
} from '../monitor/render';
import type { StreamMetrics } from '../monitor/metrics';
import { ApiError, startHttpServer, type HttpServer, type MonitorApi } from '../monitor/http';
import {
  createMonitor,
  MAX_READ_BATCH_MS,
  MONITOR_READ_BATCH_MS,
  type Monitor,
} from '../monitor/monitor';
import { ShardError, parseShard, shardFromHostname, type ShardSpec } from '../monitor/shard';
import type { StreamEvent, StreamSnapshot } from '../monitor/stats';
import { TargetsError, targetsFromUrls, type MonitorTarget } from '../monitor/targets';
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
          : e.event === 'failure'
            ? `failed: ${e.reason ?? ''}${e.message ? ` (${e.message})` : ''}`
            : `state ${e.state ?? ''}`;
  return `${clockTime(e.at)} ${e.id}: ${detail}`;
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

/** The HTTP API over a monitor: JSON views, add and remove with 4xx refusals. */
export function monitorApi(monitor: Monitor): MonitorApi {
  return {
    ready: () => monitor.ready,
    streams: () => {
      const at = Date.now();
      return monitor.snapshots().map((s) => snapshotObject(s, at));
    },
    stream: (id) => {
      const s = monitor.snapshot(id);
      return s ? snapshotObject(s, Date.now()) : undefined;
    },
    add: (body) => {
      try {
        return { id: monitor.add(body).id };
      } catch (e) {
        if (e instanceof TargetsError)
          throw new ApiError(e.code === 'DUPLICATE_ID' ? 409 : 400, e.code, e.message);
        throw e;
      }
    },
    remove: (id) => monitor.remove(id),
  };
}

function usage(io: CliIo, message: string): number {
  io.stderr.write(`rtmp-actors monitor: ${message}\n`);
  return ExitCode.Usage;
}

/** --shard / --shard-from-hostname / --replicas → the shard spec (undefined: watch everything). */
function shardOf(args: ParsedArgs): ShardSpec | undefined {
  const replicas = args.options.replicas as number;
  const text = args.options.shard;
  const fromHost = args.options['shard-from-hostname'];
  if (typeof text === 'string' && fromHost !== undefined)
    throw new ShardError('give --shard or --shard-from-hostname, not both', 'BAD_SHARD', text);
  if (typeof text === 'string') return parseShard(text, replicas);
  if (typeof fromHost === 'number') {
    if (!Number.isInteger(fromHost) || fromHost < 1)
      throw new ShardError(
        `--shard-from-hostname needs the number of shards, got ${fromHost}`,
        'BAD_SHARD',
        String(fromHost),
      );
    return shardFromHostname(process.env.HOSTNAME || hostname(), fromHost, replicas);
  }
  if (replicas !== 1)
    throw new ShardError(
      '--replicas needs --shard or --shard-from-hostname',
      'BAD_REPLICAS',
      String(replicas),
    );
  return undefined;
}

async function run(args: ParsedArgs, io: CliIo): Promise<number> {
  const target = inspectTarget(args);
  const urls = target.positionals;
  const json = args.options.json === true;
  const targetsFile = typeof args.options.targets === 'string' ? args.options.targets : undefined;
  if (urls.length === 0 && targetsFile === undefined)
    return usage(io, 'give at least one rtmp:// URL, or --targets FILE');
  const duration = args.options.duration as number | undefined;
  const stall = args.options.stall as number;
  if ((duration !== undefined && duration <= 0) || !(stall > 0))
    return usage(io, '--duration and --stall need a positive number of seconds');
  const maxConnections = args.options['max-connections'] as number | undefined;
  if (maxConnections !== undefined && (!Number.isInteger(maxConnections) || maxConnections < 1))
    return usage(io, '--max-connections needs a whole number >= 1');
  const readBatchMs = args.options['read-batch-ms'] as number;
  if (!(readBatchMs >= 0 && readBatchMs <= MAX_READ_BATCH_MS))
    return usage(
      io,
      `--read-batch-ms needs a number of ms from 0 to ${MAX_READ_BATCH_MS} (MAX_READ_BATCH_MS)`,
    );
  let maxAttempts: number | undefined;
  try {
    maxAttempts = retriesOption(args);
  } catch (e) {
    return usage(io, (e as Error).message);
  }
  const httpText = [args.options.metrics, args.options.http].find((v) => typeof v === 'string');
  if (typeof args.options.metrics === 'string' && typeof args.options.http === 'string')
    return usage(io, '--http is another name for --metrics: give one of them');
  let httpAt: { host: string; port: number } | undefined;
  if (typeof httpText === 'string') {
    try {
      httpAt = parseHostPort(httpText);
    } catch (e) {
      return usage(io, `--metrics: ${(e as Error).message}`);
    }
  }
  let shard: ShardSpec | undefined;
  let listed: MonitorTarget[];
  try {
    shard = shardOf(args);
    const fromUrls = targetsFromUrls(urls);
    for (const d of fromUrls.duplicates)
      io.stderr.write(`rtmp-actors monitor: ${d} is listed twice; watching it once\n`);
    listed = fromUrls.targets;
  } catch (e) {
    return usage(io, (e as Error).message);
  }

  let dashboard: Dashboard | undefined;
  const early: StreamEvent[] = [];
  let monitor: Monitor;
  const tracing = await openTracing('monitor', urls, args, target.inspect, io);
  try {
    monitor = createMonitor({
      targets: listed,
      targetsFile,
      shard,
      stallMs: stall * 1000,
      readBatchMs,
      maxConnections,
      // --retries n: the NetStream's retries (keep watching, up to n) and the connection's.
      ...(maxAttempts !== undefined
        ? { playOptions: { keepWatching: true, retry: { maxAttempts } } }
        : {}),
      session: {
        ...(maxAttempts !== undefined ? { retry: { maxAttempts } } : {}),
        ...(tracing.inspect ? { inspect: tracing.inspect } : {}),
      },
      log: (line) => io.stderr.write(`rtmp-actors monitor: ${line}\n`),
    });
  } catch (e) {
    await tracing.close();
    return usage(io, (e as Error).message);
  }
  const eventsSub = monitor.events$.subscribe((e) => {
    if (e.event === 'targets') {
      if (json) io.stdout.write(`${targetsEventJson(e)}\n`);
      return;
    }
    if (dashboard) dashboard.event(e);
    else early.push(e);
  });
  const onHangup = (): void => void monitor.reload();
  if (targetsFile !== undefined) process.on('SIGHUP', onHangup);

  let http: HttpServer | undefined;
  try {
    if (httpAt) {
      // The process's own metrics beside the streams', as Prometheus exporters have them:
      // process_resident_memory_bytes, process_cpu_seconds_total, process_open_fds against
      // process_max_fds, nodejs_eventloop_lag_seconds, heap sizes (prom-client's defaults).
      collectDefaultMetrics({ register: monitor.registry });
      // Gauges named like counters (promtool's lint refuses them); nodejs_active_handles and
      // nodejs_active_requests, by type, say the same.
      for (const name of LINT_FAILING_DEFAULTS) monitor.registry.removeSingleMetric(name);
      http = await startHttpServer({
        ...httpAt,
        registry: monitor.registry,
        api: monitorApi(monitor),
      });
      io.stderr.write(`metrics on http://${httpAt.host}:${http.port}/metrics\n`);
    }
    dashboard = createDashboard({
      io,
      json,
      durationMs: duration !== undefined ? duration * 1000 : undefined,
      snapshots: () => monitor.snapshots(),
      header: () => [
        `rtmp-actors monitor: ${monitor.targets().length} stream(s) over ${monitor.connectionsUp()} connection(s) up`,
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
    process.off('SIGHUP', onHangup);
    await http?.close();
    await monitor.close();
    eventsSub.unsubscribe();
    await tracing.close();
  }
}

/** prom-client default metrics whose names promtool's lint refuses (gauges ending in _total). */
const LINT_FAILING_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export const monitorCommand: Command = {
  spec: {
    name: 'monitor',
    summary:
      'watch live streams: health, bitrate, fps, GOP, codecs, stalls; a table, JSON lines, Prometheus and an HTTP API',
    usage:
      'rtmp-actors monitor [url...] [--targets FILE] [--json] [--duration s] [--metrics host:port]\n' +
      '                    [--shard i/N | --shard-from-hostname N] [--replicas R] [--max-connections N]',
    description:
      'Plays every stream and shows per-stream statistics once a second: a table redrawn in place on a\n' +
      'terminal, a table every 5 s otherwise, or JSON lines (one per stream per second, one per event)\n' +
      "with --json. Every stream has an id: a targets entry's own, or the URL redacted (stream names\n" +
      'and query values masked, #2, #3... when two URLs redact alike). A refused or failed stream\n' +
      'shows its reason (MAX_CONNECTIONS, a server status code, REFUSED...) in the table, the JSON\n' +
      'events and rtmp_stream_failures_total. A stream whose publisher left (or is not there yet)\n' +
      'reads `retrying` and is played again after a backoff, for as long as the monitor runs.\n' +
      '\n' +
      'Targets file (YAML or JSON), watched and re-read on SIGHUP; changes apply within seconds:\n' +
      '  streams:\n' +
      '    - id: cam-001\n' +
      '      url: rtmp://media.example/live/cam-001\n' +
      '      labels: { site: paris }\n' +
      'A file that does not parse keeps the last good targets (rtmp_monitor_targets_reload_success 0).\n' +
      '\n' +
      'Scale: streams on one host and app share a session; its connection pool grows to what the\n' +
      'targets need, up to the file-descriptor limit (ulimit -n) less 64, or --max-connections.\n' +
      '\n' +
      'HTTP (--metrics or --http, 127.0.0.1 by default): GET /metrics, /healthz, /readyz, /streams;\n' +
      'POST /streams {"id","url","labels"} adds a target (201; 400 invalid; 409 id taken), DELETE\n' +
      '/streams/{id} removes one (204; 404). Targets added through the API stay until deleted; a\n' +
      "reload of the targets file only changes the file's own targets.\n" +
      '\n' +
      'Shards: --shard i/N watches the ids whose FNV-1a 32-bit hash mod N is i; --replicas R also the\n' +
      'next R-1 shards; --shard-from-hostname N takes i from a StatefulSet pod name (monitor-2 is 2).\n' +
      '\n' +
      'SIGINT/SIGTERM stop every stream (deleteStream) and exit with the health code.\n' +
      'Exit code: 0 all healthy, 3 none could connect, 5 none exists, 7 some unhealthy.',
    options: [
      {
        name: 'targets',
        type: 'string',
        valueName: 'FILE',
        description:
          'watch the targets of a YAML/JSON file (re-read when it changes and on SIGHUP)',
      },
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
        description:
          'serve /metrics, /healthz, /readyz and /streams on http://host:port (port 0: any)',
      },
      {
        name: 'http',
        type: 'string',
        valueName: 'host:port',
        description: 'another name for --metrics',
      },
      {
        name: 'stall',
        type: 'number',
        valueName: 's',
        description: 'no media for this long is a stall',
        default: 5,
      },
      {
        name: 'read-batch-ms',
        type: 'number',
        valueName: 'ms',
        description: `after a read with media, rest each socket this long (0 to ${MAX_READ_BATCH_MS}; 0: read at once): far less CPU per stream, media this much later`,
        default: MONITOR_READ_BATCH_MS,
      },
      {
        name: 'shard',
        type: 'string',
        valueName: 'i/N',
        description: 'watch only the targets of shard i of N (hash of the id mod N)',
      },
      {
        name: 'shard-from-hostname',
        type: 'number',
        valueName: 'N',
        description: 'shard i/N with i the trailing ordinal of the hostname (monitor-2 → 2)',
      },
      {
        name: 'replicas',
        type: 'number',
        valueName: 'R',
        description: 'also watch the next R-1 shards (each target watched by R processes)',
        default: 1,
      },
      {
        name: 'retries',
        type: 'number',
        valueName: 'n',
        description:
          'retries of a stream (and of its connection) after the first attempt fails, without media in between (0: one attempt; default: keep watching for ever)',
      },
      {
        name: 'max-connections',
        type: 'number',
        valueName: 'N',
        description:
          'connections per host/app at most (default: the file-descriptor limit less 64)',
      },
      ...TRACE_OPTIONS,
    ],
    examples: [
      'rtmp-actors monitor rtmp://127.0.0.1/live/cam1 rtmp://127.0.0.1/live/cam2',
      'rtmp-actors monitor rtmp://127.0.0.1/live/cam1 --json --duration 30 --metrics :9464',
      'rtmp-actors monitor --targets streams.yaml --metrics 0.0.0.0:9464',
      'rtmp-actors monitor --targets streams.yaml --shard-from-hostname 3 --replicas 2 --http 0.0.0.0:9464',
      'curl -X POST -H \'content-type: application/json\' -d \'{"id":"cam-9","url":"rtmp://h/live/cam9"}\' http://127.0.0.1:9464/streams',
    ],
  },
  run,
};
