import type { InspectionEvent } from 'xstate';
import type { NetConnectionContext } from '../../machines/netConnectionMachine';
import { createSession, type Session, type SessionOptions } from '../../src/client';

/**
 * Sessions a test file opens, closed after each test even when an assertion failed first.
 * Call at the top level of a test file; it registers the afterEach hook.
 */
export function trackSessions(closeTimeoutMs = 5000): (options: SessionOptions) => Session {
  const open = new Set<Session>();
  afterEach(async () => {
    const all = [...open];
    open.clear();
    const bounded = (p: Promise<void>): Promise<unknown> =>
      Promise.race([p, new Promise((resolve) => setTimeout(resolve, closeTimeoutMs).unref())]);
    await Promise.all(all.map((s) => bounded(s.close())));
  });
  return (options) => {
    const session = createSession(options);
    open.add(session);
    return session;
  };
}

/** The id of the actor an inspection event is about. */
export function actorIdOf(e: InspectionEvent): string {
  return (e.actorRef as unknown as { id: string }).id;
}

/** A state value as a dotted path: `{ session: 'connected' }` -> `session.connected`. */
export function dottedState(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const [k, v] = Object.entries(value as Record<string, unknown>)[0] ?? ['?', undefined];
    return v === undefined ? k : `${k}.${dottedState(v)}`;
  }
  return String(value);
}

export interface ConnectionStateEntry {
  /** Date.now() when the actor entered the state. */
  at: number;
  /** The NetConnection actor's id. */
  id: string;
  state: string;
}

/**
 * What a session's NetConnection actors did, from its `inspect` option: every state each one
 * passed through (repeats of the same state dropped) and the last snapshot of any of them.
 */
export function connectionLog(): {
  inspect: (e: InspectionEvent) => void;
  states: ConnectionStateEntry[];
  /** The states alone, in order. */
  names: () => string[];
  last: () => { status: string; context: NetConnectionContext } | undefined;
  /** How many times a connection started opening. */
  opened: () => number;
} {
  const states: ConnectionStateEntry[] = [];
  const current = new Map<string, string>();
  let last: { status: string; context: NetConnectionContext } | undefined;
  return {
    states,
    names: () => states.map((s) => s.state),
    last: () => last,
    opened: () => states.filter((s) => s.state === 'session.opening').length,
    inspect: (e) => {
      const id = actorIdOf(e);
      if (e.type !== '@xstate.snapshot' || !id.startsWith('connection-')) return;
      const snap = e.snapshot as unknown as {
        value?: unknown;
        status: string;
        context: NetConnectionContext;
      };
      last = { status: snap.status, context: snap.context };
      const state = dottedState(snap.value);
      if (current.get(id) !== state) {
        current.set(id, state);
        states.push({ at: Date.now(), id, state });
      }
    },
  };
}
