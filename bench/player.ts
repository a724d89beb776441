/**
 * The "ours" side of `npm run bench`, run as a child process so that its CPU time and RSS are
 * measured exactly like rtmpdump's and ffmpeg's (by /usr/bin/time, or from /proc).
 *
 *   node dist/bench/player.js noop
 *       loads the library and exits (the process start overhead).
 *   node dist/bench/player.js flv URL [--idle-ms N] [--timeout-ms N]
 *       plays URL (VOD from 0, SetBufferLength 10 h, like rtmpdump) and writes the FLV to stdout,
 *       like `rtmpdump -o -`; stops after N ms without media (nginx-rtmp may drop Play.Stop under
 *       a burst). Prints `FIRST_VIDEO <ms since createSession>` and a final JSON line on stderr.
 *   node dist/bench/player.js live URL --names a,b,c --count N --seconds S [--start-timeout-ms N]
 *       plays N live streams (one connection each) spread over the names, in this one process,
 *       and after they all receive video counts S seconds of media per stream; prints JSON.
 */
import { writeSync } from 'node:fs';
import { createSession, type Session, type StreamHandle } from '../src/client';
import type { MediaMessage } from '../src/io/media';

const t0 = process.hrtime.bigint();
const msSince = (t: bigint): number => Number(process.hrtime.bigint() - t) / 1e6;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

function log(line: string): void {
  writeSync(2, line + '\n');
}

/** Closes the session, bounded: never let a stuck close keep the child alive. */
async function closeBounded(session: Session, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const ok = await Promise.race([
    session.close().then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  return ok;
}

async function flv(url: string): Promise<void> {
  const idleMs = Number(arg('idle-ms', '2000'));
  const timeoutMs = Number(arg('timeout-ms', '120000'));
  const session = createSession({ url });
  const stream = session.play(undefined, { start: 0, bufferMs: 36_000_000 });
  let last = process.hrtime.bigint();
  let first: number | undefined;
  let video = 0;
  let audio = 0;
  let bytes = 0;
  // Subscribed before saveFlv, so the first video frame is noted before it reaches stdout; lent
  // media (only counted here), so nothing is allocated per message, as with `play -o -`.
  stream.lentMedia$.subscribe((m: MediaMessage) => {
    last = process.hrtime.bigint();
    if (m.type === 'Video') {
      video++;
      bytes += m.payload.byteLength;
      if (first === undefined) {
        first = msSince(t0);
        log(`FIRST_VIDEO ${first.toFixed(3)}`);
      }
    } else if (m.type === 'Audio') {
      audio++;
      bytes += m.payload.byteLength;
    }
  });
  let why = 'done';
  const until = new Promise<void>((resolve) => {
    const started = process.hrtime.bigint();
    const tick = setInterval(() => {
      if (first !== undefined && msSince(last) > idleMs) {
        why = 'idle';
        clearInterval(tick);
        resolve();
      } else if (msSince(started) > timeoutMs) {
        why = 'timeout';
        clearInterval(tick);
        resolve();
      }
    }, 50);
    void stream.done.then(() => clearInterval(tick));
  });
  const saved = await stream.saveFlv(process.stdout, { until });
  const outcome = await Promise.race([
    stream.done,
    new Promise((r) => setTimeout(() => r(undefined), 10)),
  ]);
  await closeBounded(session, 3000);
  log(
    'RESULT ' +
      JSON.stringify({
        why,
        outcome,
        video,
        audio,
        bytes,
        tags: saved.tags,
        firstVideoMs: first,
        msTotal: msSince(t0),
      }),
  );
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(0);
}

interface PerStream {
  name: string;
  video: number;
  audio: number;
  bytes: number;
  firstVideoWallMs?: number;
  /** Video timestamps received inside the measured window. */
  ts: number[];
  outcome?: string;
}

async function live(url: string): Promise<void> {
  const names = arg('names', 'a').split(',');
  const count = Number(arg('count', '10'));
  const seconds = Number(arg('seconds', '20'));
  const startTimeoutMs = Number(arg('start-timeout-ms', '60000'));
  const session = createSession({
    url,
    streamsPerConnection: 'one',
    maxConnections: count + 16,
    maxStreams: count + 16,
  });
  const cpu0 = process.cpuUsage();
  const per: PerStream[] = [];
  const handles: StreamHandle[] = [];
  let windowOpen = false;
  for (let i = 0; i < count; i++) {
    // nginx-rtmp drops everything after '?' from the play name: a distinct key per stream for us,
    // the publisher's name for the server.
    const name = `${names[i % names.length]}?p=${i}`;
    const s: PerStream = { name: names[i % names.length], video: 0, audio: 0, bytes: 0, ts: [] };
    per.push(s);
    const h = session.play(name, { start: -1 });
    handles.push(h);
    h.lentMedia$.subscribe((m: MediaMessage) => {
      if (m.type === 'Video') {
        if (s.firstVideoWallMs === undefined) s.firstVideoWallMs = msSince(t0);
        if (windowOpen) {
          s.video++;
          s.bytes += m.payload.byteLength;
          s.ts.push(m.timestamp);
        }
      } else if (m.type === 'Audio' && windowOpen) {
        s.audio++;
        s.bytes += m.payload.byteLength;
      }
    });
    void h.done.then((o) => (s.outcome = `${o.outcome}${o.reason ? ' ' + o.reason : ''}`));
  }
  // Wait (bounded) until every stream got video.
  const tStart = process.hrtime.bigint();
  while (msSince(tStart) < startTimeoutMs && per.some((s) => s.firstVideoWallMs === undefined)) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const startupMs = msSince(tStart);
  const started = per.filter((s) => s.firstVideoWallMs !== undefined).length;
  const cpuStartup = process.cpuUsage(cpu0);
  log(`LIVE started ${started}/${count} in ${startupMs.toFixed(0)} ms`);
  // The measured window.
  const cpu1 = process.cpuUsage();
  const w0 = process.hrtime.bigint();
  windowOpen = true;
  let rssMax = process.memoryUsage().rss;
  while (msSince(w0) < seconds * 1000) {
    await new Promise((r) => setTimeout(r, 250));
    rssMax = Math.max(rssMax, process.memoryUsage().rss);
  }
  windowOpen = false;
  const windowMs = msSince(w0);
  const cpuWindow = process.cpuUsage(cpu1);
  const mem = process.memoryUsage();
  const closedCleanly = await closeBounded(session, 10_000);
  const result = {
    count,
    started,
    startupMs,
    startupCpuS: (cpuStartup.user + cpuStartup.system) / 1e6,
    windowMs,
    windowCpuUserS: cpuWindow.user / 1e6,
    windowCpuSysS: cpuWindow.system / 1e6,
    rssMaxMB: rssMax / 2 ** 20,
    rssEndMB: mem.rss / 2 ** 20,
    heapUsedMB: mem.heapUsed / 2 ** 20,
    maxRssKB: process.resourceUsage().maxRSS,
    bytesIn: session.bytes.in,
    closedCleanly,
    streams: per.map((s) => ({
      name: s.name,
      video: s.video,
      audio: s.audio,
      bytes: s.bytes,
      outcome: s.outcome,
      ts: s.ts,
    })),
  };
  await new Promise<void>((resolve) =>
    process.stdout.write(JSON.stringify(result) + '\n', () => resolve()),
  );
  process.exit(0);
}

async function main(): Promise<void> {
  const [mode, url] = process.argv.slice(2);
  const hard = setTimeout(
    () => {
      log('HARD_TIMEOUT');
      process.exit(3);
    },
    Number(arg('hard-timeout-ms', '300000')),
  );
  hard.unref();
  if (mode === 'noop') process.exit(0);
  if (mode === 'flv' && url) return flv(url);
  if (mode === 'live' && url) return live(url);
  log('usage: player.js noop | flv URL | live URL --names a,b --count N --seconds S');
  process.exit(2);
}

main().catch((err: unknown) => {
  log(`ERROR ${(err as Error)?.stack ?? String(err)}`);
  process.exit(1);
});
