/**
 * The model-based testing helpers (src/testing/paths.ts) tested on a toy machine whose every
 * state and transition is known by heart: the generated paths cover it, missing coverage is
 * reported, an empty machine does not count as covered, a strict replay catches a diverging
 * actor, and an oracle replay says how many path steps it skipped.
 */
import {
  assign,
  createActor,
  createMachine,
  setup,
  SimulatedClock,
  type InspectionEvent,
} from 'xstate';
import {
  allStates,
  allTransitions,
  coverage,
  formatCoverage,
  generatePaths,
  PathReplayError,
  pathFromEvents,
  replayPath,
  samplePaths,
  type ModelPath,
  type ReplayHarness,
} from '../../src/testing/paths';

type ToyEvent = { type: 'INC' } | { type: 'RESET' } | { type: 'STOP' };

const toy = setup({
  types: {
    context: {} as { n: number; limit: number },
    events: {} as ToyEvent,
    input: {} as { limit: number },
  },
  guards: { belowLimit: ({ context }) => context.n < context.limit },
  actions: {
    inc: assign({ n: ({ context }) => context.n + 1 }),
    reset: assign({ n: 0 }),
  },
  delays: { idleTimeout: 1000 },
}).createMachine({
  id: 'toy',
  context: ({ input }) => ({ n: 0, limit: input.limit }),
  initial: 'idle',
  states: {
    idle: { on: { INC: { target: 'counting', actions: 'inc' } } },
    counting: {
      after: { idleTimeout: { target: 'idle', actions: 'reset' } },
      on: {
        INC: [{ guard: 'belowLimit', target: 'counting', actions: 'inc' }, { target: 'full' }],
        RESET: { target: 'idle', actions: 'reset' },
      },
    },
    full: { on: { RESET: { target: 'idle', actions: 'reset' }, STOP: { target: 'stopped' } } },
    stopped: { type: 'final' },
  },
});

const INPUT = { limit: 2 };

/** What a state accepts, as the models' `events` functions say it. */
function toyEvents(snapshot: { value: unknown }): ToyEvent[] {
  switch (snapshot.value) {
    case 'idle':
      return [{ type: 'INC' }];
    case 'counting':
      return [{ type: 'INC' }, { type: 'RESET' }];
    case 'full':
      return [{ type: 'RESET' }, { type: 'STOP' }];
    default:
      return [];
  }
}

/** A live toy actor on a simulated clock; delays are realized by advancing the clock. */
function toyHarness(
  machine: typeof toy,
  inspect: (ev: InspectionEvent) => void,
  realizeTwice = false,
): ReplayHarness {
  const clock = new SimulatedClock();
  const actor = createActor(machine, { input: INPUT, clock, inspect }).start();
  return {
    actor,
    realize(event) {
      if (event.type.startsWith('xstate.after.')) clock.increment(1000);
      else {
        actor.send(event as ToyEvent);
        if (realizeTwice) actor.send(event as ToyEvent);
      }
    },
  };
}

describe('paths.ts on a toy machine', () => {
  const paths = generatePaths(toy, { input: INPUT, events: toyEvents });

  it('knows the toy machine’s 4 states and 7 transitions', () => {
    expect(allStates(toy)).toEqual(['toy.counting', 'toy.full', 'toy.idle', 'toy.stopped']);
    expect(allTransitions(toy)).toEqual([
      'toy.counting:INC:0',
      'toy.counting:INC:1',
      'toy.counting:RESET:0',
      'toy.counting:xstate.after.idleTimeout.toy.counting:0',
      'toy.full:RESET:0',
      'toy.full:STOP:0',
      'toy.idle:INC:0',
    ]);
  });

  it('generates paths that take every transition, the delay and both guard branches included', () => {
    const report = coverage(toy, paths, INPUT);
    expect(report.states).toEqual({ covered: 4, total: 4, ratio: 1, missing: [] });
    expect(report.transitions).toEqual({ covered: 7, total: 7, ratio: 1, missing: [] });
    expect(formatCoverage(report)).toBe('toy: states 4/4 (100%), transitions 7/7 (100%)');
  });

  it('reports the states and transitions that paths leave out', () => {
    const neverStop = paths.filter((p) => !p.steps.some((s) => s.event.type === 'STOP'));
    const report = coverage(toy, neverStop, INPUT);
    expect(report.states.missing).toEqual(['toy.stopped']);
    expect(report.transitions.missing).toEqual(['toy.full:STOP:0']);
    expect(report.transitions.ratio).toBeCloseTo(6 / 7);
    expect(formatCoverage(report)).toBe('toy: states 3/4 (75%), transitions 6/7 (85.7%)');
    const nothing = coverage(toy, [], INPUT);
    expect(nothing.states.missing).toEqual(allStates(toy));
    expect(nothing.transitions.missing).toEqual(allTransitions(toy));
    expect(nothing.transitions.ratio).toBe(0);
  });

  it('does not count a machine without states or transitions as covered', () => {
    const empty = createMachine({ id: 'empty' });
    const report = coverage(empty, [], undefined);
    expect(report.states).toEqual({ covered: 0, total: 0, ratio: 0, missing: [] });
    expect(report.transitions).toEqual({ covered: 0, total: 0, ratio: 0, missing: [] });
    expect(formatCoverage(report)).toBe(
      'empty: states 0/0 (none found), transitions 0/0 (none found)',
    );
  });

  it('replays every path strictly against the real actor, skipping no step', () => {
    for (const path of paths) {
      const record = replayPath(toy, path, (inspect) => toyHarness(toy, inspect));
      expect(record.skipped).toBe(0);
    }
  });

  it('catches an actor that leaves the model, naming the path, the step and both states', () => {
    const mutant = toy.provide({ guards: { belowLimit: () => true } });
    const inc = { type: 'INC' } as const;
    const toFull = pathFromEvents(toy, [inc, inc, inc], { input: INPUT });
    expect(toFull.state.value).toBe('full');
    let error: unknown;
    try {
      replayPath(toy, toFull, (inspect) => toyHarness(mutant, inspect));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PathReplayError);
    const failure = error as PathReplayError;
    expect(failure.stepIndex).toBe(toFull.steps.length - 1);
    expect(failure.message).toMatch(
      /at step \d+ \(INC\): the actor is in counting \(active\), the model in full \(active\)/,
    );
  });

  it('counts, in oracle mode, the path steps that had already happened', () => {
    // INC → INC → STOP, with an actor that takes each INC twice: after the first step it is full
    // already, so the second INC is no longer offered and is skipped, once.
    const path = paths.find(
      (p) => p.steps.map((s) => s.event.type).join() === 'INC,INC,INC,STOP',
    ) as ModelPath;
    expect(path).toBeDefined();
    const record = replayPath(toy, path, (inspect) => toyHarness(toy, inspect, true), {
      mode: 'oracle',
      events: toyEvents,
    });
    expect(record.skipped).toBe(1);
    expect(record.states).toContain('toy.stopped');
  });
});

describe('samplePaths', () => {
  const inc = { type: 'INC' } as const;
  const reset = { type: 'RESET' } as const;
  // Shortest paths to six contexts (n = 1..4, and back to idle twice), and one transition path.
  const shortest = [
    [inc],
    [inc, inc],
    [inc, inc, inc],
    [inc, inc, inc, inc],
    [inc, reset],
    [inc, inc, reset],
  ].map((events, i) => ({
    ...pathFromEvents(toy, events, { input: { limit: 6 }, id: `shortest#${i + 1}` }),
    source: 'shortest' as const,
  }));
  const transition = {
    ...pathFromEvents(toy, [inc, { type: 'STOP' }], { input: { limit: 1 }, id: 'transition#1' }),
    source: 'transition' as const,
  };
  const paths: ModelPath[] = [...shortest, transition];

  it('keeps every path when there are no more than asked for', () => {
    expect(samplePaths(paths, paths.length)).toEqual({ paths, left: 0 });
  });

  it('keeps every step some shortest path takes, every transition path, and says how many it left out', () => {
    const { paths: kept, left } = samplePaths(paths, 1);
    expect(kept.length + left).toBe(paths.length);
    expect(left).toBeGreaterThan(0);
    for (const p of paths.filter((x) => x.source !== 'shortest')) expect(kept).toContain(p);
    const steps = (ps: readonly ModelPath[]) =>
      new Set(
        ps.flatMap((p) => {
          let from = JSON.stringify(p.initial.value);
          return p.steps.map((s) => {
            const key = `${from} ${s.event.type} ${JSON.stringify(s.state.value)}`;
            from = JSON.stringify(s.state.value);
            return key;
          });
        }),
      );
    expect([...steps(paths)].filter((k) => !steps(kept).has(k))).toEqual([]);
  });

  it('fills up to the limit with shortest paths spread over the rest, the same ones every time', () => {
    const a = samplePaths(paths, paths.length - 1);
    expect(a.paths).toHaveLength(paths.length - 1);
    expect(a.left).toBe(1);
    expect(samplePaths(paths, paths.length - 1).paths.map((p) => p.id)).toEqual(
      a.paths.map((p) => p.id),
    );
  });
});
