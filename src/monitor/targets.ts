/**
 * What the monitor watches: targets, each a stable unique `id`, an RTMP URL and optional labels.
 *
 * - From a targets file (YAML or JSON, the `yaml` package reads both):
 *   `{"streams": [{"id": "cam-001", "url": "rtmp://…", "labels": {"site": "paris"}}]}`.
 * - From URLs on the command line: the id is the URL redacted (`redactUrl`: the stream name and
 *   query values masked); URLs that redact to the same text get `#2`, `#3`... in the order given.
 *
 * Ids and labels end up in Prometheus labels, JSON lines and logs; URLs never do (they hold
 * stream keys and tokens). Pure: no IO.
 */
import { parse as parseYaml } from 'yaml';
import { redactUrl } from '../redact';
import { parseRtmpUrl } from '../url';

/** One stream to watch. */
export interface MonitorTarget {
  /** Stable, unique; names the stream in metrics, JSON, the table and the API. */
  id: string;
  /** `rtmp[s]://host[:port]/app/stream[?query]`: secret, never logged or exported. */
  url: string;
  /** Extra Prometheus labels of every series of this stream. */
  labels?: Record<string, string>;
}

/** Longest id accepted (characters). */
export const MAX_ID_LENGTH = 256;
/** Most labels one target may carry. */
export const MAX_LABELS = 32;
/** Longest label value (characters). */
export const MAX_LABEL_VALUE_LENGTH = 1024;
/** Largest targets file read (bytes). */
export const MAX_TARGETS_FILE_BYTES = 16 * 1024 * 1024;

/**
 * Label names the monitor sets itself, refused as target labels: `id`, `state`, `reason` (stream
 * series), `shard`, `shards`, `replicas` (shard info), `health`; and Prometheus' own `le`,
 * `quantile`, `job`, `instance`.
 */
export const RESERVED_LABELS: ReadonlySet<string> = new Set([
  'id',
  'state',
  'reason',
  'health',
  'shard',
  'shards',
  'replicas',
  'le',
  'quantile',
  'job',
  'instance',
]);

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const CONTROL = /[\u0000-\u001f\u007f]/;

export type TargetsErrorCode =
  'PARSE' | 'SHAPE' | 'BAD_ID' | 'DUPLICATE_ID' | 'BAD_URL' | 'BAD_LABEL' | 'TOO_LARGE';

/** A targets file, or one target given to the API, that cannot be used. The message names the entry. */
export class TargetsError extends Error {
  constructor(
    message: string,
    readonly code: TargetsErrorCode,
    /** Index of the entry in `streams`, when one entry is at fault. */
    readonly entry?: number,
    /** The entry's id, when it has one. */
    readonly id?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TargetsError';
  }
}

/** Why `url` cannot be watched (the message shows it redacted), or undefined. */
function urlProblem(url: string): { message: string; cause?: unknown } | undefined {
  try {
    if (parseRtmpUrl(url).playpath === '')
      return { message: `${redactUrl(url)} names no stream (rtmp://host/app/stream)` };
  } catch (e) {
    return { message: `${redactUrl(url)}: ${(e as Error).message}`, cause: e };
  }
  return undefined;
}

function where(index: number | undefined, id: string | undefined): string {
  const at = index === undefined ? 'target' : `streams[${index}]`;
  return id === undefined ? at : `${at} (id "${id}")`;
}

/**
 * Checks one target (from a file entry or an API body) and returns it normalized. `index` names
 * the entry in errors. Throws TargetsError.
 */
export function validateTarget(raw: unknown, index?: number): MonitorTarget {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new TargetsError(
      `${where(index, undefined)}: expected an object with id and url`,
      'SHAPE',
      index,
    );
  const o = raw as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (key !== 'id' && key !== 'url' && key !== 'labels')
      throw new TargetsError(
        `${where(index, typeof o.id === 'string' ? o.id : undefined)}: unknown field "${key}" (id, url, labels)`,
        'SHAPE',
        index,
      );
  }
  const id = o.id;
  if (typeof id !== 'string' || id.trim() === '')
    throw new TargetsError(
      `${where(index, undefined)}: id must be a non-empty string`,
      'BAD_ID',
      index,
    );
  if (id.length > MAX_ID_LENGTH || CONTROL.test(id))
    throw new TargetsError(
      `${where(index, undefined)}: id must be at most ${MAX_ID_LENGTH} printable characters`,
      'BAD_ID',
      index,
    );
  const url = o.url;
  if (typeof url !== 'string' || url.trim() === '')
    throw new TargetsError(
      `${where(index, id)}: url must be an rtmp:// URL string`,
      'BAD_URL',
      index,
      id,
    );
  const problem = urlProblem(url);
  if (problem)
    throw new TargetsError(`${where(index, id)}: url ${problem.message}`, 'BAD_URL', index, id, {
      cause: problem.cause,
    });
  const target: MonitorTarget = { id, url };
  if (o.labels !== undefined && o.labels !== null) {
    if (typeof o.labels !== 'object' || Array.isArray(o.labels))
      throw new TargetsError(
        `${where(index, id)}: labels must be a map of name: value`,
        'BAD_LABEL',
        index,
        id,
      );
    const entries = Object.entries(o.labels as Record<string, unknown>);
    if (entries.length > MAX_LABELS)
      throw new TargetsError(
        `${where(index, id)}: at most ${MAX_LABELS} labels`,
        'BAD_LABEL',
        index,
        id,
      );
    const labels: Record<string, string> = {};
    for (const [name, value] of entries) {
      if (!LABEL_NAME.test(name) || name.startsWith('__'))
        throw new TargetsError(
          `${where(index, id)}: label name "${name}" is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)`,
          'BAD_LABEL',
          index,
          id,
        );
      if (RESERVED_LABELS.has(name))
        throw new TargetsError(
          `${where(index, id)}: label name "${name}" is reserved (${[...RESERVED_LABELS].join(', ')})`,
          'BAD_LABEL',
          index,
          id,
        );
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
        throw new TargetsError(
          `${where(index, id)}: label "${name}" must be a string, number or boolean`,
          'BAD_LABEL',
          index,
          id,
        );
      const text = String(value);
      if (text.length > MAX_LABEL_VALUE_LENGTH)
        throw new TargetsError(
          `${where(index, id)}: label "${name}" is longer than ${MAX_LABEL_VALUE_LENGTH} characters`,
          'BAD_LABEL',
          index,
          id,
        );
      labels[name] = text;
    }
    if (Object.keys(labels).length > 0) target.labels = labels;
  }
  return target;
}

/** Checks that no two targets share an id; throws TargetsError naming the second one. */
export function checkUniqueIds(targets: readonly MonitorTarget[]): void {
  const first = new Map<string, number>();
  targets.forEach((t, i) => {
    const before = first.get(t.id);
    if (before !== undefined)
      throw new TargetsError(
        `streams[${i}]: id "${t.id}" is already used by streams[${before}]`,
        'DUPLICATE_ID',
        i,
        t.id,
      );
    first.set(t.id, i);
  });
}

/**
 * Parses a targets file's text (YAML or JSON). `name` (the file name) goes in error messages.
 * Throws TargetsError; the message never contains a URL's secrets.
 */
export function parseTargets(text: string, name = 'targets'): MonitorTarget[] {
  if (Buffer.byteLength(text) > MAX_TARGETS_FILE_BYTES)
    throw new TargetsError(`${name}: larger than ${MAX_TARGETS_FILE_BYTES} bytes`, 'TOO_LARGE');
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true });
  } catch (e) {
    // The parser quotes the offending line, which may hold a URL: keep only the position.
    const pos = (e as { linePos?: Array<{ line: number; col: number }> }).linePos?.[0];
    throw new TargetsError(
      `${name}: not valid YAML or JSON${pos ? ` (line ${pos.line}, column ${pos.col})` : ''}`,
      'PARSE',
      undefined,
      undefined,
      { cause: e },
    );
  }
  // An empty file is refused rather than read as "no targets": an editor or a ConfigMap update
  // may leave it empty for an instant, and that must not stop every stream. Write `streams: []`.
  if (doc === null || doc === undefined)
    throw new TargetsError(`${name}: empty (write "streams: []" for no targets)`, 'SHAPE');
  if (typeof doc !== 'object' || Array.isArray(doc) || !('streams' in doc))
    throw new TargetsError(`${name}: expected a map with a "streams" list`, 'SHAPE');
  const streams = (doc as { streams: unknown }).streams ?? [];
  if (!Array.isArray(streams)) throw new TargetsError(`${name}: "streams" must be a list`, 'SHAPE');
  const targets = streams.map((s, i) => validateTarget(s, i));
  checkUniqueIds(targets);
  return targets;
}

/**
 * Targets for URLs given on the command line: each id is the URL redacted; URLs that redact to
 * the same text (they differ only in secret parts) get `#2`, `#3`... in the order given. A URL
 * listed twice is watched once (`duplicates` lists the repeats, redacted).
 */
export function targetsFromUrls(urls: readonly string[]): {
  targets: MonitorTarget[];
  duplicates: string[];
} {
  const seen = new Set<string>();
  const used = new Map<string, number>();
  const targets: MonitorTarget[] = [];
  const duplicates: string[] = [];
  urls.forEach((url) => {
    const problem = urlProblem(url);
    if (problem) throw new TargetsError(problem.message, 'BAD_URL', undefined, undefined, problem);
    if (seen.has(url)) {
      duplicates.push(redactUrl(url));
      return;
    }
    seen.add(url);
    const base = redactUrl(url);
    const n = (used.get(base) ?? 0) + 1;
    used.set(base, n);
    targets.push({ id: n === 1 ? base : `${base}#${n}`, url });
  });
  return { targets, duplicates };
}

/** Same id, URL and labels. */
export function sameTarget(a: MonitorTarget, b: MonitorTarget): boolean {
  if (a.id !== b.id || a.url !== b.url) return false;
  const la = a.labels ?? {};
  const lb = b.labels ?? {};
  const ka = Object.keys(la);
  return ka.length === Object.keys(lb).length && ka.every((k) => la[k] === lb[k]);
}

/** What to do to go from `before` to `after`: ids to stop, targets to start (a changed one is both). */
export function diffTargets(
  before: ReadonlyMap<string, MonitorTarget>,
  after: readonly MonitorTarget[],
): { removed: string[]; added: MonitorTarget[]; unchanged: number } {
  const next = new Map(after.map((t) => [t.id, t]));
  const removed: string[] = [];
  const added: MonitorTarget[] = [];
  let unchanged = 0;
  for (const [id, t] of before) {
    const n = next.get(id);
    if (!n || !sameTarget(t, n)) removed.push(id);
  }
  for (const t of after) {
    const b = before.get(t.id);
    if (!b || !sameTarget(b, t)) added.push(t);
    else unchanged++;
  }
  return { removed, added, unchanged };
}
