/**
 * How `rtmp-actors monitor` shows its streams: a compact table redrawn in place on a terminal,
 * JSON lines for machines, and the exit code that sums up the run.
 */
import { ExitCode } from '../exitCodes';
import type { StreamEvent, StreamHealth, StreamSnapshot } from './stats';
import type { TargetsEvent } from './monitor';

// ---------------------------------------------------------------------------------------------
// Human units

const DASH = '-';

/** 950 bit/s, 128 kbit/s, 1.00 Mbit/s. */
export function formatBitrate(bits: number | undefined): string {
  if (bits === undefined || !Number.isFinite(bits)) return DASH;
  if (bits < 1000) return `${Math.round(bits)} bit/s`;
  if (bits < 10_000) return `${(bits / 1000).toFixed(1)} kbit/s`;
  if (bits < 999_500) return `${Math.round(bits / 1000)} kbit/s`;
  return `${(bits / 1e6).toFixed(2)} Mbit/s`;
}

/** 512 B, 1.5 kB, 12.3 MB, 1.20 GB. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(2)} GB`;
}

/** 40 ms, 2.5 s, 3m05s, 2h07m. */
export function formatDuration(msValue: number | undefined): string {
  if (msValue === undefined || !Number.isFinite(msValue)) return DASH;
  const v = Math.abs(msValue);
  const sign = msValue < 0 ? '-' : '';
  if (v < 1000) return `${sign}${Math.round(v)} ms`;
  if (v < 60_000) return `${sign}${(v / 1000).toFixed(1)} s`;
  const s = Math.floor(v / 1000);
  if (s < 3600) return `${sign}${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${sign}${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}

/** A duration with an explicit sign: +120 ms, -1.5 s, 0 ms. */
export function formatSignedDuration(msValue: number | undefined): string {
  if (msValue === undefined || !Number.isFinite(msValue)) return DASH;
  const text = formatDuration(msValue);
  return msValue > 0 && Math.round(msValue) !== 0 ? `+${text}` : text;
}

// ---------------------------------------------------------------------------------------------
// Table

const ANSI = {
  reset: '\x1b[0m',
  bold: '\x1b[1m',
  red: '\x1b[31m',
  green: '\x1b[32m',
  yellow: '\x1b[33m',
} as const;

const HEALTH_COLOR: Record<StreamHealth, string> = {
  healthy: ANSI.green,
  starting: ANSI.yellow,
  stalled: ANSI.yellow,
  down: ANSI.red,
  failed: ANSI.red,
};

const MAX_NAME = 32;
const MAX_REASON = 32;

interface Column {
  title: string;
  right: boolean;
  cell: (s: StreamSnapshot) => string;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

/**
 * A multitrack stream's codecs of one medium: each track's codec in track order, a run of the
 * same codec as `avc1×2` ('avc1×2', 'avc1,av01'); undefined when it has no track of it.
 */
function trackCodecs(s: StreamSnapshot, media: 'video' | 'audio'): string | undefined {
  const runs: [string, number][] = [];
  for (const t of s.tracks ?? []) {
    if (t.media !== media) continue;
    const codec = t.fourCc ?? t.codec ?? '?';
    const last = runs[runs.length - 1];
    if (last && last[0] === codec) last[1]++;
    else runs.push([codec, 1]);
  }
  if (runs.length === 0) return undefined;
  return runs.map(([c, n]) => (n > 1 ? `${c}×${n}` : c)).join(',');
}

function codecCell(s: StreamSnapshot): string {
  const video = trackCodecs(s, 'video') ?? s.videoFourCc ?? s.videoCodec;
  const audio = trackCodecs(s, 'audio') ?? s.audioFourCc ?? s.audioCodec;
  if (video === undefined && audio === undefined) return DASH;
  return [video ?? DASH, audio ?? DASH].join('/');
}

function rate(v: number | undefined): string {
  return v !== undefined && Number.isFinite(v) ? v.toFixed(1) : DASH;
}

const COLUMNS: readonly Column[] = [
  { title: 'ID', right: false, cell: (s) => truncate(s.id, MAX_NAME) },
  { title: 'HEALTH/STATE', right: false, cell: (s) => `${s.health}/${s.state}` },
  { title: 'REASON', right: false, cell: (s) => truncate(s.reason ?? DASH, MAX_REASON) },
  { title: 'VIDEO', right: true, cell: (s) => formatBitrate(s.videoBitrate) },
  { title: 'AUDIO', right: true, cell: (s) => formatBitrate(s.audioBitrate) },
  { title: 'FPS', right: true, cell: (s) => rate(s.fps) },
  { title: 'ARRIVAL', right: true, cell: (s) => rate(s.arrivalFps) },
  {
    title: 'GOP',
    right: true,
    cell: (s) => (s.keyframeInterval === undefined ? DASH : `${s.keyframeInterval.toFixed(1)} s`),
  },
  { title: 'CODEC', right: false, cell: codecCell },
  {
    title: 'RES',
    right: true,
    cell: (s) =>
      s.width !== undefined && s.height !== undefined ? `${s.width}x${s.height}` : DASH,
  },
  { title: 'AGE', right: true, cell: (s) => formatDuration(s.lastMediaAgeMs) },
  { title: 'DRIFT', right: true, cell: (s) => formatSignedDuration(s.driftMs) },
  { title: 'A/V', right: true, cell: (s) => formatSignedDuration(s.avSkewMs) },
  { title: 'STALLS', right: true, cell: (s) => String(s.stalls) },
  { title: 'RECONN', right: true, cell: (s) => String(s.reconnects) },
  { title: 'RECEIVED', right: true, cell: (s) => formatBytes(s.bytesReceived) },
];

export interface RenderTableOptions {
  /** Terminal width: trailing columns that do not fit are left out (the first three always stay). */
  width?: number;
  /** ANSI colours for the health and the header. */
  color?: boolean;
}

/** A compact table, one row per stream, lines joined with '\n' (no trailing newline). */
export function renderTable(
  snapshots: readonly StreamSnapshot[],
  options: RenderTableOptions = {},
): string {
  const rows = snapshots.map((s) => COLUMNS.map((c) => c.cell(s)));
  const widths = COLUMNS.map((c, i) =>
    rows.reduce((w, row) => Math.max(w, row[i].length), c.title.length),
  );
  let count = COLUMNS.length;
  if (options.width !== undefined) {
    let used = 0;
    count = 0;
    for (const w of widths) {
      const next = used + (count > 0 ? 2 : 0) + w;
      if (next > options.width && count >= 3) break;
      used = next;
      count++;
    }
  }
  const color = options.color === true;
  const line = (cells: readonly string[], paint?: (i: number, text: string) => string): string =>
    cells
      .slice(0, count)
      .map((text, i) => {
        const padded = COLUMNS[i].right ? text.padStart(widths[i]) : text.padEnd(widths[i]);
        return paint ? paint(i, padded) : padded;
      })
      .join('  ')
      .trimEnd();
  const header = line(
    COLUMNS.map((c) => c.title),
    color ? (_i, text) => `${ANSI.bold}${text}${ANSI.reset}` : undefined,
  );
  const body = rows.map((cells, r) =>
    line(
      cells,
      color
        ? (i, text) => (i === 1 ? `${HEALTH_COLOR[snapshots[r].health]}${text}${ANSI.reset}` : text)
        : undefined,
    ),
  );
  return [header, ...body].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Live redraw

/** The output a LiveTable writes to: a stream, maybe a terminal. */
export interface LiveOutput {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const ANSI_PATTERN = /\x1b\[[0-9;]*[A-Za-z]/g;

/** Visible length of a line: ANSI escapes take no room. */
function visibleLength(line: string): number {
  return line.replace(ANSI_PATTERN, '').length;
}

/**
 * Redraws a block of text in place on a terminal (cursor up over the previous block, clear each
 * line, write the new one); on anything else, writes each block after the previous one.
 */
export class LiveTable {
  private rows = 0;

  constructor(private readonly out: NodeJS.WritableStream | LiveOutput) {}

  draw(text: string): void {
    const out = this.out as LiveOutput;
    const lines = text.replace(/\n$/, '').split('\n');
    if (!out.isTTY) {
      out.write(`${lines.join('\n')}\n`);
      return;
    }
    let chunk = this.rows > 0 ? `\r\x1b[${this.rows}A` : '';
    for (const l of lines) chunk += `\x1b[2K${l}\n`;
    // Lines left over from a taller previous block.
    chunk += '\x1b[J';
    out.write(chunk);
    const columns = out.columns && out.columns > 0 ? out.columns : Infinity;
    this.rows = lines.reduce((n, l) => n + Math.max(1, Math.ceil(visibleLength(l) / columns)), 0);
  }
}

// ---------------------------------------------------------------------------------------------
// JSON lines

function round(v: number | undefined, digits: number): number | undefined {
  if (v === undefined || !Number.isFinite(v)) return undefined;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** One JSON line (no newline) describing a stream at clock time `at` (ms since the epoch). */
export function snapshotJson(s: StreamSnapshot, at: number): string {
  return JSON.stringify(snapshotObject(s, at));
}

/** A stream at clock time `at` as a plain object (rounded figures; the JSON line's, and the API's). */
export function snapshotObject(s: StreamSnapshot, at: number): Record<string, unknown> {
  return {
    kind: 'stream',
    at,
    time: new Date(at).toISOString(),
    id: s.id,
    ...(Object.keys(s.labels).length > 0 ? { labels: s.labels } : {}),
    state: s.state,
    health: s.health,
    reason: s.reason,
    reasonMessage: s.reasonMessage,
    failures: Object.keys(s.failures).length > 0 ? s.failures : undefined,
    videoBitrate: round(s.videoBitrate, 0),
    audioBitrate: round(s.audioBitrate, 0),
    fps: round(s.fps, 2),
    arrivalFps: round(s.arrivalFps, 2),
    keyframeInterval: round(s.keyframeInterval, 3),
    videoCodec: s.videoCodec,
    videoFourCc: s.videoFourCc,
    audioCodec: s.audioCodec,
    audioFourCc: s.audioFourCc,
    width: s.width,
    height: s.height,
    audioSampleRate: s.audioSampleRate,
    audioChannels: s.audioChannels,
    lastMediaAgeMs: round(s.lastMediaAgeMs, 0),
    driftMs: round(s.driftMs, 0),
    avSkewMs: round(s.avSkewMs, 0),
    stalls: s.stalls,
    reconnects: s.reconnects,
    bytesReceived: s.bytesReceived,
    messagesReceived: s.messagesReceived,
    lastStatus: s.lastStatus,
    tracks: s.tracks?.map((t) => ({ ...t, bitrate: round(t.bitrate, 0) })),
  };
}

/** One JSON line (no newline) for a stream event. */
export function eventJson(e: StreamEvent): string {
  return JSON.stringify({
    kind: 'event',
    at: e.at,
    time: new Date(e.at).toISOString(),
    id: e.id,
    event: e.event,
    state: e.state,
    code: e.code,
    reason: e.reason,
    message: e.message,
    lastMediaAgeMs: e.lastMediaAgeMs,
  });
}

/** One JSON line (no newline) for a change of the target set (a file load, an API call). */
export function targetsEventJson(e: TargetsEvent): string {
  const { event: _event, ...rest } = e;
  return JSON.stringify({ kind: 'targets', time: new Date(e.at).toISOString(), ...rest });
}

// ---------------------------------------------------------------------------------------------
// Exit code

/**
 * 0 when every stream is healthy; 3 when none could connect (every stream down or failed without
 * a byte received); 7 otherwise. No streams at all is 0.
 */
export function overallExitCode(snapshots: readonly StreamSnapshot[]): ExitCode {
  if (snapshots.every((s) => s.health === 'healthy')) return ExitCode.Ok;
  const neverConnected = snapshots.every(
    (s) => (s.health === 'down' || s.health === 'failed') && s.bytesReceived === 0,
  );
  return neverConnected ? ExitCode.ConnectionFailed : ExitCode.SomeUnhealthy;
}
