/**
 * Conformance of a real session to the statecharts: `checkTrace()` replays every step recorded in
 * a `--trace` file against the machine definitions in machines/, with XState's pure functions.
 *
 * A step is one event an actor processed: the `@xstate.event` sent to it, then the
 * `@xstate.snapshot` it took after the macrostep. For each step the checker rebuilds the snapshot
 * the actor was in (the recorded state value, and the recorded context: the `ctx` of the actor's
 * latest snapshot, src/trace/codec.ts), applies the recorded event with `transition()`, and
 * compares the state value and status it gets with the ones recorded. The first step of an actor
 * (`xstate.init`) is checked with `initialTransition()` from the recorded input.
 *
 * Actors are matched to machines by the machine id the trace names (`name` of `@xstate.actor`:
 * sessionSupervisor, netConnection, netStream, handshake, serverSupervisor, serverConnection,
 * serverStream). Actors that are not state machines (the transport, listener and connection IO
 * callbacks) have no states to check and are listed as such.
 *
 * What the replay cannot see, and how it is handled:
 * - Traces are redacted: stream names, keys and URL secrets read `***` in events and contexts
 *   (`***2`, `***3`… for a second and third URL's: src/trace/record.ts). A guard then reads the
 *   mask where the runtime read the secret. No guard of the machines decides on the text of a
 *   name or secret; they compare names with names (the session supervisor finds streams by key),
 *   and one secret always reads the same mask, so they decide alike. A step that disagrees while
 *   its event holds a mask is still a failure (nothing is waved through), marked `masked` so that
 *   the message says the mask may be the cause.
 * - An event whose action threw leaves no snapshot in the trace (the runtime records none): it
 *   is counted with the events sent after the actor stopped, as not processed.
 * - Invoked and spawned actors do not run: each child the trace shows is a stub that receives
 *   nothing (the actions a step returns are not executed, only its assigns).
 * - Functions in a context (a clock, a random source for jitter) come back as stubs returning 0:
 *   they feed timestamps and backoff lengths, which the check does not compare. The check
 *   compares states and statuses, not contexts.
 * - Events are recorded JSON-safe: bytes by their length, actor references by id. No guard reads
 *   media bytes; the checker compares references by nothing but their presence.
 */
import {
  createActor,
  fromCallback,
  initialTransition,
  transition,
  type AnyActorRef,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type EventObject,
} from 'xstate';
import * as machineModule from '../../machines';
import { MASK } from '../redact';
import { decodeContext } from '../trace/codec';
import type { TraceRecord } from '../trace/record';
import { parseTrace, stateName } from '../trace/summary';

/** Why a step failed. */
export type TraceStepProblem =
  /** The model leads to another state (or status) than the trace records. */
  | 'state'
  /** The event recorded for the step is not the one the snapshot says it processed. */
  | 'event'
  /** The machine threw while taking the step (the runtime did not). */
  | 'threw'
  /** A snapshot without an event before it, or a step before the actor's first snapshot. */
  | 'order'
  /** The trace names a machine id that no machine has. */
  | 'unknown-machine';

export interface TraceStepFailure {
  actorId: string;
  sessionId: string;
  /** The machine id. */
  machine: string;
  /** The actor's step: 0 is its initial state (`xstate.init`), 1 its first event... */
  step: number;
  /** Milliseconds into the recording. */
  t: number;
  /** The event type of the step. */
  event: string;
  problem: TraceStepProblem;
  /** The recorded state the step started from (`session.connecting`). */
  from?: string;
  /** What the model gives: a state name (with ` [status]` unless active), or what it threw. */
  expected: string;
  /** What the trace records. */
  found: string;
  /** The step's event holds the redaction mask (the runtime read the real value). */
  masked: boolean;
  /** One line for people. */
  message: string;
}

export interface TraceActorCheck {
  actorId: string;
  sessionId: string;
  /** The machine id; undefined for actors that are not state machines. */
  machine?: string;
  /** Steps checked (the initial state included). */
  steps: number;
  /** Steps that agree. */
  agreed: number;
  /**
   * Events sent to the actor with no snapshot after them: it stopped first, or an action threw
   * (the runtime records no snapshot for that step; its actor is in error from then on).
   */
  unprocessed: number;
}

export interface TraceCheckResult {
  /** Every step of every machine actor agrees, and there was at least one. */
  ok: boolean;
  /** Steps checked in all (events processed by machine actors, initial states included). */
  steps: number;
  /** Of these, transitions on events (initial states not counted). */
  transitions: number;
  /** Steps that agree. */
  agreed: number;
  /** Actors that are state machines, in order of appearance. */
  actors: TraceActorCheck[];
  /** Actors with no machine (callbacks, promises): nothing to check. */
  notMachines: Array<{ actorId: string; sessionId: string }>;
  /** Steps that disagree (all of them; `failures` lists the first `maxFailures`). */
  failed: number;
  failures: TraceStepFailure[];
  /** Lines of the file that are not trace records. */
  badLines: number;
}

export interface CheckTraceOptions {
  /**
   * The machines to check against (default: every machine exported by machines/). Matched by
   * machine id; given ones replace defaults of the same id.
   */
  machines?: readonly AnyStateMachine[];
  /** Stop collecting failures after this many (default 100; the counts stay whole). */
  maxFailures?: number;
}

function isMachine(v: unknown): v is AnyStateMachine {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { resolveState?: unknown }).resolveState === 'function' &&
    typeof (v as { id?: unknown }).id === 'string'
  );
}

/** The machines of machines/, by id. */
export function defaultMachines(): Map<string, AnyStateMachine> {
  const out = new Map<string, AnyStateMachine>();
  for (const v of Object.values(machineModule)) if (isMachine(v)) out.set(v.id, v);
  return out;
}

const inert = fromCallback(() => undefined);

/** The machine with every actor it invokes or spawns replaced by one that does nothing. */
function withInertActors(machine: AnyStateMachine): AnyStateMachine {
  const actors: Record<string, typeof inert> = {};
  for (const key of Object.keys(machine.implementations.actors ?? {})) actors[key] = inert;
  return machine.provide({ actors } as never);
}

/** A canonical JSON text (keys sorted), to compare state values. */
function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'undefined';
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
}

function describe(value: unknown, status: string | undefined): string {
  const name = value === undefined ? '(no state)' : stateName(value);
  return status && status !== 'active' ? `${name} [${status}]` : name;
}

function holdsMask(v: unknown): boolean {
  return JSON.stringify(v ?? null).includes(MASK);
}

interface ActorState {
  check: TraceActorCheck;
  machine: AnyStateMachine | undefined;
  /** Events sent to the actor and not yet matched to a snapshot. */
  queue: TraceRecord[];
  /** The last recorded snapshot: value, status and (encoded) context. */
  value?: unknown;
  status?: string;
  ctx?: unknown;
  started: boolean;
  nextStep: number;
  /** Stub actors for the children the trace shows, by id. */
  children: Map<string, AnyActorRef>;
}

/**
 * Replays every step of a trace (file text or parsed records) against the machines. See the
 * module comment for what is compared and what cannot be.
 */
export function checkTrace(
  trace: string | readonly TraceRecord[],
  options: CheckTraceOptions = {},
): TraceCheckResult {
  const parsed =
    typeof trace === 'string' ? parseTrace(trace) : { records: [...trace], badLines: 0 };
  const machines = defaultMachines();
  for (const m of options.machines ?? []) machines.set(m.id, m);
  const inertMachines = new Map<AnyStateMachine, AnyStateMachine>();
  const runnable = (m: AnyStateMachine): AnyStateMachine => {
    let r = inertMachines.get(m);
    if (!r) inertMachines.set(m, (r = withInertActors(m)));
    return r;
  };
  const maxFailures = options.maxFailures ?? 100;

  const result: TraceCheckResult = {
    ok: false,
    steps: 0,
    transitions: 0,
    agreed: 0,
    actors: [],
    notMachines: [],
    failed: 0,
    failures: [],
    badLines: parsed.badLines,
  };
  let failureCount = 0;
  const actors = new Map<string, ActorState>();
  const childIds = new Map<string, string[]>();

  const fail = (
    a: ActorState,
    rec: TraceRecord,
    step: number,
    problem: TraceStepProblem,
    expected: string,
    found: string,
    from: string | undefined,
    masked = false,
  ): void => {
    failureCount++;
    if (result.failures.length >= maxFailures) return;
    const event = (rec.event as { type?: string } | undefined)?.type ?? '?';
    const where = `${a.check.actorId} (${a.check.machine ?? '?'}, ${a.check.sessionId}) step ${step} at ${rec.t} ms, on ${event}`;
    let what: string;
    switch (problem) {
      case 'state':
        what = `${from !== undefined ? `from ${from} ` : ''}the machine goes to ${expected}, the trace has ${found}`;
        break;
      case 'threw':
        what = `${from !== undefined ? `from ${from} ` : ''}the machine throws (${expected}), the trace has ${found}`;
        break;
      case 'event':
        what = `the snapshot says it processed ${found}, the event recorded for it is ${expected}`;
        break;
      case 'order':
        what = found;
        break;
      case 'unknown-machine':
        what = `no machine has the id ${expected}`;
        break;
    }
    const note = masked
      ? ' (its event holds a masked value: the runtime read the real one, which the trace does not hold)'
      : '';
    result.failures.push({
      actorId: a.check.actorId,
      sessionId: a.check.sessionId,
      machine: a.check.machine ?? '?',
      step,
      t: rec.t,
      event,
      problem,
      ...(from !== undefined ? { from } : {}),
      expected,
      found,
      masked,
      message: `${where}: ${what}${note}`,
    });
  };

  const stubChildren = (a: ActorState): Record<string, AnyActorRef> => {
    const out: Record<string, AnyActorRef> = {};
    for (const id of childIds.get(a.check.sessionId) ?? []) {
      let ref = a.children.get(id);
      if (!ref) a.children.set(id, (ref = createActor(inert, { id })));
      out[id] = ref;
    }
    return out;
  };

  for (const rec of parsed.records) {
    if (rec.type === '@xstate.actor') {
      if (rec.parentId) {
        const list = childIds.get(rec.parentId) ?? [];
        if (!list.includes(rec.actorId)) list.push(rec.actorId);
        childIds.set(rec.parentId, list);
      }
      if (actors.has(rec.sessionId)) continue;
      if (rec.name === undefined) {
        result.notMachines.push({ actorId: rec.actorId, sessionId: rec.sessionId });
        continue;
      }
      const check: TraceActorCheck = {
        actorId: rec.actorId,
        sessionId: rec.sessionId,
        machine: rec.name,
        steps: 0,
        agreed: 0,
        unprocessed: 0,
      };
      const a: ActorState = {
        check,
        machine: machines.get(rec.name),
        queue: [],
        started: false,
        nextStep: 0,
        children: new Map(),
      };
      actors.set(rec.sessionId, a);
      result.actors.push(check);
      if (!a.machine) fail(a, rec, 0, 'unknown-machine', rec.name, rec.name, undefined);
      continue;
    }
    const a = actors.get(rec.sessionId);
    if (!a || !a.machine) continue;
    if (rec.type === '@xstate.event') {
      a.queue.push(rec);
      continue;
    }
    if (rec.type !== '@xstate.snapshot') continue;
    const type = (rec.event as { type?: string } | undefined)?.type ?? '?';
    // Stopping is not a transition: the actor is taken down with the state it had.
    if (type === 'xstate.stop') continue;
    const step = a.nextStep++;
    a.check.steps++;
    result.steps++;
    const sent = a.queue.shift();
    const from = a.started ? describe(a.value, a.status) : undefined;
    const found = describe(rec.value, rec.status);
    const sentType = (sent?.event as { type?: string } | undefined)?.type;
    let agreed = false;
    if (!sent) {
      fail(a, rec, step, 'order', '', `a snapshot on ${type} with no event sent before it`, from);
    } else if (sentType !== type) {
      fail(a, rec, step, 'event', sentType ?? '?', type, from);
    } else if (type === 'xstate.init') {
      const input = decodeContext((sent.event as { input?: unknown }).input);
      try {
        const [snapshot] = initialTransition(runnable(a.machine), input);
        const expected = describe(snapshot.value, snapshot.status);
        if (canonical(snapshot.value) !== canonical(rec.value) || snapshot.status !== rec.status)
          fail(a, rec, step, 'state', expected, found, undefined, holdsMask(input));
        else agreed = true;
      } catch (e) {
        fail(a, rec, step, 'threw', (e as Error).message, found, undefined, holdsMask(input));
      }
    } else if (!a.started) {
      fail(a, rec, step, 'order', '', `a step on ${type} before the actor's first snapshot`, from);
    } else {
      const context = decodeContext(a.ctx) as Record<string, unknown> | undefined;
      const event = sent.event as EventObject;
      const masked = holdsMask(event);
      try {
        const machine = runnable(a.machine);
        const before = machine.resolveState({
          value: a.value as never,
          context: context ?? {},
          status: a.status as never,
        }) as AnyMachineSnapshot;
        (before as { children: Record<string, AnyActorRef> }).children = stubChildren(a);
        const [next] = transition(machine, before, event);
        const expected = describe(next.value, next.status);
        if (canonical(next.value) !== canonical(rec.value) || next.status !== rec.status)
          fail(a, rec, step, 'state', expected, found, from, masked);
        else agreed = true;
      } catch (e) {
        // The runtime records an action that threw as an error snapshot.
        if (rec.status === 'error') agreed = true;
        else fail(a, rec, step, 'threw', (e as Error).message, found, from, masked);
      }
    }
    if (type !== 'xstate.init') result.transitions++;
    if (agreed) {
      a.check.agreed++;
      result.agreed++;
    }
    a.started = true;
    a.value = rec.value;
    a.status = rec.status;
    if (rec.ctx !== undefined) a.ctx = rec.ctx;
  }
  for (const a of actors.values()) a.check.unprocessed = a.queue.length;
  result.failed = failureCount;
  result.ok = failureCount === 0 && result.steps > 0;
  return result;
}

/** The report `trace check` prints: the totals, each actor's count, and every failure. */
export function formatTraceCheck(result: TraceCheckResult, file = 'the trace'): string {
  const lines: string[] = [];
  const failed = result.failed;
  for (const a of result.actors) {
    const bad = a.steps - a.agreed;
    lines.push(
      `  ${a.actorId} (${a.machine}): ${a.steps} step(s)${bad ? `, ${bad} disagree` : ', all agree'}${a.unprocessed ? `; ${a.unprocessed} event(s) without a snapshot after them (sent after it stopped, or an action threw)` : ''}`,
    );
  }
  if (result.notMachines.length)
    lines.push(
      `  not state machines (nothing to check): ${result.notMachines.map((a) => a.actorId).join(', ')}`,
    );
  if (result.badLines) lines.push(`  ${result.badLines} line(s) are not trace records`);
  for (const f of result.failures) lines.push(`FAIL ${f.message}`);
  if (failed > result.failures.length)
    lines.push(`… and ${failed - result.failures.length} more failure(s)`);
  const head = result.ok
    ? `${file}: OK: ${result.transitions} transition(s) and ${result.steps - result.transitions} initial state(s) of ${result.actors.length} actor(s) agree with the machines`
    : result.steps === 0
      ? `${file}: FAILED: no step of any state machine to check`
      : `${file}: FAILED: ${failed} of ${result.steps} step(s) disagree with the machines (${result.transitions} transition(s), ${result.steps - result.transitions} initial state(s), ${result.actors.length} actor(s))`;
  return [head, ...lines].join('\n') + '\n';
}
