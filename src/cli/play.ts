import { accessSync, constants as fsConstants, createWriteStream } from 'node:fs';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import type { Session, StreamHandle, StreamOutcome } from '../client';
import {
  DEFAULT_LIVE_BUFFER_MS,
  DEFAULT_VOD_BUFFER_MS,
  DEFAULT_VOD_IDLE_MS,
} from '../playDefaults';
import { FlvFileSink } from '../io/flvFile';
import { SyncFileWriter } from '../io/syncFile';
import type { MediaMessage } from '../io/media';
import { UrlError } from '../url';
import type { Command } from './types';
import {
  CommandError,
  ProgressLine,
  SESSION_OPTIONS,
  formatBytes,
  formatMediaTime,
  jsonLineWriter,
  outcomeVerdict,
  progressMode,
  redactorFor,
  secondsOption,
  sessionOptionsFrom,
  withTimeout,
  type Verdict,
} from './common';
import { ExitCode } from './exitCodes';
import { inspectTarget, openTracing } from '../trace/session';

/** nginx-rtmp paces VOD by the client's buffer: ask for 10 hours and get the file at once. */
const VOD_BUFFER_MS = DEFAULT_VOD_BUFFER_MS;
const LIVE_BUFFER_MS = DEFAULT_LIVE_BUFFER_MS;
const STOP_TIMEOUT_MS = 5000;

type Ending =
  | { kind: 'done'; outcome: StreamOutcome }
  | { kind: 'duration' }
  | { kind: 'interrupted' }
  | { kind: 'output'; error: Error };

/** What `play` saw of the media. */
interface MediaStats {
  messages: number;
  audio: number;
  video: number;
  firstTimestamp: number | undefined;
  lastTimestamp: number | undefined;
}

function mediaTime(stats: MediaStats): number {
  return stats.firstTimestamp === undefined || stats.lastTimestamp === undefined
    ? 0
    : stats.lastTimestamp - stats.firstTimestamp;
}

export const playCommand: Command = {
  spec: {
    name: 'play',
    summary: 'play a stream: save it as FLV (a file or stdout), or just count it',
    usage: 'rtmp-actors play <url> [-o file.flv | -] [--live] [--duration s] [options]',
    description:
      'Connects, plays the stream the URL names and writes its media as an FLV file ("-" for\n' +
      'stdout); without -o it only counts what arrives (like ffmpeg -f null). Recorded streams\n' +
      'are asked for with a long buffer, so servers such as nginx-rtmp send them at full speed.\n' +
      "A live play's file starts at 0, as ffmpeg's recordings do. --retries n is how many\n" +
      'times to try again after the first connection attempt fails (0: no retry).\n' +
      'A terminal shows progress on stderr. Ctrl-C stops the stream (deleteStream), closes the\n' +
      'connection and finishes the file, then exits 130.\n' +
      'Exit codes: 0 done, 3 could not connect, 4 refused by the server, 5 no such stream,\n' +
      '6 protocol error, 130 interrupted.',
    options: [
      {
        name: 'output',
        alias: 'o',
        type: 'string',
        valueName: 'file|-',
        description: 'write the media as FLV to this file, or to stdout with "-"',
      },
      {
        name: 'live',
        type: 'boolean',
        description: 'live only (play start -1; default -2: live or recorded)',
      },
      {
        name: 'start',
        type: 'number',
        valueName: 'ms',
        description: 'play start: -2, -1, or a position in ms',
      },
      {
        name: 'duration',
        type: 'number',
        valueName: 's',
        description: 'stop after this much media time (seconds), exit 0',
      },
      {
        name: 'buffer',
        type: 'number',
        valueName: 'ms',
        description: `SetBufferLength (default ${VOD_BUFFER_MS} for recorded, ${LIVE_BUFFER_MS} with --live)`,
      },
      {
        name: 'idle',
        type: 'number',
        valueName: 's',
        description: `end after this long without media (default ${DEFAULT_VOD_IDLE_MS / 1000} for a recorded stream, off for live)`,
      },
      {
        name: 'keep-timestamps',
        type: 'boolean',
        description: "keep the server's timestamps in a live play's file (default: it starts at 0)",
      },
      ...SESSION_OPTIONS,
      {
        name: 'enhanced',
        type: 'boolean',
        description:
          'advertise Enhanced RTMP v2 (HEVC, AV1, VP9, Opus …, ReconnectRequest): the default',
      },
      {
        name: 'legacy-connect',
        type: 'boolean',
        description: 'send a legacy connect, without the Enhanced RTMP v2 fields',
      },
    ],
    examples: [
      'rtmp-actors play rtmp://127.0.0.1/vod/small.flv -o copy.flv',
      'rtmp-actors play rtmp://127.0.0.1/live/stream --live -o - | ffplay -',
      'rtmp-actors play rtmp://127.0.0.1/live/stream --live --duration 10 --json 2>events.jsonl',
    ],
  },

  async run(args, io) {
    const target = inspectTarget(args);
    const [url, ...extra] = target.positionals;
    if (!url) {
      io.stderr.write('rtmp-actors play: which URL? (see --help)\n');
      return ExitCode.Usage;
    }
    const redact = redactorFor(url);
    if (extra.length) {
      io.stderr.write(`rtmp-actors play: unexpected argument "${redact(extra[0])}" (see --help)\n`);
      return ExitCode.Usage;
    }
    const o = args.options;
    const live = o.live === true;
    let durationMs: number | undefined;
    let idleMs: number | undefined;
    let common;
    try {
      durationMs = secondsOption(args, 'duration');
      idleMs = secondsOption(args, 'idle');
      common = sessionOptionsFrom(args);
      if (o.enhanced === true && o['legacy-connect'] === true) {
        throw new CommandError('--enhanced and --legacy-connect exclude each other');
      }
      if (o.buffer !== undefined && (typeof o.buffer !== 'number' || o.buffer < 0)) {
        throw new CommandError('--buffer needs a number of milliseconds');
      }
    } catch (e) {
      if (!(e instanceof CommandError)) throw e;
      io.stderr.write(`rtmp-actors play: ${e.message}\n`);
      return e.exitCode;
    }
    const start = typeof o.start === 'number' ? o.start : live ? -1 : -2;
    const bufferMs =
      typeof o.buffer === 'number' ? o.buffer : live ? LIVE_BUFFER_MS : VOD_BUFFER_MS;
    const output = typeof o.output === 'string' ? o.output : undefined;
    if (output !== undefined && output !== '-') {
      try {
        accessSync(path.dirname(path.resolve(output)), fsConstants.W_OK);
      } catch (e) {
        io.stderr.write(`rtmp-actors play: cannot write ${output}: ${(e as Error).message}\n`);
        return ExitCode.Failure;
      }
    }
    const json = o.json === true ? jsonLineWriter(io, redact) : undefined;

    const tracing = await openTracing('play', url, args, target.inspect, io);
    let session: Session;
    try {
      // The client (XState, RxJS) loads here, so `play --help` and usage errors do not load it.
      const { createSession } = require('../client') as typeof import('../client');
      session = createSession({
        url,
        ...common,
        enhancedRtmp: o['legacy-connect'] !== true,
        inspect: tracing.inspect,
      });
    } catch (e) {
      await tracing.close();
      if (e instanceof UrlError) {
        io.stderr.write(`rtmp-actors play: ${redact(e.message)}\n`);
        return ExitCode.Usage;
      }
      throw e;
    }

    json?.({
      type: 'play.start',
      url: session.safeUrl,
      output: output ?? null,
      live,
      start,
      bufferMs,
      ...(durationMs !== undefined ? { durationMs } : {}),
    });
    const eventsSub = json ? session.events$.subscribe((e) => json({ ...e })) : undefined;

    // --idle is the stream machine's silent end (endOnIdleMs); without it, the machine's default.
    const handle: StreamHandle = session.play(undefined, {
      start,
      bufferMs,
      ...(idleMs !== undefined ? { endOnIdleMs: idleMs } : {}),
    });
    const stats: MediaStats = {
      messages: 0,
      audio: 0,
      video: 0,
      firstTimestamp: undefined,
      lastTimestamp: undefined,
    };

    // The FLV sink opens on the first media message, so a refused play leaves no empty file.
    let sink: FlvFileSink | undefined;
    let file: Writable | undefined;
    let resolveOutputError: (e: Error) => void = () => undefined;
    const outputFailed = new Promise<Ending>((resolve) => {
      resolveOutputError = (error) => resolve({ kind: 'output', error });
    });
    const mediaSink = session.router.sink(handle.key);
    const cleanups: Array<() => void> = [];
    const openSink = (): FlvFileSink | undefined => {
      if (sink || output === undefined) return sink;
      // A regular file is written synchronously, as rtmpdump does (see SyncFileWriter); a FIFO
      // or a device through a WriteStream.
      const target: Writable =
        output === '-' ? (io.stdout as unknown as Writable) : (file = openOutput(output));
      const onError = (e: Error): void => resolveOutputError(e);
      target.on('error', onError);
      cleanups.push(() => target.removeListener('error', onError));
      // A live play's file starts at 0, as ffmpeg's and OBS's do (--keep-timestamps: the server's).
      const startAtZero = o['keep-timestamps'] !== true && !handle.isRecorded();
      const s = (sink = new FlvFileSink(target, { startAtZero }));
      cleanups.push(mediaSink.addBacklogSource(() => s.backlog()));
      cleanups.push(s.onDrain(() => mediaSink.drained()));
      return sink;
    };

    let resolveDuration: () => void = () => undefined;
    const durationReached = new Promise<Ending>((resolve) => {
      resolveDuration = () => resolve({ kind: 'duration' });
    });
    let finished = false;
    const mediaSub = handle.lentMedia$.subscribe((m: MediaMessage) => {
      if (finished) return;
      if (m.type === 'Audio' || m.type === 'Video') {
        if (stats.firstTimestamp === undefined) stats.firstTimestamp = m.timestamp;
        if (durationMs !== undefined && m.timestamp - stats.firstTimestamp >= durationMs) {
          finished = true;
          resolveDuration();
          return;
        }
        stats.lastTimestamp = m.timestamp;
        if (m.type === 'Audio') stats.audio++;
        else stats.video++;
      }
      stats.messages++;
      openSink()?.write(m);
    });

    const progress = new ProgressLine(
      io,
      () => ({
        bytes: session.bytes.in,
        mediaMs: mediaTime(stats),
        frames: stats.video,
        state: handle.state,
      }),
      { mode: progressMode(io, json !== undefined, o.progress === true), json },
    );
    progress.start();

    const ending: Ending = await Promise.race([
      handle.done.then((outcome): Ending => ({ kind: 'done', outcome })),
      durationReached,
      io.interrupted.then((): Ending => ({ kind: 'interrupted' })),
      outputFailed,
    ]);

    // Tear down in order: stop the stream (deleteStream), close the connection, finish the file.
    let outcome: StreamOutcome | undefined = ending.kind === 'done' ? ending.outcome : undefined;
    if (ending.kind !== 'done') {
      const stopped = await withTimeout(handle.stop(), STOP_TIMEOUT_MS, undefined);
      outcome = stopped;
    }
    finished = true;
    mediaSub.unsubscribe();
    await withTimeout(session.close(), STOP_TIMEOUT_MS, undefined);
    progress.stop();
    for (const c of cleanups) c();
    let verdict: Verdict;
    switch (ending.kind) {
      case 'done':
        verdict =
          ending.outcome.outcome === 'ended' && ending.outcome.reason === 'IDLE_TIMEOUT'
            ? {
                code: ExitCode.Ok,
                message: `no media for ${(idleMs ?? DEFAULT_VOD_IDLE_MS) / 1000} s: done`,
              }
            : outcomeVerdict(ending.outcome);
        break;
      case 'duration':
        verdict = {
          code: ExitCode.Ok,
          message: `duration reached (${formatMediaTime(durationMs ?? 0)})`,
        };
        break;
      case 'interrupted':
        verdict = { code: ExitCode.Interrupted, message: 'interrupted' };
        break;
      case 'output':
        verdict = {
          code: ExitCode.Failure,
          message: `cannot write the output: ${ending.error.message}`,
        };
        break;
    }
    // A successful play always leaves a file (an FLV header at least); a failed one only if media came.
    if (verdict.code === ExitCode.Ok || verdict.code === ExitCode.Interrupted) openSink();
    const saved = sink ? await sink.close().catch(() => undefined) : undefined;
    if (file) {
      const f = file;
      await new Promise<void>((resolve) => {
        f.once('error', () => resolve());
        f.end(() => resolve());
      });
    }
    eventsSub?.unsubscribe();

    const summary = {
      tags: saved?.tags ?? stats.messages,
      audio: stats.audio,
      video: stats.video,
      bytesIn: session.bytes.in,
      mediaMs: mediaTime(stats),
    };
    if (json) {
      json({
        type: 'play.end',
        exitCode: verdict.code,
        ending: ending.kind,
        message: verdict.message,
        ...(outcome
          ? { outcome: outcome.outcome, reason: outcome.reason, status: outcome.status }
          : {}),
        ...summary,
        ...(output !== undefined ? { output, bytesWritten: saved?.bytes ?? 0 } : {}),
      });
    } else {
      const where = output === undefined ? '' : output === '-' ? ' to stdout' : ` to ${output}`;
      const line =
        verdict.code === ExitCode.Ok || verdict.code === ExitCode.Interrupted
          ? `${verdict.message}: ${summary.video} video + ${summary.audio} audio messages, ` +
            `${formatMediaTime(summary.mediaMs)} of media, ${formatBytes(summary.bytesIn)} received${where}`
          : `${session.safeUrl}: ${verdict.message}`;
      io.stderr.write(`rtmp-actors play: ${redact(line)}\n`);
    }
    await tracing.close();
    return verdict.code;
  },
};

/**
 * The output file: written synchronously when it is a regular file, else (a FIFO, a device)
 * through a WriteStream. When it cannot be opened, the WriteStream reports why ('error').
 */
function openOutput(output: string): Writable {
  try {
    const sync = SyncFileWriter.open(output);
    if (sync) return sync;
  } catch {
    // the WriteStream below fails the same way and reports it as the output's error
  }
  return createWriteStream(output);
}
