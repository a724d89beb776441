import type { Command, CliIo } from './types';
import { ExitCode } from './exitCodes';
import type { ParsedArgs } from './args';
import { RtmpServer } from '../server/server';
import { formatServerEvent, serverEventJson } from '../server/log';
import { TRACE_OPTIONS, inspectTarget, openTracing } from '../trace/session';

async function run(args: ParsedArgs, io: CliIo): Promise<number> {
  const host = String(args.options.host);
  const port = Number(args.options.port);
  const chunkSize = Number(args.options['chunk-size']);
  const json = args.options.json === true;
  const maxConnections = Number(args.options['max-connections']);
  const apps = Array.isArray(args.options.app) ? args.options.app : [];
  const target = inspectTarget(args);
  if (target.positionals.length > 0) {
    io.stderr.write(`rtmp-actors serve: unexpected argument ${target.positionals[0]}\n`);
    return ExitCode.Usage;
  }
  const perAddress = Number(args.options['max-connections-per-address']);
  const idleTimeout = Number(args.options['idle-timeout']);
  const hookTimeout = Number(args.options['hook-timeout']);
  const maxBuffered = Number(args.options['max-buffered-bytes']);
  if (!Number.isInteger(perAddress) || perAddress < 0) {
    io.stderr.write(
      `rtmp-actors serve: --max-connections-per-address must be a non-negative integer (0: no limit), got ${args.options['max-connections-per-address']}\n`,
    );
    return ExitCode.Usage;
  }
  for (const [name, v] of [
    ['idle-timeout', idleTimeout],
    ['hook-timeout', hookTimeout],
  ] as const) {
    if (!Number.isFinite(v) || v <= 0 || v * 1000 > 2_147_483_647) {
      io.stderr.write(
        `rtmp-actors serve: --${name} must be a positive number of seconds, got ${args.options[name]}\n`,
      );
      return ExitCode.Usage;
    }
  }
  if (!Number.isInteger(maxBuffered) || maxBuffered < 1) {
    io.stderr.write(
      `rtmp-actors serve: --max-buffered-bytes must be a positive integer, got ${args.options['max-buffered-bytes']}\n`,
    );
    return ExitCode.Usage;
  }
  const hooks: Record<'onPublish' | 'onPlay' | 'onDone', string | undefined> = {
    onPublish: undefined,
    onPlay: undefined,
    onDone: undefined,
  };
  for (const [option, key] of [
    ['on-publish', 'onPublish'],
    ['on-play', 'onPlay'],
    ['on-done', 'onDone'],
  ] as const) {
    const v = args.options[option];
    if (v === undefined || v === false) continue;
    const url = String(v);
    if (!/^https?:\/\/./i.test(url)) {
      io.stderr.write(`rtmp-actors serve: --${option} must be an http:// or https:// URL\n`);
      return ExitCode.Usage;
    }
    hooks[key] = url;
  }
  if (!Number.isInteger(maxConnections) || maxConnections < 1) {
    io.stderr.write(
      `rtmp-actors serve: --max-connections must be a positive integer, got ${args.options['max-connections']}\n`,
    );
    return ExitCode.Usage;
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    io.stderr.write(`rtmp-actors serve: --port must be 0 … 65535, got ${args.options.port}\n`);
    return ExitCode.Usage;
  }
  if (!Number.isInteger(chunkSize) || chunkSize < 128 || chunkSize > 65536) {
    io.stderr.write(
      `rtmp-actors serve: --chunk-size must be 128 … 65536, got ${args.options['chunk-size']}\n`,
    );
    return ExitCode.Usage;
  }
  // Stream names reach the server's actors masked, so a trace of them holds no stream key.
  const tracing = await openTracing('serve', [], args, target.inspect, io);
  const server = new RtmpServer({
    host,
    port,
    chunkSize,
    maxConnections,
    maxConnectionsPerAddress: perAddress,
    idleTimeoutMs: Math.round(idleTimeout * 1000),
    maxBufferedBytes: maxBuffered,
    authorizeTimeoutMs: Math.round(hookTimeout * 1000),
    ...hooks,
    apps,
    waitForPublisher: args.options.wait === true,
    gopCache: args.options['gop-cache'] !== false,
    inspect: tracing.inspect,
  });
  server.events$.subscribe((e) => {
    const at = Date.now();
    io.stdout.write(
      json
        ? `${JSON.stringify(serverEventJson(e, at))}\n`
        : `${new Date(at).toISOString()} ${formatServerEvent(e)}\n`,
    );
  });
  try {
    await server.listen();
  } catch (e) {
    io.stderr.write(
      `rtmp-actors serve: cannot listen on ${host}:${port}: ${(e as Error).message}\n`,
    );
    await server.close();
    await tracing.close();
    return ExitCode.Failure;
  }
  if (!json) io.stderr.write('Press Ctrl-C to stop.\n');
  await io.interrupted;
  const stats = server.stats();
  await server.close();
  await tracing.close();
  if (!json) {
    io.stderr.write(
      `served ${stats.bytesOut} bytes, received ${stats.bytesIn} bytes; ${stats.connections} connection(s) open at shutdown; refused ${stats.refusedRequests.publish} publish(es), ${stats.refusedRequests.play} play(s), ${stats.refusedConnections} connection(s)\n`,
    );
  }
  return ExitCode.Ok;
}

export const serveCommand: Command = {
  spec: {
    name: 'serve',
    summary: 'run the embedded RTMP server (live streams: publish and play, many per connection)',
    usage:
      'rtmp-actors serve [--host 127.0.0.1] [--port 1935] [--app name ...] [--on-publish URL] [--on-play URL] [--on-done URL] [--hook-timeout s] [--idle-timeout s] [--max-connections n] [--max-connections-per-address n] [--max-buffered-bytes n] [--wait] [--json] [--trace file.jsonl] [--inspect[=ws://…]]',
    description:
      'Accepts publishers (ffmpeg, OBS, rtmp-actors publish) and players of live streams. Several\n' +
      'streams may share one connection, each on its own message stream id. Metadata, sequence headers\n' +
      'and the last GOP are kept, so a new player starts on a keyframe at once. One publisher per name\n' +
      '(a second gets NetStream.Publish.BadName); an unknown name gets NetStream.Play.StreamNotFound\n' +
      'unless --wait. With --app, connect to any other application is answered with\n' +
      "NetConnection.Connect.Rejected. --on-publish/--on-play are nginx-rtmp's HTTP hooks: each publish\n" +
      'or play is POSTed (form fields call, addr, clientid, app, flashver, swfurl, tcurl, pageurl, name,\n' +
      "type, and the name's query arguments); 2xx allows, 3xx with a plain Location renames the stream,\n" +
      'anything else, a timeout or an unreachable hook refuses (NetStream.Publish.Unauthorized,\n' +
      'NetStream.Play.Failed). A connection with no publish or play for --idle-timeout is closed, as is\n' +
      'a publisher that sends nothing that long. Logs one line per event (stream keys masked). Every\n' +
      'connection, handshake and NetStream is an actor under one server supervisor: --trace records\n' +
      'them, --inspect shows them live. Ctrl-C stops it cleanly.',
    options: [
      { name: 'host', type: 'string', description: 'address to listen on', default: '127.0.0.1' },
      {
        name: 'port',
        alias: 'p',
        type: 'number',
        description: 'TCP port (0: any free port)',
        default: 1935,
      },
      { name: 'chunk-size', type: 'number', description: 'outgoing chunk size', default: 4096 },
      {
        name: 'wait',
        type: 'boolean',
        description: 'players of an unknown name wait for its publisher',
      },
      {
        name: 'gop-cache',
        type: 'boolean',
        description: 'keep the last GOP for new players (--no-gop-cache: off)',
        default: true,
      },
      {
        name: 'app',
        type: 'list',
        valueName: 'name',
        description: 'serve only this application (repeat for several; default: any)',
      },
      {
        name: 'max-connections',
        type: 'number',
        description: 'most client connections at once; more are refused',
        default: 1024,
      },
      {
        name: 'max-connections-per-address',
        type: 'number',
        valueName: 'n',
        description: 'most connections from one address; more are refused (0: no limit)',
        default: 64,
      },
      {
        name: 'idle-timeout',
        type: 'number',
        valueName: 's',
        description:
          'close a connection with no publish or play (or a silent publisher) after s seconds',
        default: 30,
      },
      {
        name: 'max-buffered-bytes',
        type: 'number',
        valueName: 'n',
        description: 'server-wide memory budget (partial messages, queued output, GOP caches)',
        default: 512 * 1024 * 1024,
      },
      {
        name: 'on-publish',
        type: 'string',
        valueName: 'URL',
        description: 'nginx-rtmp on_publish hook: POSTed for each publish; 2xx allows',
      },
      {
        name: 'on-play',
        type: 'string',
        valueName: 'URL',
        description: 'nginx-rtmp on_play hook: POSTed for each play; 2xx allows',
      },
      {
        name: 'on-done',
        type: 'string',
        valueName: 'URL',
        description: 'nginx-rtmp on_done hook: POSTed (call=done) when a publish or play ends',
      },
      {
        name: 'hook-timeout',
        type: 'number',
        valueName: 's',
        description: 'seconds a hook may take; then the publish or play is refused',
        default: 5,
      },
      { name: 'json', type: 'boolean', description: 'log JSON lines' },
      ...TRACE_OPTIONS,
    ],
    examples: [
      'rtmp-actors serve --port 1935',
      'ffmpeg -re -i in.flv -c copy -f flv rtmp://127.0.0.1:1935/live/cam1',
      'rtmp-actors monitor rtmp://127.0.0.1:1935/live/cam1',
    ],
  },
  run,
};
