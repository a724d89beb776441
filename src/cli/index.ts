import { formatHelp, parseArgs, UsageError, type ParsedArgs } from './args';
import { ExitCode } from './exitCodes';
import type { CliIo, Command } from './types';

// The commands import these from ./types (this module loads them); here for existing importers.
export type { CliIo, Command } from './types';

/** Commands load lazily so `--help` and small commands start fast. */
const COMMANDS: Record<string, () => Command> = {
  dump: () => require('./dump').dumpCommand,
  viz: () => require('./viz').vizCommand,
};

function optionalCommands(): Record<string, () => Command> {
  // Commands whose modules exist in this build (added as the runtime grows).
  const extra: Record<string, string> = {
    play: './play',
    publish: './publish',
    monitor: './monitor',
    serve: './serve',
    demo: './demo',
    trace: './trace',
  };
  const out: Record<string, () => Command> = {};
  for (const [name, mod] of Object.entries(extra)) {
    try {
      require.resolve(mod);
      out[name] = () => require(mod)[`${name}Command`];
    } catch {
      // not part of this build
    }
  }
  return out;
}

function allCommands(): Record<string, () => Command> {
  return { ...COMMANDS, ...optionalCommands() };
}

function topHelp(): string {
  const cmds = allCommands();
  const lines = [
    'Usage: rtmp-actors <command> [options]',
    '',
    'An RTMP client and server whose every protocol phase is an explicit XState statechart.',
    '',
    'Commands:',
  ];
  const names = Object.keys(cmds).sort();
  const width = Math.max(...names.map((n) => n.length)) + 2;
  for (const name of names) lines.push(`  ${name.padEnd(width)}${cmds[name]().spec.summary}`);
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
  const load = allCommands()[name];
  if (!load) {
    io.stderr.write(`rtmp-actors: unknown command "${name}"\n\n${topHelp()}`);
    return ExitCode.Usage;
  }
  const command = load();
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
