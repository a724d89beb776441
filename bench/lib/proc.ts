/**
 * Runs a tool as a measured child: wall time from spawn, CPU seconds and max RSS from
 * `/usr/bin/time` (wait4 of the child), or from /proc/<pid>/stat polled until exit when
 * /usr/bin/time is missing. Every child is tracked by pid and killed by pid on exit / SIGINT.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { descendantsOf, findExecutable, killTree } from '../../test/helpers';

const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const SETPRIV = findExecutable('setpriv');
const CLK_TCK = 100; // Linux USER_HZ
const live = new Set<number>();
let seq = 0;

export interface Measured {
  code: number;
  signal?: string;
  /** Spawn to exit, seconds. */
  wallS: number;
  userS: number;
  sysS: number;
  cpuS: number;
  maxRssMB: number;
  /** How CPU and RSS were measured. */
  via: 'time' | 'proc';
  stderr: string;
  timedOut: boolean;
}

export interface MeasuredChild {
  pid: number;
  child: ChildProcess;
  start: bigint;
  result: Promise<Measured>;
  /** SIGKILL the tool (and /usr/bin/time above it). */
  kill(): void;
  /** SIGKILL only the tool, so that /usr/bin/time above it still reports. */
  killTool(): void;
}

/** The pids of children still running (for cleanup). */
export function killAllMeasured(): void {
  for (const pid of live) killTree(pid, 'SIGKILL');
  live.clear();
}

/** utime + stime (seconds) and RSS (MB) of a live process, from /proc; undefined when gone. */
export function procCpu(pid: number): { cpuS: number; rssMB: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields after ')' start at index 0 = state (field 3): utime is field 14, stime 15, rss 24
    const utime = Number(f[11]);
    const stime = Number(f[12]);
    const rssPages = Number(f[21]);
    return { cpuS: (utime + stime) / CLK_TCK, rssMB: (rssPages * 4096) / 2 ** 20 };
  } catch {
    return undefined;
  }
}

export function spawnMeasured(
  command: string,
  args: readonly string[],
  options: {
    onStdout?: (chunk: Buffer) => void;
    timeoutMs?: number;
    plain?: boolean;
    /** Added to this process's environment. */
    env?: Record<string, string>;
  } = {},
): MeasuredChild {
  const useTime = TIME !== undefined && !options.plain;
  const timeFile = join(tmpdir(), `rtmp-actors-bench-time-${process.pid}-${seq++}`);
  const inner = SETPRIV
    ? [SETPRIV, '--pdeathsig', 'KILL', '--', command, ...args]
    : [command, ...args];
  const argv =
    useTime && TIME ? [TIME, '-f', '%e %U %S %M', '-o', timeFile, '--', ...inner] : inner;
  const outer = SETPRIV ? [SETPRIV, '--pdeathsig', 'KILL', '--', ...argv] : argv;
  const start = process.hrtime.bigint();
  const child = spawn(outer[0], outer.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ? { ...process.env, ...options.env } : process.env,
  });
  const pid = child.pid ?? -1;
  if (pid > 0) live.add(pid);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString('utf8');
    if (stderr.length > 256 * 1024) stderr = stderr.slice(-128 * 1024);
  });
  if (options.onStdout) child.stdout?.on('data', options.onStdout);
  else child.stdout?.resume();
  // Without /usr/bin/time: poll the tool's /proc entry; the last sample before exit is the figure.
  let polled = { cpuS: 0, rssMB: 0 };
  const poll =
    useTime || options.plain || pid <= 0
      ? undefined
      : setInterval(() => {
          const s = procCpu(pid);
          if (s) polled = { cpuS: s.cpuS, rssMB: Math.max(polled.rssMB, s.rssMB) };
        }, 20);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (pid > 0) killTree(pid, 'SIGKILL');
  }, options.timeoutMs ?? 120_000);
  const result = new Promise<Measured>((resolve) => {
    child.once('error', (err) => {
      stderr += `\n[bench] could not start ${command}: ${err.message}`;
    });
    child.once('close', (code, signal) => {
      const wallS = Number(process.hrtime.bigint() - start) / 1e9;
      clearTimeout(timer);
      if (poll) clearInterval(poll);
      live.delete(pid);
      let m: Measured = {
        code: code ?? -1,
        signal: signal ?? undefined,
        wallS,
        userS: NaN,
        sysS: NaN,
        cpuS: polled.cpuS,
        maxRssMB: polled.rssMB,
        via: 'proc',
        stderr,
        timedOut,
      };
      if (useTime) {
        try {
          const text = readFileSync(timeFile, 'utf8').trim().split('\n');
          // "Command exited with non-zero status N" or "Command terminated by signal N" may precede.
          const last = text[text.length - 1].trim().split(/\s+/).map(Number);
          const [, user, sys, rssKB] = last;
          m = {
            ...m,
            userS: user,
            sysS: sys,
            cpuS: user + sys,
            maxRssMB: rssKB / 1024,
            via: 'time',
          };
          const status = text.find((l) => l.startsWith('Command exited with non-zero status'));
          if (status) m.code = Number(status.split(' ').pop());
        } catch {
          // killed before /usr/bin/time wrote its report
        }
        rmSync(timeFile, { force: true });
      }
      resolve(m);
    });
  });
  return {
    pid,
    child,
    start,
    result,
    kill: () => {
      if (pid > 0) killTree(pid, 'SIGKILL');
    },
    killTool: () => {
      if (pid <= 0) return;
      if (!useTime) return killTree(pid, 'SIGKILL');
      for (const d of descendantsOf(pid)) {
        try {
          process.kill(d, 'SIGKILL');
        } catch {
          // gone
        }
      }
    },
  };
}
