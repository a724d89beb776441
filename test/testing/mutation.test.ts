/**
 * The mutation harness (src/testing/mutation.ts) on a toy machine whose mutants are known by
 * heart: one that the model paths must catch, one that nothing can observe and must survive, one
 * never reached, one that loops, one that makes the actor throw.
 */
import {
  assign,
  createActor,
  emit,
  raise,
  setup,
  SimulatedClock,
  type AnyEventObject,
  type InspectionEvent,
} from 'xstate';
import {
  enumerateMutants,
  formatAllowList,
  formatMutationReport,
  mutationTable,
  MutationSuiteError,
  pathChecks,
  runMutation,
  tapMachine,
  type CheckCoverage,
  type MutationCheck,
} from '../../src/testing/mutation';
import { delayOf, replayPath, walkPaths, type ReplayHarness } from '../../src/testing/paths';

type ToyEvent = { type: 'INC' } | { type: 'RESET' } | { type: 'ECHO' } | { type: 'USE' };

/** Side effects nobody checks (what a mutant may remove unseen). */
const unobserved: string[] = [];

const toy = setup({
  types: {
    context: {} as { n: number; limit: number; echoes: number; items?: number[] },
    events: {} as ToyEvent,
    input: {} as { limit: number },
    emitted: {} as { type: 'toy.full'; n: number },
  },
  guards: {
    belowLimit: ({ context }) => context.n < context.limit,
    shouldEcho: ({ context }) => context.echoes < 3,
    neverAsked: () => false,
  },
  actions: {
    inc: assign({ n: ({ context }) => context.n + 1 }),
    reset: assign({ n: 0 }),
    log: () => {
      unobserved.push('log');
    },
    announceFull: emit(({ context }) => ({ type: 'toy.full' as const, n: context.n })),
    echo: raise({ type: 'ECHO' }),
    countEcho: assign({ echoes: ({ context }) => context.echoes + 1 }),
    prepare: assign({ items: () => [] }),
    use: assign({ items: ({ context }) => [...context.items!, context.items!.length] }),
  },
  delays: { idleTimeout: 1000 },
}).createMachine({
  id: 'toy',
  context: ({ input }) => ({ n: 0, limit: input.limit, echoes: 0 }),
  initial: 'idle',
  states: {
    idle: {
      entry: 'log',
      on: {
        INC: { target: 'counting', actions: 'inc' },
        ECHO: { guard: 'shouldEcho', actions: ['countEcho', 'echo'] },
        USE: { target: 'using', actions: 'prepare' },
      },
    },
    counting: {
      after: { idleTimeout: { target: 'idle', actions: 'reset' } },
      on: {
        INC: [
          { guard: 'belowLimit', target: 'counting', actions: 'inc' },
          { target: 'full', actions: 'announceFull' },
        ],
        RESET: { target: 'idle', actions: 'reset' },
      },
    },
    full: { on: { RESET: { target: 'idle', actions: 'reset' } } },
    using: { entry: 'use', on: { RESET: { guard: 'neverAsked', target: 'idle' } } },
  },
});
type Toy = typeof toy;

const INPUT = { limit: 2 };

function toyEvents(snapshot: { value: unknown }): AnyEventObject[] {
  switch (snapshot.value) {
    case 'idle':
      return [{ type: 'INC' }];
    case 'counting':
      return [{ type: 'INC' }, { type: 'RESET' }];
    case 'full':
      return [{ type: 'RESET' }];
    default:
      return [];
  }
}

/** A live toy on a simulated clock; its check wants toy.full emitted on entering full. */
function toyHarness(machine: Toy, inspect: (ev: InspectionEvent) => void): ReplayHarness {
  const clock = new SimulatedClock();
  const actor = createActor(machine, { input: INPUT, clock, inspect });
  const emitted: unknown[] = [];
  actor.on('toy.full', (e) => emitted.push(e));
  actor.start();
  return {
    actor,
    realize(event, { before }) {
      const delay = delayOf(toy, event.type, before);
      if (delay) clock.increment(delay.ms);
      else actor.send(event as ToyEvent);
    },
    check({ actual, before }) {
      if (actual.value === 'full' && before.value !== 'full' && emitted.length !== 1) {
        throw new Error('toy.full not emitted');
      }
    },
  };
}

const paths = walkPaths(toy, { input: INPUT, events: toyEvents });
const modelChecks = pathChecks<Toy, (typeof paths)[number]>(paths, (machine, path) => {
  replayPath(toy, path, (inspect) => toyHarness(machine, inspect));
});

/** Echo three times, then stop: the context says how many. */
const echoCheck: MutationCheck<Toy> = {
  name: 'echoes three times and stops',
  run(machine) {
    const actor = createActor(machine, { input: INPUT }).start();
    actor.send({ type: 'ECHO' });
    const { echoes } = actor.getSnapshot().context;
    actor.stop();
    if (echoes !== 3) throw new Error(`echoed ${echoes} times`);
  },
};

/** Uses the items and asserts nothing about them: only a crash can fail it. */
const useCheck: MutationCheck<Toy> = {
  name: 'reaches using',
  run(machine) {
    const actor = createActor(machine, { input: INPUT }).start();
    actor.send({ type: 'USE' });
    if (!actor.getSnapshot().matches('using') && actor.getSnapshot().status !== 'error') {
      throw new Error('not using');
    }
  },
};

describe('mutation harness', () => {
  it('makes each guard constantly true and constantly false and each action a no-op', () => {
    const ids = enumerateMutants(toy).map((m) => m.id);
    expect(ids).toEqual([
      'guard:belowLimit:true',
      'guard:belowLimit:false',
      'guard:neverAsked:true',
      'guard:neverAsked:false',
      'guard:shouldEcho:true',
      'guard:shouldEcho:false',
      'action:announceFull:noop',
      'action:countEcho:noop',
      'action:echo:noop',
      'action:inc:noop',
      'action:log:noop',
      'action:prepare:noop',
      'action:reset:noop',
      'action:use:noop',
    ]);
  });

  it('records what a check exercises through a tapped machine that behaves like the original', () => {
    let coverage: CheckCoverage | undefined = {
      guardsTrue: new Set(),
      guardsFalse: new Set(),
      actions: new Set(),
      calls: 0,
    };
    const tapped = tapMachine(toy, () => coverage);
    const actor = createActor(tapped, { input: INPUT }).start();
    const emitted: unknown[] = [];
    actor.on('toy.full', (e) => emitted.push(e));
    for (let i = 0; i < 3; i++) actor.send({ type: 'INC' });
    actor.send({ type: 'ECHO' });
    const snap = actor.getSnapshot();
    const seen = coverage;
    coverage = undefined;
    expect(snap.value).toBe('full');
    expect(snap.context.n).toBe(2);
    expect(emitted).toEqual([{ type: 'toy.full', n: 2 }]);
    expect([...seen.guardsTrue]).toEqual(['belowLimit']);
    expect([...seen.guardsFalse]).toEqual(['belowLimit']);
    expect([...seen.actions].sort()).toEqual(['announceFull', 'inc', 'log']);
  });

  it('kills the mutants the model paths observe and lets the unobservable ones survive', async () => {
    const report = await runMutation({
      machine: toy,
      checks: [...modelChecks, echoCheck, useCheck],
    });
    const status = Object.fromEntries(report.results.map((r) => [r.id, r.status]));
    // Observable: a wrong state along a path, or toy.full missing (the harness's check).
    expect(status['guard:belowLimit:true']).toBe('killed');
    expect(status['guard:belowLimit:false']).toBe('killed');
    expect(status['action:inc:noop']).toBe('killed');
    expect(status['action:announceFull:noop']).toBe('killed');
    expect(report.results.find((r) => r.id === 'action:announceFull:noop')?.reason).toMatch(
      /toy.full not emitted/,
    );
    // Unobservable: log's effect is checked by nobody; neverAsked is never evaluated.
    expect(status['action:log:noop']).toBe('survived');
    expect(status['guard:neverAsked:true']).toBe('survived');
    expect(status['guard:neverAsked:false']).toBe('survived');
    expect(report.results.find((r) => r.id === 'guard:neverAsked:true')?.relevantChecks).toBe(0);
    expect(report.total).toBe(14);
    expect(report.killed).toBe(report.results.filter((r) => r.status === 'killed').length);
    expect(report.survivors.map((s) => s.id)).toEqual(
      report.results.filter((r) => r.status === 'survived').map((r) => r.id),
    );
  });

  it('stops a mutant that loops and counts it as killed', async () => {
    const report = await runMutation({
      machine: toy,
      checks: [echoCheck],
      mutants: enumerateMutants(toy, { guards: ['shouldEcho'], actions: [] }),
    });
    const loop = report.results.find((r) => r.id === 'guard:shouldEcho:true');
    expect(loop).toMatchObject({ status: 'killed', killedBy: 'echoes three times and stops' });
    expect(report.results.find((r) => r.id === 'guard:shouldEcho:false')?.status).toBe('killed');
  });

  it('kills a mutant whose actor throws where the original did not, even when no assertion fails', async () => {
    const report = await runMutation({
      machine: toy,
      checks: [useCheck],
      mutants: enumerateMutants(toy, { guards: [], actions: ['prepare'] }),
    });
    expect(report.results).toEqual([
      expect.objectContaining({
        id: 'action:prepare:noop',
        status: 'killed',
        reason: expect.stringMatching(/^unhandled error: /),
      }),
    ]);
  });

  it('refuses a suite whose checks fail on the original', async () => {
    const wrong: MutationCheck<Toy> = {
      name: 'expects the impossible',
      run: () => {
        throw new Error('nope');
      },
    };
    await expect(runMutation({ machine: toy, checks: [wrong], mutants: [] })).rejects.toThrow(
      MutationSuiteError,
    );
  });

  it('prints a score line, a table row and the survivors as allow-list entries', async () => {
    const report = await runMutation({
      machine: toy,
      checks: modelChecks,
      mutants: enumerateMutants(toy, { guards: ['belowLimit'], actions: ['log'] }),
    });
    expect(formatMutationReport(report)).toMatch(
      /^toy: 2\/3 killed \(66.6%\) by \d+ checks in \d+ ms, 1 survive: action:log:noop$/,
    );
    expect(mutationTable([report])).toEqual([
      { machine: 'toy', killed: 2, total: 3, score: '66.6%', survivors: 'action:log:noop' },
    ]);
    expect(formatAllowList(report, { 'action:log:noop': 'its effect is seen by nobody' })).toBe(
      'toy: {\n  \'action:log:noop\': "its effect is seen by nobody",\n},',
    );
  });
});
