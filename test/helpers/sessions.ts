import type { InspectionEvent } from 'xstate';
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
