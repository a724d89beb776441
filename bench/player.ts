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
 *
 * Live streams are measured through the monitor as users run it (`rtmp-actors monitor`), not here:
 * see bench.ts section (c).
 */
import { writeSync } from 'node:fs';
import { createSession, type Session } from '../src/client';
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
  log('usage: player.js noop | flv URL');
  process.exit(2);
}

main().catch((err: unknown) => {
  log(`ERROR ${(err as Error)?.stack ?? String(err)}`);
  process.exit(1);
});
