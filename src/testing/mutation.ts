/**
 * Mutation testing of statecharts: how many wrong machines do your tests catch?
 *
 * A mutant is the machine with one named implementation replaced, through
 * `machine.provide({ guards, actions })` (the source is never edited): each guard made constantly
 * true, then constantly false, and each action made a no-op. {@link runMutation} runs a list of
 * checks (replays of model paths, scenarios with stated expectations) against the original and
 * then against every mutant. A mutant is killed when a check that passes on the original fails on
 * it, or when an actor throws an unhandled error where the original did not. A mutant that no
 * check fails survives: the tests cannot tell it from the original.
 *
 * Checks are run in-process and only where they can matter. The original runs first through a
 * tapped copy of the machine (every named guard and action wrapped to record its results and
 * executions, behaviour unchanged), so the runner knows what each check exercises. A run is
 * deterministic (clocks simulated, randomness injected) and a mutant behaves exactly like the
 * original until the mutated implementation first runs differently, so a check is skipped for a
 * mutant when the original, along it:
 * - never ran the action a no-op mutant removes, or
 * - never had the guard answer false (for the constantly-true mutant) or true (for the
 *   constantly-false one).
 * The first check that fails kills the mutant; survivors run every check that can matter.
 *
 * A mutant that loops (a guard made constantly true on an event the machine sends itself) is
 * stopped: past LOOP_FACTOR times the original's guard evaluations and action runs in a check
 * (plus LOOP_MARGIN), its next one throws MutantLoopError inside the actor, which stops with an
 * error. Errors xstate would rethrow later in a timer are caught and count as kills.
 */
import type { AnyStateMachine } from 'xstate';

/** How a mutant differs from the original. */
export type MutantKind = 'guard-true' | 'guard-false' | 'action-noop';

/** One mutant: the implementations to provide instead of the original's. */
export interface Mutant {
  /** `guard:<name>:true`, `guard:<name>:false` or `action:<name>:noop`. */
  id: string;
  kind: MutantKind;
  /** The guard's or action's name in the machine's implementations. */
  name: string;
  /** What `machine.provide()` takes to make it. */
  implementations: { guards?: Record<string, unknown>; actions?: Record<string, unknown> };
}

/** A check the suite applies to the original and to each mutant. */
export interface MutationCheck<TMachine extends AnyStateMachine = AnyStateMachine> {
  /** What it checks, for the report (e.g. the path id, or a behaviour sentence). */
  name: string;
  /** Runs the check on `machine` (the original or a mutant); throws when an expectation fails. */
  run(machine: TMachine): void | Promise<void>;
}

/** What the original did along one check: the guards' answers and the actions it ran. */
export interface CheckCoverage {
  guardsTrue: Set<string>;
  guardsFalse: Set<string>;
  actions: Set<string>;
  /** Guard evaluations and action runs, all told. */
  calls: number;
}

/** A mutant that runs this many more guards and actions than the original in a check loops. */
const LOOP_FACTOR = 20;
const LOOP_MARGIN = 10_000;

/** Thrown (inside the actor, which then stops with an error) when a mutant runs away. */
export class MutantLoopError extends Error {
  override name = 'MutantLoopError';
}

export type MutantStatus = 'killed' | 'survived';

export interface MutantResult {
  id: string;
  kind: MutantKind;
  name: string;
  status: MutantStatus;
  /** The first check that failed on the mutant. */
  killedBy?: string;
  /** Why: the failed expectation, or the unhandled error the mutant threw. */
  reason?: string;
  /** Checks run against the mutant (those that can matter, up to the first that failed). */
  checksRun: number;
  /** Checks along which the mutated implementation runs differently (0: never reached). */
  relevantChecks: number;
}

export interface MutationReport {
  machine: string;
  /** Checks in the suite. */
  checks: number;
  total: number;
  killed: number;
  /** killed / total (0 when there are no mutants). */
  score: number;
  results: MutantResult[];
  survivors: MutantResult[];
  /** Wall time of the whole run, ms. */
  ms: number;
}

export interface MutationOptions<TMachine extends AnyStateMachine> {
  /** The original machine. */
  machine: TMachine;
  /** The suite: every check must pass on the original. */
  checks: ReadonlyArray<MutationCheck<TMachine>>;
  /** The mutants to run. Default {@link enumerateMutants}(machine). */
  mutants?: ReadonlyArray<Mutant>;
  /** Called after each mutant (progress). */
  onMutant?: (result: MutantResult) => void;
}

/** Thrown when a check fails on the original machine: the suite itself is wrong. */
export class MutationSuiteError extends Error {
  override name = 'MutationSuiteError';
  constructor(
    message: string,
    readonly check: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The names of the machine's guards and actions (its `implementations`), sorted. */
export function implementationNames(machine: AnyStateMachine): {
  guards: string[];
  actions: string[];
} {
  return {
    guards: Object.keys(machine.implementations.guards ?? {}).sort(),
    actions: Object.keys(machine.implementations.actions ?? {}).sort(),
  };
}

/**
 * Every mutant of the machine: each named guard constantly true and constantly false, each named
 * action a no-op. Restrict with `only` (names) when you want a part of them.
 */
export function enumerateMutants(
  machine: AnyStateMachine,
  only?: { guards?: string[]; actions?: string[] },
): Mutant[] {
  const names = implementationNames(machine);
  const guards = only?.guards ?? names.guards;
  const actions = only?.actions ?? names.actions;
  const out: Mutant[] = [];
  for (const name of guards) {
    for (const value of [true, false]) {
      out.push({
        id: `guard:${name}:${value}`,
        kind: value ? 'guard-true' : 'guard-false',
        name,
        implementations: { guards: { [name]: () => value } },
      });
    }
  }
  for (const name of actions) {
    out.push({
      id: `action:${name}:noop`,
      kind: 'action-noop',
      name,
      implementations: { actions: { [name]: () => undefined } },
    });
  }
  return out;
}

/** The mutant machine. */
export function applyMutant<TMachine extends AnyStateMachine>(
  machine: TMachine,
  mutant: Mutant,
): TMachine {
  return machine.provide(mutant.implementations as never) as TMachine;
}

type Fn = (...args: unknown[]) => unknown;

/** A copy of a built-in action or guard (assign, sendTo, and(), ...) with one method wrapped. */
function wrapBuiltin(impl: Fn, method: 'resolve' | 'check', before: (result: unknown) => void) {
  const original = (impl as unknown as Record<string, Fn>)[method];
  const copy = function (this: unknown, ...args: unknown[]) {
    return impl.apply(this, args);
  } as unknown as Record<string, unknown>;
  Object.assign(copy, impl);
  copy[method] = (...args: unknown[]) => {
    const result = original(...args);
    before(result);
    return result;
  };
  return copy;
}

/**
 * The machine with every named guard and action wrapped to record into `coverage` (read through
 * `current()`, so one tapped machine serves every check). Behaviour is unchanged.
 */
export function tapMachine<TMachine extends AnyStateMachine>(
  machine: TMachine,
  current: () => CheckCoverage | undefined,
  budget?: () => number,
): TMachine {
  const count = (c: CheckCoverage): void => {
    c.calls++;
    const limit = budget?.();
    if (limit !== undefined && c.calls > limit) {
      throw new MutantLoopError(
        `more than ${limit} guard evaluations and action runs: the machine loops`,
      );
    }
  };
  const guards: Record<string, unknown> = {};
  for (const [name, impl] of Object.entries(machine.implementations.guards ?? {})) {
    const record = (result: unknown): void => {
      const c = current();
      if (!c) return;
      (result ? c.guardsTrue : c.guardsFalse).add(name);
      count(c);
    };
    if (typeof impl === 'function' && 'check' in impl) {
      guards[name] = wrapBuiltin(impl as Fn, 'check', record);
    } else if (typeof impl === 'function') {
      guards[name] = (...args: unknown[]) => {
        const result = (impl as Fn)(...args);
        record(result);
        return result;
      };
    }
  }
  const actions: Record<string, unknown> = {};
  for (const [name, impl] of Object.entries(machine.implementations.actions ?? {})) {
    const record = (): void => {
      const c = current();
      if (!c) return;
      c.actions.add(name);
      count(c);
    };
    if (typeof impl === 'function' && 'resolve' in impl) {
      actions[name] = wrapBuiltin(impl as Fn, 'resolve', record);
    } else if (typeof impl === 'function') {
      actions[name] = (...args: unknown[]) => {
        record();
        return (impl as Fn)(...args);
      };
    }
  }
  return machine.provide({ guards, actions } as never) as TMachine;
}

/** Whether the mutated implementation runs differently along a check the original passed so. */
export function isRelevant(mutant: Mutant, coverage: CheckCoverage): boolean {
  switch (mutant.kind) {
    case 'guard-true':
      return coverage.guardsFalse.has(mutant.name);
    case 'guard-false':
      return coverage.guardsTrue.has(mutant.name);
    case 'action-noop':
      return coverage.actions.has(mutant.name);
  }
}

/**
 * Errors xstate reports as unhandled (it rethrows them in a `setTimeout`, see
 * reportUnhandledError) while `fn` runs, caught instead of crashing the test process: the
 * callbacks scheduled during `fn` are wrapped, and awaited before this resolves.
 */
async function catchingUnhandled(fn: () => void | Promise<void>): Promise<unknown[]> {
  const errors: unknown[] = [];
  const g = globalThis as unknown as { setTimeout: Fn };
  const real = g.setTimeout;
  let scheduled = 0;
  g.setTimeout = (callback: unknown, ...rest: unknown[]) => {
    if (typeof callback !== 'function') return real(callback, ...rest);
    scheduled++;
    return real(
      () => {
        try {
          (callback as Fn)(...rest.slice(1));
        } catch (err) {
          errors.push(err);
        }
      },
      ...rest.slice(0, 1),
    );
  };
  try {
    await fn();
  } finally {
    g.setTimeout = real;
  }
  // Only callbacks due at once are waited for (xstate's are); longer timers run on their own.
  if (scheduled) await new Promise<void>((resolve) => real(resolve, 0));
  return errors;
}

function describeError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const first = message.split('\n')[0];
  return first.length > 300 ? `${first.slice(0, 297)}...` : first;
}

/**
 * Runs the checks on the original (each must pass; it records what each exercises), then each
 * mutant through the checks that can matter to it, and scores them.
 */
export async function runMutation<TMachine extends AnyStateMachine>(
  options: MutationOptions<TMachine>,
): Promise<MutationReport> {
  const started = Date.now();
  const { machine, checks } = options;
  const mutants = options.mutants ?? enumerateMutants(machine);

  let recording: CheckCoverage | undefined;
  const tapped = tapMachine(machine, () => recording);
  const coverages: CheckCoverage[] = [];
  for (const check of checks) {
    const coverage: CheckCoverage = {
      guardsTrue: new Set(),
      guardsFalse: new Set(),
      actions: new Set(),
      calls: 0,
    };
    recording = coverage;
    let failure: unknown;
    const unhandled = await catchingUnhandled(async () => {
      try {
        await check.run(tapped);
      } catch (err) {
        failure = err;
      }
    });
    recording = undefined;
    if (failure !== undefined) {
      throw new MutationSuiteError(
        `check "${check.name}" fails on the original ${machine.id}: ${describeError(failure)}`,
        check.name,
        { cause: failure },
      );
    }
    if (unhandled.length) {
      throw new MutationSuiteError(
        `check "${check.name}" makes the original ${machine.id} throw: ${describeError(unhandled[0])}`,
        check.name,
        { cause: unhandled[0] },
      );
    }
    coverages.push(coverage);
  }

  const results: MutantResult[] = [];
  for (const mutant of mutants) {
    // The mutant, tapped only to count: one that loops is stopped (its actor errors).
    let counting: CheckCoverage | undefined;
    let limit = LOOP_MARGIN;
    const candidate = tapMachine(
      applyMutant(machine, mutant),
      () => counting,
      () => limit,
    );
    const relevant = checks
      .map((check, i) => ({ check, coverage: coverages[i] }))
      .filter(({ coverage }) => isRelevant(mutant, coverage));
    const result: MutantResult = {
      id: mutant.id,
      kind: mutant.kind,
      name: mutant.name,
      status: 'survived',
      checksRun: 0,
      relevantChecks: relevant.length,
    };
    for (const { check, coverage } of relevant) {
      result.checksRun++;
      counting = { guardsTrue: new Set(), guardsFalse: new Set(), actions: new Set(), calls: 0 };
      limit = coverage.calls * LOOP_FACTOR + LOOP_MARGIN;
      let failure: unknown;
      const unhandled = await catchingUnhandled(async () => {
        try {
          await check.run(candidate);
        } catch (err) {
          failure = err;
        }
      });
      counting = undefined;
      if (failure !== undefined || unhandled.length) {
        result.status = 'killed';
        result.killedBy = check.name;
        result.reason =
          failure !== undefined
            ? describeError(failure)
            : `unhandled error: ${describeError(unhandled[0])}`;
        break;
      }
    }
    results.push(result);
    options.onMutant?.(result);
  }
  const killed = results.filter((r) => r.status === 'killed').length;
  return {
    machine: machine.id,
    checks: checks.length,
    total: results.length,
    killed,
    score: results.length ? killed / results.length : 0,
    results,
    survivors: results.filter((r) => r.status === 'survived'),
    ms: Date.now() - started,
  };
}

/** `netConnection: 52/56 killed (92.8%), 4 survive: guard:isX:true, ...`. */
export function formatMutationReport(report: MutationReport): string {
  const pct = report.total ? `${Math.floor(report.score * 1000) / 10}%` : 'no mutants';
  const head = `${report.machine}: ${report.killed}/${report.total} killed (${pct}) by ${report.checks} checks in ${report.ms} ms`;
  if (!report.survivors.length) return head;
  return `${head}, ${report.survivors.length} survive: ${report.survivors.map((s) => s.id).join(', ')}`;
}

/** One row per machine, for console.table. */
export function mutationTable(reports: ReadonlyArray<MutationReport>): Array<{
  machine: string;
  killed: number;
  total: number;
  score: string;
  survivors: string;
}> {
  return reports.map((r) => ({
    machine: r.machine,
    killed: r.killed,
    total: r.total,
    score: r.total ? `${Math.floor(r.score * 1000) / 10}%` : '-',
    survivors: r.survivors.map((s) => s.id).join(' '),
  }));
}

/**
 * The survivors as allow-list entries (`'<id>': '<reason>',` lines), keeping the reasons already
 * known and marking new ones to be written. Paste into the suite's allow-list after review.
 */
export function formatAllowList(
  report: MutationReport,
  known: Readonly<Record<string, string>> = {},
): string {
  const lines = report.survivors.map((s) => {
    const reason =
      known[s.id] ?? `TODO: why ${s.id} cannot be observed (${s.relevantChecks} relevant checks)`;
    return `  '${s.id}': ${JSON.stringify(reason)},`;
  });
  return `${report.machine}: {\n${lines.join('\n')}\n},`;
}

/**
 * The checks of a model suite: one per path, named `<prefix><path id>: <description>`, each
 * running `replay(machine, path)` (e.g. replayPath with the model's harness on `machine`).
 */
export function pathChecks<
  TMachine extends AnyStateMachine,
  TPath extends { id: string; description: string },
>(
  paths: ReadonlyArray<TPath>,
  replay: (machine: TMachine, path: TPath) => void,
  prefix = '',
): Array<MutationCheck<TMachine>> {
  return paths.map((path) => ({
    name: `${prefix}${path.id}: ${path.description}`,
    run: (machine: TMachine) => replay(machine, path),
  }));
}
