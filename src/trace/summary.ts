/**
 * Reading trace files back: parsing the JSON lines, and each actor's path of states as a
 * timeline (`trace summary`).
 */
import { readFileSync } from 'node:fs';
import type { TraceRecord } from './record';

/** Parses a trace file's text; bad lines are counted, not fatal. */
export function parseTrace(text: string): { records: TraceRecord[]; badLines: number } {
  const records: TraceRecord[] = [];
  let badLines = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as TraceRecord;
      if (typeof r?.type === 'string' && typeof r.t === 'number') records.push(r);
      else badLines++;
    } catch {
      badLines++;
    }
  }
  return { records, badLines };
}

export function readTrace(file: string): { records: TraceRecord[]; badLines: number } {
  return parseTrace(readFileSync(file, 'utf8'));
}

/** Flattens a state value ({session: 'connecting'}) to `session.connecting`. */
export function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const parts = Object.entries(value as Record<string, unknown>).map(([k, v]) =>
      v && typeof v === 'object' && Object.keys(v).length === 0 ? k : `${k}.${stateName(v)}`,
    );
    return parts.length > 1 ? `(${parts.join(' | ')})` : (parts[0] ?? '');
  }
  return String(value);
}

/** One state an actor was in, from when. */
export interface TimelineStep {
  t: number;
  state: string;
  /** The event that led there. */
  event?: string;
  /** RTMP commands the actor sent (or asked its connection to send) while in this state. */
  commands?: string[];
}

/** One actor's life. */
export interface ActorTimeline {
  actorId: string;
  sessionId: string;
  name?: string;
  parentId?: string;
  /** When the actor was created (its first record). */
  start: number;
  steps: TimelineStep[];
  /** The last status seen (active, done, error, stopped). */
  status?: string;
  events: number;
}

/**
 * Each actor's distinct states in order (from snapshots; consecutive repeats merged), actors in
 * the order they appeared. Actors that are not state machines (callbacks, promises) have no
 * states and are left out unless `all`.
 */
export function summarize(records: readonly TraceRecord[], all = false): ActorTimeline[] {
  const byId = new Map<string, ActorTimeline>();
  const get = (r: TraceRecord): ActorTimeline => {
    let a = byId.get(r.sessionId);
    if (!a) {
      a = { actorId: r.actorId, sessionId: r.sessionId, start: r.t, steps: [], events: 0 };
      byId.set(r.sessionId, a);
    }
    return a;
  };
  const push = (a: ActorTimeline, t: number, value: unknown, event?: string): void => {
    if (value === undefined || value === null) return;
    const state = stateName(value);
    if (a.steps[a.steps.length - 1]?.state === state) return;
    a.steps.push(event ? { t, state, event } : { t, state });
  };
  const byActorId = new Map<string, ActorTimeline>();
  for (const r of records) {
    const a = get(r);
    if (!byActorId.has(r.actorId)) byActorId.set(r.actorId, a);
    switch (r.type) {
      case '@xstate.actor':
        if (r.name) a.name = r.name;
        if (r.parentId) a.parentId = r.parentId;
        push(a, r.t, r.value);
        if (r.status) a.status = r.status;
        break;
      case '@xstate.event': {
        a.events++;
        const command = commandOf(r.event);
        const from =
          r.sourceSessionId !== undefined
            ? byId.get(r.sourceSessionId)
            : r.sourceId !== undefined
              ? byActorId.get(r.sourceId)
              : undefined;
        const step = from?.steps[from.steps.length - 1];
        if (command && step) (step.commands ??= []).push(command);
        break;
      }
      case '@xstate.snapshot':
      case '@xstate.microstep':
        push(a, r.t, r.value, (r.event as { type?: string } | undefined)?.type);
        if (r.status) a.status = r.status;
        break;
    }
  }
  return [...byId.values()].filter((a) => all || a.steps.length > 0);
}

/** The RTMP command an event sends or asks for (NC.SEND, TRANSPORT.SEND, NC.CREATE_STREAM). */
function commandOf(event: unknown): string | undefined {
  const e = event as { type?: string; message?: { type?: string; name?: unknown } } | undefined;
  if (e?.type === 'NC.CREATE_STREAM') return 'createStream';
  if ((e?.type === 'NC.SEND' || e?.type === 'TRANSPORT.SEND') && e.message?.type === 'Command') {
    return typeof e.message.name === 'string' ? e.message.name : undefined;
  }
  return undefined;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)}s`;
}

/** The text timeline: one line an actor, then its states with times. */
export function formatSummary(timelines: readonly ActorTimeline[], verbose = true): string {
  const lines: string[] = [];
  for (const a of timelines) {
    const label = a.name && a.actorId === a.sessionId ? `${a.actorId} (${a.name})` : a.actorId;
    const path = a.steps
      .map((s) => (s.commands ? `${s.state} (${s.commands.join(', ')})` : s.state))
      .join(' -> ');
    const status = a.status && a.status !== 'active' ? ` [${a.status}]` : '';
    lines.push(`${label} ${path}${status}`);
    if (verbose) {
      for (const s of a.steps) {
        const sent = s.commands ? `  sent ${s.commands.join(', ')}` : '';
        lines.push(
          `  ${seconds(s.t).padStart(9)}  ${s.state}${s.event ? `  (on ${s.event})` : ''}${sent}`,
        );
      }
    }
  }
  return lines.join('\n') + (lines.length ? '\n' : '');
}
