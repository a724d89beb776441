/**
 * ffmpeg, ffprobe and rtmpdump as real peers and tools: a live publisher, a one-peer RTMP server,
 * the reference librtmp client, a prober, and a generator of small test media.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForListening } from './ports';
import { requireTool, runCommand, spawnTracked, type RunResult } from './processes';

export interface PublisherHandle {
  readonly pid: number;
  /** Resolves with ffmpeg's exit code (128 + signal number when killed). */
  readonly exited: Promise<number>;
  /** ffmpeg's error output so far. */
  stderr(): string;
  /** SIGTERM (ffmpeg closes the stream cleanly), SIGKILL after 5 s; resolves with the exit code. */
  stop(): Promise<number>;
}

/**
 * Publishes `file` to `url` with `ffmpeg -re -stream_loop -1 -i FILE -c copy -f flv URL`
 * (looping and paced in real time by default).
 */
export function startFfmpegPublisher(
  url: string,
  options: { file: string; loop?: boolean; realtime?: boolean; extraArgs?: string[] },
): PublisherHandle {
  const ffmpeg = requireTool('ffmpeg');
  const { file, loop = true, realtime = true, extraArgs = [] } = options;
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error'];
  if (realtime) args.push('-re');
  if (loop) args.push('-stream_loop', '-1');
  args.push('-i', file, '-c', 'copy', ...extraArgs, '-f', 'flv', url);
  const proc = spawnTracked('ffmpeg-publisher', ffmpeg, args);
  return {
    pid: proc.pid,
    exited: proc.exited,
    stderr: () => proc.stderrTail(),
    stop: () => proc.stop('SIGTERM', 5000),
  };
}

export interface ListenServerHandle extends PublisherHandle {
  /** rtmp://127.0.0.1:PORT/app/name */
  readonly url: string;
}

/**
 * ffmpeg as a one-peer RTMP server (`-listen 1`): it waits for one client to connect to
 * rtmp://127.0.0.1:PORT/app/name and plays `file` to it in real time, then exits.
 * Resolves once the port listens (checked without connecting, which would use up the one client).
 */
export async function startFfmpegListenServer(
  file: string,
  port: number,
  app: string,
  name: string,
  options: { realtime?: boolean; timeoutMs?: number } = {},
): Promise<ListenServerHandle> {
  const ffmpeg = requireTool('ffmpeg');
  const url = `rtmp://127.0.0.1:${port}/${app}/${name}`;
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error'];
  if (options.realtime ?? true) args.push('-re');
  args.push('-i', file, '-c', 'copy', '-f', 'flv', '-listen', '1', url);
  const proc = spawnTracked('ffmpeg-listen', ffmpeg, args);
  try {
    await waitForListening(port, options.timeoutMs ?? 10_000, () => proc.running);
  } catch (err) {
    await proc.stop('SIGKILL', 1000);
    throw new Error(
      `ffmpeg -listen did not start: ${(err as Error).message}\n${proc.stderrTail()}`,
    );
  }
  return {
    url,
    pid: proc.pid,
    exited: proc.exited,
    stderr: () => proc.stderrTail(),
    stop: () => proc.stop('SIGTERM', 5000),
  };
}

/**
 * Runs rtmpdump (librtmp) with `args`; SIGKILLed after `timeoutMs` (default 30 s).
 * rtmpdump ignores `--stop` on live streams: pass `stopAfterMs` to end it with SIGINT, after
 * which it closes the output file cleanly and exits with 2 (incomplete).
 * `stdout` is binary (FLV) when no `-o` is given. Exit codes: 0 done, 1 failed, 2 incomplete.
 */
export function runRtmpdump(
  args: readonly string[],
  options: { timeoutMs?: number; stopAfterMs?: number } = {},
): Promise<RunResult> {
  const rtmpdump = requireTool('rtmpdump');
  return runCommand(rtmpdump, args, {
    timeoutMs: options.timeoutMs ?? 30_000,
    stopAfterMs: options.stopAfterMs,
    stopSignal: 'SIGINT',
    name: 'rtmpdump',
  });
}

export interface FfprobeStream {
  index: number;
  codec_type: 'video' | 'audio' | 'data' | 'subtitle' | string;
  codec_name?: string;
  width?: number;
  height?: number;
  sample_rate?: string;
  channels?: number;
  nb_read_frames?: string;
  nb_read_packets?: string;
  [key: string]: unknown;
}

export interface FfprobeResult {
  streams: FfprobeStream[];
  format?: { format_name?: string; duration?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/**
 * `ffprobe -show_streams -show_format` as parsed JSON, for a file or an rtmp:// URL
 * (`-rw_timeout` bounds network reads). `countPackets` / `countFrames` read the whole input
 * and fill `nb_read_packets` / `nb_read_frames`.
 */
export async function ffprobeJson(
  input: string,
  options: {
    countPackets?: boolean;
    countFrames?: boolean;
    timeoutMs?: number;
    args?: string[];
  } = {},
): Promise<FfprobeResult> {
  const ffprobe = requireTool('ffprobe', 'ffmpeg');
  const timeoutMs = options.timeoutMs ?? 20_000;
  const args = [
    '-hide_banner',
    '-v',
    'error',
    '-print_format',
    'json',
    '-show_streams',
    '-show_format',
  ];
  if (options.countPackets) args.push('-count_packets');
  if (options.countFrames) args.push('-count_frames');
  if (/^rtmps?:\/\//i.test(input))
    args.push('-rw_timeout', String(Math.max(1, timeoutMs - 1000) * 1000));
  args.push(...(options.args ?? []), input);
  const result = await runCommand(ffprobe, args, { timeoutMs, name: 'ffprobe' });
  if (result.code !== 0) {
    throw new Error(
      `ffprobe ${input} failed (exit ${result.code}${result.timedOut ? ', timed out' : ''}): ${result.stderr.trim()}`,
    );
  }
  const parsed = JSON.parse(result.stdout.toString('utf8')) as FfprobeResult;
  parsed.streams ??= [];
  return parsed;
}

const encoderCache = new Map<string, boolean>();

/** True when `ffmpeg -encoders` lists `name` (e.g. libx264). */
export async function hasFfmpegEncoder(name: string): Promise<boolean> {
  const cached = encoderCache.get(name);
  if (cached !== undefined) return cached;
  const ffmpeg = requireTool('ffmpeg');
  const { stdout } = await runCommand(ffmpeg, ['-hide_banner', '-encoders'], { timeoutMs: 10_000 });
  const listed = new RegExp(`^\\s*[VAS][\\w.]{5}\\s+${name}\\s`, 'm').test(stdout.toString('utf8'));
  encoderCache.set(name, listed);
  return listed;
}

export interface GenerateMediaOptions {
  seconds?: number;
  width?: number;
  height?: number;
  fps?: number;
  /** ffmpeg bitrate, e.g. '500k'. */
  videoBitrate?: string;
  /** Keyframe interval in frames (default: one per second). */
  gop?: number;
  audio?: boolean;
}

/** Where generated media is cached between runs, keyed by parameters. */
export const MEDIA_CACHE_DIR = join(tmpdir(), 'rtmp-actors-media-cache');

/**
 * Makes an FLV from `lavfi testsrc2` (+ a `sine` tone): H.264 (libx264 ultrafast/zerolatency)
 * when ffmpeg has libx264, else Sorenson H.263 (flv1); AAC audio. Cached by parameters in
 * MEDIA_CACHE_DIR and copied into `dir`. Returns the path in `dir`.
 */
export async function generateMedia(
  dir: string,
  options: GenerateMediaOptions = {},
): Promise<string> {
  const ffmpeg = requireTool('ffmpeg');
  const seconds = options.seconds ?? 4;
  const width = options.width ?? 320;
  const height = options.height ?? 180;
  const fps = options.fps ?? 25;
  const videoBitrate = options.videoBitrate ?? '300k';
  const gop = options.gop ?? fps;
  const audio = options.audio ?? true;
  const x264 = await hasFfmpegEncoder('libx264');
  const video = x264
    ? ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p']
    : ['-c:v', 'flv', '-pix_fmt', 'yuv420p'];
  const args = [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=${width}x${height}:rate=${fps}:duration=${seconds}`,
    ...(audio
      ? ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`]
      : []),
    ...video,
    '-b:v',
    videoBitrate,
    '-g',
    String(gop),
    '-keyint_min',
    String(gop),
    '-sc_threshold',
    '0',
    ...(audio ? ['-c:a', 'aac', '-b:a', '96k', '-ac', '2'] : ['-an']),
    '-f',
    'flv',
  ];
  const key = createHash('sha256').update(JSON.stringify(args)).digest('hex').slice(0, 16);
  mkdirSync(MEDIA_CACHE_DIR, { recursive: true });
  const cached = join(MEDIA_CACHE_DIR, `testsrc-${key}.flv`);
  if (!existsSync(cached)) {
    const partial = `${cached}.${process.pid}.${Date.now()}.partial`;
    const result = await runCommand(ffmpeg, [...args, '-y', partial], {
      timeoutMs: 60_000 + seconds * 2000,
      name: 'ffmpeg-generate',
    });
    if (result.code !== 0) {
      rmSync(partial, { force: true });
      throw new Error(`ffmpeg could not generate media (exit ${result.code}): ${result.stderr}`);
    }
    renameSync(partial, cached); // atomic: parallel test files never see a half-written file
  }
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `testsrc-${width}x${height}-${fps}fps-${seconds}s-${key.slice(0, 8)}.flv`);
  copyFileSync(cached, out);
  return out;
}
