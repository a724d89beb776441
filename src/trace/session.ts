/**
 * What the session commands (play, publish, monitor, demo) do with `--trace file.jsonl` and
 * `--inspect [ws://host:port]`: one `inspect` observer for createSession, and `close()` to end
 * both at the end of the command. Nothing of @statelyai/inspect loads without --inspect.
 */
import type { InspectionEvent } from 'xstate';
import { isInspectorUrl, startInspector, type LiveInspector } from './inspector';
import { TraceRecorder, TraceRedactor } from './record';

// Nothing outside src/cli imports src/cli (eslint.config.js): the few shapes of the CLI this
// module reads are spelled out here, and the CLI's own types fit them.

/** An option, as src/cli/args describes one. */
export interface TraceOptionSpec {
  name: string;
  type: 'boolean' | 'string';
  description: string;
  valueName?: string;
  optionalValue?: boolean;
}

/** What this module reads of the parsed command line (src/cli/args ParsedArgs). */
export interface TraceArgs {
  positionals: string[];
  options: Record<string, unknown>;
}

/** Where this module reports problems (src/cli CliIo). */
export interface TraceIo {
  stderr: { write(text: string): unknown };
}

/** How long a command waits for the inspector's socket before it starts the session. */
const INSPECTOR_READY_MS = 2000;

/** `--trace` and `--inspect`, for the session commands' option lists. */
export const TRACE_OPTIONS: TraceOptionSpec[] = [
  {
    name: 'trace',
    type: 'string',
    valueName: 'file.jsonl',
    description: "record the statecharts' inspection events as JSON lines (secrets masked)",
  },
  {
    name: 'inspect',
    type: 'boolean',
    optionalValue: true,
    valueName: 'ws://host:port',
    description:
      'show the statecharts in the Stately inspector: a local bridge, or `--inspect ws://host:port`',
  },
];

/**
 * The --inspect target: false (not asked), true (start a local bridge) or a ws:// URL, which the
 * parser leaves among the positionals (--inspect is a flag); the URL is taken out of them.
 */
export function inspectTarget(args: TraceArgs): {
  inspect: boolean | string;
  positionals: string[];
} {
  const given = args.options.inspect;
  // `--inspect=ws://host:port`
  if (typeof given === 'string') return { inspect: given, positionals: args.positionals };
  if (given !== true) return { inspect: false, positionals: args.positionals };
  const i = args.positionals.findIndex(isInspectorUrl);
  if (i < 0) return { inspect: true, positionals: args.positionals };
  return {
    inspect: args.positionals[i],
    positionals: args.positionals.filter((_, j) => j !== i),
  };
}

export interface Tracing {
  /** For createSession's `inspect` (undefined when neither option is given). */
  inspect: ((ev: InspectionEvent) => void) | undefined;
  redactor: TraceRedactor;
  /** Finishes the trace file and stops the inspector. */
  close(): Promise<void>;
}

/**
 * Opens the trace file and starts the inspector as asked. An inspector that cannot start is
 * reported on stderr and left out (the command goes on without it).
 */
export async function openTracing(
  command: string,
  url: string | readonly string[],
  args: TraceArgs,
  inspect: boolean | string,
  io: TraceIo,
): Promise<Tracing> {
  const redactor = new TraceRedactor(url);
  const file = typeof args.options.trace === 'string' ? args.options.trace : undefined;
  const recorder = file ? new TraceRecorder(file, redactor) : undefined;
  let live: LiveInspector | undefined;
  if (inspect !== false) {
    try {
      live = await startInspector(typeof inspect === 'string' ? inspect : undefined, redactor);
      io.stderr.write(`rtmp-actors ${command}: ${live.where}\n`);
      // Events before the socket opens are held (up to 10 000), so this only bounds the wait.
      await live.ready(INSPECTOR_READY_MS);
    } catch (e) {
      io.stderr.write(
        `rtmp-actors ${command}: --inspect: ${(e as Error).message}; going on without it\n`,
      );
    }
  }
  const parts = [recorder?.inspect, live?.inspect].filter(
    (f): f is (ev: InspectionEvent) => void => f !== undefined,
  );
  return {
    inspect: parts.length ? (ev) => parts.forEach((f) => f(ev)) : undefined,
    redactor,
    async close() {
      await live?.stop();
      try {
        await recorder?.close();
      } catch (e) {
        io.stderr.write(
          `rtmp-actors ${command}: cannot write --trace ${file}: ${(e as Error).message}\n`,
        );
      }
    },
  };
}
