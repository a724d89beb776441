import type { Command, CliIo } from './index';
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
      `served ${stats.bytesOut} bytes, received ${stats.bytesIn} bytes; ${stats.connections} connection(s) open at shutdown\n`,
    );
  }
  return ExitCode.Ok;
}

export const serveCommand: Command = {
  spec: {
    name: 'serve',
    summary: 'run the embedded RTMP server (live streams: publish and play, many per connection)',
    usage:
      'rtmp-actors serve [--host 127.0.0.1] [--port 1935] [--app name ...] [--max-connections n] [--wait] [--json] [--trace file.jsonl] [--inspect[=ws://…]]',
    description:
      'Accepts publishers (ffmpeg, OBS, rtmp-actors publish) and players of live streams. Several\n' +
      'streams may share one connection, each on its own message stream id. Metadata, sequence headers\n' +
      'and the last GOP are kept, so a new player starts on a keyframe at once. One publisher per name\n' +
      '(a second gets NetStream.Publish.BadName); an unknown name gets NetStream.Play.StreamNotFound\n' +
      'unless --wait. With --app, connect to any other application is answered with\n' +
      'NetConnection.Connect.Rejected. Logs one line per event (stream keys masked). Every\n' +
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
