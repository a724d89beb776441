/**
 * `npm run bench`: rtmp-actors against real peers, measured in the same run (issue 4).
 *
 *  (a) VOD download of a 60 s 1080p30 20 Mbit/s H.264 + AAC FLV (generated once by ffmpeg, cached)
 *      from nginx-rtmp: ours vs rtmpdump vs ffmpeg. Each tool runs as a child process and writes
 *      the FLV to stdout (`rtmpdump -o -`, `ffmpeg -c copy -f flv -`, `rtmp-actors play URL -o -`,
 *      and that again with V8's default tiering), which this process counts tag by tag; CPU
 *      seconds and max RSS come from /usr/bin/time. Median of 5, and ours/rtmpdump round by round
 *      (the tools take turns, so each round's pair ran under the same load).
 *  (v) The same VOD saved to a file as a user runs the tools, whole process: `rtmp-actors play URL
 *      -o FILE` against `rtmpdump -r URL -o FILE`, wall time from spawn to exit and CPU seconds,
 *      median of alternating rounds (issue 16, goal 3). See bench/lib/vodFile.ts.
 *  (b) Time to the first coded video frame, spawn to the frame's FLV tag on stdout, ours vs
 *      rtmpdump (10 runs each, median and p90), with each tool's bare process start as a baseline
 *      and our in-process figure (createSession to the first video message).
 *  (c) The monitor as users run it: the built CLI, `rtmp-actors monitor --targets FILE --json
 *      --duration D` with every other option at its default, on 10 / 100 / 500 / 1,000 distinct
 *      play URLs over 5 ffmpeg publishers (small.flv, ~1 Mbit/s, 30 fps) on nginx-rtmp: CPU
 *      (/proc/PID/stat utime + stime over a 20 s window once every stream is healthy), RSS per
 *      stream, frames received per stream and the healthy count from its own JSON lines. One more
 *      run puts 200 streams in the monitor and 200 `rtmpdump --live -o /dev/null` beside it, over
 *      the same window: ours/rtmpdump CPU per stream (issue 16, goal 1). See bench/lib/monitorLive.ts.
 *
 * Ours runs without NODE_EXTRA_CA_CERTS in every section (bench/lib/oursEnv.ts: node would parse
 * that CA bundle at each start; BENCH_KEEP_NODE_EXTRA_CA_CERTS=1 keeps it), and the output says so.
 *
 * Build with `npm run build`; run with `npm run bench`. Prints a table and writes
 * bench/results/bench.json. `npm run bench -- --only a` (or `--only a,b`) runs only those
 * sections; `--runs N` changes the number of VOD runs (default 5: on a 2-core machine the spread
 * from run to run is wide); `--counts 10,100` and `--rtmpdump N` change (c)'s stream counts.
 */
import {
  copyFileSync,
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { get } from 'node:http';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseFlv } from '../src/protocol/flv';
import {
  generateMedia,
  requireTool,
  startFfmpegPublisher,
  startNginxRtmp,
  stopAll,
  type NginxRtmp,
  type PublisherHandle,
} from '../test/helpers';
import { FlvCounter, type FlvCounts } from './lib/flvCount';
import { killAllMeasured, procCpu, spawnMeasured, type Measured } from './lib/proc';
import { monitorLive, type MonitorLiveResult } from './lib/monitorLive';
import { oursEnv } from './lib/oursEnv';
import { vodToFile, type FileSummary } from './lib/vodFile';

const ROOT = resolve(__dirname, '..', '..');
const PLAYER = join(__dirname, 'player.js');
const CLI = join(ROOT, 'bin', 'rtmp-actors');
const SMALL_FLV = join(ROOT, 'test', 'fixtures', 'media', 'small.flv');
const RESULTS = join(ROOT, 'bench', 'results');

/** `--only a,c`: the sections to run (default all). */
function sectionsFromArgv(argv: readonly string[]): Set<string> {
  const i = argv.indexOf('--only');
  const list = i >= 0 && i + 1 < argv.length ? argv[i + 1] : 'a,v,b,c';
  const picked = new Set(list.split(',').map((x) => x.trim().toLowerCase()));
  for (const x of picked) {
    if (!['a', 'v', 'b', 'c'].includes(x))
      throw new Error(`--only: unknown section ${x} (a, v, b or c)`);
  }
  return picked;
}
const SECTIONS = sectionsFromArgv(process.argv);
const runsArg = process.argv.indexOf('--runs');
const VOD_RUNS = runsArg >= 0 ? Math.max(1, Number(process.argv[runsArg + 1]) || 5) : 5;
const FIRST_FRAME_RUNS = 10;
/** `--counts 10,100`: the stream counts of (c) (default 10, 100, 500, 1,000). */
function numbersArg(name: string, fallback: number[]): number[] {
  const i = process.argv.indexOf(name);
  if (i < 0 || i + 1 >= process.argv.length) return fallback;
  const xs = process.argv[i + 1].split(',').map(Number);
  if (xs.some((x) => !Number.isInteger(x) || x < 0)) throw new Error(`${name}: whole numbers`);
  return xs;
}
const LIVE_COUNTS = numbersArg('--counts', [10, 100, 500, 1000]).filter((x) => x > 0);
/**
 * `--rtmpdump N`: the run with N streams in the monitor and N rtmpdump processes beside it
 * (issue 16, goal 1; default 200, 0 skips it).
 */
const RTMPDUMP_COUNT = numbersArg('--rtmpdump', [200])[0];
/** How long the streams may take to become healthy before the window starts anyway. */
const START_BUDGET_S = 90;
/** nginx worker_connections for (c): 1,000 + 200 players, the publishers, and room. */
const NGINX_CONNECTIONS = 4096;
const LIVE_SECONDS = 20;
const PUBLISHERS = 5;
const BIG = { width: 1920, height: 1080, fps: 30, videoBitrate: '20M', seconds: 60 };

const T0 = Date.now();
function progress(text: string): void {
  const s = Math.round((Date.now() - T0) / 1000);
  console.log(
    `[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] ${text}`,
  );
}

/** The 1-minute load average at each phase: figures from a busy machine are not comparable. */
const loads: Record<string, number> = {};
function noteLoad(phase: string): void {
  const l = loadavg()[0];
  loads[phase] = Number(l.toFixed(2));
  if (l > cpus().length * 0.75) {
    progress(
      `WARNING: load average ${l.toFixed(2)} on ${cpus().length} CPUs: other work competes; wall-clock figures will be noisy`,
    );
  }
}

const median = (xs: number[]): number => quantile(xs, 0.5);
function quantile(xs: number[], q: number): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const pos = (v.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}
const fix = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** CPU seconds of nginx (master + worker) so far. */
function nginxCpu(nginx: NginxRtmp): number {
  return nginx.pids().reduce((n, pid) => n + (procCpu(pid)?.cpuS ?? 0), 0);
}

/** Counts the tags of an FLV file (reading it also puts it in the page cache). */
async function countFile(path: string): Promise<FlvCounts> {
  const counter = new FlvCounter(process.hrtime.bigint());
  await new Promise<void>((res, rej) => {
    createReadStream(path, { highWaterMark: 1 << 20 })
      .on('data', (d) => counter.push(d as Buffer))
      .on('end', () => res())
      .on('error', rej);
  });
  return counter.counts;
}

// ---------------------------------------------------------------- (a) VOD download

interface DownloadRun {
  tool: string;
  run: number;
  counts: FlvCounts;
  measured: Omit<Measured, 'stderr'>;
  /** media bytes / (first media tag -> last byte), MB/s */
  mbps: number;
  /** media bytes / (spawn -> last byte), MB/s */
  mbpsSpawn: number;
  nginxCpuS: number;
  idleKilled: boolean;
  note?: string;
}

/**
 * (a)'s tools. `ours` is the command line, `rtmp-actors play URL -o -`, as `rtmpdump -o -` is;
 * `ours-tf` is the same with V8's default tiering (RTMP_ACTORS_TURBOFAN=1), to show what the
 * command's V8 setting is worth.
 */
const VOD_TOOLS = ['ours', 'rtmpdump', 'ffmpeg', 'ours-tf'];

function downloadCommand(tool: string, url: string): [string, string[]] {
  switch (tool) {
    case 'ours':
    case 'ours-tf':
      return [process.execPath, [CLI, 'play', url, '-o', '-']];
    case 'rtmpdump':
      return [requireTool('rtmpdump'), ['-q', '-b', '36000000', '-r', url, '-o', '-']];
    default:
      return [
        requireTool('ffmpeg'),
        [
          '-hide_banner',
          '-nostdin',
          '-loglevel',
          'error',
          '-rtmp_buffer',
          '36000000',
          '-i',
          url,
          '-c',
          'copy',
          '-f',
          'flv',
          '-',
        ],
      ];
  }
}

async function download(
  tool: string,
  url: string,
  run: number,
  nginx: NginxRtmp,
): Promise<DownloadRun> {
  const [cmd, args] = downloadCommand(tool, url);
  const start = process.hrtime.bigint();
  const counter = new FlvCounter(start);
  let firstTagMs: number | undefined;
  const cpu0 = nginxCpu(nginx);
  const child = spawnMeasured(cmd, args, {
    timeoutMs: 150_000,
    env: tool.startsWith('ours')
      ? { ...oursEnv().env, ...(tool === 'ours-tf' ? { RTMP_ACTORS_TURBOFAN: '1' } : {}) }
      : undefined,
    onStdout: (d) => {
      counter.push(d);
      if (
        firstTagMs === undefined &&
        counter.counts.audio + counter.counts.video + counter.counts.script > 0
      ) {
        firstTagMs = counter.counts.lastByteMs;
      }
    },
  });
  // rtmpdump and ffmpeg wait for the end of the stream; nginx-rtmp may drop it under a burst.
  let idleKilled = false;
  const idle = setInterval(() => {
    const last = counter.counts.lastByteMs;
    const now = Number(process.hrtime.bigint() - start) / 1e6;
    if (!tool.startsWith('ours') && last !== undefined && now - last > 3000 && !idleKilled) {
      idleKilled = true;
      child.killTool();
    }
  }, 100);
  const m = await child.result;
  clearInterval(idle);
  const c = counter.counts;
  const { stderr, ...measured } = m;
  const transferS = ((c.lastByteMs ?? NaN) - (firstTagMs ?? NaN)) / 1000;
  const note =
    m.code !== 0 || m.timedOut
      ? stderr.trim().split('\n').slice(-2).join(' | ').slice(0, 200)
      : undefined;
  return {
    tool,
    run,
    counts: c,
    measured,
    mbps: c.mediaBytes / 1e6 / transferS,
    mbpsSpawn: c.mediaBytes / 1e6 / ((c.lastByteMs ?? NaN) / 1000),
    nginxCpuS: nginxCpu(nginx) - cpu0,
    idleKilled,
    note,
  };
}

function summarizeVod(tool: string, downloads: DownloadRun[]) {
  const rs = downloads.filter((d) => d.tool === tool);
  return {
    tool,
    mbps: median(rs.map((d) => d.mbps)),
    mbpsMin: Math.min(...rs.map((d) => d.mbps)),
    mbpsMax: Math.max(...rs.map((d) => d.mbps)),
    mbpsSpawn: median(rs.map((d) => d.mbpsSpawn)),
    wallS: median(rs.map((d) => d.measured.wallS)),
    cpuS: median(rs.map((d) => d.measured.cpuS)),
    maxRssMB: median(rs.map((d) => d.measured.maxRssMB)),
    nginxCpuS: median(rs.map((d) => d.nginxCpuS)),
    videoFrames: median(rs.map((d) => d.counts.videoFrames)),
    videoFramesMin: Math.min(...rs.map((d) => d.counts.videoFrames)),
    audioFrames: median(rs.map((d) => d.counts.audio)),
    mediaMB: median(rs.map((d) => d.counts.mediaBytes / 1e6)),
    exitCodes: rs.map((d) => d.measured.code),
  };
}
type VodSummary = ReturnType<typeof summarizeVod>;

/**
 * `a`'s MB/s over `b`'s run by run (the tools run back to back in each round, so a pair shares
 * the machine's state at that moment): the median ratio, its range, and in how many rounds `a`
 * was at least as fast.
 */
function pairedRatios(downloads: DownloadRun[], a: string, b: string) {
  const ratios: number[] = [];
  for (const x of downloads.filter((d) => d.tool === a)) {
    const y = downloads.find((d) => d.tool === b && d.run === x.run);
    if (y && y.mbps > 0) ratios.push(x.mbps / y.mbps);
  }
  return {
    median: median(ratios),
    min: Math.min(...ratios),
    max: Math.max(...ratios),
    atLeast: ratios.filter((r) => r >= 1).length,
    rounds: ratios.length,
  };
}

// ---------------------------------------------------------------- (b) first frame

interface FirstFrameRun {
  tool: string;
  /** spawn -> first coded video frame tag on stdout, ms */
  spawnToFrameMs: number;
  /** ours only: createSession -> first video message, in the process */
  inProcessMs?: number;
}

async function firstFrame(tool: string, url: string): Promise<FirstFrameRun> {
  // Ours is the bench player here: it notes the first video message in the process as well.
  const [cmd, args]: [string, string[]] =
    tool === 'ours'
      ? [process.execPath, [PLAYER, 'flv', url, '--idle-ms', '3000', '--timeout-ms', '20000']]
      : downloadCommand(tool, url);
  const start = process.hrtime.bigint();
  const counter = new FlvCounter(start);
  let killed = false;
  const child = spawnMeasured(cmd, args, {
    plain: true,
    timeoutMs: 20_000,
    env: tool === 'ours' ? oursEnv().env : undefined,
    onStdout: (d) => {
      counter.push(d);
      if (!killed && counter.counts.firstVideoFrameMs !== undefined) {
        killed = true;
        child.kill();
      }
    },
  });
  const m = await child.result;
  const inProc = /FIRST_VIDEO ([\d.]+)/.exec(m.stderr);
  return {
    tool,
    spawnToFrameMs: counter.counts.firstVideoFrameMs ?? NaN,
    inProcessMs: inProc ? Number(inProc[1]) : undefined,
  };
}

function summarizeFirst(tool: string, ff: FirstFrameRun[], overhead: Record<string, number[]>) {
  const xs = ff.filter((f) => f.tool === tool).map((f) => f.spawnToFrameMs);
  const start = median(overhead[tool]);
  const inProc = ff
    .filter((f) => f.tool === tool && f.inProcessMs !== undefined)
    .map((f) => f.inProcessMs as number);
  return {
    tool,
    median: median(xs),
    p90: quantile(xs, 0.9),
    startOverheadMs: start,
    medianMinusStart: median(xs) - start,
    p90MinusStart: quantile(xs, 0.9) - start,
    inProcessMedian: inProc.length ? median(inProc) : undefined,
    inProcessP90: inProc.length ? quantile(inProc, 0.9) : undefined,
    runs: xs,
  };
}
type FirstSummary = ReturnType<typeof summarizeFirst>;

/** Spawn to exit of a tool that does nothing (ours: loads the library; rtmpdump: -h). */
async function startOverhead(tool: string): Promise<number> {
  const [cmd, args] =
    tool === 'ours' ? [process.execPath, [PLAYER, 'noop']] : [requireTool('rtmpdump'), ['-h']];
  const m = await spawnMeasured(cmd, args, {
    plain: true,
    timeoutMs: 10_000,
    env: tool === 'ours' ? oursEnv().env : undefined,
  }).result;
  return m.wallS * 1000;
}

// ---------------------------------------------------------------- (c) live, the monitor as users run it

function statXml(port: number): Promise<string> {
  return new Promise((res) => {
    const req = get({ host: '127.0.0.1', port, path: '/stat', timeout: 2000 }, (r) => {
      let body = '';
      r.on('data', (d: Buffer) => (body += d.toString('utf8')));
      r.on('end', () => res(body));
    });
    req.on('error', () => res(''));
    req.on('timeout', () => req.destroy());
  });
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  for (const t of ['nginx', 'rtmpdump', 'ffmpeg']) requireTool(t);
  if (!existsSync(PLAYER)) throw new Error(`${PLAYER} is missing: run npm run build`);
  const media = mkdtempSync(join(tmpdir(), 'rtmp-actors-bench-'));
  const publishers: PublisherHandle[] = [];
  const cleanup = async (): Promise<void> => {
    killAllMeasured();
    await Promise.all(publishers.map((p) => p.stop().catch(() => undefined)));
    await stopAll();
    rmSync(media, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    progress('SIGINT: stopping every child');
    void cleanup().finally(() => process.exit(130));
  });
  try {
    await run(media, publishers);
  } finally {
    await cleanup();
  }
}

async function run(media: string, publishers: PublisherHandle[]): Promise<void> {
  progress(
    `generating (or reusing) the ${BIG.seconds} s ${BIG.width}x${BIG.height}@${BIG.fps} ${BIG.videoBitrate}bit/s FLV`,
  );
  const big = await generateMedia(media, BIG);
  copyFileSync(SMALL_FLV, join(media, 'small.flv'));
  const bigSize = statSync(big).size;
  const bigCounts = await countFile(big);
  const bigName = big.slice(media.length + 1);
  progress(
    `${bigName}: ${(bigSize / 1e6).toFixed(1)} MB, ${bigCounts.videoFrames} video frames, ${bigCounts.audio} audio frames, ` +
      `${(bigCounts.mediaBytes / 1e6).toFixed(1)} MB of media`,
  );
  if (bigSize < 100e6) progress(`WARNING: expected ~150 MB, got ${(bigSize / 1e6).toFixed(1)} MB`);
  const small = parseFlv(new Uint8Array(readFileSync(SMALL_FLV))).tags.filter((t) => t.type === 9);
  const smallFps =
    ((small.length - 1) * 1000) / (small[small.length - 1].timestamp - small[0].timestamp);
  // Audio + video messages per second of small.flv (what `messagesReceived` counts).
  const smallAv = parseFlv(new Uint8Array(readFileSync(SMALL_FLV))).tags.filter(
    (t) => t.type === 8 || t.type === 9,
  );
  const smallMessagesPerS =
    ((smallAv.length - 1) * 1000) /
    (Math.max(...smallAv.map((t) => t.timestamp)) - Math.min(...smallAv.map((t) => t.timestamp)));

  const nginx = await startNginxRtmp({ mediaDir: media });
  if (SECTIONS.has('c')) await raiseNginxConnections(nginx);
  progress(`nginx-rtmp on 127.0.0.1:${nginx.port} (pid ${nginx.pid})`);

  // (a)
  const vodUrl = `rtmp://127.0.0.1:${nginx.port}/vod/${bigName}`;
  const tools = SECTIONS.has('a') ? VOD_TOOLS : [];
  const downloads: DownloadRun[] = [];
  if (SECTIONS.has('a')) noteLoad('a');
  for (const tool of tools) {
    progress(`(a) VOD download warm-up (not counted): ${tool}`);
    await download(tool, vodUrl, 0, nginx);
  }
  for (let run = 1; run <= VOD_RUNS; run++) {
    for (const tool of tools) {
      progress(`(a) VOD download run ${run}/${VOD_RUNS}: ${tool}`);
      const d = await download(tool, vodUrl, run, nginx);
      downloads.push(d);
      progress(
        `    ${fix(d.mbps, 1)} MB/s, ${fix(d.measured.cpuS)} CPU s, ${fix(d.measured.maxRssMB, 0)} MB RSS, ` +
          `${d.counts.videoFrames}/${bigCounts.videoFrames} video, ${d.counts.audio}/${bigCounts.audio} audio, exit ${d.measured.code}` +
          `${d.idleKilled ? ' (idle 3 s, killed)' : ''}${d.note ? ` [${d.note}]` : ''}`,
      );
      await sleep(300);
    }
  }
  const vod = tools.map((tool) => summarizeVod(tool, downloads));

  // (v)
  let toFile: FileSummary | undefined;
  if (SECTIONS.has('v')) {
    noteLoad('v');
    progress(
      `(v) VOD to a file, whole process: rtmp-actors play URL -o FILE vs rtmpdump -r URL -o FILE, ${VOD_RUNS} alternating rounds`,
    );
    toFile = await vodToFile({ cli: CLI, url: vodUrl, dir: media, runs: VOD_RUNS, progress });
  }

  // (b)
  const smallUrl = `rtmp://127.0.0.1:${nginx.port}/vod/small.flv`;
  const ff: FirstFrameRun[] = [];
  const overhead: Record<string, number[]> = { ours: [], rtmpdump: [] };
  const firstRuns = SECTIONS.has('b') ? FIRST_FRAME_RUNS : 0;
  if (SECTIONS.has('b')) {
    noteLoad('b');
    progress(`(b) first video frame, ${FIRST_FRAME_RUNS} runs each (VOD small.flv)`);
  }
  for (let i = 0; i < firstRuns; i++) {
    for (const tool of ['ours', 'rtmpdump']) {
      ff.push(await firstFrame(tool, smallUrl));
      overhead[tool].push(await startOverhead(tool));
      await sleep(50);
    }
  }
  const first = (SECTIONS.has('b') ? ['ours', 'rtmpdump'] : []).map((tool) =>
    summarizeFirst(tool, ff, overhead),
  );
  for (const f of first) {
    progress(
      `    ${f.tool}: spawn->frame median ${fix(f.median, 1)} ms, p90 ${fix(f.p90, 1)} ms; start overhead ${fix(f.startOverheadMs, 1)} ms` +
        (f.inProcessMedian !== undefined
          ? `; in-process median ${fix(f.inProcessMedian, 1)} ms`
          : ''),
    );
  }

  // (c)
  const names = Array.from({ length: PUBLISHERS }, (_, i) => `pub${i}`);
  const lives: MonitorLiveResult[] = [];
  if (SECTIONS.has('c')) {
    await runLive(
      nginx,
      media,
      names,
      { videoFps: smallFps, messagesPerS: smallMessagesPerS },
      publishers,
      lives,
    );
  }
  const pubAlive = publishers.filter((p) => p.pid > 0).length;

  // Report.
  noteLoad('end');
  report({
    bigName,
    bigSize,
    bigCounts,
    smallFps,
    vod,
    downloads,
    first,
    ff,
    overhead,
    lives,
    pubAlive,
    toFile,
  });
}

/**
 * The harness's nginx.conf allows 1,024 connections per worker; (c) needs 1,000 players plus 200
 * rtmpdump plus the publishers in its one worker. Raise the limit (and the worker's file limit)
 * in this run's own nginx.conf and restart it.
 */
async function raiseNginxConnections(nginx: NginxRtmp): Promise<void> {
  const conf = join(nginx.runDir, 'nginx.conf');
  const text = readFileSync(conf, 'utf8');
  if (!/worker_connections\s+\d+;/.test(text)) throw new Error(`${conf}: no worker_connections`);
  writeFileSync(
    conf,
    `worker_rlimit_nofile ${NGINX_CONNECTIONS * 2};\n` +
      text.replace(/worker_connections\s+\d+;/, `worker_connections ${NGINX_CONNECTIONS};`),
  );
  await nginx.restart();
}

async function runLive(
  nginx: NginxRtmp,
  media: string,
  names: string[],
  rates: { videoFps: number; messagesPerS: number },
  publishers: PublisherHandle[],
  lives: MonitorLiveResult[],
): Promise<void> {
  noteLoad('c');
  progress(`(c) starting ${PUBLISHERS} ffmpeg publishers (small.flv looped, -c copy, real time)`);
  for (const n of names) {
    publishers.push(
      startFfmpegPublisher(`rtmp://127.0.0.1:${nginx.port}/live/${n}`, {
        file: join(media, 'small.flv'),
      }),
    );
  }
  const deadline = Date.now() + 15_000;
  let publishing = 0;
  while (Date.now() < deadline) {
    const xml = await statXml(nginx.statPort);
    publishing = names.filter((n) => xml.includes(`<name>${n}</name>`)).length;
    if (publishing >= PUBLISHERS) break;
    await sleep(200);
  }
  progress(`    ${publishing}/${PUBLISHERS} publishing`);
  await sleep(1000);
  const runs: Array<{ count: number; rtmpdumps?: number }> = [
    ...LIVE_COUNTS.map((count) => ({ count })),
    ...(RTMPDUMP_COUNT > 0 ? [{ count: RTMPDUMP_COUNT, rtmpdumps: RTMPDUMP_COUNT }] : []),
  ];
  for (const { count, rtmpdumps } of runs) {
    progress(
      `(c) rtmp-actors monitor, ${count} live streams` +
        (rtmpdumps ? `, and ${rtmpdumps} rtmpdump --live processes in the same window` : ''),
    );
    const s = await monitorLive({
      cli: CLI,
      nginx,
      names,
      count,
      rtmpdumps,
      windowS: LIVE_SECONDS,
      startBudgetS: START_BUDGET_S,
      videoFps: rates.videoFps,
      messagesPerS: rates.messagesPerS,
      progress,
    });
    lives.push(s);
    if (s.error) progress(`    ERROR ${s.error}`);
    else {
      progress(
        `    healthy ${s.healthyAtStart}/${s.healthyMin}/${s.healthyAtEnd} of ${count} (start/min/end); ` +
          `${fix(s.cpuS)} CPU s (${fix(s.cpuPctOfCore, 1)}% of a core, ${fix(s.cpuPctPerStream, 3)}% per stream), ` +
          `${fix(s.runQueueWaitS, 1)} s waiting for a CPU, ${fix(s.rssMaxMB, 0)} MB RSS (${fix(s.rssPerStreamKB, 0)} KB per stream); ` +
          `${s.framesField} per stream min/median ${s.framesMin}/${s.framesMedian} of ~${s.framesExpected}; exit ${s.exitCode}`,
      );
      if (Object.keys(s.unhealthy).length > 0 || s.stalls > 0 || s.reconnects > 0) {
        progress(
          `    not healthy at the end: ${JSON.stringify(s.unhealthy)}; in the window: ${s.stalls} stalls, ${s.reconnects} reconnects`,
        );
      }
      if (s.rtmpdump) {
        progress(
          `    rtmpdump: ${s.rtmpdump.aliveAtEnd}/${s.rtmpdump.count} alive, ${fix(s.rtmpdump.cpuPctPerStream, 3)}% of a core per stream, ` +
            `${fix(s.rtmpdump.rssPerStreamKB, 0)} KB per stream; ours/rtmpdump CPU per stream ${fix(s.rtmpdump.cpuRatio, 2)}`,
        );
      }
    }
    await sleep(2000);
  }
}

interface Report {
  bigName: string;
  bigSize: number;
  bigCounts: FlvCounts;
  smallFps: number;
  vod: VodSummary[];
  downloads: DownloadRun[];
  first: FirstSummary[];
  ff: FirstFrameRun[];
  overhead: Record<string, number[]>;
  lives: MonitorLiveResult[];
  pubAlive: number;
  toFile?: FileSummary;
}

function report(r: Report): void {
  const {
    bigName,
    bigSize,
    bigCounts,
    smallFps,
    vod,
    downloads,
    first,
    ff,
    overhead,
    lives,
    pubAlive,
    toFile,
  } = r;
  const [ours, rd, fm, oursTf] = vod;
  const lines: string[] = [];
  const ratio = (a: number, b: number): string => fix(a / b, 2);
  /** RSS per stream of run `s` over the first (smallest) live run: what one more stream costs. */
  const base = lives.find((s) => !s.error);
  const marginalKB = (s: MonitorLiveResult): number =>
    base && s.count > base.count
      ? ((s.rssMaxMB - base.rssMaxMB) * 1024) / (s.count - base.count)
      : NaN;
  if (ours && rd && fm) {
    lines.push('');
    lines.push(
      `(a) VOD download, nginx-rtmp, ${bigName}: ${(bigSize / 1e6).toFixed(1)} MB, ${bigCounts.videoFrames} video + ${bigCounts.audio} audio frames; median of ${VOD_RUNS}`,
    );
    lines.push(
      'tool     | MB/s (stream) | min-max     | MB/s (from spawn) | wall s | CPU s | max RSS MB | nginx CPU s | video frames | audio frames',
    );
    lines.push(
      '-------- | ------------: | ----------: | ----------------: | -----: | ----: | ---------: | ----------: | -----------: | -----------:',
    );
    for (const v of vod) {
      lines.push(
        `${v.tool.padEnd(8)} | ${fix(v.mbps, 1).padStart(13)} | ${`${fix(v.mbpsMin, 0)}-${fix(v.mbpsMax, 0)}`.padStart(11)} | ${fix(v.mbpsSpawn, 1).padStart(17)} | ${fix(v.wallS).padStart(6)} | ${fix(v.cpuS).padStart(5)} | ` +
          `${fix(v.maxRssMB, 0).padStart(10)} | ${fix(v.nginxCpuS).padStart(11)} | ${`${v.videoFrames}/${bigCounts.videoFrames}`.padStart(12)} | ${`${v.audioFrames}/${bigCounts.audio}`.padStart(12)}`,
      );
    }
    lines.push(
      `ratios ours/rtmpdump: MB/s ${ratio(ours.mbps, rd.mbps)}, CPU ${ratio(ours.cpuS, rd.cpuS)}, RSS ${ratio(ours.maxRssMB, rd.maxRssMB)}; ` +
        `ours/ffmpeg: MB/s ${ratio(ours.mbps, fm.mbps)}, CPU ${ratio(ours.cpuS, fm.cpuS)}, RSS ${ratio(ours.maxRssMB, fm.maxRssMB)}`,
    );
    const paired = pairedRatios(downloads, 'ours', 'rtmpdump');
    lines.push(
      `round by round (ours and rtmpdump back to back): ours/rtmpdump MB/s median ${fix(paired.median, 2)}, ` +
        `${fix(paired.min, 2)}-${fix(paired.max, 2)}; ours at least as fast in ${paired.atLeast} of ${paired.rounds} rounds`,
    );
    if (oursTf) {
      lines.push(
        `ours = \`rtmp-actors play URL -o -\`; ours-tf = the same with V8's default tiering ` +
          `(RTMP_ACTORS_TURBOFAN=1): MB/s ${ratio(oursTf.mbps, rd.mbps)}x rtmpdump's`,
      );
    }
  }
  if (first.length === 2) {
    lines.push('');
    lines.push(`(b) first coded video frame, VOD small.flv, ${FIRST_FRAME_RUNS} runs each, ms`);
    lines.push(
      'tool     | spawn->frame median | p90 | process start | median - start | p90 - start | in-process median | p90',
    );
    lines.push(
      '-------- | ------------------: | --: | ------------: | -------------: | ----------: | ----------------: | --:',
    );
    for (const f of first) {
      lines.push(
        `${f.tool.padEnd(8)} | ${fix(f.median, 1).padStart(19)} | ${fix(f.p90, 1)} | ${fix(f.startOverheadMs, 1).padStart(13)} | ` +
          `${fix(f.medianMinusStart, 1).padStart(14)} | ${fix(f.p90MinusStart, 1).padStart(11)} | ${fix(f.inProcessMedian ?? NaN, 1).padStart(17)} | ${fix(f.inProcessP90 ?? NaN, 1)}`,
      );
    }
  }
  const byCount = lives.filter((s) => !s.rtmpdump);
  const vsRtmpdump = lives.find((s) => s.rtmpdump);
  if (lives.length > 0) {
    lines.push('');
    lines.push(
      `(c) the monitor as users run it: \`${lives.find((s) => s.command)?.command ?? 'rtmp-actors monitor'}\`, nginx-rtmp, ` +
        `${PUBLISHERS} publishers (small.flv, ~1 Mbit/s, ${fix(smallFps, 1)} fps), distinct play URLs, ${LIVE_SECONDS} s window`,
    );
    lines.push(
      'streams | healthy start/min/end | startup s | CPU s | % core | s waiting for a CPU | % core per stream | RSS MB | KB per stream | KB per stream over the first run | frames per stream min/median (expected) | short | MB/s in | nginx % core | exit',
    );
    lines.push(
      '------: | --------------------: | --------: | ----: | -----: | ------------------: | ----------------: | -----: | ------------: | -------------------------------: | --------------------------------------: | ----: | ------: | -----------: | ---:',
    );
    for (const s of lives) {
      if (s.error) {
        lines.push(`${String(s.count).padStart(7)} | error: ${s.error.slice(0, 160)}`);
        continue;
      }
      lines.push(
        `${String(s.count).padStart(7)} | ${`${s.healthyAtStart}/${s.healthyMin}/${s.healthyAtEnd}`.padStart(21)} | ${fix(s.startupS, 1).padStart(9)} | ` +
          `${fix(s.cpuS).padStart(5)} | ${fix(s.cpuPctOfCore, 1).padStart(6)} | ${fix(s.runQueueWaitS, 1).padStart(19)} | ${fix(s.cpuPctPerStream, 3).padStart(17)} | ${fix(s.rssMaxMB, 0).padStart(6)} | ` +
          `${fix(s.rssPerStreamKB, 0).padStart(13)} | ${fix(marginalKB(s), 0).padStart(32)} | ${`${s.framesMin}/${s.framesMedian} (${s.framesExpected})`.padStart(39)} | ${String(s.streamsShort).padStart(5)} | ` +
          `${fix(s.mbpsIn, 1).padStart(7)} | ${fix(s.nginxCpuPctOfCore, 1).padStart(12)} | ${String(s.exitCode).padStart(4)}` +
          (s.rtmpdump ? ` (with ${s.rtmpdump.count} rtmpdump)` : ''),
      );
    }
    for (const s of lives) {
      if (s.error || (Object.keys(s.unhealthy).length === 0 && s.stalls + s.reconnects === 0))
        continue;
      lines.push(
        `${s.count} streams${s.rtmpdump ? ' (with rtmpdump)' : ''}: not healthy at the end ${JSON.stringify(s.unhealthy)}; ` +
          `${s.stalls} stalls and ${s.reconnects} reconnects in the window`,
      );
    }
    lines.push(
      "s waiting for a CPU: the monitor's main thread runnable but not running (/proc/PID/schedstat) during the window; " +
        'high figures mean other processes set the pace, not the monitor',
    );
    const framesField = lives.find((s) => s.framesField)?.framesField;
    if (framesField === 'messagesReceived') {
      lines.push(
        'frames = audio + video messages (the JSON stream line carries no video frame count); expected from small.flv',
      );
    }
    if (vsRtmpdump?.rtmpdump) {
      const d = vsRtmpdump.rtmpdump;
      lines.push(
        `${vsRtmpdump.count} streams, same ${fix(vsRtmpdump.windowS, 1)} s window: ours ${fix(vsRtmpdump.cpuPctPerStream, 3)}% of a core per stream ` +
          `(${fix(vsRtmpdump.cpuPctOfCore, 1)}% in all), rtmpdump --live ${fix(d.cpuPctPerStream, 3)}% per stream ` +
          `(${d.count} processes, ${d.aliveAtEnd} alive at the end, ${fix(d.cpuPctOfCore, 1)}% in all); ` +
          `ours/rtmpdump CPU per stream ${fix(d.cpuRatio, 2)}, RSS per stream ${fix(vsRtmpdump.rssPerStreamKB, 0)} KB vs ${fix(d.rssPerStreamKB, 0)} KB (${fix(d.rssRatio, 2)}; ` +
          `ours over the ${base?.count ?? '?'}-stream run: ${fix(marginalKB(vsRtmpdump), 0)} KB per stream)`,
      );
    }
    const lo = byCount.find((s) => !s.error);
    const hi = [...byCount].reverse().find((s) => !s.error);
    if (lo && hi && hi.count > lo.count) {
      lines.push(
        `marginal RSS per stream (${lo.count} -> ${hi.count} streams): ${fix(((hi.rssMaxMB - lo.rssMaxMB) * 1024) / (hi.count - lo.count), 0)} KB; ` +
          `marginal CPU per stream: ${fix((hi.cpuPctOfCore - lo.cpuPctOfCore) / (hi.count - lo.count), 3)}% of a core`,
      );
    }
  }
  const top = [...byCount].reverse()[0];
  if (toFile) {
    const o = toFile.median.ours;
    const d = toFile.median.rtmpdump;
    lines.push('');
    lines.push(
      `(v) VOD to a file, ${bigName}, whole process (spawn to exit), median of ${VOD_RUNS} alternating rounds`,
    );
    lines.push('tool     | wall s | CPU s | max RSS MB | file MB');
    lines.push('-------- | -----: | ----: | ---------: | ------:');
    for (const [tool, m] of [
      ['ours', o],
      ['rtmpdump', d],
    ] as const) {
      lines.push(
        `${tool.padEnd(8)} | ${fix(m.wallS, 3).padStart(6)} | ${fix(m.cpuS).padStart(5)} | ${fix(m.maxRssMB, 0).padStart(10)} | ${fix(m.bytes / 1e6, 1).padStart(7)}`,
      );
    }
    lines.push(
      `ours/rtmpdump: wall ${fix(toFile.wallRatio, 2)}x, CPU ${fix(toFile.cpuRatio, 2)}x (medians); ` +
        `round by round wall ${toFile.wallRatios.map((x) => fix(x, 2)).join(' ')}, CPU ${toFile.cpuRatios.map((x) => fix(x, 2)).join(' ')}`,
    );
  }
  lines.push('');
  // Every section ran ours so (bench/lib/oursEnv.ts); rtmpdump and ffmpeg never read it.
  const envNote = oursEnv().note;
  if (envNote) lines.push(`note: in every section ${envNote}`, '');
  lines.push('goals:');
  if (toFile) {
    lines.push(
      `  (v) issue 16 goal 3, VOD to a file: whole-process wall <= 1.2x rtmpdump's, CPU <= 2x: ` +
        `${toFile.wallRatio <= 1.2 && toFile.cpuRatio <= 2 ? 'met' : 'NOT met'} (wall ${fix(toFile.wallRatio, 2)}x, CPU ${fix(toFile.cpuRatio, 2)}x)`,
    );
  }
  if (ours && rd) {
    lines.push(
      `  (a) MB/s >= rtmpdump's: ${ours.mbps >= rd.mbps ? 'met' : 'NOT met'} (${ratio(ours.mbps, rd.mbps)}x)`,
    );
  }
  if (first.length === 2) {
    lines.push(
      `  (b) first frame no slower than rtmpdump (in-process ours vs spawn rtmpdump - start): ` +
        `${(first[0].inProcessMedian ?? Infinity) <= first[1].medianMinusStart ? 'met' : 'NOT met'}`,
    );
  }
  if (vsRtmpdump?.rtmpdump) {
    const d = vsRtmpdump.rtmpdump;
    const allHealthy = vsRtmpdump.healthyMin === vsRtmpdump.count;
    lines.push(
      `  (c) issue 16 goal 1, ${vsRtmpdump.count} streams: CPU per stream <= 0.5x rtmpdump's, every stream healthy, RSS <= 300 KB per stream: ` +
        `${d.cpuRatio <= 0.5 && allHealthy && vsRtmpdump.rssPerStreamKB <= 300 ? 'met' : 'NOT met'} ` +
        `(${fix(d.cpuRatio, 2)}x, ${vsRtmpdump.healthyMin}/${vsRtmpdump.count} healthy throughout, ${fix(vsRtmpdump.rssPerStreamKB, 0)} KB` +
        // RSS / streams counts the process's fixed base (Node and the loaded modules, ~60 MB)
        // against every stream: what one more stream costs is the figure over the first run.
        `; ${fix(marginalKB(vsRtmpdump), 0)} KB per stream over the ${base?.count ?? '?'}-stream run)`,
    );
  }
  if (top && !top.rtmpdump) {
    const ok =
      !top.error &&
      top.healthyMin === top.count &&
      top.streamsShort === 0 &&
      top.cpuPctOfCore <= 100;
    lines.push(
      `  (c) issue 16 goal 2, ${top.count} streams in one monitor process, none short of frames, at most one core: ` +
        `${ok ? 'met' : 'NOT met'} (${top.healthyMin}/${top.count} healthy throughout, ${top.streamsShort} short, ${fix(top.cpuPctOfCore, 1)}% of a core)`,
    );
  }
  lines.push(
    `1-min load average at phases a/v/b/c/end: ${['a', 'v', 'b', 'c', 'end'].map((p) => loads[p]).join(' / ')} (${cpus().length} CPUs)`,
  );
  for (const l of lines) console.log(l);

  mkdirSync(RESULTS, { recursive: true });
  // A partial run (--only) must not overwrite the full run's figures.
  const sections = [...SECTIONS].sort().join('');
  const out = join(RESULTS, sections === 'abc' ? 'bench.json' : `bench-${sections}.json`);
  writeFileSync(
    out,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        cpu: cpus()[0]?.model ?? 'unknown',
        cpus: cpus().length,
        memMB: Math.round(totalmem() / 2 ** 20),
        measuredWith: existsSync('/usr/bin/time')
          ? '/usr/bin/time (wait4)'
          : '/proc/<pid>/stat polling',
        units:
          'MB = 1e6 bytes of audio+video tag bodies; CPU s = user + system of the tool process',
        vod: {
          file: bigName,
          bytes: bigSize,
          source: bigCounts,
          runs: downloads,
          median: vod,
          oursOverRtmpdump: pairedRatios(downloads, 'ours', 'rtmpdump'),
          toFile,
        },
        firstFrame: { url: 'vod/small.flv', runs: ff, startOverhead: overhead, summary: first },
        monitor: {
          what: 'bin/rtmp-actors monitor with its defaults (--json --duration D), N distinct play URLs',
          publishers: PUBLISHERS,
          publishersAlive: pubAlive,
          fps: smallFps,
          seconds: LIVE_SECONDS,
          results: lives,
          oursOverRtmpdump: vsRtmpdump?.rtmpdump
            ? {
                streams: vsRtmpdump.count,
                cpuPerStream: vsRtmpdump.rtmpdump.cpuRatio,
                rssPerStream: vsRtmpdump.rtmpdump.rssRatio,
                oursCpuPctPerStream: vsRtmpdump.cpuPctPerStream,
                rtmpdumpCpuPctPerStream: vsRtmpdump.rtmpdump.cpuPctPerStream,
              }
            : undefined,
        },
        loadAverage: loads,
        sections,
        totalS: (Date.now() - T0) / 1000,
      },
      null,
      2,
    ) + '\n',
  );
  progress(`wrote ${out}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
