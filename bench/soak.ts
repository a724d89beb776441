/**
 * Soak test: many live streams in one process for a long time.
 *
 *   node dist/bench/soak.js --minutes N [--streams 100] [--publishers 4] [--interval 60]
 *                           [--sessions one|each]
 *
 * Starts nginx-rtmp (the test harness, on loopback ports of its own) and a few looping ffmpeg
 * publishers, then plays `--streams` live streams spread over them: by default from ONE session
 * (one connection per stream, as nginx-rtmp serves one stream per connection), or one session per
 * stream with `--sessions each`. Every interval (default 60 s) it prints one line: RSS, heapUsed,
 * event-loop delay (p50/p99/max over the interval, beyond the 10 ms sampling interval), media messages per stream in the interval
 * (min/median), streams that got nothing, stalls, interruptions, streams ended or failed, and the
 * messages nginx-rtmp dropped for our players (its /stat `dropped`, summed). Everything stops at
 * the end, on SIGINT and on SIGTERM. Exit code: 0 when every stream was still flowing at the end,
 * 1 otherwise, 130 when interrupted.
 *
 * Needs nginx + libnginx-mod-rtmp and ffmpeg (see README), like `npm test`.
 */
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createSession, type Session, type StreamHandle } from '../src/client';
import { startFfmpegPublisher, type PublisherHandle } from '../test/helpers/media';
import { NGINX_TEMPLATE, startNginxRtmp, type NginxRtmp } from '../test/helpers/nginx';
import { stopAll } from '../test/helpers/processes';

interface Options {
  minutes: number;
  streams: number;
  publishers: number;
  intervalS: number;
  sessions: 'one' | 'each';
}

const USAGE =
  'usage: node dist/bench/soak.js --minutes N [--streams 100] [--publishers 4] [--interval 60] [--sessions one|each]';

function parseOptions(argv: string[]): Options {
  const o: Options = { minutes: 0, streams: 100, publishers: 4, intervalS: 60, sessions: 'one' };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = inline ?? argv[++i];
    const num = Number(value);
    switch (flag) {
      case '--minutes':
        o.minutes = num;
        break;
      case '--streams':
        o.streams = num;
        break;
      case '--publishers':
        o.publishers = num;
        break;
      case '--interval':
        o.intervalS = num;
        break;
      case '--sessions':
        if (value !== 'one' && value !== 'each') throw new Error(`--sessions one|each\n${USAGE}`);
        o.sessions = value;
        break;
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${flag}\n${USAGE}`);
    }
  }
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === 'number' && !(Number.isFinite(v) && v > 0)) {
      throw new Error(`--${k === 'intervalS' ? 'interval' : k} needs a positive number\n${USAGE}`);
    }
  }
  if (!Number.isInteger(o.streams) || !Number.isInteger(o.publishers)) {
    throw new Error(`--streams and --publishers need whole numbers\n${USAGE}`);
  }
  return o;
}

/** The checkout this script runs from (dist/bench/soak.js or bench/soak.ts), else the cwd's. */
function repoRoot(): string {
  for (const start of [__dirname, process.cwd()]) {
    let dir = start;
    for (let i = 0; i < 6; i++) {
      const pkg = path.join(dir, 'package.json');
      if (
        existsSync(pkg) &&
        (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'rtmp-actors'
      ) {
        return dir;
      }
      dir = path.dirname(dir);
    }
  }
  throw new Error(`cannot find the rtmp-actors checkout above ${__dirname} or ${process.cwd()}`);
}

/** The harness reads its nginx.conf template next to its own file: copy it beside the build. */
function ensureNginxTemplate(root: string): void {
  if (existsSync(NGINX_TEMPLATE)) return;
  const source = path.join(root, 'test', 'helpers', path.basename(NGINX_TEMPLATE));
  copyFileSync(source, NGINX_TEMPLATE);
}

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** The event-loop delay sampler's interval: its histogram holds interval + delay. */
const LOOP_RESOLUTION_MS = 10;

/** Event-loop delay in ms: what the sampler saw beyond its own interval. */
function loopMs(ns: number): string {
  return `${Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS).toFixed(1)}ms`;
}

function median(values: number[]): number {
  if (!values.length) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Sum of nginx-rtmp's per-client `dropped` counters (its /stat XML). */
async function nginxDropped(nginx: NginxRtmp): Promise<number | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${nginx.statPort}/stat`, {
      signal: AbortSignal.timeout(2000),
    });
    const xml = await res.text();
    let sum = 0;
    for (const m of xml.matchAll(/<dropped>(\d+)<\/dropped>/g)) sum += Number(m[1]);
    return sum;
  } catch {
    return undefined;
  }
}

interface Tracked {
  handle: StreamHandle;
  messages: number;
  stalls: number;
  interruptions: number;
  state: string;
  outcome?: string;
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (!options.minutes) throw new Error(`--minutes is required\n${USAGE}`);
  const root = repoRoot();
  ensureNginxTemplate(root);
  const media = path.join(root, 'test', 'fixtures', 'media', 'small.flv');

  let stopping = false;
  let interrupted = false;
  let wake: () => void = () => undefined;
  const onSignal = (): void => {
    if (stopping) return;
    interrupted = true;
    wake();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const sessions: Session[] = [];
  const publishers: PublisherHandle[] = [];
  const streams: Tracked[] = [];
  let nginx: NginxRtmp | undefined;
  const delay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  let allFlowing = false;

  const sleep = (msToWait: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(resolve, msToWait);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });

  try {
    nginx = await startNginxRtmp();
    const base = `rtmp://127.0.0.1:${nginx.port}/live`;
    for (let p = 0; p < options.publishers; p++) {
      publishers.push(startFfmpegPublisher(`${base}/soak${p}`, { file: media }));
    }
    console.log(
      `soak: nginx-rtmp on 127.0.0.1:${nginx.port}, ${options.publishers} ffmpeg publishers, ` +
        `${options.streams} live streams from ${options.sessions === 'one' ? 'one session' : 'one session each'}, ` +
        `${options.minutes} min, a line every ${options.intervalS} s`,
    );
    await sleep(1500); // let the publishers reach nginx

    const sessionOptions = {
      retry: { maxAttempts: 1000, baseMs: 500, maxMs: 5000 },
      timeouts: { stall: 5000 },
    };
    const shared =
      options.sessions === 'one'
        ? createSession({
            url: `${base}/soak0`,
            ...sessionOptions,
            streamsPerConnection: 'one',
            maxStreams: options.streams,
            maxConnections: options.streams,
          })
        : undefined;
    if (shared) sessions.push(shared);
    for (let i = 0; i < options.streams && !interrupted; i++) {
      // nginx-rtmp ignores what follows `?`: distinct names for one handle per play.
      const name = `soak${i % options.publishers}?viewer=${i}`;
      const session = shared ?? createSession({ url: `${base}/${name}`, ...sessionOptions });
      if (!shared) sessions.push(session);
      const handle = session.play(name, { start: -1 });
      const t: Tracked = { handle, messages: 0, stalls: 0, interruptions: 0, state: 'starting' };
      handle.media$.subscribe(() => t.messages++);
      handle.status$.subscribe((e) => {
        if (e.type === 'stream.stall') t.stalls++;
        if (e.type === 'stream.state') {
          if (e.state === 'interrupted') t.interruptions++;
          t.state = e.state;
        }
      });
      void handle.done.then((o) => (t.outcome = `${o.outcome}${o.reason ? ` ${o.reason}` : ''}`));
      streams.push(t);
    }

    delay.enable();
    const started = Date.now();
    const end = started + options.minutes * 60_000;
    const droppedAtStart = (await nginxDropped(nginx)) ?? 0;
    let lastCounts = streams.map((s) => s.messages);
    let lastStalls = 0;
    let lastInterruptions = 0;
    let minute = 0;
    while (!interrupted && Date.now() < end) {
      await sleep(Math.min(options.intervalS * 1000, end - Date.now()));
      if (interrupted) break;
      minute++;
      const counts = streams.map((s) => s.messages);
      const perStream = counts.map((c, i) => c - lastCounts[i]);
      lastCounts = counts;
      const stalls = streams.reduce((n, s) => n + s.stalls, 0);
      const interruptions = streams.reduce((n, s) => n + s.interruptions, 0);
      const ended = streams.filter((s) => s.outcome !== undefined).length;
      const dropped = await nginxDropped(nginx);
      const mem = process.memoryUsage();
      console.log(
        [
          `[${String(minute).padStart(3)} ${((Date.now() - started) / 1000).toFixed(0)}s]`,
          `rss ${mib(mem.rss)}`,
          `heap ${mib(mem.heapUsed)}`,
          `loop delay p50 ${loopMs(delay.percentile(50))} p99 ${loopMs(delay.percentile(99))} max ${loopMs(delay.max)}`,
          `msgs/stream min ${Math.min(...perStream)} median ${median(perStream)}`,
          `silent ${perStream.filter((n) => n === 0).length}`,
          `stalls ${stalls - lastStalls}`,
          `interrupted ${interruptions - lastInterruptions}`,
          `ended ${ended}`,
          `nginx dropped ${dropped === undefined ? '?' : dropped - droppedAtStart}`,
        ].join(' | '),
      );
      lastStalls = stalls;
      lastInterruptions = interruptions;
      delay.reset();
    }
    allFlowing = streams.every((s) => s.outcome === undefined && s.state === 'flowing');
    const byState = new Map<string, number>();
    for (const s of streams) {
      const k = s.outcome ?? s.state;
      byState.set(k, (byState.get(k) ?? 0) + 1);
    }
    console.log(
      `soak: ${interrupted ? 'interrupted' : 'done'}; streams by state: ` +
        [...byState].map(([k, n]) => `${k} ${n}`).join(', '),
    );
  } finally {
    stopping = true;
    delay.disable();
    await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
    await Promise.all(publishers.map((p) => p.stop().catch(() => undefined)));
    await nginx?.stop().catch(() => undefined);
    await stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (interrupted) return 130;
  return allFlowing ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`soak: ${err instanceof Error ? err.message : String(err)}`);
    void stopAll().finally(() => process.exit(1));
  },
);
