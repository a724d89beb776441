/**
 * `npm run bench` section (c): the monitor as users run it. The built CLI,
 * `bin/rtmp-actors monitor --targets FILE --json --duration D` with every other option at its
 * default, watches N live streams (distinct play URLs over a few ffmpeg publishers on
 * nginx-rtmp). Once every stream is healthy (or a start budget has passed) its CPU time is read
 * from /proc/PID/stat (utime + stime) at the start and the end of a fixed window, its RSS sampled
 * every second, and each stream's received frames and health read from its own JSON lines.
 *
 * One run also starts `rtmpdump --live -o /dev/null` for each of its URLs, measured over the same
 * window (their CPU summed), so that "ours against rtmpdump per stream" shares the machine's
 * state at that moment.
 */
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { StringDecoder } from 'node:string_decoder';
import { join } from 'node:path';
import { stringify } from 'yaml';
import {
  requireTool,
  runCommand,
  spawnTracked,
  type NginxRtmp,
  type TrackedProcess,
} from '../../test/helpers';
import { oursEnv } from './oursEnv';
import { procCpu } from './proc';

export interface MonitorLiveOptions {
  /** bin/rtmp-actors */
  cli: string;
  nginx: NginxRtmp;
  /** The live names being published. */
  names: readonly string[];
  count: number;
  /** Also run this many `rtmpdump --live` processes on the first URLs, in the same window. */
  rtmpdumps?: number;
  windowS: number;
  /** How long the streams may take to become healthy before the window starts anyway. */
  startBudgetS: number;
  /** Video frames and audio+video messages per second the publishers send. */
  videoFps: number;
  messagesPerS: number;
  progress: (text: string) => void;
}

interface StreamLine {
  kind: 'stream';
  at: number;
  id?: string;
  stream?: string;
  health?: string;
  videoFrames?: number;
  framesReceived?: number;
  messagesReceived?: number;
  bytesReceived?: number;
  state?: string;
  reason?: string;
  lastStatus?: string;
  stalls?: number;
  reconnects?: number;
}

export interface MonitorLiveResult {
  count: number;
  /** How the URLs reached the monitor: a targets file, or argv (before --targets existed). */
  input: 'targets' | 'argv';
  command: string;
  /** Distinct streams seen in the JSON lines. */
  streamsSeen: number;
  startupS: number;
  /** Healthy streams when the window started, the fewest during it, and at its end. */
  healthyAtStart: number;
  healthyMin: number;
  healthyAtEnd: number;
  windowS: number;
  cpuS: number;
  cpuPctOfCore: number;
  /** Percent of one core per stream. */
  cpuPctPerStream: number;
  /**
   * Seconds of the window the monitor's main thread was runnable but waiting for a CPU (other
   * processes had them): a high figure means the machine, not the monitor, set the pace.
   */
  runQueueWaitS: number;
  rssMaxMB: number;
  rssPerStreamKB: number;
  /** What "frames" counts: video frames when the JSON carries them, else audio+video messages. */
  framesField: 'videoFrames' | 'framesReceived' | 'messagesReceived';
  framesExpected: number;
  framesMin: number;
  framesMedian: number;
  framesMax: number;
  /** Streams that received under 90% of the frames expected in the window. */
  streamsShort: number;
  mbpsIn: number;
  nginxCpuPctOfCore: number;
  exitCode: number;
  summary?: { exitCode?: number; streams?: number; healthy?: number };
  /** Streams not healthy at the end, by health/state/reason (what the monitor said about them). */
  unhealthy: Record<string, number>;
  /** Stalls and reconnects over all streams during the window. */
  stalls: number;
  reconnects: number;
  rtmpdump?: {
    count: number;
    aliveAtEnd: number;
    cpuS: number;
    cpuPctOfCore: number;
    cpuPctPerStream: number;
    rssPerStreamKB: number;
    /** ours per stream / rtmpdump per stream */
    cpuRatio: number;
    rssRatio: number;
  };
  error?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function median(xs: number[]): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = (v.length - 1) / 2;
  return (v[Math.floor(mid)] + v[Math.ceil(mid)]) / 2;
}

let targetsSupport: boolean | undefined;
/** True when the built CLI's `monitor --help` lists --targets. */
async function cliHasTargets(cli: string): Promise<boolean> {
  if (targetsSupport === undefined) {
    const help = await runCommand(process.execPath, [cli, 'monitor', '--help'], {
      timeoutMs: 30_000,
    });
    targetsSupport = /^\s+--targets\b/m.test(help.stdout.toString('utf8'));
  }
  return targetsSupport;
}

/**
 * Seconds the process's main thread has waited on a run queue (runnable, but another task had
 * the CPU), from /proc/PID/schedstat: how much a busy machine starved it. NaN where unreadable.
 */
function runQueueWaitS(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'latin1').split(' ')[1]) / 1e9;
  } catch {
    return NaN;
  }
}

function cpuOf(pids: readonly number[]): number {
  return pids.reduce((n, pid) => n + (procCpu(pid)?.cpuS ?? 0), 0);
}

/** Runs the monitor on `count` streams (and rtmpdumps beside it) and measures one window. */
export async function monitorLive(o: MonitorLiveOptions): Promise<MonitorLiveResult> {
  const dir = mkdtempSync(join(tmpdir(), 'rtmp-actors-bench-monitor-'));
  const urls = Array.from(
    { length: o.count },
    (_, i) => `rtmp://127.0.0.1:${o.nginx.port}/live/${o.names[i % o.names.length]}?v=${i}`,
  );
  const ids = urls.map((_, i) => `s${String(i).padStart(4, '0')}`);
  const useTargets = await cliHasTargets(o.cli);
  const file = join(dir, 'targets.yaml');
  writeFileSync(file, stringify({ streams: urls.map((url, i) => ({ id: ids[i], url })) }));
  const durationS = o.startBudgetS + o.windowS + 30;
  const args = [
    'monitor',
    ...(useTargets ? ['--targets', file] : urls),
    '--json',
    '--duration',
    String(durationS),
  ];
  const command = `rtmp-actors monitor ${useTargets ? '--targets FILE' : `<${o.count} URLs>`} --json --duration ${durationS}`;

  const latest = new Map<string, StreamLine>();
  let summary: MonitorLiveResult['summary'];
  let partial = '';
  const onLine = (line: string): void => {
    if (!line.startsWith('{')) return;
    try {
      const j = JSON.parse(line) as { kind?: string } & Record<string, unknown>;
      if (j.kind === 'stream') {
        const s = j as unknown as StreamLine;
        latest.set(s.id ?? s.stream ?? '?', s);
      } else if (j.kind === 'summary') {
        summary = j as MonitorLiveResult['summary'];
      }
    } catch {
      // not a JSON line
    }
  };
  const t0 = Date.now();
  // Its JSON lines go to a file, as `monitor --json > FILE` would: a pipe to this process could
  // fill while this process waits for a core, and Node writes to a pipe synchronously, so the
  // monitor would stall on our account. The file is read as it grows.
  const out = join(dir, 'monitor.jsonl');
  const monitor = spawnTracked(
    'rtmp-actors-monitor',
    '/bin/sh',
    ['-c', 'exec "$0" "$@" > "$RTMP_ACTORS_BENCH_OUT"', process.execPath, o.cli, ...args],
    { env: { ...process.env, ...oursEnv().env, RTMP_ACTORS_BENCH_OUT: out } },
  );
  let offset = 0;
  const chunk = Buffer.alloc(1 << 20);
  const decoder = new StringDecoder('utf8');
  const readOut = (): void => {
    let fd: number;
    try {
      fd = openSync(out, 'r');
    } catch {
      return; // not created yet
    }
    try {
      for (;;) {
        const n = readSync(fd, chunk, 0, chunk.length, offset);
        if (n <= 0) break;
        offset += n;
        partial += decoder.write(chunk.subarray(0, n));
        let i: number;
        while ((i = partial.indexOf('\n')) >= 0) {
          onLine(partial.slice(0, i));
          partial = partial.slice(i + 1);
        }
      }
    } finally {
      closeSync(fd);
    }
  };
  const reader = setInterval(readOut, 250);
  const dumps: TrackedProcess[] = [];
  const rtmpdump = o.rtmpdumps ? requireTool('rtmpdump') : '';
  for (let i = 0; i < (o.rtmpdumps ?? 0); i++) {
    dumps.push(
      spawnTracked('rtmpdump', rtmpdump, [
        '--live',
        '-q',
        '-r',
        `rtmp://127.0.0.1:${o.nginx.port}/live/${o.names[i % o.names.length]}?d=${i}`,
        '-o',
        '/dev/null',
      ]),
    );
  }
  const healthy = (): number => [...latest.values()].filter((s) => s.health === 'healthy').length;

  try {
    // Start: every stream healthy, or the budget spent.
    let lastNote = 0;
    while (Date.now() - t0 < o.startBudgetS * 1000 && monitor.running) {
      if (healthy() >= o.count) break;
      if (Date.now() - lastNote > 10_000) {
        lastNote = Date.now();
        o.progress(
          `    ${healthy()}/${o.count} healthy after ${Math.round((Date.now() - t0) / 1000)} s`,
        );
      }
      await sleep(250);
    }
    const startupS = (Date.now() - t0) / 1000;
    if (!monitor.running) {
      throw new Error(
        `the monitor exited (${await monitor.exited}): ${monitor.stderrTail().slice(-400)}`,
      );
    }
    // Let a second of JSON lines land, so that every stream has a line at the window's start.
    await sleep(1100);
    const healthyAtStart = healthy();
    o.progress(
      `    ${healthyAtStart}/${o.count} healthy after ${startupS.toFixed(1)} s` +
        `${dumps.length ? `, ${dumps.filter((d) => d.running).length} rtmpdump running` : ''}; measuring ${o.windowS} s`,
    );

    const first = new Map(latest);
    const dumpPids = dumps.filter((d) => d.running).map((d) => d.pid);
    const nginxPids = o.nginx.pids();
    const w0 = Date.now();
    const cpu0 = cpuOf([monitor.pid]);
    const wait0 = runQueueWaitS(monitor.pid);
    const dump0 = cpuOf(dumpPids);
    const nginx0 = cpuOf(nginxPids);
    let rssMaxMB = 0;
    let dumpRssMB = 0;
    let healthyMin = healthyAtStart;
    while (Date.now() - w0 < o.windowS * 1000) {
      await sleep(1000);
      rssMaxMB = Math.max(rssMaxMB, procCpu(monitor.pid)?.rssMB ?? 0);
      healthyMin = Math.min(healthyMin, healthy());
    }
    const cpu1 = cpuOf([monitor.pid]);
    const wait1 = runQueueWaitS(monitor.pid);
    const dump1 = cpuOf(dumpPids);
    const nginx1 = cpuOf(nginxPids);
    const windowS = (Date.now() - w0) / 1000;
    for (const pid of dumpPids) dumpRssMB += procCpu(pid)?.rssMB ?? 0;
    const aliveAtEnd = dumps.filter((d) => d.running).length;
    const end = new Map(latest);
    const healthyAtEnd = healthy();

    // Frames per stream over the window, scaled to exactly windowS from each stream's own lines.
    const sample = [...end.values()][0];
    const framesField: MonitorLiveResult['framesField'] =
      sample?.videoFrames !== undefined
        ? 'videoFrames'
        : sample?.framesReceived !== undefined
          ? 'framesReceived'
          : 'messagesReceived';
    const frames: number[] = [];
    let bytes = 0;
    for (const [key, e] of end) {
      const s = first.get(key);
      const span = s ? (e.at - s.at) / 1000 : 0;
      if (!s || span <= 0) {
        frames.push(0);
        continue;
      }
      frames.push((((e[framesField] ?? 0) - (s[framesField] ?? 0)) * windowS) / span);
      bytes += (((e.bytesReceived ?? 0) - (s.bytesReceived ?? 0)) * windowS) / span;
    }
    while (frames.length < o.count) frames.push(0);
    const perS = framesField === 'messagesReceived' ? o.messagesPerS : o.videoFps;
    const framesExpected = Math.round(perS * windowS);

    // Stop: the monitor as Ctrl-C would (its exit code and summary line), rtmpdump likewise.
    monitor.child.kill('SIGINT');
    for (const d of dumps) d.child.kill('SIGINT');
    const exitCode = await Promise.race([
      monitor.exited,
      sleep(30_000).then(() => monitor.stop('SIGKILL', 1000)),
    ]);
    await Promise.all(dumps.map((d) => d.stop('SIGINT', 5000)));
    readOut();

    const cpuS = cpu1 - cpu0;
    const cpuPctOfCore = (100 * cpuS) / windowS;
    const unhealthy: Record<string, number> = {};
    let stalls = 0;
    let reconnects = 0;
    for (const [key, e] of end) {
      const s = first.get(key);
      stalls += (e.stalls ?? 0) - (s?.stalls ?? 0);
      reconnects += (e.reconnects ?? 0) - (s?.reconnects ?? 0);
      if (e.health === 'healthy') continue;
      const why = [e.health, e.state, e.reason ?? e.lastStatus].filter(Boolean).join(' ');
      unhealthy[why] = (unhealthy[why] ?? 0) + 1;
    }
    if (end.size < o.count) unhealthy['no JSON line'] = o.count - end.size;
    const result: MonitorLiveResult = {
      count: o.count,
      input: useTargets ? 'targets' : 'argv',
      command,
      streamsSeen: end.size,
      startupS,
      healthyAtStart,
      healthyMin,
      healthyAtEnd,
      windowS,
      cpuS,
      cpuPctOfCore,
      cpuPctPerStream: cpuPctOfCore / o.count,
      runQueueWaitS: wait1 - wait0,
      rssMaxMB,
      rssPerStreamKB: (rssMaxMB * 1024) / o.count,
      framesField,
      framesExpected,
      framesMin: Math.round(Math.min(...frames)),
      framesMedian: Math.round(median(frames)),
      framesMax: Math.round(Math.max(...frames)),
      streamsShort: frames.filter((f) => f < 0.9 * framesExpected).length,
      mbpsIn: bytes / 1e6 / windowS,
      nginxCpuPctOfCore: (100 * (nginx1 - nginx0)) / windowS,
      exitCode,
      summary,
      unhealthy,
      stalls,
      reconnects,
    };
    if (dumps.length > 0) {
      const dumpCpuS = dump1 - dump0;
      const dumpPct = (100 * dumpCpuS) / windowS;
      const dumpPerStream = dumpPct / dumps.length;
      const dumpRssPerStreamKB = (dumpRssMB * 1024) / Math.max(1, dumpPids.length);
      result.rtmpdump = {
        count: dumps.length,
        aliveAtEnd,
        cpuS: dumpCpuS,
        cpuPctOfCore: dumpPct,
        cpuPctPerStream: dumpPerStream,
        rssPerStreamKB: dumpRssPerStreamKB,
        cpuRatio: result.cpuPctPerStream / dumpPerStream,
        rssRatio: result.rssPerStreamKB / dumpRssPerStreamKB,
      };
    }
    return result;
  } catch (err) {
    return { count: o.count, error: (err as Error).message } as MonitorLiveResult;
  } finally {
    clearInterval(reader);
    if (monitor.running) await monitor.stop('SIGKILL', 1000);
    await Promise.all(dumps.map((d) => d.stop('SIGKILL', 1000)));
    rmSync(dir, { recursive: true, force: true });
  }
}
