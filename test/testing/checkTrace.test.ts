/**
 * checkTrace() on toy machines recorded in-process with the real recorder: what it checks (the
 * recorded context feeds the guards), what it reports (each failure named, masked values called
 * out), and the codec that keeps contexts readable back.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { assign, createActor, fromCallback, setup, type AnyStateMachine } from 'xstate';
import { checkTrace, formatTraceCheck } from '../../src/testing/checkTrace';
import { decodeContext, encodeContext } from '../../src/trace/codec';
import { TraceRecorder, TraceRedactor, type TraceRecord } from '../../src/trace/record';
import { parseTrace } from '../../src/trace/summary';

type CounterEvent =
  | { type: 'INC' }
  | { type: 'NAME'; name: string }
  | { type: 'PEEK'; name: string }
  | { type: 'BOOM' }
  | { type: 'STOP' };

const counter = setup({
  types: {
    context: {} as { n: number; cfg: { limit: number }; name: string; now: () => number },
    events: {} as CounterEvent,
    input: {} as { limit: number; name: string },
  },
  guards: {
    belowLimit: ({ context }) => context.n + 1 < context.cfg.limit,
    isOurName: ({ context, event }) => event.type === 'NAME' && event.name === context.name,
    /** Decides on the text of a name: what no machine of rtmp-actors does. */
    looksPrivate: ({ event }) => event.type === 'PEEK' && event.name.startsWith('secret'),
  },
  actions: {
    inc: assign({ n: ({ context }) => context.n + 1 }),
    explode: () => {
      throw new Error('boom');
    },
  },
}).createMachine({
  id: 'counter',
  context: ({ input }) => ({
    n: 0,
    cfg: { limit: input.limit },
    name: input.name,
    now: () => Date.now(),
  }),
  initial: 'counting',
  states: {
    counting: {
      on: {
        INC: [
          { guard: 'belowLimit', actions: 'inc' },
          { target: 'full', actions: 'inc' },
        ],
        NAME: { guard: 'isOurName', target: 'named' },
        PEEK: { guard: 'looksPrivate', target: 'named' },
        BOOM: { actions: 'explode' },
        STOP: { target: 'stopped' },
      },
    },
    full: { on: { STOP: { target: 'stopped' } } },
    named: { on: { STOP: { target: 'stopped' } } },
    stopped: { type: 'final' },
  },
});

const dir = mkdtempSync(path.join(tmpdir(), 'check-trace-'));
let files = 0;

/** Runs `machine` with `input`, sends `events`, and returns the trace the recorder wrote. */
async function record(
  machine: AnyStateMachine,
  input: unknown,
  events: CounterEvent[],
  url = 'rtmp://127.0.0.1/app/stream',
): Promise<TraceRecord[]> {
  const file = path.join(dir, `t${files++}.jsonl`);
  const recorder = new TraceRecorder(file, new TraceRedactor(url));
  const actor = createActor(machine, { input, inspect: recorder.inspect });
  actor.subscribe({ error: () => undefined });
  actor.start();
  for (const e of events) actor.send(e);
  actor.stop();
  await recorder.close();
  return parseTrace(readFileSync(file, 'utf8')).records;
}

describe('checkTrace on toy machines', () => {
  it('agrees with a recorded run, counting its transitions and its initial state', async () => {
    const trace = await record(counter, { limit: 3, name: 'x' }, [
      { type: 'INC' },
      { type: 'INC' },
      { type: 'INC' },
      { type: 'STOP' },
    ]);
    const result = checkTrace(trace, { machines: [counter] });
    expect(result.failures).toEqual([]);
    expect(result).toMatchObject({ ok: true, steps: 5, transitions: 4, agreed: 5, failed: 0 });
    expect(formatTraceCheck(result, 'toy')).toMatch(
      /^toy: OK: 4 transition\(s\) and 1 initial state\(s\) of 1 actor\(s\) agree with the machines\n {2}x:\d+ \(counter\): 5 step\(s\), all agree\n$/,
    );
  });

  it('feeds the guards the recorded context: a context edited before a step makes it disagree', async () => {
    const trace = await record(counter, { limit: 2, name: 'x' }, [
      { type: 'INC' },
      { type: 'INC' },
    ]);
    // The snapshot after the first INC: with limit 10, the second INC no longer fills it up.
    const first = trace.find(
      (r) => r.type === '@xstate.snapshot' && (r.event as { type: string }).type === 'INC',
    )!;
    (first.ctx as { cfg: { limit: number } }).cfg.limit = 10;
    const result = checkTrace(trace, { machines: [counter] });
    expect(result.ok).toBe(false);
    expect(result.failures).toEqual([
      expect.objectContaining({
        machine: 'counter',
        step: 2,
        event: 'INC',
        problem: 'state',
        from: 'counting',
        expected: 'counting',
        found: 'full',
        masked: false,
      }),
    ]);
    expect(result.failures[0].message).toMatch(
      /^x:\d+ \(counter, x:\d+\) step 2 at \d+ ms, on INC: from counting the machine goes to counting, the trace has full$/,
    );
  });

  it('reads back an unbounded limit (Infinity) as a number, not as text', async () => {
    const trace = await record(counter, { limit: Infinity, name: 'x' }, [
      { type: 'INC' },
      { type: 'INC' },
    ]);
    const init = trace.find((r) => r.type === '@xstate.snapshot' && r.ctx !== undefined)!;
    expect((init.ctx as { cfg: unknown }).cfg).toEqual({ limit: { $num: 'Infinity' } });
    expect(checkTrace(trace, { machines: [counter] }).ok).toBe(true);
  });

  it('counts an event whose action threw as not processed: the runtime recorded no snapshot for it', async () => {
    const trace = await record(counter, { limit: 3, name: 'x' }, [
      { type: 'INC' },
      { type: 'BOOM' },
    ]);
    expect(
      trace.some(
        (r) =>
          r.type === '@xstate.snapshot' && r.event && (r.event as { type: string }).type === 'BOOM',
      ),
    ).toBe(false);
    const result = checkTrace(trace, { machines: [counter] });
    expect(result).toMatchObject({ ok: true, transitions: 1 });
    expect(result.actors[0].unprocessed).toBe(1);
  });

  it('counts events sent after the actor stopped, and fails nothing for them', async () => {
    const trace = await record(counter, { limit: 3, name: 'x' }, [
      { type: 'STOP' },
      { type: 'INC' },
      { type: 'INC' },
    ]);
    const result = checkTrace(trace, { machines: [counter] });
    expect(result.ok).toBe(true);
    expect(result.actors[0].unprocessed).toBe(2);
  });

  it('agrees with a guard comparing two masked values of one URL: they read the same mask', async () => {
    const trace = await record(
      counter,
      { limit: 3, name: 'secretname' },
      [{ type: 'NAME', name: 'secretname' }],
      'rtmp://127.0.0.1/app/secretname',
    );
    expect(JSON.stringify(trace)).not.toContain('secretname');
    expect(checkTrace(trace, { machines: [counter] })).toMatchObject({ ok: true, transitions: 1 });
  });

  it('fails a guard that decides on the text of a masked name, and says the mask may be why', async () => {
    // No machine of rtmp-actors decides on a name's text; this toy does, to show what happens.
    const trace = await record(
      counter,
      { limit: 3, name: 'x' },
      [{ type: 'PEEK', name: 'secretname' }],
      'rtmp://127.0.0.1/app/secretname',
    );
    expect(JSON.stringify(trace)).not.toContain('secretname');
    const result = checkTrace(trace, { machines: [counter] });
    expect(result.ok).toBe(false);
    expect(result.failures[0]).toMatchObject({ problem: 'state', found: 'named', masked: true });
    expect(result.failures[0].message).toMatch(/its event holds a masked value/);
  });

  it('fails an actor whose machine it does not know, and a trace with nothing to check', async () => {
    const trace = await record(counter, { limit: 3, name: 'x' }, [{ type: 'INC' }]);
    const result = checkTrace(trace);
    expect(result.ok).toBe(false);
    expect(result.failures.map((f) => f.problem)).toEqual(['unknown-machine']);
    expect(result.failures[0].message).toMatch(/no machine has the id counter/);
    const empty = checkTrace('');
    expect(empty).toMatchObject({ ok: false, steps: 0 });
    expect(formatTraceCheck(empty, 'empty')).toMatch(/FAILED: no step of any state machine/);
  });

  it('lists actors that are not state machines apart, with nothing to check', async () => {
    const parent = setup({
      actors: { worker: fromCallback(() => undefined) },
    }).createMachine({
      id: 'parentToy',
      invoke: { id: 'worker', src: 'worker' },
      on: { STOP: '.done' },
      initial: 'running',
      states: { running: {}, done: { type: 'final' } },
    });
    const trace = await record(parent, undefined, [{ type: 'STOP' }]);
    const result = checkTrace(trace, { machines: [parent] });
    expect(result.ok).toBe(true);
    expect(result.notMachines.map((a) => a.actorId)).toEqual(['worker']);
  });
});

describe('the context codec', () => {
  it('keeps what JSON cannot hold readable back, and bytes and actors by size and id only', () => {
    const actor = createActor(
      fromCallback(() => undefined),
      { id: 'peer' },
    );
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const encoded = encodeContext({
      inf: Infinity,
      nan: NaN,
      big: 12n,
      holes: [1, undefined, 3],
      gone: undefined,
      map: new Map([['k', 1]]),
      set: new Set(['a']),
      now: function now() {
        return 5;
      },
      bytes: new Uint8Array(7),
      actor,
      when: new Date(0),
      cyclic,
    });
    const json = JSON.parse(JSON.stringify(encoded)) as Record<string, unknown>;
    expect(json).toEqual({
      inf: { $num: 'Infinity' },
      nan: { $num: 'NaN' },
      big: { $bigint: '12' },
      holes: [1, { $undefined: true }, 3],
      map: { $map: [['k', 1]] },
      set: { $set: ['a'] },
      now: { $fn: 'now' },
      bytes: { $bytes: 7 },
      actor: { $actor: 'peer' },
      when: { $date: '1970-01-01T00:00:00.000Z' },
      cyclic: { a: 1, self: { $cut: 'cycle' } },
    });
    const back = decodeContext(json) as Record<string, unknown>;
    expect(back.inf).toBe(Infinity);
    expect(back.nan).toBeNaN();
    expect(back.big).toBe(12n);
    expect(back.holes).toEqual([1, undefined, 3]);
    expect(back.map).toEqual(new Map([['k', 1]]));
    expect(back.set).toEqual(new Set(['a']));
    expect((back.now as () => number)()).toBe(0);
    expect(back.actor).toEqual({ $actor: 'peer' });
  });
});
