/**
 * `--trace file.jsonl`: xstate's inspection events (@xstate.actor, @xstate.event,
 * @xstate.snapshot, @xstate.microstep) as JSON lines, one {@link TraceRecord} a line. Each
 * snapshot carries the state value, the status, a summary of the context's plain fields
 * (`context`) and, when it changed since the actor's previous snapshot, the whole context encoded
 * by src/trace/codec.ts (`ctx`: actor references by id, bytes by length, never the bytes), from
 * which `trace check` rebuilds the snapshot each step starts from. Every line goes through the URL's
 * redactor, and stream actors named after the URL's playpath (`stream-<name>`) get the name
 * masked even when it is too short to count as a secret on its own.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { InspectionEvent } from 'xstate';
import { MASK, secretsOf } from '../redact';
import { encodeContext } from './codec';
import { normalizePlaypath, splitAppPlaypath, splitUrl } from '../url';

/** One line of a trace file. */
export interface TraceRecord {
  /** Milliseconds since the recording started. */
  t: number;
  type: '@xstate.actor' | '@xstate.event' | '@xstate.snapshot' | '@xstate.microstep';
  /** The actor's id (`x:0` for the root, `connection-0`, `stream-***` …). */
  actorId: string;
  /** xstate's session id of the actor (`x:3`; unique in the process, across sessions). */
  sessionId: string;
  /** The parent's session id (actors only). */
  parentId?: string;
  /** The root's session id. */
  rootId?: string;
  /** The machine's id (`session`, `netConnection` …), when the actor runs a machine. */
  name?: string;
  /** Who sent the event (@xstate.event): an actor id, when an actor did. */
  sourceId?: string;
  /** The sender's session id. */
  sourceSessionId?: string;
  /** The event (@xstate.event: the whole event, made JSON-safe; others: `{ type }`). */
  event?: unknown;
  /** The state value after the step (snapshot, microstep, actor). */
  value?: unknown;
  status?: string;
  /** A few plain fields of the context (numbers, booleans, short strings). */
  context?: Record<string, unknown>;
  /**
   * The whole context after the step (@xstate.snapshot), encoded by `encodeContext`
   * (src/trace/codec.ts): what `trace check` rebuilds the next step's snapshot from. A file
   * written by `TraceRecorder` holds it only when it changed since the actor's previous snapshot;
   * a snapshot without `ctx` has the context of the one before.
   */
  ctx?: unknown;
}

interface ActorRefInfo {
  id?: string;
  sessionId?: string;
  _parent?: { sessionId?: string };
  logic?: { config?: { id?: string } };
  getSnapshot?: () => { value?: unknown; status?: string; context?: unknown } | undefined;
}

function isActorRef(v: object): v is { id?: string; sessionId: string } {
  return typeof (v as { send?: unknown }).send === 'function' && 'sessionId' in v;
}

/** A JSON-safe copy: actor refs by id, bytes by length, long arrays and deep objects cut. */
export function jsonSafe(
  value: unknown,
  actorId: (id: string) => string = (id) => id,
  depth = 0,
  seen = new Set<object>(),
): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (value === undefined) return null;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function') return undefined;
  if (typeof value !== 'object') return String(value);
  if (value instanceof Uint8Array) return { bytes: value.byteLength };
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Error) return { error: value.name, message: value.message };
  if (isActorRef(value)) return { actor: actorId(value.id ?? value.sessionId) };
  if (seen.has(value) || depth > 6) return '…';
  seen.add(value);
  try {
    if (Array.isArray(value))
      return value.slice(0, 20).map((v) => jsonSafe(v, actorId, depth + 1, seen));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      // An undefined field is left out, as JSON.stringify does (not null: a guard reading the
      // event back tells the two apart).
      if (v === undefined) continue;
      const c = jsonSafe(v, actorId, depth + 1, seen);
      if (c !== undefined) out[k] = c;
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

const MAX_CONTEXT_FIELDS = 16;
const MAX_CONTEXT_STRING = 80;

/** The context's plain top-level fields: numbers, booleans, short strings (not objects). */
export function summarizeContext(context: unknown): Record<string, unknown> | undefined {
  if (!context || typeof context !== 'object' || Array.isArray(context)) return undefined;
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [k, v] of Object.entries(context as Record<string, unknown>)) {
    if (n >= MAX_CONTEXT_FIELDS) break;
    if (typeof v === 'number' || typeof v === 'boolean') out[k] = v;
    else if (typeof v === 'string' && v.length <= MAX_CONTEXT_STRING) out[k] = v;
    else continue;
    n++;
  }
  return n ? out : undefined;
}

/**
 * Masks a URL's secrets in a trace line, and the stream name in actor ids `stream-<key>` when
 * the name is the URL's playpath (or holds a secret).
 *
 * Each URL's secrets get a mask of their own: `***` for the first URL, `***2`, `***3`… for the
 * others (a secret two URLs share keeps the first one's). A trace of one URL reads `***` as
 * everywhere else; a trace of several (monitor) keeps its streams apart, so that `trace check`
 * can follow a machine that finds streams by key. The masks show which masked values are equal,
 * never what they are.
 */
export class TraceRedactor {
  /** Each form of each secret (and its URL-encoded form), with its mask. */
  private readonly masks = new Map<string, string>();
  private readonly pattern: RegExp | undefined;
  /** Playpaths (and names added), with the mask their actor ids get. */
  private readonly playpaths = new Map<string, string>();

  constructor(urls: string | readonly string[] | undefined) {
    const list = urls === undefined ? [] : typeof urls === 'string' ? [urls] : urls;
    list.forEach((url, i) => {
      const mask = i === 0 ? MASK : `${MASK}${i + 1}`;
      for (const secret of secretsOf(url)) {
        if (secret === '') continue;
        for (const form of [secret, encodeURIComponent(secret)])
          if (!this.masks.has(form)) this.masks.set(form, mask);
      }
      try {
        const { playpath } = splitAppPlaypath(splitUrl(url).path);
        if (playpath) {
          for (const p of [playpath, normalizePlaypath(playpath)])
            if (!this.playpaths.has(p)) this.playpaths.set(p, mask);
        }
      } catch {
        // not a URL we can take apart: the secrets still apply
      }
    });
    const forms = [...this.masks.keys()].sort((a, b) => b.length - a.length);
    // One pass, longest first: a mask put in is never matched again.
    this.pattern = forms.length
      ? new RegExp(forms.map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g')
      : undefined;
  }

  /** Adds a stream name to mask in actor ids (e.g. the names `monitor` or `demo` play). */
  addStreamName(name: string): void {
    if (name && !this.playpaths.has(name)) this.playpaths.set(name, MASK);
  }

  text(text: string): string {
    return this.pattern ? text.replace(this.pattern, (m) => this.masks.get(m) ?? MASK) : text;
  }

  /**
   * `stream-<key>` with the key masked when it is (or holds) a playpath or a secret. The `#2`,
   * `#3`... of a second stream of one name stays, so that the two actors stay apart.
   */
  actorId(id: string): string {
    if (id.startsWith('stream-')) {
      const key = id.slice('stream-'.length);
      const suffix = /#\d+$/.exec(key)?.[0] ?? '';
      const name = key.slice(0, key.length - suffix.length);
      const mask = this.maskOfName(key) ?? this.maskOfName(name);
      if (mask !== undefined) return `stream-${mask}${this.text(suffix) === suffix ? suffix : ''}`;
    }
    return this.text(id);
  }

  /** The mask of a secret stream name (undefined when the name is not secret). */
  private maskOfName(name: string): string | undefined {
    const own = this.playpaths.get(name);
    if (own !== undefined) return own;
    const masked = this.text(name);
    if (masked !== name) {
      // The whole name a secret: its mask; a secret inside it: the first mask in the text.
      return this.masks.get(name) ?? /\*\*\*\d*/.exec(masked)?.[0] ?? MASK;
    }
    for (const [p, mask] of this.playpaths) if (p && name.includes(p)) return mask;
    return undefined;
  }
}

/** Turns one inspection event into a trace record (undefined for events not recorded). */
export function toTraceRecord(
  ev: InspectionEvent,
  t: number,
  redactor: TraceRedactor,
): TraceRecord | undefined {
  if (
    ev.type !== '@xstate.actor' &&
    ev.type !== '@xstate.event' &&
    ev.type !== '@xstate.snapshot' &&
    ev.type !== '@xstate.microstep'
  ) {
    return undefined;
  }
  const actor = ev.actorRef as unknown as ActorRefInfo;
  const sessionId = actor.sessionId ?? '?';
  const rec: TraceRecord = {
    t,
    type: ev.type,
    actorId: redactor.actorId(actor.id ?? sessionId),
    sessionId,
  };
  if (ev.rootId) rec.rootId = ev.rootId;
  switch (ev.type) {
    case '@xstate.actor': {
      if (actor._parent?.sessionId) rec.parentId = actor._parent.sessionId;
      const name = actor.logic?.config?.id;
      if (typeof name === 'string') rec.name = name;
      const snap = actor.getSnapshot?.();
      if (snap?.value !== undefined) rec.value = jsonSafe(snap.value);
      if (snap?.status) rec.status = snap.status;
      break;
    }
    case '@xstate.event': {
      const source = ev.sourceRef as unknown as ActorRefInfo | undefined;
      if (source) {
        rec.sourceId = redactor.actorId(source.id ?? source.sessionId ?? '?');
        if (source.sessionId) rec.sourceSessionId = source.sessionId;
      }
      rec.event = jsonSafe(ev.event, (id) => redactor.actorId(id));
      break;
    }
    case '@xstate.snapshot':
    case '@xstate.microstep': {
      const snap = ev.snapshot as { value?: unknown; status?: string; context?: unknown };
      rec.event = { type: (ev.event as { type?: string }).type };
      if (snap.value !== undefined) rec.value = jsonSafe(snap.value);
      if (snap.status) rec.status = snap.status;
      if (ev.type === '@xstate.snapshot') {
        const context = summarizeContext(snap.context);
        if (context) rec.context = context;
        if (snap.context !== undefined)
          rec.ctx = encodeContext(snap.context, (id) => redactor.actorId(id));
      }
      break;
    }
  }
  return rec;
}

/** Records inspection events to a JSON-lines file. */
export class TraceRecorder {
  private readonly out: WriteStream;
  private readonly t0 = Date.now();
  private failed: Error | undefined;
  /** Each actor's last recorded context (encoded), by session id: unchanged ones are left out. */
  private readonly lastContext = new Map<string, string>();

  constructor(
    file: string,
    readonly redactor: TraceRedactor,
  ) {
    this.out = createWriteStream(file);
    this.out.on('error', (e) => (this.failed = e));
  }

  readonly inspect = (ev: InspectionEvent): void => {
    if (this.failed) return;
    const rec = toTraceRecord(ev, Date.now() - this.t0, this.redactor);
    if (!rec) return;
    if (rec.ctx !== undefined) {
      const ctx = JSON.stringify(rec.ctx);
      if (this.lastContext.get(rec.sessionId) === ctx) delete rec.ctx;
      else this.lastContext.set(rec.sessionId, ctx);
      // A stopped or finished actor takes no more steps: forget its context.
      if (rec.status !== undefined && rec.status !== 'active')
        this.lastContext.delete(rec.sessionId);
    }
    this.out.write(this.redactor.text(JSON.stringify(rec)) + '\n');
  };

  /** Finishes the file; rejects if it could not be written. */
  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.failed) return reject(this.failed);
      this.out.end(() => (this.failed ? reject(this.failed) : resolve()));
    });
  }
}
