/**
 * Shared by the session commands (`play`, `publish`): their common options, how a failure
 * becomes an exit code and a one-line message, the progress line, JSON-line output, and the
 * `--inspect` recorder. Nothing printed here contains a URL secret: every text goes through the
 * session's redactor first.
 */
import { readFileSync } from 'node:fs';
import type { InspectionEvent } from 'xstate';
import type { SessionOptions } from '../client';
import { classifyFailure, type FailureKind, type StreamOutcome } from '../outcome';
import { redactText, secretsOf } from '../redact';
import { TRACE_OPTIONS } from '../trace/session';
import type { OptionSpec, ParsedArgs } from './args';
import { ExitCode } from './exitCodes';
import type { CliIo } from './types';

/* ------------------------------------------------------------------------------------------------
 * Options
 * ---------------------------------------------------------------------------------------------- */

/** Retries after the first connection attempt when `--retries` is not given. */
export const DEFAULT_RETRIES = 4;

/**
 * `--retries n`: how many times to try again after the first connection attempt fails, as curl
 * and wget count them (0: one attempt, no retry). The library's `retry.maxAttempts` counts the
 * attempts themselves, the first one included: `maxAttempts = retries + 1`.
 */
export const RETRIES_OPTION: OptionSpec = {
  name: 'retries',
  type: 'number',
  valueName: 'n',
  description: 'retries after the first connection attempt fails (0: one attempt, no retry)',
  default: DEFAULT_RETRIES,
};

/**
 * The library's `retry.maxAttempts` for `--retries n` (undefined when the option is absent).
 * Refuses anything but a whole number from 0 up with a CommandError naming the option.
 */
export function retriesOption(args: ParsedArgs, name = 'retries'): number | undefined {
  const v = args.options[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new CommandError(
      `--${name} needs a whole number of retries after the first attempt, 0 or more`,
    );
  }
  return v + 1;
}

/** Options every session command accepts. */
export const SESSION_OPTIONS: OptionSpec[] = [
  {
    name: 'timeout',
    type: 'number',
    valueName: 's',
    description: 'TCP connect, handshake and `connect` timeouts, each (seconds)',
    default: 10,
  },
  RETRIES_OPTION,
  {
    name: 'json',
    type: 'boolean',
    description: 'print state changes and status events as JSON lines on stderr',
  },
  {
    name: 'progress',
    type: 'boolean',
    description: 'print progress on stderr even when it is not a terminal',
  },
  ...TRACE_OPTIONS,
  {
    name: 'insecure',
    type: 'boolean',
    description: 'rtmps: accept any TLS certificate',
  },
  { name: 'ca', type: 'string', valueName: 'file', description: 'rtmps: trust this CA (PEM)' },
];

/** A command-line mistake found after parsing (bad value, missing file). */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.Usage,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

/** The parts of SessionOptions the common options set. */
export function sessionOptionsFrom(args: ParsedArgs): Omit<SessionOptions, 'url'> {
  const o = args.options;
  const out: Omit<SessionOptions, 'url'> = {};
  if (typeof o.timeout === 'number') {
    if (!(o.timeout > 0)) throw new CommandError('--timeout needs a positive number of seconds');
    const ms = Math.round(o.timeout * 1000);
    out.timeouts = { transport: ms, handshake: ms, connect: ms };
  }
  const maxAttempts = retriesOption(args);
  if (maxAttempts !== undefined) out.retry = { maxAttempts };
  if (o.insecure === true) out.insecure = true;
  if (typeof o.ca === 'string') {
    try {
      out.tls = { ca: readFileSync(o.ca) };
    } catch (e) {
      throw new CommandError(`cannot read --ca ${o.ca}: ${(e as Error).message}`, ExitCode.Failure);
    }
  }
  return out;
}

/** A positive number of seconds from an option, as milliseconds (undefined when absent). */
export function secondsOption(args: ParsedArgs, name: string): number | undefined {
  const v = args.options[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !(v > 0))
    throw new CommandError(`--${name} needs a positive number of seconds`);
  return Math.round(v * 1000);
}

/* ------------------------------------------------------------------------------------------------
 * Redaction
 * ---------------------------------------------------------------------------------------------- */

/** Masks the URL's secrets (stream key, query values, password) in any text. */
export function redactorFor(url: string): (text: string) => string {
  const secrets = secretsOf(url);
  return (text) => (secrets.length ? redactText(text, secrets) : text);
}

/** Several inspectors as one. */
export function combineInspectors(
  ...inspectors: Array<((ev: InspectionEvent) => void) | undefined>
): (ev: InspectionEvent) => void {
  const list = inspectors.filter((f): f is (ev: InspectionEvent) => void => f !== undefined);
  return (ev) => {
    for (const f of list) f(ev);
  };
}

/* ------------------------------------------------------------------------------------------------
 * Exit codes
 * ---------------------------------------------------------------------------------------------- */

export interface Verdict {
  code: number;
  /** One line for a person (already redacted by the caller's redactor when printed). */
  message: string;
}

/** The exit code of each kind of failure (see `classifyFailure`). */
const EXIT_CODES: Readonly<Record<FailureKind, number>> = {
  unreachable: ExitCode.ConnectionFailed,
  rejected: ExitCode.Rejected,
  notFound: ExitCode.StreamNotFound,
  protocol: ExitCode.ProtocolError,
  timeout: ExitCode.Failure,
  source: ExitCode.ProtocolError,
  limit: ExitCode.Failure,
  failed: ExitCode.Failure,
};

/**
 * The exit code and message for a stream that ended on its own (not stopped by us): the
 * library's `classifyFailure` sorts the failure, this maps its kind to an exit code.
 */
export function outcomeVerdict(outcome: StreamOutcome): Verdict {
  const failure = classifyFailure(outcome);
  if (!failure) {
    return { code: ExitCode.Ok, message: outcome.reason ? `ended (${outcome.reason})` : 'done' };
  }
  return { code: EXIT_CODES[failure.kind], message: failure.message };
}

/* ------------------------------------------------------------------------------------------------
 * Output: JSON lines, progress, human messages
 * ---------------------------------------------------------------------------------------------- */

/** Writes one redacted JSON object a line on stderr (with the time). */
export function jsonLineWriter(
  io: CliIo,
  redact: (text: string) => string,
): (value: Record<string, unknown>) => void {
  return (value) => {
    io.stderr.write(redact(JSON.stringify({ time: new Date().toISOString(), ...value })) + '\n');
  };
}

/** Bytes as B, kB, MB (decimal, like ffmpeg). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1_000_000) return `${(n / 1000).toFixed(1)} kB`;
  if (n < 1_000_000_000) return `${(n / 1_000_000).toFixed(2)} MB`;
  return `${(n / 1_000_000_000).toFixed(2)} GB`;
}

/** Bits per second as kbit/s or Mbit/s. */
export function formatRate(bytesPerSecond: number): string {
  const bits = bytesPerSecond * 8;
  if (bits < 1_000_000) return `${(bits / 1000).toFixed(0)} kbit/s`;
  return `${(bits / 1_000_000).toFixed(2)} Mbit/s`;
}

/** Milliseconds of media as h:mm:ss.d. */
export function formatMediaTime(ms: number): string {
  const total = Math.max(0, ms) / 1000;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h}:${String(m).padStart(2, '0')}:${s.toFixed(1).padStart(4, '0')}`;
}

/** What the progress line shows. */
export interface ProgressSample {
  bytes: number;
  mediaMs: number;
  frames: number;
  state: string;
}

/** How progress shows: redrawn in place, a line every second, JSON lines, or not at all. */
export type ProgressMode = 'tty' | 'lines' | 'json' | 'off';

/**
 * A terminal gets the line redrawn in place (unless --json); elsewhere progress shows only with
 * --progress: as text lines, or as `{"type":"progress"}` JSON lines with --json.
 */
export function progressMode(io: CliIo, json: boolean, asked: boolean): ProgressMode {
  if (json) return asked ? 'json' : 'off';
  if (io.stderr.isTTY === true) return 'tty';
  return asked ? 'lines' : 'off';
}

/**
 * The progress line: redrawn in place every `intervalMs` on a terminal, or printed (as text or
 * JSON) every `lineIntervalMs` elsewhere.
 */
export class ProgressLine {
  private timer: NodeJS.Timeout | undefined;
  private drawn = false;
  private last: { at: number; bytes: number } | undefined;
  private rate = 0;
  private lastLineAt = 0;

  constructor(
    private readonly io: CliIo,
    private readonly sample: () => ProgressSample,
    private readonly options: {
      mode: ProgressMode;
      json?: (value: Record<string, unknown>) => void;
      intervalMs?: number;
      lineIntervalMs?: number;
    },
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    if (this.options.mode === 'off' || this.timer) return;
    this.last = { at: this.now(), bytes: this.sample().bytes };
    this.lastLineAt = this.now();
    this.timer = setInterval(() => this.tick(), this.options.intervalMs ?? 500);
    this.timer.unref?.();
  }

  /** The text of the line right now (also used for tests). */
  render(s: ProgressSample = this.sample()): string {
    return [
      s.state.padEnd(10),
      formatBytes(s.bytes).padStart(9),
      formatRate(this.rate).padStart(13),
      `media ${formatMediaTime(s.mediaMs)}`,
      `${s.frames} frames`,
    ].join('  ');
  }

  private tick(): void {
    const s = this.sample();
    const at = this.now();
    if (this.last && at > this.last.at) {
      const instant = ((s.bytes - this.last.bytes) * 1000) / (at - this.last.at);
      this.rate = this.rate === 0 ? instant : this.rate * 0.5 + instant * 0.5;
    }
    this.last = { at, bytes: s.bytes };
    if (this.options.mode === 'tty') {
      this.io.stderr.write(`\r${this.render(s)}\x1b[K`);
      this.drawn = true;
      return;
    }
    if (at - this.lastLineAt < (this.options.lineIntervalMs ?? 1000)) return;
    this.lastLineAt = at;
    if (this.options.mode === 'json' && this.options.json) {
      this.options.json({ type: 'progress', ...s, bytesPerSecond: Math.round(this.rate) });
    } else {
      this.io.stderr.write(`${this.render(s)}\n`);
    }
  }

  /** Stops redrawing; a terminal line is ended so the next message starts on its own line. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.drawn) this.io.stderr.write(`\r${this.render()}\x1b[K\n`);
    this.drawn = false;
  }
}

/** Resolves with `value` after `ms` (the timer does not keep the process alive). */
export function delay<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(value), ms);
    t.unref?.();
  });
}

/** `promise`, or `fallback` after `ms`. */
export function withTimeout<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  return Promise.race([promise, delay(ms, fallback)]);
}

/* ------------------------------------------------------------------------------------------------
 * --inspect: xstate's inspection events as JSON lines
 * ---------------------------------------------------------------------------------------------- */

function isActorRef(v: object): v is { id?: string; sessionId: string } {
  return typeof (v as { send?: unknown }).send === 'function' && 'sessionId' in v;
}

/** A JSON-safe copy: actor refs by id, bytes by length, cycles and depth cut. */
export function inspectable(value: unknown, depth = 0, seen = new Set<object>()): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (value === undefined) return null;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function') return undefined;
  if (typeof value !== 'object') return String(value);
  if (value instanceof Uint8Array) return { bytes: value.byteLength };
  if (value instanceof Date) return value.toISOString();
  if (isActorRef(value)) return { actor: value.id ?? value.sessionId };
  if (seen.has(value) || depth > 8) return '…';
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.slice(0, 50).map((v) => inspectable(v, depth + 1, seen));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const c = inspectable(v, depth + 1, seen);
      if (c !== undefined) out[k] = c;
    }
    return out;
  } finally {
    seen.delete(value);
  }
}
