import { PassThrough } from 'node:stream';
import type { CliIo } from '../../src/cli/index';

/** Captures a command's stdout/stderr in memory; `interrupt()` plays the part of Ctrl-C. */
export function captureIo(): CliIo & { out(): string; err(): string; interrupt(): void } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const outChunks: Buffer[] = [];
  const errChunks: Buffer[] = [];
  stdout.on('data', (c: Buffer) => outChunks.push(c));
  stderr.on('data', (c: Buffer) => errChunks.push(c));
  let interrupt: () => void = () => undefined;
  const interrupted = new Promise<void>((resolve) => (interrupt = resolve));
  return {
    stdout,
    stderr,
    interrupted,
    interrupt: () => interrupt(),
    out: () => Buffer.concat(outChunks).toString('utf8'),
    err: () => Buffer.concat(errChunks).toString('utf8'),
  };
}

/** One JSON line of `monitor --json` (the fields the tests read). */
export interface MonitorLine {
  kind: string;
  id?: string;
  event?: string;
  health?: string;
  state?: string;
  reason?: string;
  message?: string;
  code?: string;
  videoBitrate?: number;
  fps?: number;
  exitCode?: number;
}

/** The JSON lines of a command's output. */
export function jsonLines(text: string): MonitorLine[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as MonitorLine);
}
