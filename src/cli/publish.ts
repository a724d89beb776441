import { closeSync, openSync, readSync } from 'node:fs';
import { Observable } from '../rx';
import { createSession, type PublishHandle, type Session, type StreamOutcome } from '../client';
import type { MediaMessage } from '../io/media';
import type { PublishType } from '../protocol/message/commands';
import { flvFileSource } from '../publish/flvSource';
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

const STOP_TIMEOUT_MS = 5000;
const UNPUBLISH_WAIT_MS = 500;
/** Bytes queued on the socket above which the file source waits. */
const SOURCE_HIGH_WATER = 4 * 1024 * 1024;
const PUBLISH_TYPES: readonly PublishType[] = ['live', 'record', 'append'];

type Ending = { kind: 'done'; outcome: StreamOutcome } | { kind: 'interrupted' };

/** Checks that `file` can be read and starts like an FLV file; a CommandError otherwise. */
function checkFlvFile(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new CommandError(`cannot read ${file}: ${(e as Error).message}`, ExitCode.Failure);
  }
  try {
    const head = Buffer.alloc(9);
    const n = readSync(fd, head, 0, 9, 0);
    if (n < 9 || head.toString('latin1', 0, 3) !== 'FLV') {
      throw new CommandError(`${file} is not an FLV file`, ExitCode.ProtocolError);
    }
  } catch (e) {
    if (e instanceof CommandError) throw e;
    throw new CommandError(`cannot read ${file}: ${(e as Error).message}`, ExitCode.Failure);
  } finally {
    closeSync(fd);
  }
}

export const publishCommand: Command = {
  spec: {
    name: 'publish',
    summary: 'publish an FLV file to a server, in real time (optionally looped)',
    usage: 'rtmp-actors publish <file.flv> <url> [--loop] [--duration s] [--fast] [options]',
    description:
      'Connects, publishes the stream the URL names (releaseStream, FCPublish, createStream,\n' +
      'publish) and sends the file paced by its timestamps; --loop starts again at the end with\n' +
      'timestamps that keep increasing. When the file (or --duration) ends it unpublishes\n' +
      '(FCUnpublish, deleteStream) and exits 0; Ctrl-C does the same and exits 130.\n' +
      '--retries n is how many times to try again after the first connection attempt fails\n' +
      '(0: one attempt, no retry).\n' +
      'Exit codes: 0 done, 1 unreadable file, 3 could not connect, 4 refused by the server,\n' +
      '6 protocol error or broken file, 130 interrupted.',
    options: [
      {
        name: 'loop',
        type: 'boolean',
        description: 'start again at the end of the file (timestamps rebased)',
      },
      {
        name: 'duration',
        type: 'number',
        valueName: 's',
        description: 'stop after this much media time (seconds)',
      },
      {
        name: 'fast',
        type: 'boolean',
        description: 'send as fast as the connection takes it, not in real time',
      },
      {
        name: 'type',
        type: 'string',
        valueName: 'live|record|append',
        description: 'publish type',
        default: 'live',
      },
      ...SESSION_OPTIONS,
    ],
    examples: [
      'rtmp-actors publish test/fixtures/media/small.flv rtmp://127.0.0.1/live/stream --loop',
      'rtmp-actors publish in.flv "rtmp://127.0.0.1/live/key?token=SECRET" --duration 60 --json',
    ],
  },

  async run(args, io) {
    const target = inspectTarget(args);
    const [file, url, ...extra] = target.positionals;
    if (!file || !url) {
      io.stderr.write('rtmp-actors publish: which file, and to which URL? (see --help)\n');
      return ExitCode.Usage;
    }
    const redact = redactorFor(url);
    if (extra.length) {
      io.stderr.write(
        `rtmp-actors publish: unexpected argument "${redact(extra[0])}" (see --help)\n`,
      );
      return ExitCode.Usage;
    }
    const o = args.options;
    let durationMs: number | undefined;
    let common;
    const type = String(o.type ?? 'live') as PublishType;
    try {
      if (!PUBLISH_TYPES.includes(type)) throw new CommandError('--type is live, record or append');
      durationMs = secondsOption(args, 'duration');
      common = sessionOptionsFrom(args);
      checkFlvFile(file);
    } catch (e) {
      if (!(e instanceof CommandError)) throw e;
      io.stderr.write(`rtmp-actors publish: ${e.message}\n`);
      return e.exitCode;
    }
    const json = o.json === true ? jsonLineWriter(io, redact) : undefined;
    const tracing = await openTracing('publish', url, args, target.inspect, io);
    let session: Session;
    try {
      session = createSession({
        url,
        ...common,
        // nginx-rtmp answers FCUnpublish/deleteStream with NetStream.Unpublish.Success, but the
        // stream machine releases its message stream before it arrives and then waits the whole
        // stop timeout (2 s by default) for it: keep that wait short.
        timeouts: { ...common.timeouts, stop: UNPUBLISH_WAIT_MS },
        inspect: tracing.inspect,
      });
    } catch (e) {
      await tracing.close();
      if (e instanceof UrlError) {
        io.stderr.write(`rtmp-actors publish: ${redact(e.message)}\n`);
        return ExitCode.Usage;
      }
      throw e;
    }
    const name = session.url.playpath;
    if (!name) {
      await session.close();
      await tracing.close();
      io.stderr.write('rtmp-actors publish: the URL names no stream (rtmp://host/app/stream)\n');
      return ExitCode.Usage;
    }

    json?.({
      type: 'publish.start',
      url: session.safeUrl,
      file,
      loop: o.loop === true,
      realtime: o.fast !== true,
      publishType: type,
      ...(durationMs !== undefined ? { durationMs } : {}),
    });
    const eventsSub = json ? session.events$.subscribe((e) => json({ ...e })) : undefined;

    // The file source, counted, and with its errors kept (the session treats an error as the end).
    const sent = {
      audio: 0,
      video: 0,
      firstTimestamp: undefined as number | undefined,
      lastTimestamp: 0,
    };
    let sourceError: Error | undefined;
    const file$ = flvFileSource(
      file,
      { loop: o.loop === true, realtime: o.fast !== true, durationMs },
      () => {
        const w = session.router.writer(name);
        return w && w.queued() > SOURCE_HIGH_WATER ? w.drained() : undefined;
      },
    );
    let endSource: () => void = () => undefined;
    const source$ = new Observable<MediaMessage>((subscriber) => {
      const inner = file$.subscribe({
        next: (m) => {
          if (m.type === 'Audio') sent.audio++;
          else if (m.type === 'Video') sent.video++;
          if (m.type !== 'Data') {
            sent.firstTimestamp ??= m.timestamp;
            sent.lastTimestamp = m.timestamp;
          }
          subscriber.next(m);
        },
        error: (e: unknown) => {
          sourceError = e instanceof Error ? e : new Error(String(e));
          subscriber.error(e);
        },
        complete: () => subscriber.complete(),
      });
      endSource = () => {
        inner.unsubscribe();
        subscriber.complete();
      };
      return inner;
    });
    const handle: PublishHandle = session.publish(name, source$, { type });
    const mediaMs = (): number =>
      sent.firstTimestamp === undefined ? 0 : sent.lastTimestamp - sent.firstTimestamp;

    const progress = new ProgressLine(
      io,
      () => ({
        bytes: session.bytes.out,
        mediaMs: mediaMs(),
        frames: sent.video,
        state: handle.state,
      }),
      { mode: progressMode(io, json !== undefined, o.progress === true), json },
    );
    progress.start();

    const ending: Ending = await Promise.race([
      handle.done.then((outcome): Ending => ({ kind: 'done', outcome })),
      io.interrupted.then((): Ending => ({ kind: 'interrupted' })),
    ]);
    let outcome: StreamOutcome | undefined = ending.kind === 'done' ? ending.outcome : undefined;
    if (ending.kind === 'interrupted') {
      // End the source: the session flushes what is queued, then FCUnpublish and deleteStream.
      // Before the server accepted the publish there is nothing to flush: stop the stream.
      endSource();
      outcome = await withTimeout(handle.done, STOP_TIMEOUT_MS / 5, undefined);
      outcome ??= await withTimeout(handle.stop(), STOP_TIMEOUT_MS, undefined);
    }
    await withTimeout(session.close(), STOP_TIMEOUT_MS, undefined);
    progress.stop();
    eventsSub?.unsubscribe();

    let verdict: Verdict;
    if (ending.kind === 'interrupted')
      verdict = { code: ExitCode.Interrupted, message: 'interrupted' };
    else if (sourceError) {
      verdict = {
        code: ExitCode.ProtocolError,
        message: `cannot read ${file}: ${sourceError.message}`,
      };
    } else verdict = outcomeVerdict(ending.outcome);

    const summary = {
      audio: sent.audio,
      video: sent.video,
      mediaMs: mediaMs(),
      bytesOut: session.bytes.out,
    };
    if (json) {
      json({
        type: 'publish.end',
        exitCode: verdict.code,
        ending: ending.kind,
        message: verdict.message,
        ...(outcome
          ? { outcome: outcome.outcome, reason: outcome.reason, status: outcome.status }
          : {}),
        ...summary,
      });
    } else {
      const ok = verdict.code === ExitCode.Ok || verdict.code === ExitCode.Interrupted;
      const line = ok
        ? `${verdict.code === ExitCode.Ok ? 'published' : 'interrupted'}: ${summary.video} video + ` +
          `${summary.audio} audio messages, ${formatMediaTime(summary.mediaMs)} of media, ` +
          `${formatBytes(summary.bytesOut)} sent`
        : `${session.safeUrl}: ${verdict.message}`;
      io.stderr.write(`rtmp-actors publish: ${redact(line)}\n`);
    }
    await tracing.close();
    return verdict.code;
  },
};
