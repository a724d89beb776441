/**
 * Process hygiene for the real-peer harness: every child the harness starts is tracked here,
 * stopped by its own pid (never by name), and cannot outlive the test process:
 * - `stopAll()` (call it in `afterAll`) stops whatever is still running;
 * - a `process.on('exit')` hook SIGKILLs the rest (plain Node; under Jest the sandboxed
 *   `process` never emits it, hence the next point);
 * - on Linux each child is started through `setpriv --pdeathsig`, so the kernel signals it when
 *   the test process dies, even by SIGKILL.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, join } from 'node:path';

export interface TrackedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves with the exit code, or 128 + signal number when a signal ended it. */
  readonly exited: Promise<number>;
  /** True until the process has exited (and been reaped). */
  readonly running: boolean;
  /** The last bytes (up to 64 KiB) the process wrote to stdout / stderr, as text. */
  stdoutTail(): string;
  stderrTail(): string;
  /** Sends `signal` (default SIGTERM), waits up to `timeoutMs` (default 5 s), then SIGKILLs it and its descendants. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number>;
}

export interface SpawnTrackedOptions extends Omit<SpawnOptions, 'stdio' | 'detached'> {
  /** Signal the kernel sends the child when the test process dies (default SIGKILL). */
  parentDeathSignal?: 'KILL' | 'TERM';
  /** Keep all of stdout (for binary output such as rtmpdump without -o). Default: tail only. */
  captureStdout?: boolean;
  /** Also called for every stdout chunk. */
  onStdout?: (chunk: Buffer) => void;
}

const TAIL_BYTES = 64 * 1024;
const tracked = new Set<TrackedProcess>();
const SETPRIV = findExecutable('setpriv');

/** The absolute path of `command` on PATH, or undefined. */
export function findExecutable(command: string): string | undefined {
  if (command.includes('/')) return existsSync(command) ? command : undefined;
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    const candidate = join(dir, command);
    if (dir && existsSync(candidate)) return candidate;
  }
  for (const dir of ['/usr/sbin', '/sbin']) {
    const candidate = join(dir, command);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Throws a clear error naming the Debian package when a tool the harness needs is missing. */
export function requireTool(command: string, debianPackage = command): string {
  const path = findExecutable(command);
  if (!path) {
    throw new Error(
      `The test harness needs \`${command}\` (Debian package ${debianPackage}); ` +
        'install it, or run .ci/run, which installs every real peer.',
    );
  }
  return path;
}

/** True while `pid` names a live process (a zombie counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    if (existsSync('/proc/self/stat')) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

/** Every descendant of `pid` (children, grandchildren …), from /proc. Empty where /proc is missing. */
export function descendantsOf(pid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const parentOf = new Map<number, number>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(entry), Number(fields[1]));
    } catch {
      // gone meanwhile
    }
  }
  const result: number[] = [];
  const frontier = [pid];
  while (frontier.length > 0) {
    const parent = frontier.pop() as number;
    for (const [child, ppid] of parentOf) {
      if (ppid === parent && !result.includes(child)) {
        result.push(child);
        frontier.push(child);
      }
    }
  }
  return result;
}

/** Sends `signal` to `pid` and each of its descendants; ignores those already gone. */
export function killTree(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const p of [...descendantsOf(pid), pid]) {
    try {
      process.kill(p, signal);
    } catch {
      // already gone
    }
  }
}

/** Polls `predicate` every `intervalMs` until it holds; false after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 25,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  if (signal) return 128 + (osConstants.signals[signal] ?? 0);
  return -1;
}

class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly keepAll: boolean) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.byteLength;
    if (!this.keepAll && this.size > TAIL_BYTES * 2) {
      const all = Buffer.concat(this.chunks);
      this.chunks = [all.subarray(all.byteLength - TAIL_BYTES)];
      this.size = TAIL_BYTES;
    }
  }
  buffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
  text(): string {
    const all = this.buffer();
    return all.subarray(Math.max(0, all.byteLength - TAIL_BYTES)).toString('utf8');
  }
}

/**
 * Starts `command` with stdin ignored and stdout/stderr drained (a full pipe would stall the
 * child), tracks it until it exits, and arranges for it to die with the test process.
 */
export function spawnTracked(
  name: string,
  command: string,
  args: readonly string[],
  options: SpawnTrackedOptions = {},
): TrackedProcess & { stdoutBuffer(): Buffer } {
  const { parentDeathSignal = 'KILL', captureStdout = false, onStdout, ...spawnOptions } = options;
  const [file, argv] = SETPRIV
    ? [SETPRIV, ['--pdeathsig', parentDeathSignal, '--', command, ...args]]
    : [command, [...args]];
  const child = spawn(file, argv, { ...spawnOptions, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout = new Tail(captureStdout);
  const stderr = new Tail(false);
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout.push(chunk);
    onStdout?.(chunk);
  });
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));

  let running = child.pid !== undefined;
  const exited = new Promise<number>((resolve) => {
    child.once('error', (err) => {
      stderr.push(Buffer.from(`\n[harness] could not start ${command}: ${err.message}\n`));
      running = false;
      resolve(-1);
    });
    child.once('exit', (code, signal) => {
      running = false;
      resolve(exitCodeOf(code, signal));
    });
  });

  const proc: TrackedProcess & { stdoutBuffer(): Buffer } = {
    name,
    pid: child.pid ?? -1,
    child,
    exited,
    get running() {
      return running;
    },
    stdoutTail: () => stdout.text(),
    stdoutBuffer: () => stdout.buffer(),
    stderrTail: () => stderr.text(),
    async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 5000) {
      if (running) {
        try {
          process.kill(proc.pid, signal);
        } catch {
          // already gone
        }
        const timer = new Promise<'timeout'>((resolve) => {
          const t = setTimeout(() => resolve('timeout'), timeoutMs);
          void exited.then(() => clearTimeout(t));
        });
        if ((await Promise.race([exited, timer])) === 'timeout') killTree(proc.pid, 'SIGKILL');
      }
      return exited;
    },
  };
  if (running) {
    tracked.add(proc);
    installExitHook();
    void exited.then(() => tracked.delete(proc));
  }
  return proc;
}

export interface RunResult {
  /** The exit code, or 128 + signal number. */
  code: number;
  stdout: Buffer;
  stderr: string;
  /** True when `timeoutMs` passed and the process was SIGKILLed. */
  timedOut: boolean;
  /** True when `stopAfterMs` passed and the process was asked to stop. */
  stoppedEarly: boolean;
}

export interface RunOptions {
  /** SIGKILL after this long (default 30 s): a hung tool fails the test instead of hanging it. */
  timeoutMs?: number;
  /** Send `stopSignal` (default SIGINT) after this long: for tools that would run forever. */
  stopAfterMs?: number;
  stopSignal?: NodeJS.Signals;
  cwd?: string;
  name?: string;
}

/** Runs a command to completion and returns its exit code and output. */
export async function runCommand(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const proc = spawnTracked(options.name ?? command, command, args, {
    cwd: options.cwd,
    captureStdout: true,
  });
  let timedOut = false;
  let stoppedEarly = false;
  const killTimer = setTimeout(() => {
    timedOut = true;
    killTree(proc.pid, 'SIGKILL');
  }, options.timeoutMs ?? 30_000);
  const stopTimer =
    options.stopAfterMs === undefined
      ? undefined
      : setTimeout(() => {
          stoppedEarly = true;
          try {
            process.kill(proc.pid, options.stopSignal ?? 'SIGINT');
          } catch {
            // already gone
          }
        }, options.stopAfterMs);
  const code = await proc.exited;
  clearTimeout(killTimer);
  clearTimeout(stopTimer);
  return { code, stdout: proc.stdoutBuffer(), stderr: proc.stderrTail(), timedOut, stoppedEarly };
}

type Stoppable = { stop(): Promise<unknown> };
const extraStoppables = new Set<Stoppable>();

/** Lets a higher-level handle (nginx, node-media-server) be stopped by `stopAll` as a unit. */
export function trackStoppable(handle: Stoppable): () => void {
  extraStoppables.add(handle);
  return () => extraStoppables.delete(handle);
}

/** Every tracked process still running. */
export function runningProcesses(): TrackedProcess[] {
  return [...tracked].filter((p) => p.running);
}

/** Stops every server handle and process the harness started; for `afterAll`. */
export async function stopAll(): Promise<void> {
  await Promise.all([...extraStoppables].map((h) => h.stop().catch(() => undefined)));
  extraStoppables.clear();
  await Promise.all([...tracked].map((p) => p.stop('SIGTERM', 3000)));
}

let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of tracked) if (p.running) killTree(p.pid, 'SIGKILL');
  });
}
