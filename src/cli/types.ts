/**
 * The shapes every command shares: where it writes, and what a command is. In a module of their
 * own, so that the commands need not import src/cli/index.ts, which loads them (no cycle).
 */
import type { CommandSpec, ParsedArgs } from './args';

/** Where a command writes: injectable so tests can capture output. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** Resolves when the user asks to stop (SIGINT/SIGTERM). */
  interrupted: Promise<void>;
}

export interface Command {
  spec: CommandSpec;
  run(args: ParsedArgs, io: CliIo): Promise<number>;
}
