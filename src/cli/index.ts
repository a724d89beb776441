import { formatHelp, parseArgs, UsageError, type ParsedArgs } from './args';
import { ExitCode } from './exitCodes';
import type { CliIo, Command } from './types';

// The commands import these from ./types (this module loads them); here for existing importers.
export type { CliIo, Command } from './types';

/**
 * Every command, with the one-line summary the top-level help prints. A command's module (and
 * everything it imports: XState, RxJS, prom-client...) loads only when that command runs or prints
 * its own help, so `rtmp-actors --help` loads none of them. Each summary here is the command's
 * `spec.summary` (test/cli/startup.test.ts holds them equal).
 */
export const COMMAND_TABLE: Readonly<Record<string, { summary: string; load: () => Command }>> = {
  demo: {
    summary: 'serve, publish and monitor four live streams on this machine (what `npm start` runs)',
    load: () => (require('./demo') as typeof import('./demo')).demoCommand,
  },
  dump: {
    summary: 'decode one direction of a captured RTMP session into JSON lines',
    load: () => (require('./dump') as typeof import('./dump')).dumpCommand,
  },
  monitor: {
    summary:
      'watch live streams: health, bitrate, fps, GOP, codecs, stalls; a table, JSON lines, Prometheus and an HTTP API',
    load: () => (require('./monitor') as typeof import('./monitor')).monitorCommand,
  },
  play: {
    summary: 'play a stream: save it as FLV (a file or stdout), or just count it',
    load: () => (require('./play') as typeof import('./play')).playCommand,
  },
  publish: {
    summary: 'publish an FLV file to a server, in real time (optionally looped)',
    load: () => (require('./publish') as typeof import('./publish')).publishCommand,
  },
  serve: {
    summary: 'run the embedded RTMP server (live streams: publish and play, many per connection)',
    load: () => (require('./serve') as typeof import('./serve')).serveCommand,
  },
  trace: {
    summary: 'read a --trace file: each actor’s states as a timeline, replay it, or check it',
    load: () => (require('./trace') as typeof import('./trace')).traceCommand,
  },
  viz: {
    summary: 'write Mermaid, DOT and SVG diagrams of every statechart',
    load: () => (require('./viz') as typeof import('./viz')).vizCommand,
  },
};

function topHelp(): string {
  const lines = [
    'Usage: rtmp-actors <command> [options]',
    '',
    'An RTMP client and server whose every protocol phase is an explicit XState statechart.',
    '',
    'Commands:',
  ];
  const names = Object.keys(COMMAND_TABLE).sort();
  const width = Math.max(...names.map((n) => n.length)) + 2;
  for (const name of names) lines.push(`  ${name.padEnd(width)}${COMMAND_TABLE[name].summary}`);
  lines.push('', 'Run `rtmp-actors <command> --help` for the options of one command.');
  return lines.join('\n') + '\n';
}

/** The package version, found by walking up from this file (works from src/ and dist/src/). */
function packageVersion(): string {
  const { existsSync, readFileSync } = require('node:fs') as typeof import('node:fs');
  const path = require('node:path') as typeof import('node:path');
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file))
      return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    dir = path.dirname(dir);
  }
  return 'unknown';
}

function defaultIo(): CliIo {
  let resolveInterrupt: () => void = () => undefined;
  const interrupted = new Promise<void>((resolve) => {
    resolveInterrupt = resolve;
  });
  let count = 0;
  const onSignal = (): void => {
    count++;
    if (count > 1) process.exit(ExitCode.Interrupted);
    resolveInterrupt();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { stdout: process.stdout, stderr: process.stderr, interrupted };
}

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: readonly string[], io: CliIo = defaultIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(topHelp());
    return name ? ExitCode.Ok : ExitCode.Usage;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(`${packageVersion()}\n`);
    return ExitCode.Ok;
  }
  const entry = Object.hasOwn(COMMAND_TABLE, name) ? COMMAND_TABLE[name] : undefined;
  if (!entry) {
    io.stderr.write(`rtmp-actors: unknown command "${name}"\n\n${topHelp()}`);
    return ExitCode.Usage;
  }
  const command = entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(formatHelp(command.spec));
    return ExitCode.Ok;
  }
  let args: ParsedArgs;
  try {
    args = parseArgs(rest, command.spec);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`rtmp-actors ${name}: ${e.message}\n\n${formatHelp(command.spec)}`);
      return ExitCode.Usage;
    }
    throw e;
  }
  return command.run(args, io);
}
