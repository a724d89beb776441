/**
 * `rtmp-actors trace summary|replay file.jsonl`: reads a file recorded with `--trace`.
 * `summary` prints each actor's path of states with times (or JSON with --json); `replay` sends
 * the events again, in recorded timing, to the Stately inspector (`--inspect [ws://…]`) or, by
 * default, prints them as text lines.
 */
import { isInspectorUrl, startInspector, type LiveInspector } from '../trace/inspector';
import { TraceRedactor } from '../trace/record';
import { formatRecord, replay } from '../trace/replay';
import { formatSummary, readTrace, summarize } from '../trace/summary';
import { inspectTarget } from '../trace/session';
import { ExitCode } from './exitCodes';
import type { Command } from './index';

/** How long replay waits for the inspector's socket before falling back to text. */
const READY_TIMEOUT_MS = 3000;

export const traceCommand: Command = {
  spec: {
    name: 'trace',
    summary: 'read a --trace file: each actor’s states as a timeline, or replay it',
    usage:
      'rtmp-actors trace summary <file.jsonl> [--json] [--all]\n' +
      '       rtmp-actors trace replay <file.jsonl> [--inspect [ws://host:port]] [--speed x]',
    description:
      'summary: one line an actor (its states in order), then each state with the time it was\n' +
      'entered and the event that led there. replay: the recorded events again in recorded\n' +
      'timing (--speed 2 is twice as fast, 0 at once), to the Stately inspector with --inspect\n' +
      '(a local bridge, or the ws:// URL given), otherwise printed as text.',
    options: [
      { name: 'json', type: 'boolean', description: 'summary: print the timelines as JSON' },
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
    ],
  },

  async run(args, io) {
    const target = inspectTarget(args);
    const [sub, file, ...extra] = target.positionals;
    if (sub !== 'summary' && sub !== 'replay') {
      io.stderr.write('rtmp-actors trace: summary or replay? (see --help)\n');
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
