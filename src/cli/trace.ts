/**
 * `rtmp-actors trace summary|replay|check file.jsonl`: reads a file recorded with `--trace`.
 * `summary` prints each actor's path of states with times (or JSON with --json); `replay` sends
 * the events again, in recorded timing, to the Stately inspector (`--inspect [ws://…]`) or, by
 * default, prints them as text lines; `check` replays every recorded step against the machine
 * definitions (src/testing/checkTrace.ts) and exits 0 only when all agree.
 */
import { checkTrace, formatTraceCheck } from '../testing/checkTrace';
import { isInspectorUrl, startInspector, type LiveInspector } from '../trace/inspector';
import { TraceRedactor } from '../trace/record';
import { formatRecord, replay } from '../trace/replay';
import { formatSummary, readTrace, summarize } from '../trace/summary';
import { inspectTarget } from '../trace/session';
import { ExitCode } from './exitCodes';
import type { Command } from './types';

/** How long replay waits for the inspector's socket before falling back to text. */
const READY_TIMEOUT_MS = 3000;

export const traceCommand: Command = {
  spec: {
    name: 'trace',
    summary: 'read a --trace file: each actor’s states as a timeline, replay it, or check it',
    usage:
      'rtmp-actors trace summary <file.jsonl> [--json] [--all]\n' +
      '       rtmp-actors trace replay <file.jsonl> [--inspect [ws://host:port]] [--speed x]\n' +
      '       rtmp-actors trace check <file.jsonl> [--json]',
    description:
      'summary: one line an actor (its states in order), then each state with the time it was\n' +
      'entered and the event that led there. replay: the recorded events again in recorded\n' +
      'timing (--speed 2 is twice as fast, 0 at once), to the Stately inspector with --inspect\n' +
      '(a local bridge, or the ws:// URL given), otherwise printed as text.\n' +
      'check: replays every step the trace recorded against the statecharts (machines/): from\n' +
      'the recorded state and context, the recorded event must lead to the recorded next state\n' +
      "and status (XState's pure transition()); each actor's first state is checked from its\n" +
      'recorded input. Prints how many transitions it checked; exit 0 only when every step of\n' +
      'every actor agrees, 1 when one does not (naming the actor, the step, the state the machine\n' +
      'goes to and the state the trace has) or when there is nothing to check. Traces are\n' +
      'redacted: a guard reads `***` (`***2`… for a second URL) where the runtime read a stream\n' +
      'name or secret. No guard decides on such text, only compares names, and one secret always\n' +
      'reads the same mask, so this passes on real sessions; a step that disagrees while its\n' +
      'event holds a masked value still fails, and says so. States and statuses are compared,\n' +
      'not contexts (they hold clock readings and random jitter).',
    options: [
      {
        name: 'json',
        type: 'boolean',
        description: 'summary: print the timelines as JSON; check: print the result as JSON',
      },
      {
        name: 'all',
        type: 'boolean',
        description: 'summary: list actors without states too (callbacks, promises)',
      },
      {
        name: 'brief',
        type: 'boolean',
        description: 'summary: only the one-line path of each actor',
      },
      {
        name: 'inspect',
        type: 'boolean',
        description: 'replay: to the Stately inspector (local bridge, or `--inspect ws://…`)',
      },
      {
        name: 'speed',
        type: 'number',
        valueName: 'x',
        description: 'replay: speed factor (0: all at once)',
        default: 1,
      },
    ],
    examples: [
      'rtmp-actors play rtmp://127.0.0.1/live/stream --live --duration 5 --trace run.jsonl',
      'rtmp-actors trace summary run.jsonl',
      'rtmp-actors trace replay run.jsonl --speed 0',
      'rtmp-actors trace replay run.jsonl --inspect ws://localhost:8080',
      'rtmp-actors trace check run.jsonl',
    ],
  },

  async run(args, io) {
    const target = inspectTarget(args);
    const [sub, file, ...extra] = target.positionals;
    if (sub !== 'summary' && sub !== 'replay' && sub !== 'check') {
      io.stderr.write('rtmp-actors trace: summary, replay or check? (see --help)\n');
      return ExitCode.Usage;
    }
    if (!file || extra.length) {
      io.stderr.write(
        `rtmp-actors trace ${sub}: ${file ? `unexpected argument "${extra[0]}"` : 'which file?'} (see --help)\n`,
      );
      return ExitCode.Usage;
    }
    let parsed;
    try {
      parsed = readTrace(file);
    } catch (e) {
      io.stderr.write(`rtmp-actors trace: cannot read ${file}: ${(e as Error).message}\n`);
      return ExitCode.Failure;
    }
    const { records, badLines } = parsed;
    if (badLines) {
      io.stderr.write(`rtmp-actors trace: ${badLines} line(s) of ${file} are not trace records\n`);
    }
    const o = args.options;

    if (sub === 'check') {
      const result = checkTrace(records);
      result.badLines = badLines;
      if (o.json === true) io.stdout.write(JSON.stringify(result, null, 2) + '\n');
      else io.stdout.write(formatTraceCheck(result, file));
      return result.ok ? ExitCode.Ok : ExitCode.Failure;
    }

    if (sub === 'summary') {
      const timelines = summarize(records, o.all === true);
      if (o.json === true) io.stdout.write(JSON.stringify(timelines, null, 2) + '\n');
      else io.stdout.write(formatSummary(timelines, o.brief !== true));
      return ExitCode.Ok;
    }

    const speed = typeof o.speed === 'number' ? o.speed : 1;
    let live: LiveInspector | undefined;
    if (target.inspect !== false) {
      try {
        live = await startInspector(
          typeof target.inspect === 'string' && isInspectorUrl(target.inspect)
            ? target.inspect
            : undefined,
          new TraceRedactor(undefined),
        );
        if (!(await live.ready(READY_TIMEOUT_MS))) {
          await live.stop();
          live = undefined;
          throw new Error('its socket did not open');
        }
        io.stderr.write(`rtmp-actors trace replay: ${live.where}\n`);
      } catch (e) {
        io.stderr.write(
          `rtmp-actors trace replay: no inspector (${(e as Error).message}): printing the events instead\n`,
        );
      }
    } else {
      io.stderr.write('rtmp-actors trace replay: no --inspect: printing the events as text\n');
    }
    const emit = live
      ? (r: (typeof records)[number]) => live.send(r)
      : (r: (typeof records)[number]) => io.stdout.write(formatRecord(r) + '\n');
    const result = await replay(records, emit, { speed, cancelled: io.interrupted });
    await live?.stop();
    io.stderr.write(
      `rtmp-actors trace replay: ${result.sent} of ${records.length} events${result.cancelled ? ' (interrupted)' : ''}\n`,
    );
    return result.cancelled ? ExitCode.Interrupted : ExitCode.Ok;
  },
};
