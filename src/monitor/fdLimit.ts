/**
 * How many connections the monitor may open: every connection is a file descriptor, and the
 * process may hold at most RLIMIT_NOFILE of them (`ulimit -n`). Read from /proc/self/limits
 * (Linux), else from `sh -c 'ulimit -n'`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** File descriptors kept for everything but RTMP connections: stdio, the HTTP server and its clients, the targets file, watchers. */
export const FD_RESERVE = 64;

/** The soft RLIMIT_NOFILE of this process, or undefined when it cannot be read (or is unlimited). */
export function openFilesLimit(): number | undefined {
  try {
    const text = readFileSync('/proc/self/limits', 'utf8');
    const m = /^Max open files\s+(\S+)/m.exec(text);
    if (m) return m[1] === 'unlimited' ? undefined : Number(m[1]);
  } catch {
    // not Linux: ask the shell
  }
  try {
    const out = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8', timeout: 2000 }).trim();
    const n = Number(out);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The connection budget and where it comes from, for error messages. */
export interface ConnectionBudget {
  maxConnections: number;
  /** E.g. `--max-connections 10`, or `the file-descriptor limit (ulimit -n 1024) less 64 kept for other files`. */
  source: string;
}

/** Connections allowed: the explicit limit, else the file-descriptor limit less FD_RESERVE. */
export function connectionBudget(explicit?: number, limit = openFilesLimit()): ConnectionBudget {
  if (explicit !== undefined)
    return { maxConnections: explicit, source: `--max-connections ${explicit}` };
  if (limit === undefined)
    return { maxConnections: Number.MAX_SAFE_INTEGER, source: 'no file-descriptor limit' };
  return {
    maxConnections: Math.max(1, limit - FD_RESERVE),
    source: `the file-descriptor limit (ulimit -n ${limit}) less ${FD_RESERVE} kept for other files; raise ulimit -n or set --max-connections`,
  };
}
