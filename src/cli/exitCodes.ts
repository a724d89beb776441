/** The exit codes live in src/exitCodes.ts, where the monitor (below the CLI) reads them too. */
export { ExitCode } from '../exitCodes';
