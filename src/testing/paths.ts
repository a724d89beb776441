/**
 * Model-based testing helpers: paths through a machine's graph (xstate/graph getShortestPaths and
 * getSimplePaths, completed so that every transition the model can take is on some path), their
 * replay against a live actor wired to real IO stand-ins, and coverage of states and transitions.
 */
import {
  createEmptyActor,
  type AnyActor,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type EventObject,
  type InspectionEvent,
  type InputFrom,
} from 'xstate';
import { getShortestPaths, getSimplePaths, getStateNodes } from 'xstate/graph';

type AnyStateNode = AnyStateMachine['root'];
type AnyTransition = NonNullable<AnyStateNode['always']>[number];

/** One step of a path: the event, and the state the model reaches with it. */
export interface PathStep {
  event: AnyEventObject;
  state: AnyMachineSnapshot;
}

/** A path through the model, from the initial state. */
export interface ModelPath {
  /** Stable id: `<source>#<n>`. */
  id: string;
  /** Which generator produced it. */
  source: 'shortest' | 'simple' | 'transition';
  initial: AnyMachineSnapshot;
  steps: PathStep[];
  /** Where the path ends. */
  state: AnyMachineSnapshot;
  /** `EVENT → EVENT ⇒ state`. */
  description: string;
}

/** What `samplePaths` kept, and how many shortest paths it left out. */
export interface PathSample {
  paths: ModelPath[];
  /** Shortest paths left out (0 when all were kept). */
  left: number;
}

/**
 * At most `max` paths of a large walk, chosen without luck: every simple and
 * transition-completing path; then each shortest path that takes a step (state value, event
 * type, next state value) no path kept so far takes; then shortest paths evenly spaced over the
 * rest until `max`. Replaying thousands of shortest paths (one per distinct context) costs
 * minutes; the steps they share add little. Say how many were left out (`left`) where it is used.
 */
export function samplePaths(paths: readonly ModelPath[], max: number): PathSample {
  if (paths.length <= max) return { paths: [...paths], left: 0 };
  const kept = new Set<ModelPath>(paths.filter((p) => p.source !== 'shortest'));
  const seen = new Set<string>();
  const stepsOf = (p: ModelPath): string[] => {
    let from = JSON.stringify(p.initial.value);
    return p.steps.map((s) => {
      const to = JSON.stringify(s.state.value);
      const key = `${from} ${s.event.type} ${to}`;
      from = to;
      return key;
    });
  };
  for (const p of kept) for (const k of stepsOf(p)) seen.add(k);
  const shortest = paths.filter((p) => p.source === 'shortest');
  for (const p of shortest) {
    const keys = stepsOf(p);
    if (keys.some((k) => !seen.has(k))) {
      kept.add(p);
      for (const k of keys) seen.add(k);
    }
  }
  const rest = shortest.filter((p) => !kept.has(p));
  const room = Math.max(0, max - kept.size);
  if (room > 0 && rest.length > 0) {
    const stride = rest.length / Math.min(room, rest.length);
    for (let i = 0; i < Math.min(room, rest.length); i++) kept.add(rest[Math.floor(i * stride)]);
  }
  const out = paths.filter((p) => kept.has(p));
  return { paths: out, left: paths.length - out.length };
}

export interface PathOptions<TMachine extends AnyStateMachine> {
  input?: InputFrom<TMachine>;
  /**
   * Every event (with each payload variant) worth sending in a state: success, refusal, each
   * error code. Delays (`xstate.after.*`) are added by themselves; other event types the state
   * accepts but this function does not return are not explored.
   */
  events: (snapshot: AnyMachineSnapshot) => AnyEventObject[];
  /** A smaller event set for getSimplePaths (whose number of paths grows fast). Default `events`. */
  simpleEvents?: (snapshot: AnyMachineSnapshot) => AnyEventObject[];
  /** How states are told apart. Default: value plus the JSON of the context. */
  serializeState?: (snapshot: AnyMachineSnapshot) => string;
  /** Most simple paths kept (shortest first). Default 400. */
  maxSimplePaths?: number;
  /** Skip a generator. */
  skip?: Array<ModelPath['source']>;
}

export interface WalkOptions<TMachine extends AnyStateMachine> extends PathOptions<TMachine> {
  /** Called for each path (replay it here). */
  onPath?: (path: ModelPath) => void;
}

function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'function') return undefined;
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)) {
      const obj = v as Record<string, unknown>;
      if (typeof (obj as { toJSON?: unknown }).toJSON === 'function') return v;
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(obj).sort()) sorted[k] = obj[k];
      return sorted;
    }
    if (v instanceof Uint8Array) return `bytes:${Buffer.from(v).toString('hex')}`;
    return v;
  });
}

/** Serializes an event for comparisons and descriptions. */
export function serializeEvent(event: EventObject): string {
  return stableJson(event);
}

/** The default state serializer: state value plus context (functions dropped, refs by id). */
export function serializeSnapshot(snapshot: AnyMachineSnapshot): string {
  return stableJson({ value: snapshot.value, context: snapshot.context });
}

/** `a.b.c` for a state value (parallel regions joined with `+`). */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => {
        const inner = describeValue(v);
        return inner ? `${k}.${inner}` : k;
      })
      .join('+');
  }
  return '';
}

function describeEvent(event: AnyEventObject): string {
  const { type, ...rest } = event;
  const keys = Object.keys(rest);
  if (keys.length === 0) return type;
  const short = stableJson(rest);
  return `${type}${short.length > 80 ? `(${short.slice(0, 77)}...)` : `(${short})`}`;
}

function describePath(steps: PathStep[], state: AnyMachineSnapshot): string {
  const events = steps.map((s) => describeEvent(s.event)).join(' → ');
  return `${events || '(start)'} ⇒ ${describeValue(state.value)}`;
}

/** A stable key for a transition: `<source id>:<event type or always>:<index>`. */
export function transitionKey(t: AnyTransition): string {
  const source = t.source as AnyStateNode;
  const alwaysIndex = source.always?.indexOf(t) ?? -1;
  if (alwaysIndex >= 0) return `${source.id}:always:${alwaysIndex}`;
  const list = source.transitions.get(t.eventType) ?? [];
  return `${source.id}:${t.eventType}:${list.indexOf(t)}`;
}

/** Every state node below the root. */
export function allStates(machine: AnyStateMachine): string[] {
  return getStateNodes(machine.root)
    .map((n) => n.id)
    .sort();
}

/** Every transition of the machine: `on`, `after`, `always`, onDone/onError, root included. */
export function allTransitions(machine: AnyStateMachine): string[] {
  const keys: string[] = [];
  for (const node of [machine.root, ...getStateNodes(machine.root)]) {
    for (const list of node.transitions.values()) for (const t of list) keys.push(transitionKey(t));
    for (const t of node.always ?? []) keys.push(transitionKey(t));
  }
  return keys.sort();
}

interface ProbeResult {
  next: AnyMachineSnapshot;
  transitions: string[];
  states: string[];
}

/** An actor scope that runs no action and records the microsteps. */
function probeScope(record: (ev: InspectionEvent) => void) {
  const empty = createEmptyActor();
  const system = Object.create(empty.system) as typeof empty.system;
  (
    system as unknown as { _sendInspectionEvent: (ev: InspectionEvent) => void }
  )._sendInspectionEvent = record;
  return {
    self: empty,
    logger: () => undefined,
    id: '',
    sessionId: 'probe',
    defer: () => undefined,
    system,
    stopChild: () => undefined,
    emit: () => undefined,
    actionExecutor: () => undefined,
  };
}

function nodeIds(snapshot: AnyMachineSnapshot): string[] {
  return ((snapshot as unknown as { _nodes: AnyStateNode[] })._nodes ?? []).map((n) => n.id);
}

/** The source state of a transition and its ancestors (a transient state is only seen so). */
function sourceIds(t: AnyTransition): string[] {
  const out: string[] = [];
  for (let n = t.source as AnyStateNode | undefined; n && n.parent; n = n.parent) out.push(n.id);
  return out;
}

function collect(ev: InspectionEvent, transitions: string[], states: string[]): void {
  if (ev.type !== '@xstate.microstep') return;
  for (const t of ev._transitions as AnyTransition[]) {
    transitions.push(transitionKey(t));
    states.push(...sourceIds(t));
  }
  states.push(...nodeIds(ev.snapshot as AnyMachineSnapshot));
}

/** The model's own step: next snapshot and the transitions taken, no action executed. */
export function probeTransition(
  machine: AnyStateMachine,
  snapshot: AnyMachineSnapshot,
  event: AnyEventObject,
): ProbeResult {
  const transitions: string[] = [];
  const states: string[] = [];
  const scope = probeScope((ev) => collect(ev, transitions, states));
  const next = machine.transition(snapshot, event, scope as never) as AnyMachineSnapshot;
  states.push(...nodeIds(next));
  return { next, transitions, states };
}

/** The model's initial snapshot, with the transitions and states its initial steps take. */
export function probeInitial(machine: AnyStateMachine, input: unknown): ProbeResult {
  const transitions: string[] = [];
  const states: string[] = [];
  const scope = probeScope((ev) => collect(ev, transitions, states));
  const next = machine.getInitialSnapshot(scope as never, input) as AnyMachineSnapshot;
  states.push(...nodeIds(next));
  return { next, transitions, states };
}

function ownEventTypes(snapshot: AnyMachineSnapshot): Set<string> {
  const nodes = (snapshot as unknown as { _nodes: AnyStateNode[] })._nodes ?? [];
  return new Set(nodes.flatMap((n) => n.ownEvents as string[]));
}

/** Whether a state whose own event descriptors are `own` accepts `type` (`a.b.*` wildcards too). */
function acceptsEvent(own: Set<string>, type: string): boolean {
  if (own.has(type)) return true;
  for (const d of own) if (d.endsWith('.*') && type.startsWith(d.slice(0, -1))) return true;
  return false;
}

function isDelayOrInternal(type: string): boolean {
  return type.startsWith('xstate.after.');
}

/**
 * The paths to replay: getShortestPaths (one per reachable state), getSimplePaths (with
 * `simpleEvents`, capped), and, for any transition the model can take that no path took yet, the
 * shortest path to a state where it is enabled plus that one event. Paths that are a prefix of
 * another path are dropped. Deterministic.
 */
export function generatePaths<TMachine extends AnyStateMachine>(
  machine: TMachine,
  options: PathOptions<TMachine>,
): ModelPath[] {
  const serialize = options.serializeState ?? serializeSnapshot;
  const skip = new Set(options.skip ?? []);
  // Only events the state accepts, plus its delays (which the events function need not list).
  const wrap =
    (fn: (s: AnyMachineSnapshot) => AnyEventObject[]) =>
    (s: AnyMachineSnapshot): AnyEventObject[] => {
      const own = ownEventTypes(s);
      const delays = [...own]
        .filter(isDelayOrInternal)
        .sort()
        .map((type) => ({ type }));
      return [...fn(s).filter((e) => acceptsEvent(own, e.type)), ...delays];
    };
  const events = wrap(options.events);
  const simpleEvents = wrap(options.simpleEvents ?? options.events);
  const traversal = {
    input: options.input,
    serializeState: (s: AnyMachineSnapshot) => serialize(s),
    serializeEvent: (e: AnyEventObject) => serializeEvent(e),
  };
  const toModelPath = (
    raw: {
      steps: Array<{ event: AnyEventObject; state: AnyMachineSnapshot }>;
      state: AnyMachineSnapshot;
    },
    source: ModelPath['source'],
  ): Omit<ModelPath, 'id'> => {
    // xstate/graph paths start with an `xstate.init` step on the initial state.
    const [first, ...rest] = raw.steps;
    const steps = rest.map((s) => ({ event: s.event, state: s.state }));
    return {
      source,
      initial: first.state,
      steps,
      state: raw.state,
      description: describePath(steps, raw.state),
    };
  };

  const shortest = getShortestPaths(machine, {
    ...traversal,
    events,
  } as never) as unknown as Array<{
    steps: Array<{ event: AnyEventObject; state: AnyMachineSnapshot }>;
    state: AnyMachineSnapshot;
  }>;
  const out: Array<Omit<ModelPath, 'id'>> = [];
  if (!skip.has('shortest')) out.push(...shortest.map((p) => toModelPath(p, 'shortest')));
  if (!skip.has('simple')) {
    const simple = getSimplePaths(machine, {
      ...traversal,
      events: simpleEvents,
    } as never) as unknown as Array<{
      steps: Array<{ event: AnyEventObject; state: AnyMachineSnapshot }>;
      state: AnyMachineSnapshot;
    }>;
    const sorted = simple
      .map((p) => toModelPath(p, 'simple'))
      .sort(
        (a, b) => a.steps.length - b.steps.length || a.description.localeCompare(b.description),
      );
    out.push(...sorted.slice(0, options.maxSimplePaths ?? 400));
  }

  if (!skip.has('transition')) {
    // Which transitions the paths so far take, by probing the model along each path.
    const covered = new Set<string>(probeInitial(machine, options.input).transitions);
    for (const p of out) {
      let snap = p.initial;
      for (const step of p.steps) {
        const r = probeTransition(machine, snap, step.event);
        for (const t of r.transitions) covered.add(t);
        snap = step.state;
      }
    }
    const bases = shortest
      .map((p) => toModelPath(p, 'shortest'))
      .sort(
        (a, b) => a.steps.length - b.steps.length || a.description.localeCompare(b.description),
      );
    for (const base of bases) {
      for (const event of events(base.state)) {
        const r = probeTransition(machine, base.state, event);
        if (!r.transitions.some((t) => !covered.has(t))) continue;
        for (const t of r.transitions) covered.add(t);
        const steps = [...base.steps, { event, state: r.next }];
        out.push({
          source: 'transition',
          initial: base.initial,
          steps,
          state: r.next,
          description: describePath(steps, r.next),
        });
      }
    }
  }

  // Drop duplicates and paths that are a prefix of a longer one.
  const keyed = out.map((p) => ({ p, key: p.steps.map((s) => serializeEvent(s.event)) }));
  keyed.sort((a, b) => b.key.length - a.key.length);
  const kept: typeof keyed = [];
  const prefixes = new Set<string>();
  for (const item of keyed) {
    const joined = item.key.join('\u0001');
    if (prefixes.has(joined)) continue;
    kept.push(item);
    for (let i = 0; i <= item.key.length; i++) prefixes.add(item.key.slice(0, i).join('\u0001'));
  }
  const order: Record<ModelPath['source'], number> = { shortest: 0, simple: 1, transition: 2 };
  kept.sort(
    (a, b) =>
      order[a.p.source] - order[b.p.source] ||
      a.key.length - b.key.length ||
      a.p.description.localeCompare(b.p.description),
  );
  const counters: Record<string, number> = {};
  return kept.map(({ p }) => {
    counters[p.source] = (counters[p.source] ?? 0) + 1;
    // The traversal keeps one snapshot per serialized state, reached by whichever route came
    // first: the states along a path are recomputed as the model's own run over its events, so
    // that what the serializer leaves out (and a replay may still compare) is this path's.
    let snap = p.initial;
    const steps = p.steps.map((step) => {
      snap = probeTransition(machine, snap, step.event).next;
      return { event: step.event, state: snap };
    });
    return { ...p, steps, state: snap, id: `${p.source}#${counters[p.source]}` };
  });
}

/** A directed path: the model's run over `events` (a scenario written by hand). */
export function pathFromEvents<TMachine extends AnyStateMachine>(
  machine: TMachine,
  events: AnyEventObject[],
  options: { input?: InputFrom<TMachine>; id?: string } = {},
): ModelPath {
  const initial = probeInitial(machine, options.input).next;
  const steps: PathStep[] = [];
  let snap = initial;
  for (const event of events) {
    snap = probeTransition(machine, snap, event).next;
    steps.push({ event, state: snap });
  }
  return {
    id: options.id ?? 'scenario',
    source: 'transition',
    initial,
    steps,
    state: snap,
    description: describePath(steps, snap),
  };
}

/** Generates the paths (see {@link generatePaths}) and hands each to `onPath`. */
export function walkPaths<TMachine extends AnyStateMachine>(
  machine: TMachine,
  options: WalkOptions<TMachine>,
): ModelPath[] {
  const paths = generatePaths(machine, options);
  if (options.onPath) for (const p of paths) options.onPath(p);
  return paths;
}

// ------------------------------------------------------------------------------------- replay

/** What a replay needs to know about the world around the actor. */
export interface ReplayHarness {
  /** The actor under test (created with the `inspect` given to the harness factory). */
  actor: AnyActor;
  /**
   * Makes `event` happen the way it would in real life: through the scripted peer, the simulated
   * clock, or a direct send for user commands.
   */
  realize(event: AnyEventObject, step: { before: AnyMachineSnapshot; index: number }): void;
  /** Further assertions after each step (effects on the peer, emitted events...). */
  check?(step: {
    event: AnyEventObject;
    before: AnyMachineSnapshot;
    actual: AnyMachineSnapshot;
    index: number;
  }): void;
  dispose?(): void;
}

export interface ReplayOptions {
  /**
   * 'strict' (default): after each step the actor is in the state the path says.
   * 'oracle': for machines whose children answer on their own (the supervisor): a path event the
   * model no longer offers is skipped (it already happened); after each step the actor must agree
   * with the model run over every event the actor actually received.
   */
  mode?: 'strict' | 'oracle';
  /** For 'oracle': the events function of the walk. */
  events?: (snapshot: AnyMachineSnapshot) => AnyEventObject[];
  /** What to compare besides the state value (a projection of the context). */
  project?: (snapshot: AnyMachineSnapshot) => unknown;
}

/** The record of one replay: which states and transitions the live actor went through. */
export interface ReplayRecord {
  path: ModelPath;
  states: string[];
  transitions: string[];
  /** Oracle mode: path events skipped because they had already happened. */
  skipped: number;
}

export class PathReplayError extends Error {
  override name = 'PathReplayError';
  constructor(
    message: string,
    readonly path: ModelPath,
    readonly stepIndex: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  return stableJson(a) === stableJson(b);
}

/**
 * Replays `path` against a live actor built by `createHarness` and asserts it follows the model.
 * Throws PathReplayError at the first divergence.
 */
export function replayPath(
  machine: AnyStateMachine,
  path: ModelPath,
  createHarness: (inspect: (ev: InspectionEvent) => void) => ReplayHarness,
  options: ReplayOptions = {},
): ReplayRecord {
  const mode = options.mode ?? 'strict';
  const states = new Set<string>();
  const transitions = new Set<string>();
  const received: AnyEventObject[] = [];
  const root: { ref?: AnyActor } = {};
  // Until the harness says which actor is under test (it may be a child: events from its start
  // come first), inspection events wait here.
  const early: InspectionEvent[] = [];
  const inspect = (ev: InspectionEvent): void => {
    if (!root.ref) {
      early.push(ev);
      return;
    }
    if (ev.actorRef !== root.ref) return;
    if (ev.type === '@xstate.microstep') {
      for (const t of ev._transitions as AnyTransition[]) {
        transitions.add(transitionKey(t));
        for (const id of sourceIds(t)) states.add(id);
      }
      for (const id of nodeIds(ev.snapshot as AnyMachineSnapshot)) states.add(id);
    } else if (ev.type === '@xstate.event' && ev.event.type !== 'xstate.init') {
      received.push(ev.event);
    }
  };
  const fail = (index: number, message: string, cause?: unknown): never => {
    const where =
      index < 0 ? 'at start' : `at step ${index + 1} (${describeEvent(path.steps[index].event)})`;
    throw new PathReplayError(
      `${path.id} ${where}: ${message}\n  path: ${path.description}`,
      path,
      index,
      {
        cause,
      },
    );
  };

  const harness = createHarness(inspect);
  root.ref = harness.actor;
  for (const ev of early.splice(0)) inspect(ev);
  let skipped = 0;
  try {
    const start = harness.actor.getSnapshot() as AnyMachineSnapshot;
    for (const id of nodeIds(start)) states.add(id);
    if (!sameValue(start.value, path.initial.value)) {
      fail(
        -1,
        `starts in ${describeValue(start.value)}, the model in ${describeValue(path.initial.value)}`,
      );
    }
    let oracle = path.initial;
    received.length = 0;
    path.steps.forEach((step, index) => {
      const before = harness.actor.getSnapshot() as AnyMachineSnapshot;
      if (mode === 'oracle' && options.events) {
        const applicable = isDelayOrInternal(step.event.type)
          ? ownEventTypes(oracle).has(step.event.type)
          : options.events(oracle).map(serializeEvent).includes(serializeEvent(step.event));
        if (!applicable) {
          skipped++;
          return;
        }
      }
      try {
        harness.realize(step.event, { before, index });
      } catch (err) {
        fail(index, `could not make it happen: ${(err as Error).message}`, err);
      }
      const actual = harness.actor.getSnapshot() as AnyMachineSnapshot;
      if (actual.status === 'error') fail(index, `the actor crashed: ${String(actual.error)}`);
      if (mode === 'strict') {
        if (!sameValue(actual.value, step.state.value) || actual.status !== step.state.status) {
          fail(
            index,
            `the actor is in ${describeValue(actual.value)} (${actual.status}), the model in ${describeValue(step.state.value)} (${step.state.status})`,
          );
        }
        if (options.project && !sameValue(options.project(actual), options.project(step.state))) {
          fail(
            index,
            `the actor has ${stableJson(options.project(actual))}, the model ${stableJson(options.project(step.state))}`,
          );
        }
      } else {
        const got = received.splice(0);
        if (!got.some((e) => sameValue(e, step.event) || e.type === step.event.type)) {
          fail(
            index,
            `the actor never received ${step.event.type} (got ${got.map((e) => e.type).join(', ') || 'nothing'})`,
          );
        }
        // A final actor takes no more events (the IO may still report on its way out).
        for (const e of got) {
          if (oracle.status === 'active') oracle = probeTransition(machine, oracle, e).next;
        }
        const project = options.project ?? (() => undefined);
        if (
          !sameValue(actual.value, oracle.value) ||
          !sameValue(project(actual), project(oracle))
        ) {
          fail(
            index,
            `the actor is in ${describeValue(actual.value)} ${stableJson(project(actual))}, the model in ${describeValue(oracle.value)} ${stableJson(project(oracle))}`,
          );
        }
      }
      if (harness.check) {
        try {
          harness.check({ event: step.event, before, actual, index });
        } catch (err) {
          fail(index, (err as Error).message, err);
        }
      }
    });
  } finally {
    harness.dispose?.();
    if (harness.actor.getSnapshot().status === 'active') harness.actor.stop();
  }
  return { path, states: [...states].sort(), transitions: [...transitions].sort(), skipped };
}

// ------------------------------------------------------------------------------------- coverage

export interface CoverageReport {
  machine: string;
  states: { covered: number; total: number; ratio: number; missing: string[] };
  transitions: { covered: number; total: number; ratio: number; missing: string[] };
}

/**
 * States reached / all states and transitions taken / all transitions. Give it replay records
 * (what the live actor did) or model paths (what the model does along them). A machine in which
 * no state or no transition is found has ratio 0 there, not 1: nothing found is nothing covered.
 */
export function coverage(
  machine: AnyStateMachine,
  runs: ReadonlyArray<ReplayRecord | ModelPath>,
  input?: unknown,
): CoverageReport {
  const seenStates = new Set<string>();
  const seenTransitions = new Set<string>();
  for (const run of runs) {
    if ('transitions' in run) {
      for (const s of run.states) seenStates.add(s);
      for (const t of run.transitions) seenTransitions.add(t);
      continue;
    }
    const init = probeInitial(machine, input);
    init.states.forEach((s) => seenStates.add(s));
    init.transitions.forEach((t) => seenTransitions.add(t));
    let snap = run.initial;
    for (const step of run.steps) {
      const r = probeTransition(machine, snap, step.event);
      r.states.forEach((s) => seenStates.add(s));
      r.transitions.forEach((t) => seenTransitions.add(t));
      snap = step.state;
    }
  }
  const statesAll = allStates(machine);
  const transitionsAll = allTransitions(machine);
  const statesCovered = statesAll.filter((s) => seenStates.has(s));
  const transitionsCovered = transitionsAll.filter((t) => seenTransitions.has(t));
  return {
    machine: machine.id,
    states: {
      covered: statesCovered.length,
      total: statesAll.length,
      ratio: statesAll.length ? statesCovered.length / statesAll.length : 0,
      missing: statesAll.filter((s) => !seenStates.has(s)),
    },
    transitions: {
      covered: transitionsCovered.length,
      total: transitionsAll.length,
      ratio: transitionsAll.length ? transitionsCovered.length / transitionsAll.length : 0,
      missing: transitionsAll.filter((t) => !seenTransitions.has(t)),
    },
  };
}

/** `machine: states 12/12 (100%), transitions 40/40 (100%)` (`0/0 (none found)` when empty). */
export function formatCoverage(report: CoverageReport): string {
  const pct = (r: number): string => `${Math.floor(r * 1000) / 10}%`;
  const part = (p: CoverageReport['states']): string =>
    `${p.covered}/${p.total} (${p.total ? pct(p.ratio) : 'none found'})`;
  return `${report.machine}: states ${part(report.states)}, transitions ${part(report.transitions)}`;
}

/**
 * For a delayed event `xstate.after.<delay>.<state id>`: the delay's name, and its value in ms
 * computed by the machine's own named delay from `snapshot`.
 */
export function delayOf(
  machine: AnyStateMachine,
  eventType: string,
  snapshot: AnyMachineSnapshot,
): { name: string; ms: number } | undefined {
  if (!eventType.startsWith('xstate.after.')) return undefined;
  const name = eventType.slice('xstate.after.'.length).split('.')[0];
  const delays = machine.implementations.delays as Record<string, unknown>;
  const delay = delays[name];
  const ms =
    typeof delay === 'function'
      ? (delay as (args: unknown, params: unknown) => number)(
          { context: snapshot.context, event: { type: eventType } },
          undefined,
        )
      : Number(delay ?? name);
  return { name, ms };
}
